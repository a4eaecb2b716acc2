"""Present a comparison: a rich table, ``compare_<ts>.json`` and a PNG of per-task differences."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from emorealm.comparison.compare_runs import Comparison, Run
from emorealm.errors import ConfigError
from emorealm.evaluation.paired import LEVEL, POWER, PairedEstimate
from emorealm.leaderboard.schema import known_tasks

HEADLINE = ("acc", "uar", "war", "emotion_f1")


def scale_of(task: str, metric: str) -> str:
    spec = known_tasks().tasks.get(task)
    return spec.metrics[metric].scale if spec and metric in spec.metrics else "fraction"


def is_headline(task: str, metric: str) -> bool:
    """Shown by default: accuracy, UAR/WAR, EMER's emotion F1 and the leaderboard's columns."""
    spec = known_tasks().tasks.get(task)
    return metric in HEADLINE or bool(spec and metric in spec.columns)


def short_name(task: str) -> str:
    """The leaderboard's short label of a task or group (e.g. "Basic A"), else the task name."""
    table = known_tasks()
    if task in table.tasks:
        return table.tasks[task].short
    return table.groups[task].short if task in table.groups else task


def _run_info(run: Run) -> dict[str, Any]:
    return {"results": str(run.path), "model": run.name, "model_sha256": run.meta.get("model_sha256"),
            "seed": run.seed}


def to_json(comps: list[Comparison], *, seed: int, iters: int) -> dict[str, Any]:
    """The comparison as JSON: per comparison, task and metric the fields of docs/compare.md."""
    out = {
        "schema": "emorealm-compare", "schema_version": 1,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "baseline": _run_info(comps[0].baseline), "level": LEVEL, "power": POWER,
        "bootstrap": {"seed": seed, "replicates": iters}, "holm": len(comps) > 1,
        "comparisons": [],
    }
    for c in comps:
        results: dict[str, dict[str, Any]] = {}
        for (task, metric), e in sorted(c.estimates.items()):
            results.setdefault(task, {})[metric] = e.as_dict()
        out["comparisons"].append({"run": _run_info(c.other), "notes": c.notes, "left_out": c.left_out,
                                   "results": results})
    return out


def write_json(comps: list[Comparison], out_dir: Path, *, seed: int, iters: int) -> Path:
    stamp = dt.datetime.now().strftime("%Y-%m-%dT%H-%M-%S.%f")
    path = Path(out_dir) / f"compare_{stamp}.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(to_json(comps, seed=seed, iters=iters), indent=1, allow_nan=False) + "\n",
                        encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the comparison into {out_dir}: {exc.strerror}") from None
    return path


def _pct(v: float | None, scale: str, signed: bool = False) -> str:
    if v is None or not math.isfinite(v):
        return "—"
    if scale == "fraction":
        return f"{100 * v:+.1f}" if signed else f"{100 * v:.1f}"
    return f"{v:+.2f}" if signed else f"{v:.2f}"


def _p(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "—"
    return "<.001" if v < 0.001 else f"{v:.3f}"


def _ordered(c: Comparison, all_metrics: bool) -> list[tuple[str, str, PairedEstimate]]:
    groups = set(c.baseline.results.get("group_subtasks") or {})
    rows = [(t, m, e) for (t, m), e in c.estimates.items() if all_metrics or is_headline(t, m)]
    return sorted(rows, key=lambda r: (r[0] not in groups, r[0], r[1]))


def table(c: Comparison, all_metrics: bool = False, holm: bool = False) -> Table:
    """One comparison as a rich table (fractions in percentage points)."""
    t = Table(title=f"{c.other.name} vs {c.baseline.name} (baseline)", header_style="bold", box=box.SIMPLE_HEAD,
              padding=(0, 1), pad_edge=False,
              caption="values, Δ and CI in points (%); CI clustered by clip; McN. = exact McNemar"
                      + ("; p Holm-adjusted across runs" if holm else ""))
    # the run's own value (base + Δ) is in the JSON; the table keeps to 80 columns
    for name, just in (("task", "left"), ("metric", "left"), ("base", "right"), ("Δ", "right"),
                       ("rel.", "right"), ("95 % CI of Δ", "right"), ("p", "right"), ("McN. p", "right")):
        t.add_column(name, justify=just, no_wrap=name != "task", overflow="fold")
    for task, metric, e in _ordered(c, all_metrics):
        s = scale_of(task, metric)
        p = e.p_holm if holm and e.p_holm is not None else e.p_value
        sig = p is not None and math.isfinite(p) and p < 1 - LEVEL
        t.add_row(short_name(task), metric + ("*" if e.method == "cluster_bootstrap" else ""), _pct(e.baseline, s),
                  Text(_pct(e.delta, s, True), style="bold green" if sig and e.delta > 0 else
                                         "bold red" if sig else ""),
                  "—" if e.relative_gain is None else f"{100 * e.relative_gain:+.0f}%",
                  f"{_pct(e.ci_low, s, True)} … {_pct(e.ci_high, s, True)}", _p(p), _p(e.mcnemar_p))
    return t


def print_report(comps: list[Comparison], console: Console, all_metrics: bool = False) -> None:
    holm = len(comps) > 1
    for c in comps:
        console.print(table(c, all_metrics, holm))
        for n in c.notes:
            console.print(Text("note: " + n, style="yellow"))
        mdes = [(t, m, e.mde) for t, m, e in _ordered(c, False) if m == "acc" and e.mde is not None]
        if mdes:
            t, m, v = mdes[0]
            console.print(Text(f"minimum detectable effect at {int(POWER * 100)} % power ({t} {m}): "
                               f"{100 * v:.1f} points, from this comparison's paired clustered SE", style="dim"))
    console.print(Text("* = paired cluster bootstrap (not a per-sample mean); other rows: paired clustered estimator",
                       style="dim"))


def plot(comps: list[Comparison], path: Path, all_metrics: bool = False) -> Path:
    """Per-task Δ with its CI, one marker colour per compared run; fractions in points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels: list[tuple[str, str]] = []
    for c in comps:
        labels += [(t, m) for t, m, _ in _ordered(c, all_metrics) if (t, m) not in labels]
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.38 * max(1, len(labels))), dpi=110)
    for j, c in enumerate(comps):
        off = (j - (len(comps) - 1) / 2) * 0.18
        for i, (t, m) in enumerate(labels):
            e = c.estimates.get((t, m))
            if e is None or e.ci_low is None or not math.isfinite(e.ci_low):
                continue
            k = 100 if scale_of(t, m) == "fraction" else 1
            ax.errorbar(e.delta * k, i + off, xerr=[[(e.delta - e.ci_low) * k], [(e.ci_high - e.delta) * k]],
                        fmt="o", color=f"C{j}", capsize=3, label=c.other.name if i == 0 else None)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(range(len(labels)), [f"{t} {m}" for t, m in labels], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"Δ vs {comps[0].baseline.name} (points; judge scores in score units), {int(LEVEL * 100)} % CI")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
