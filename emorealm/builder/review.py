"""Stage ``review``: export questions for human verification; import the reviewers' verdicts.

Export: ``review.csv`` (one row per question: id, task, clip, question, choice_A–D, answer,
evidence, and empty ``verdict`` / ``reviewer`` / ``note`` columns) and ``review.html`` (a static page
playing each clip next to its question, choices and evidence). Import keeps rows whose verdict is
``accept`` (edited question, choices or answer applied and re-validated), records who reviewed, and
counts everything else per reason.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
from pathlib import Path

from emorealm.benchmarks.emorealm import validate_row
from emorealm.builder.common import Clip, StageReport, norm

COLUMNS = ["id", "task", "clip", "question", "choice_A", "choice_B", "choice_C", "choice_D", "answer",
           "evidence", "verdict", "reviewer", "note"]
ACCEPT, REJECT = {"accept", "accepted", "yes", "y", "ok"}, {"reject", "rejected", "no", "n"}


def _text(choice: str) -> str:
    return choice.split(") ", 1)[1] if choice.startswith("(") and ") " in choice else choice


def export_review(rows: list[dict], clips: list[Clip], out_dir: Path) -> tuple[Path, Path]:
    """Write ``review.csv`` and ``review.html`` under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        choices = {f"choice_{'ABCD'[i]}": _text(c) for i, c in enumerate(r["choices"])}
        w.writerow({"id": r["id"], "task": r["task"], "clip": r["clip"], "question": r["question"], **choices,
                    "answer": r["answer"], "evidence": json.dumps(r["evidence"], sort_keys=True),
                    "verdict": "", "reviewer": "", "note": ""})
    csv_path = out_dir / "review.csv"
    csv_path.write_text(buf.getvalue(), encoding="utf-8")
    html_path = out_dir / "review.html"
    html_path.write_text(_page(rows, {c.id: c for c in clips}, out_dir), encoding="utf-8")
    return csv_path, html_path


def _page(rows: list[dict], clips: dict[str, Clip], out_dir: Path) -> str:
    e = html.escape
    items = []
    for r in rows:
        src = os.path.relpath(clips[r["clip"]].video, out_dir) if r["clip"] in clips else ""
        mark = ' class="answer"'
        opts = "".join(f"<li{mark if c.startswith('(' + r['answer'] + ')') else ''}>{e(c)}</li>"
                       for c in r["choices"])
        items.append(
            f"<section id=\"{e(r['id'])}\"><video controls preload=\"metadata\" src=\"{e(Path(src).as_posix())}\">"
            f"</video><div><h2>{e(r['id'])}</h2><p class=\"task\">{e(r['task'])}</p><p>{e(r['question'])}</p>"
            f"<ol>{opts}</ol><details><summary>evidence (captions, cues, verification votes)</summary>"
            f"<pre>{e(json.dumps(r['evidence'], indent=1, sort_keys=True))}</pre></details></div></section>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto}section{display:flex;gap:1em;"
             "border-bottom:1px solid #ccc;padding:1em 0}video{width:360px}.answer{font-weight:bold;color:#060}"
             "pre{white-space:pre-wrap;font-size:12px}")
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>EmoReAlM build review</title>"
            f"<style>{style}</style></head><body><h1>Review {len(rows)} questions</h1><p>Fill in the "
            "<code>verdict</code> (accept / reject), <code>reviewer</code> and any edits in review.csv, then run "
            "<code>build-benchmark ... --import-review review.csv</code>.</p>" + "".join(items) + "</body></html>\n")


def import_review(rows: list[dict], verdicts: Path, report: StageReport) -> list[dict]:
    """Accepted rows with edits applied and ``reviewed_by`` set; every other row counted per reason."""
    by_id = {r["id"]: r for r in rows}
    with open(verdicts, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"id", "verdict", "reviewer"} - set(reader.fieldnames or [])
        if missing:
            from emorealm.errors import DataError

            raise DataError(f"{verdicts}: review file lacks columns {sorted(missing)}; start from the exported "
                            "review.csv")
        lines = list(reader)
    kept, seen = {}, set()
    for line in lines:
        qid = (line.get("id") or "").strip()
        if qid not in by_id:
            report.drop("unknown id in review")
            continue
        if qid in seen:
            report.drop("id reviewed twice")
            kept.pop(qid, None)
            continue
        seen.add(qid)
        verdict = (line.get("verdict") or "").strip().lower()
        if verdict in REJECT:
            report.drop("rejected by reviewer")
            continue
        if verdict not in ACCEPT:
            report.drop("no verdict")
            continue
        reviewer = (line.get("reviewer") or "").strip()
        if not reviewer:
            report.drop("accepted without a reviewer name")
            continue
        row, why = _apply_edits(by_id[qid], line)
        if why:
            report.drop(f"edit breaks the schema: {why}")
            continue
        row["reviewed_by"] = reviewer
        report.counts["edited"] += row.pop("_edited")
        report.counts[f"reviewer:{reviewer}"] += 1
        kept[qid] = row
    report.drop("not reviewed", len(set(by_id) - seen))
    report.counts["accepted"] = len(kept)
    return [kept[r["id"]] for r in rows if r["id"] in kept]


def _apply_edits(row: dict, line: dict) -> tuple[dict, str | None]:
    new = {**row}
    texts = [(line.get(f"choice_{x}") or "").strip() for x in "ABCD"]
    while texts and not texts[-1]:
        texts.pop()
    if "" in texts:
        return new, "empty option"
    new["choices"] = [f"({'ABCD'[i]}) {t}" for i, t in enumerate(texts)]
    new["question"] = (line.get("question") or "").strip()
    new["answer"] = (line.get("answer") or "").strip().upper()
    if not new["question"]:
        return new, "empty question"
    if len(set(map(norm, texts))) < len(texts):
        return new, "repeated option"
    yes_no = [_text(c) for c in row["choices"]] == ["Yes", "No"]
    if yes_no and texts != ["Yes", "No"]:
        return new, "yes/no options changed"
    if not yes_no and len(texts) != 4:
        return new, "basic reasoning needs four options"
    why = validate_row(0, {k: new[k] for k in ("id", "video", "task", "question", "choices", "answer")})
    new["_edited"] = int(any(new[k] != row[k] for k in ("question", "choices", "answer")))
    return new, why
