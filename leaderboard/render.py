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

from emorealm.leaderboard.entry import now_iso
from emorealm.leaderboard.schema import known_tasks
from emorealm.leaderboard.store import dumps_board
from emorealm.leaderboard.views import DEFAULT_SORT, fmt, ranked_rows, sort_column, used_columns
from rich.console import Console
from rich.table import Table
from rich.text import Text

from emorealm.errors import ConfigError

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


def rich_table(board: dict[str, Any], sort: str = DEFAULT_SORT, ascending: bool | None = None) -> Table:
    """The leaderboard as a rich Table (percentages for fractions)."""
    cols = used_columns(board, sort)
    sort_col = sort_column(sort)
    table = Table(title=board["title"], caption=f"sorted by {sort_col.label}; values in % except EMER judge scores (1–10)",
                  show_lines=False, header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("model", min_width=12, overflow="fold")
    table.add_column("params", justify="right")
    for c in cols:
        table.add_column(c.short + (" ▼" if c.key == sort_col.key else ""), justify="right")
    table.add_column("notes", no_wrap=True)
    for row in ranked_rows(board, sort, ascending):
        m = row.entry["model"]
        params = f"{m['parameters'] / 1e9:.2f}B" if m["parameters"] and m["parameters"] >= 1e8 else (
            f"{m['parameters'] / 1e6:.1f}M" if m["parameters"] else "—")
        notes = [ABBREV[f] for f in _flags(row)] + (["signed"] if row.signer else [])
        table.add_row(
            str(row.rank) if row.rank is not None else "—",
            Text(m["name"]),  # Text, not markup: a name like "[red]x" prints as it is
            params,
            *[fmt(row.values[c.key], c.scale) for c in cols],
            Text(" ".join(notes), style="yellow" if row.partial or row.unofficial else ""),
        )
    return table


def print_table(board: dict[str, Any], sort: str = DEFAULT_SORT, ascending: bool | None = None,
                console: Console | None = None) -> None:
    console = console or Console()
    if not board["entries"]:
        console.print(Text(f"{board['title']}: no entries yet"))
        return
    console.print(rich_table(board, sort, ascending))
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
