"""Render a leaderboard: a rich table for the terminal and a self-contained static HTML page.

The page has no external resources (inline CSS and JS; a Content-Security-Policy that forbids any
fetch and allows only the page's own script by hash). User-supplied strings reach the page only as
JSON inside a ``<script type="application/json">`` block, with ``<``, ``>`` and ``&`` escaped, and are
inserted with ``textContent``: a model called ``<script>...`` shows as text and runs nothing.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from emorealm.errors import ConfigError
from emorealm.leaderboard.entry import now_iso
from emorealm.leaderboard.schema import known_tasks
from emorealm.leaderboard.store import dumps_board
from emorealm.leaderboard.views import (
    DEFAULT_SORT,
    Column,
    fmt_pm,
    not_judged,
    ranked_rows,
    sort_column,
    used_columns,
)

ABBREV = {"partial": "partial", "unofficial data": "unoff", "smoke test": "smoke"}
TEMPLATE = Path(__file__).resolve().parent / "templates" / "leaderboard.html"


def _flags(row) -> list[str]:
    out = []
    if row.partial:
        out.append("partial")
    if row.unofficial:
        out.append("unofficial data")
    if row.entry["model"]["smoke_test"]:
        out.append("smoke test")
    return out


def _priority(cols: list[Column], sort_key: str) -> list[Column]:
    """Which columns survive a narrow terminal first: the sort column, group averages, then each
    benchmark's first column, then the rest (in table order)."""
    table = known_tasks()
    first: list[Column] = []
    seen_tasks: set[str] = set()
    for c in cols:
        scope = c.key.split(".")[0]
        if c.key == "average_accuracy" or scope in table.groups:
            first.append(c)
        elif scope in table.tasks and not table.tasks[scope].group and scope not in seen_tasks:
            seen_tasks.add(scope)
            first.append(c)
    sort = [c for c in cols if c.key == sort_key]
    return sort + [c for c in first if c.key != sort_key] + [c for c in cols if c not in first and c.key != sort_key]


def _cell(row, c: Column) -> str:
    if row.values[c.key] is None and not_judged(row.entry, c.key):
        return "not judged"
    return fmt_pm(row.values[c.key], row.intervals.get(c.key), c.scale)


MODEL_WIDTH = 24  # a longer model name folds onto a second line


def _cells(row, cols: list[Column]) -> list[str]:
    m = row.entry["model"]
    params = f"{m['parameters'] / 1e9:.2f}B" if m["parameters"] and m["parameters"] >= 1e8 else (
        f"{m['parameters'] / 1e6:.1f}M" if m["parameters"] else "—")
    notes = [ABBREV[f] for f in _flags(row)] + (["signed"] if row.signer else [])
    return [str(row.rank) if row.rank is not None else "—", m["name"], params,
            *[_cell(row, c) for c in cols], " ".join(notes)]


def _headers(cols: list[Column], sort_col: Column) -> list[str]:
    return ["#", "model", "params", *[c.short + (" ▼" if c.key == sort_col.key else "") for c in cols], "notes"]


def _width(rows, cols: list[Column], sort_col: Column) -> int:
    """Terminal columns the table needs: per column its widest cell or longest header word (headers
    wrap at spaces; model names fold at MODEL_WIDTH), plus borders and padding."""
    table = [_cells(r, cols) for r in rows]
    total = 1
    for i, head in enumerate(_headers(cols, sort_col)):
        need = max([len(w) for w in head.split()] + [len(r[i]) for r in table])
        total += (min(need, MODEL_WIDTH) if i == 1 else need) + 3
    return total


def _build(board: dict[str, Any], rows, cols: list[Column], sort_col: Column) -> Table:
    table = Table(title=board["title"], show_lines=False, header_style="bold")
    for i, head in enumerate(_headers(cols, sort_col)):
        if i == 1:
            table.add_column(head, max_width=MODEL_WIDTH, overflow="fold")
        else:
            table.add_column(head, justify="left" if head == "notes" else "right", no_wrap=head == "notes")
    for row in rows:
        cells = _cells(row, cols)
        style = "yellow" if row.partial or row.unofficial else ""
        # Text, not markup: a name like "[red]x" prints as it is
        table.add_row(*[Text(c, style=style if i == len(cells) - 1 else "") for i, c in enumerate(cells)])
    return table


def rich_table(board: dict[str, Any], sort: str = DEFAULT_SORT, ascending: bool | None = None,
               width: int | None = None) -> tuple[Table, list[Column], list[Column], int]:
    """The leaderboard as a rich Table (percentages for fractions, ``value±half-width`` of the 95 %
    interval), the columns shown and hidden, and the width it needs. ``width``: fit that many
    terminal columns by leaving out the least important metric columns (None: all, ``--wide``)."""
    cols = used_columns(board, sort)
    sort_col = sort_column(sort)
    rows = ranked_rows(board, sort, ascending)
    chosen: list[Column] = []
    for c in _priority(cols, sort_col.key):
        trial = [x for x in cols if x in chosen or x is c]
        if width is not None and chosen and _width(rows, trial, sort_col) > width:
            continue
        chosen.append(c)
    shown = [c for c in cols if c in chosen]
    return (_build(board, rows, shown, sort_col), shown, [c for c in cols if c not in chosen],
            _width(rows, shown, sort_col))


