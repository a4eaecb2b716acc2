"""The study's PNG plots: accuracy per task key, and the grounding measures, per arm with the
95 % t-interval over seeds as error bars and each seed as a dot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

ACC_KEYS = (("acc/reasoning_basic_audio", "basic audio"), ("acc/reasoning_basic_video", "basic video"),
            ("acc/modality_agreement", "agreement"), ("acc/reasoning_stress_audio", "stress audio"),
            ("acc/reasoning_stress_video", "stress video"), ("probe_acc", "cue-contradicts\naudio probe"))
GROUNDING_KEYS = (("hallucination_rate", "stress: Yes to an absent cue (lower = better)"),
                  ("probe_acc", "cue-contradicts-audio probe accuracy"),
                  ("logp_shift_swap_audio/reasoning_basic_audio", "Δ log p(correct), audio swapped (nats)"),
                  ("attention/reasoning_basic_audio/audio", "attention share on audio tokens (basic audio)"))


def _stat(agg: dict[str, Any], arm: str, key: str) -> tuple[float, float, list[float]]:
    s = agg["arms"].get(arm, {}).get(key) or {}
    mean = s.get("mean")
    ci = s.get("ci")
    vals = [v for v in (s.get("values") or {}).values() if v is not None]
    return (np.nan if mean is None else mean, 0.0 if not ci else ci[1] - mean, vals)


def accuracy_plot(agg: dict[str, Any], arms: list[str], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 4.5))
    width = 0.8 / max(1, len(arms))
    x = np.arange(len(ACC_KEYS))
    for i, arm in enumerate(arms):
        st = [_stat(agg, arm, k) for k, _ in ACC_KEYS]
        pos = x + (i - (len(arms) - 1) / 2) * width
        ax.bar(pos, [s[0] for s in st], width, yerr=[s[1] for s in st], capsize=2, label=arm)
        for p, s in zip(pos, st, strict=True):
            ax.plot([p] * len(s[2]), s[2], "k.", ms=3)
    base = agg.get("base") or {}
    for j, (k, _) in enumerate(ACC_KEYS):
        if base.get(k) is not None:
            ax.hlines(base[k], j - 0.45, j + 0.45, colors="k", linestyles="--", lw=1,
                      label="base (toy-omni)" if j == 0 else None)
    ax.set_xticks(x, [label for _, label in ACC_KEYS])
    ax.set_ylabel("accuracy (held-out toy EmoReAlM)")
    ax.set_ylim(0, 1)
    ax.set_title("Accuracy per task key: mean over seeds, 95% t-interval over seeds, dots = seeds")
    ax.legend(fontsize=7, ncol=4, loc="lower right")
    return _save(fig, path)


def grounding_plot(agg: dict[str, Any], arms: list[str], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(GROUNDING_KEYS), figsize=(16, 4.5))
    base = agg.get("base") or {}
    for ax, (key, title) in zip(axes, GROUNDING_KEYS, strict=True):
        st = [_stat(agg, arm, key) for arm in arms]
        y = np.arange(len(arms))
        ax.barh(y, [s[0] for s in st], xerr=[s[1] for s in st], capsize=2, color="tab:blue")
        for yi, s in zip(y, st, strict=True):
            ax.plot(s[2], [yi] * len(s[2]), "k.", ms=3)
        if base.get(key) is not None:
            ax.axvline(base[key], color="k", ls="--", lw=1, label="base (toy-omni)")
            ax.legend(fontsize=7)
        ax.set_yticks(y, arms if ax is axes[0] else [""] * len(arms))
        ax.set_title(title, fontsize=9)
        ax.invert_yaxis()
    fig.suptitle("Grounding measures per arm (mean over seeds, 95% t-interval over seeds, dots = seeds)")
    return _save(fig, path)


PAIRED_KEYS = (("acc/basic_mean", "basic accuracy (audio, video)"),
               ("hallucination_rate", "Yes to an absent cue"),
               ("probe_acc", "probe accuracy"),
               ("logp_shift_swap_audio/reasoning_basic_audio", "Δ log p swap audio (nats)"))


def paired_plot(agg: dict[str, Any], arms: list[str], path: Path) -> Path:
    """Each arm minus plain DPO, paired by seed: mean and 95 % t-interval (0 = no difference)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paired = agg.get("paired_vs_plain_dpo") or {}
    names = [a for a in arms if a in paired]
    fig, axes = plt.subplots(1, len(PAIRED_KEYS), figsize=(16, 4.5))
    for ax, (key, title) in zip(axes, PAIRED_KEYS, strict=True):
        y = np.arange(len(names))
        for yi, arm in zip(y, names, strict=True):
            s = paired[arm].get(key) or {}
            if s.get("mean") is None:
                continue
            lo, hi = s["ci"] if s.get("ci") else (s["mean"], s["mean"])
            ax.plot([lo, hi], [yi, yi], color="tab:blue", lw=2)
            ax.plot([s["mean"]], [yi], "o", color="tab:blue")
        ax.axvline(0, color="k", lw=1)
        ax.set_yticks(y, names if ax is axes[0] else [""] * len(names))
        ax.set_title(title, fontsize=9)
        ax.invert_yaxis()
    fig.suptitle("Arm − plain DPO, paired by seed (mean, 95% t-interval over seeds)")
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
