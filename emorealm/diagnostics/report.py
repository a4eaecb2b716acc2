"""Turn collected runs into the diagnostics report: JSON, Markdown summary, PNG plots, rich table."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from emorealm.diagnostics.ablations import CONDITIONS
from emorealm.diagnostics.engine import Collected, metric_values
from emorealm.diagnostics.likelihood import shifts
from emorealm.diagnostics.stats import Resampler, percentile_ci, summarize

REPORT_VERSION = 1
OVERALL = "mean over tasks"


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    return obj


def _resampler(c: Collected) -> Resampler:
    clusters = [cl for per_task in c.clusters.values() for cl in per_task.values()]
    return Resampler.make(clusters, iters=c.cfg.bootstrap_iters, seed=c.cfg.run.seed)


def accuracy_table(c: Collected, rs: Resampler) -> dict[str, dict[str, dict[str, Any]]]:
    """task -> condition -> value, CI, delta vs intact (paired over docs), delta CI, n, n_errors.

    The overall row is the unweighted mean over tasks (as the EmoReAlM group reports), bootstrapped
    with the same clip resamples.
    """
    metric = c.cfg.metric
    table: dict[str, dict[str, dict[str, Any]]] = {}
    reps: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for task in c.tasks:
        base = metric_values(c.runs["intact"], task, metric)
        if not base:
            continue
        table[task], reps[task] = {}, {}
        for cond, run in c.runs.items():
            vals = metric_values(run, task, metric)
            ids = [d for d in base if d in vals]
            cl = [c.clusters[task][d] for d in ids]
            x = [vals[d] for d in ids]
            diff = [vals[d] - base[d] for d in ids]
            rv, rd = rs.means(x, cl), rs.means(diff, cl)
            reps[task][cond] = (rv, rd)
            n_err = sum(1 for r in run.samples.get(task, []) if r.get("n_errors"))
            table[task][cond] = {
                "value": float(np.mean(x)) if x else math.nan, "ci": list(percentile_ci(rv)),
                "delta": float(np.mean(diff)) if diff else math.nan, "delta_ci": list(percentile_ci(rd)),
                "n": len(ids), "n_clusters": len(set(cl)), "n_errors": n_err,
            }
    if len(table) > 1:
        overall: dict[str, dict[str, Any]] = {}
        for cond in c.runs:
            tasks = [t for t in table if cond in table[t]]
            with warnings.catch_warnings():  # a resample that drew no doc of any task is NaN, not an error
                warnings.simplefilter("ignore", RuntimeWarning)
                rv = np.nanmean(np.stack([reps[t][cond][0] for t in tasks]), axis=0)
                rd = np.nanmean(np.stack([reps[t][cond][1] for t in tasks]), axis=0)
            overall[cond] = {
                "value": float(np.mean([table[t][cond]["value"] for t in tasks])), "ci": list(percentile_ci(rv)),
                "delta": float(np.mean([table[t][cond]["delta"] for t in tasks])), "delta_ci": list(percentile_ci(rd)),
                "n": sum(table[t][cond]["n"] for t in tasks), "n_errors": sum(table[t][cond]["n_errors"] for t in tasks),
            }
        table[OVERALL] = overall
    return table


def likelihood_table(c: Collected, rs: Resampler) -> dict[str, dict[str, Any]]:
    """task -> condition -> summary statistics of the per-doc shifts (+ bootstrap CI of the mean)."""
    out: dict[str, dict[str, Any]] = {}
    for task, by_cond in c.logp.items():
        intact = by_cond.get("intact", {})
        out[task] = {"source": "task log-likelihoods" if c.output_types[task] == "multiple_choice"
                     else "probe: correct answer scored as the reply", "conditions": {}}
        for cond, values in by_cond.items():
            if cond == "intact":
                continue
            s = shifts(intact, values)
            ids = list(s)
            stats: dict[str, Any] = summarize([s[d] for d in ids])
            stats["mean_ci"] = list(percentile_ci(rs.means([s[d] for d in ids], [c.clusters[task][d] for d in ids])))
            stats["n_unscored"] = len(intact) - len(ids)
            stats["per_doc"] = [{"doc_id": d, "clip": c.clusters[task][d], "logp_intact": intact[d],
                                 "logp_ablated": values[d], "shift": s[d]} for d in ids]
            out[task]["conditions"][cond] = stats
    return out


def build_report(c: Collected) -> dict[str, Any]:
    """The diagnostics report (JSON-able)."""
    rs = _resampler(c)
    meta = c.runs["intact"].results.get("emorealm") or c.lm.emorealm_metadata()
    return {
        "emorealm_diagnostics_version": REPORT_VERSION,
        "model": c.model_name,
        "emorealm": meta,
        "results_file": str(c.results_path) if c.results_path else None,
        "tasks": c.tasks,
        "metric": c.cfg.metric,
        "conditions": {k: CONDITIONS[k] for k in c.cfg.conditions},
        "removal": c.cfg.removal,
        "seed": c.cfg.run.seed,
        "limit": c.cfg.run.limit,
        "bootstrap": {"iters": c.cfg.bootstrap_iters, "level": 0.95, "cluster": "clip_id",
                      "n_clusters": len(rs.clusters)},
        "swap_map": c.swap_map,
        "accuracy": accuracy_table(c, rs),
        "likelihood_shift": likelihood_table(c, rs) if c.cfg.likelihood else None,
        "attention": c.attention if c.cfg.attention else None,
    }


def _pct(v: Any, signed: bool = False) -> str:
    if not isinstance(v, (int, float)) or math.isnan(v):
        return "—"
    return f"{100 * v:+.1f}" if signed else f"{100 * v:.1f}"


def _ci(ci: Any) -> str:
    if not ci or any(not isinstance(x, (int, float)) or math.isnan(x) for x in ci):
        return "—"
    return f"[{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"


def markdown(report: dict[str, Any], plots: dict[str, str]) -> str:
    """The short Markdown summary."""
    lines = [f"# Modality-reliance diagnostics — {report['model']}", ""]
    if report["emorealm"].get("smoke_test"):
        lines += ["> Smoke-test model (tiny-omni): the numbers exercise the pipeline and mean nothing.", ""]
    lines += [f"Metric `{report['metric']}`; 95% cluster-bootstrap intervals over {report['bootstrap']['n_clusters']} "
              f"clips ({report['bootstrap']['iters']} resamples, seed {report['seed']}); removal mode "
              f"`{report['removal']}`. See docs/diagnostics.md for how to read this.", "",
              "## Accuracy under each condition (%)", "",
              "| task | condition | value | Δ vs intact | 95% CI of Δ | n |", "|---|---|---:|---:|---:|---:|"]
    for task, by_cond in report["accuracy"].items():
        for cond, cell in by_cond.items():
            delta = "" if cond == "intact" else _pct(cell["delta"], True)
            ci = "" if cond == "intact" else _ci(cell["delta_ci"])
            lines.append(f"| {task} | {cond} | {_pct(cell['value'])} | {delta} | {ci} | {cell['n']} |")
    if report.get("likelihood_shift"):
        lines += ["", "## Likelihood shift of the correct answer", "",
                  "log p(correct | intact) − log p(correct | ablated); positive = the ablation hurt.", "",
                  "| task | condition | n | mean | 95% CI of mean | median | share > 0 |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for task, info in report["likelihood_shift"].items():
            for cond, s in info["conditions"].items():
                if not s.get("n"):
                    lines.append(f"| {task} | {cond} | 0 | — | — | — | — |")
                    continue
                lo, hi = s["mean_ci"]
                lines.append(f"| {task} | {cond} | {s['n']} | {s['mean']:+.4f} | [{lo:+.4f}, {hi:+.4f}] | "
                             f"{s['median']:+.4f} | {100 * s['frac_positive']:.0f}% |")
    if report.get("attention"):
        lines += ["", "## Attention share of the answer positions (%)", "",
                  "| task | video | audio | text | docs |", "|---|---:|---:|---:|---:|"]
        for task, info in report["attention"].items():
            if not info.get("supported"):
                lines.append(f"| {task} | not available: {info.get('reason')} | | | |")
            elif info.get("n_docs"):
                sh = info["share"]
                lines.append(f"| {task} | {_pct(sh['video'])} | {_pct(sh['audio'])} | {_pct(sh['text'])} | "
                             f"{info['n_docs']} |")
    if plots:
        lines += ["", "## Plots", ""] + [f"* {name}: ![{name}]({rel})" for name, rel in plots.items()]
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], folder: Path) -> dict[str, Path]:
    """Write report.json, summary.md and the PNGs into ``folder``; returns what was written."""
    from emorealm.diagnostics import plots as P

    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    rel: dict[str, str] = {}
    if report["accuracy"]:
        written["accuracy"] = P.accuracy_plot({t: v for t, v in report["accuracy"].items()}, report["metric"],
                                              folder / "accuracy.png")
    for task, info in (report.get("likelihood_shift") or {}).items():
        data = {cond: [d["shift"] for d in s.get("per_doc", [])] for cond, s in info["conditions"].items()}
        if any(data.values()):
            written[f"likelihood_shift_{task}"] = P.likelihood_shift_plot(task, data,
                                                                          folder / f"likelihood_shift_{task}.png")
    for task, info in (report.get("attention") or {}).items():
        if info.get("supported") and info.get("n_docs"):
            written[f"attention_{task}"] = P.attention_plot(task, info, folder / f"attention_{task}.png")
    for k, p in written.items():
        rel[k] = p.name
    report["plots"] = rel
    json_path = folder / "report.json"
    json_path.write_text(json.dumps(_nan_to_none(report), indent=1, default=str))
    md_path = folder / "summary.md"
    md_path.write_text(markdown(report, rel))
    return {"report": json_path, "summary": md_path, **written}


def print_report(report: dict[str, Any], folder: Path | None = None) -> None:
    """Rich table of accuracy per condition with Δ and CI; likelihood and attention one-liners."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    title = f"modality reliance — {report['model']} ({report['metric']}, %)"
    if report["emorealm"].get("smoke_test"):
        title += "  [yellow](smoke-test model: numbers are meaningless)[/]"
    # one heading row per task instead of a task column: the table fits 80 columns and task names
    # are never truncated (two cropped names could read the same)
    table = Table(title=title)
    for col, just in (("task / condition", "left"), ("value [95% CI]", "right"),
                      ("Δ vs intact [95% CI]", "right"), ("Δ log p", "right"), ("n", "right")):
        table.add_column(col, justify=just, overflow="fold")
    ll = report.get("likelihood_shift") or {}
    for task, by_cond in report["accuracy"].items():
        table.add_row(Text(task, style="bold"), "", "", "", "")
        for cond, cell in by_cond.items():
            s = ll.get(task, {}).get("conditions", {}).get(cond, {})
            value = f"{_pct(cell['value'])} {_ci(cell['ci']).replace('+', '')}"
            delta = "" if cond == "intact" else f"{_pct(cell['delta'], True)} {_ci(cell['delta_ci'])}"
            table.add_row(f"  {cond}", value, delta, f"{s['mean']:+.3f}" if s.get("n") else "",
                          str(cell["n"]), end_section=cond == list(by_cond)[-1])
    console.print(table)
    for task, info in (report.get("attention") or {}).items():
        if info.get("supported") and info.get("n_docs"):
            sh = info["share"]
            console.print(f"attention {task}: video {_pct(sh['video'])}%  audio {_pct(sh['audio'])}%  "
                          f"text {_pct(sh['text'])}%  ({info['n_docs']} docs)")
        elif not info.get("supported"):
            console.print(f"attention {task}: not available — {info.get('reason')}")
    if folder:
        console.print(f"diagnostics written to [bold]{folder}[/]")
