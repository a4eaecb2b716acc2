"""The console summary of a results file: one table per benchmark that fits 80 columns.

A benchmark with several tasks (a group such as ``emorealm``) is a matrix: a row per task, a column
per metric (value ± stderr, %). A single task lists its metrics as rows. Columns that do not fit
the console are left out and named below the table; ``--wide`` shows every column. Task names are
never cropped. The title says which model ran (a LoRA adapter by its own name) and flags smoke-test,
``--limit`` and partial runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emorealm.evaluation.results import COUNT_METRICS, fmt_metric

TASK_WIDTH_PAD = 3  # rich's padding and border per column
MIN_METRIC_WIDTH = 8


def blocks(results: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(benchmark name, its tasks: the group first, then its subtasks) in run order."""
    groups = {g: subs for g, subs in (results.get("group_subtasks") or {}).items() if subs}
    grouped = {t for subs in groups.values() for t in subs}
    out: list[tuple[str, list[str]]] = [(g, [g, *subs]) for g, subs in groups.items()]
    out += [(t, [t]) for t in results.get("results", {}) if t not in grouped and t not in groups]
    return out


def metrics_of(res: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """metric -> (value, stderr or None), lm-eval's ``"<metric>,<filter>"`` keys read once."""
    out: dict[str, tuple[Any, Any]] = {}
    for key, value in res.items():
        if "," not in key or "_stderr" in key or key == "alias":
            continue
        err = res.get(key.replace(",", "_stderr,"))
        out[key.split(",")[0]] = (value, err if isinstance(err, (int, float)) else None)
    return out


def cell(metric: str, value: Any, err: Any) -> str:
    text = fmt_metric(metric, value)
    return f"{text} ±{fmt_metric(metric, err)}" if err is not None and text != "—" else text


def title(results: dict[str, Any]) -> str:
    """``emorealm results — <model>`` with what a reader must know before reading the numbers."""
    meta = results.get("emorealm", {})
    model = str(meta.get("model", "?"))
    name = Path(model).name if "/" in model and Path(model).exists() else model
    if meta.get("peft"):
        name = f"{Path(str(meta['peft'])).name} (LoRA on {name})"
    flags = []
    limit = (meta.get("protocol") or {}).get("limit")
    if limit is not None:
        flags.append(f"--limit {limit}")
    partial = [t for t, n in (results.get("n-samples") or {}).items()
               if isinstance(n, dict) and n.get("effective", 0) < n.get("original", 0)]
    if partial:
        n_eff = sum(results["n-samples"][t]["effective"] for t in partial)
        n_all = sum(results["n-samples"][t]["original"] for t in partial)
        flags.append(f"partial: {n_eff} of {n_all} docs")
    if meta.get("smoke_test"):
        flags.append("smoke-test model: numbers are meaningless")
    text = f"emorealm results — {name}"
    for flag in flags:
        text += f"\n[bold yellow]({flag})[/]"
    return text


def build_tables(results: dict[str, Any], width: int = 80, wide: bool = False) -> list[tuple[str, Any, list[str]]]:
    """(benchmark, rich Table, metric columns left out) per benchmark."""
    from rich.table import Table

    out = []
    for bench, tasks in blocks(results):
        rows = {t: metrics_of(results.get("groups", {}).get(t) or results["results"].get(t, {})) for t in tasks}
        if len(tasks) == 1:
            table = Table()
            table.add_column("metric", no_wrap=True)
            table.add_column("value (%)", justify="right", no_wrap=True)
            table.add_column("± stderr", justify="right", no_wrap=True)
            for metric, (value, err) in rows[bench].items():
                table.add_row(metric, fmt_metric(metric, value), fmt_metric(metric, err) if err is not None else "")
            out.append((bench, table, []))
            continue
        metrics = list(dict.fromkeys(m for r in rows.values() for m in r))
        name_w = max(len(t) for t in tasks) + 2 + TASK_WIDTH_PAD  # subtasks are indented
        widths = {m: max(MIN_METRIC_WIDTH, len(m), *(len(cell(m, *r[m])) for r in rows.values() if m in r))
                  + TASK_WIDTH_PAD for m in metrics}
        # the headline metric and the error counts are kept first; the rest as room allows
        priority = metrics[:1] + [m for m in metrics[1:] if m in COUNT_METRICS] + \
            [m for m in metrics[1:] if m not in COUNT_METRICS]
        keep, used = set(), name_w + 1
        for m in priority:
            if not (wide or used + widths[m] <= width):
                break  # the rest in order, not whichever happens to be narrow
            keep.add(m)
            used += widths[m]
        shown = [m for m in metrics if m in keep]
        table = Table()
        table.add_column("task", no_wrap=True, min_width=name_w - TASK_WIDTH_PAD)
        for m in shown:
            table.add_column(m, justify="right", no_wrap=True)
        for t in tasks:
            r = rows[t]
            table.add_row(f"[bold]{t}[/]" if t == bench else f"  {t}", *(cell(m, *r[m]) if m in r else "" for m in shown))
        out.append((f"{bench} (%)", table, [m for m in metrics if m not in shown]))
    return out


def print_summary(results: dict[str, Any], path: Path | None = None, wide: bool = False, console=None) -> None:
    """Print the title, a table per benchmark, the columns left out, and where the files went."""
    from rich.console import Console

    console = console or Console()
    width = console.width
    console.print(title(results))
    for name, table, hidden in build_tables(results, width=width, wide=wide):
        console.print(f"[bold]{name}[/]")
        if wide:  # every column at its natural width, even past the terminal's edge
            console.width, saved = 10**3, console.width
            console.print(table)
            console.width = saved
        else:
            console.print(table)
        if hidden:
            console.print(f"  [dim]not shown (--wide): {', '.join(hidden)}[/]")
    if path:
        console.print(f"results written to [bold]{path}[/]")
