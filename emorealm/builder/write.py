"""Stage ``write``: the benchmark file in the released layout, its clips, and the provenance."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from emorealm.benchmarks.emorealm import DEFAULTS, TASK_KEYS, validate_row
from emorealm.builder.common import Clip, StageReport, clip_relpath, sha256_file

RELEASED_KEYS = ("id", "video", "task", "question", "choices", "answer")


def _place(src: Path, dst: Path) -> str:
    """Hard-link ``src`` to ``dst`` (copy across file systems); the loader refuses symlinks out of the root."""
    if dst.is_file() and dst.stat().st_size == src.stat().st_size and sha256_file(dst) == sha256_file(src):
        return "present"
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
        return "linked"
    except OSError:
        shutil.copy2(src, dst)
        return "copied"


def write_benchmark(rows: list[dict], clips: list[Clip], root: Path, report: StageReport,
                    benchmark_file: str = DEFAULTS["benchmark_file"]) -> Path:
    """Write ``root/<benchmark_file>`` (released schema only) and place every clip it uses."""
    out = []
    for i, r in enumerate(rows):
        row = {k: r[k] for k in RELEASED_KEYS}
        why = validate_row(i, row)
        if why:  # nothing malformed reaches the benchmark file
            report.drop(f"malformed row: {why[:80]}")
            continue
        out.append(row)
    by_id = {c.id: c for c in clips}
    for cid in sorted({r["clip"] for r in rows if r["id"] in {o["id"] for o in out}}):
        clip = by_id[cid]
        rel = clip_relpath(clip)
        report.counts[_place(clip.video, root / DEFAULTS["clip_dir"] / rel)] += 1
        if clip.audio is not None:
            if clip.audio.suffix.lower() == ".wav":
                _place(clip.audio, root / DEFAULTS["audio_dir"] / Path(rel).with_suffix(".wav"))
            else:
                report.drop("audio sidecar not .wav (audio read from the video)")
    path = root / benchmark_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    for task in TASK_KEYS:
        report.counts[task] = sum(r["task"] == task for r in out)
    report.counts["questions"] = len(out)
    return path


def write_provenance(path: Path, info: dict[str, Any]) -> Path:
    """The provenance next to the benchmark file: ``<name>.provenance.json``."""
    prov = path.with_name(path.stem + ".provenance.json")
    prov.write_text(json.dumps(info, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return prov