def print_table(board: dict[str, Any], sort: str = DEFAULT_SORT, ascending: bool | None = None,
                console: Console | None = None, wide: bool = False) -> None:
    console = console or Console()
    if not board["entries"]:
        console.print(Text(f"{board['title']}: no entries yet"))
        return
    table, shown, hidden, need = rich_table(board, sort, ascending, None if wide else console.width)
    if wide and need > console.width:
        saved = console.width
        console.width = need  # --wide: every column at full width, whatever the terminal (pipe it to less -S)
        console.print(table)
        console.width = saved
    else:
        console.print(table)
    sort_col = sort_column(sort)
    legend = "; ".join(f"{c.short} = {c.label}" for c in shown if c.short != c.label)
    console.print(Text(f"sorted by {sort_col.label} ▼; values in % except EMER judge scores (1–10); ± = half-width of "
                       "the 95 % interval (clustered by clip); a row whose interval overlaps the one above shares its "
                       "rank" + (f". {legend}" if legend else ""), style="dim"))
    if hidden:
        console.print(Text(f"{len(hidden)} more column(s) hidden to fit {console.width} columns: "
                           f"{', '.join(c.short for c in hidden)} (--wide shows all)", style="dim"))
    console.print(Text("notes: partial = fewer samples than the full split; unoff = not run on the leaderboard's reference "
                       "data; smoke = smoke-test model; signed = signature by a trusted key", style="dim"))


def page_data(board: dict[str, Any], sort: str = DEFAULT_SORT) -> dict[str, Any]:
    """Everything the page's script needs, as plain JSON."""
    table = known_tasks()
    cols = used_columns(board, sort, table)
    rows = []
    for row in ranked_rows(board, sort):
        e = row.entry
        rows.append({
            "rank": row.rank,
            "model": e["model"]["name"],
            "adapter": e["model"]["adapter"],
            "parameters": e["model"]["parameters"],
            "sha256": e["model"]["sha256"],
            "submitter": e["submitter"],
            "submitted_at": e["submitted_at"],
            "evaluated_at": e.get("evaluated_at"),
            "harness_version": e["harness_version"],
            "flags": _flags(row),
            "unofficial": row.unofficial,
            "signer": row.signer,
            "values": {c.key: row.values[c.key] for c in cols},
            "intervals": {c.key: row.intervals.get(c.key) for c in cols},
            "not_judged": [c.key for c in cols if row.values[c.key] is None and not_judged(e, c.key)],
            "invalid_rate": e["invalid_rate"],
            "n_errors": e["n_errors"],
            "samples_digest": e["samples_digest"],
            "tasks": {t: {"version": d["version"], "n_samples": d["n_samples"], "n_samples_original": d["n_samples_original"],
                          "data_fingerprint": d["data_fingerprint"],
                          "metrics": {m: v["value"] for m, v in d["metrics"].items()},
                          "stderr": {m: v["stderr"] for m, v in d["metrics"].items()}}
                      for t, d in e["tasks"].items()},
        })
    return {
        "title": board["title"],
        "generated_at": now_iso(),
        "sort": sort_column(sort).key,
        "columns": [{"key": c.key, "label": c.short, "title": c.label, "scale": c.scale,
                     "higher_is_better": c.higher_is_better} for c in cols],
        "task_labels": {t: s.label for t, s in table.tasks.items()},
        "rows": rows,
    }


def _script_json(obj: Any) -> str:
    """JSON safe inside a <script> block: no '<', '>' or '&' can end it or open a comment."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def render_html(board: dict[str, Any], sort: str = DEFAULT_SORT) -> str:
    """The complete static page as a string."""
    template = TEMPLATE.read_text(encoding="utf-8")
    scripts = re.findall(r"<script>(.*?)</script>", template, flags=re.S)
    if len(scripts) != 1:
        raise ConfigError(f"{TEMPLATE} must hold exactly one inline <script> (found {len(scripts)})")
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    values = {"__SCRIPT_HASH__": f"'sha256-{digest}'", "__TITLE__": html.escape(board["title"]),
              "__DATA__": _script_json(page_data(board, sort))}
    # one pass, so a title that happens to contain a placeholder is never expanded
    return re.sub("|".join(values), lambda m: values[m.group(0)], template)


def write_site(board: dict[str, Any], out: Path, sort: str = DEFAULT_SORT) -> Path:
    """Write ``index.html`` and a copy of the leaderboard JSON into ``out``; returns the page path."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        page = out / "index.html"
        page.write_text(render_html(board, sort), encoding="utf-8")
        (out / "leaderboard.json").write_text(dumps_board(board), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the site into {out}: {exc.strerror}") from None
    return page
