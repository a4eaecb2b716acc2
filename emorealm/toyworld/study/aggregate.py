"""Aggregate the cells: per arm and metric the mean over seeds with a 95 % t-interval over seeds,
the paired difference to plain DPO (same seed = same data order and LoRA initialisation), the
main table, and the pre-registered rule that picks the default debiasing form."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from emorealm.toyworld.study.config import REFERENCE_ARM

# (key in a cell's metrics, column label, higher is better) of the main table
MAIN = (
    ("acc/reasoning_basic_audio", "basic audio", True),
    ("acc/reasoning_basic_video", "basic video", True),
    ("acc/modality_agreement", "agreement", True),
    ("acc/reasoning_stress_audio", "stress audio", True),
    ("acc/reasoning_stress_video", "stress video", True),
    ("hallucination_rate", "halluc. Yes", False),
    ("probe_acc", "probe acc", True),
    ("logp_shift_swap_audio/reasoning_basic_audio", "Δlog p swap audio", True),
    ("attention/reasoning_basic_audio/audio", "attn audio", True),
    ("attention/reasoning_basic_audio/video", "attn video", False),
    ("attention/reasoning_basic_audio/text", "attn text", False),
    ("movement/flip_rate", "answers changed vs base", False),
)
DEBIAS_ARMS = {"margin": "avem_margin", "grounding": "avem_grounding", "hallucination": "avem_hallucination"}


def t_interval(values: list[float], level: float = 0.95) -> dict[str, Any]:
    """Mean and Student-t interval over seeds (``ci`` is None with fewer than two values)."""
    from scipy import stats

    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    n = len(x)
    if n == 0:
        return {"mean": None, "ci": None, "sd": None, "n": 0}
    mean = float(x.mean())
    if n < 2:
        return {"mean": mean, "ci": None, "sd": None, "n": 1}
    sd = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n))
    return {"mean": mean, "ci": [mean - half, mean + half], "sd": sd, "n": n}


def _numeric_keys(records: list[dict[str, Any]]) -> list[str]:
    keys: set[str] = set()
    for r in records:
        keys |= {k for k, v in r["metrics"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return sorted(keys)


def aggregate(cells: list[dict[str, Any]], arms: list[str], seeds: list[int]) -> dict[str, Any]:
    """``{"arms": {arm: {metric: {mean, ci, sd, n, values}}}, "paired_vs_plain_dpo": ..., "base": ...}``."""
    by_arm: dict[str, dict[int, dict[str, Any]]] = {a: {} for a in arms}
    base = None
    for rec in cells:
        if rec["seed"] is None:
            base = rec["metrics"]
        elif rec["arm"] in by_arm:
            by_arm[rec["arm"]][rec["seed"]] = rec["metrics"]
    keys = _numeric_keys([c for c in cells if c["seed"] is not None])
    out: dict[str, Any] = {"arms": {}, "paired_vs_plain_dpo": {}, "base": base}
    for arm in arms:
        per_seed = by_arm[arm]
        out["arms"][arm] = {k: {**t_interval([per_seed[s].get(k, math.nan) for s in seeds if s in per_seed]),
                                "values": {str(s): per_seed[s].get(k) for s in seeds if s in per_seed}}
                            for k in keys}
    ref = by_arm.get(REFERENCE_ARM, {})
    for arm in arms:
        if arm == REFERENCE_ARM or not ref:
            continue
        common = [s for s in seeds if s in ref and s in by_arm[arm]]
        out["paired_vs_plain_dpo"][arm] = {
            k: t_interval([by_arm[arm][s].get(k, math.nan) - ref[s].get(k, math.nan) for s in common]) for k in keys}
    return out


def choose_default_form(agg: dict[str, Any]) -> dict[str, Any]:
    """The rule fixed before any result (docs/toy-world.md): among the debiasing forms, the lowest
    mean hallucination rate whose mean basic-reasoning accuracy is not below the lower end of plain
    DPO's interval. Returns the choice and the figures it was made from."""
    arms = agg["arms"]
    ref = arms.get(REFERENCE_ARM, {}).get("acc/basic_mean", {})
    floor = (ref.get("ci") or [ref.get("mean")])[0] if ref else None
    rows = []
    for form, arm in DEBIAS_ARMS.items():
        if arm not in arms:
            continue
        h = arms[arm].get("hallucination_rate", {}).get("mean")
        acc = arms[arm].get("acc/basic_mean", {}).get("mean")
        eligible = h is not None and acc is not None and (floor is None or acc >= floor)
        rows.append({"form": form, "arm": arm, "hallucination_rate": h, "basic_acc": acc, "eligible": eligible})
    eligible = [r for r in rows if r["eligible"]]
    choice = min(eligible, key=lambda r: r["hallucination_rate"])["form"] if eligible else None
    return {"rule": "lowest mean hallucination rate among the forms whose mean basic-reasoning accuracy is not "
                    "below the lower end of plain DPO's 95% t-interval", "plain_dpo_basic_acc_floor": floor,
            "candidates": rows, "default": choice or "margin",
            "note": None if choice else "no form was eligible: margin (the previous default) is kept"}


def _fmt(stat: dict[str, Any] | None, pct: bool) -> str:
    if not stat or stat.get("mean") is None:
        return "—"
    scale = 100 if pct else 1
    digits = 1 if pct else 2
    s = f"{scale * stat['mean']:.{digits}f}"
    if stat.get("ci"):
        s += f" ± {scale * (stat['ci'][1] - stat['mean']):.{digits}f}"
    return s


def main_table(agg: dict[str, Any], arms: list[str]) -> str:
    """Markdown: one row per arm (and the base model), mean ± t-interval half-width over seeds;
    accuracies, rates and attention shares in %, the likelihood shift in nats."""
    head = "| arm | " + " | ".join(label for _, label, _ in MAIN) + " |"
    lines = [head, "|---" * (len(MAIN) + 1) + "|"]
    if agg.get("base"):
        base = agg["base"]
        lines.append("| base (toy-omni, untrained) | " + " | ".join(
            _fmt({"mean": base.get(k)}, not k.startswith("logp")) for k, _, _ in MAIN) + " |")
    for arm in arms:
        stats = agg["arms"].get(arm, {})
        lines.append(f"| {arm} | " + " | ".join(_fmt(stats.get(k), not k.startswith("logp")) for k, _, _ in MAIN)
                     + " |")
    return "\n".join(lines)


def paired_table(agg: dict[str, Any], arms: list[str]) -> str:
    """Markdown: each arm minus plain DPO, paired by seed (mean ± t-interval half-width)."""
    head = "| arm − plain_dpo | " + " | ".join(label for _, label, _ in MAIN) + " |"
    lines = [head, "|---" * (len(MAIN) + 1) + "|"]
    for arm in arms:
        stats = agg["paired_vs_plain_dpo"].get(arm)
        if stats is None:
            continue
        lines.append(f"| {arm} | " + " | ".join(_fmt(stats.get(k), not k.startswith("logp")) for k, _, _ in MAIN)
                     + " |")
    return "\n".join(lines)
