"""EMER as distributed today (OV-MERD, MER2025 release on Hugging Face ``MERChallenge/MER2025``).

Files under ``<data root>/EMER`` (all names overridable by task options):

* ``track3_train_ovmerd.csv`` — columns ``name``, ``reason``: the reference description of each
  clip (what the judge compares with). Option ``emer_description_file``.
* ``track2_train_ovmerd.csv`` — columns ``name``, ``openset``: the reference open-vocabulary
  emotion words, a list written like ``['happy', 'relaxed']`` (option ``emer_openset_file``). A single
  CSV with all three columns works as well (give it as ``emer_description_file``).
* clips ``video/<name>.mp4`` (the release) or ``video_24fps/<name>.mp4`` (the released AVERE code),
  audio sidecars from ``video_16khz/<name>.wav`` or ``audio/<name>.wav`` when present.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

from emorealm.datasets.common import (
    VIDEO_EXTS,
    LoadResult,
    find_benchmark_dir,
    fingerprint,
    load_error,
    read_csv,
    resolve_data_root,
    under,
)
from emorealm.doc import media_dict
from emorealm.errors import DataError

VIDEO_DIRS = ("video_24fps", "video")
AUDIO_DIRS = ("video_16khz", "audio")


def parse_openset(value: str) -> list[str]:
    """Reference emotion words from an ``openset`` cell: ``['a', 'b']``, ``["a","b"]`` or ``a, b``."""
    s = (value or "").strip()
    if not s or s.lower() in {"nan", "none", "[]"}:
        return []
    if s[0] == "[":
        try:
            items = json.loads(s)
        except json.JSONDecodeError:
            try:
                items = ast.literal_eval(s)
            except (ValueError, SyntaxError):
                items = [x.strip(" '\"") for x in s[1:-1].split(",")]
        if not isinstance(items, (list, tuple)):
            items = [str(items)]
    else:
        items = re.split(r"[,;/]", s)
    return [str(x).strip() for x in items if str(x).strip()]


def _find(base: Path, names: tuple[str, ...], stem: str) -> Path | None:
    for d in names:
        folder = base / d
        if not folder.is_dir():
            continue
        for ext in VIDEO_EXTS if d.startswith("video") and "khz" not in d else (".wav",):
            p = folder / f"{stem}{ext}"
            if p.is_file():
                return p
    return None


def load_emer(**options: Any) -> LoadResult:
    """Docs of EMER/OV-MERD: one per row of the description CSV (unknown options ignored)."""
    root = resolve_data_root(options)
    base = find_benchmark_dir(root, options.get("emer_dir"), ("EMER", "emer", "OV-MERD"), "EMER")
    desc_file = under(base, options.get("emer_description_file") or "track3_train_ovmerd.csv")
    rows = read_csv(desc_file, ("name", "reason"), "EMER description file")
    files = [desc_file]
    openset: dict[str, str] = {}
    has_inline = rows and "openset" in rows[0]
    if has_inline:
        openset = {r["name"]: r["openset"] for r in rows}
    else:
        os_file = under(base, options.get("emer_openset_file") or "track2_train_ovmerd.csv")
        if not os_file.is_file():
            raise DataError(f"EMER reference emotions {os_file} not found: it ships with the description file "
                            "in the OV-MERD release (columns name, openset); pass emer_openset_file=... if it lives elsewhere")
        openset = {r["name"]: r["openset"] for r in read_csv(os_file, ("name", "openset"), "EMER openset file")}
        files.append(os_file)
    video_dirs = (options["emer_video_dir"],) if options.get("emer_video_dir") else VIDEO_DIRS
    audio_dirs = (options["emer_audio_dir"],) if options.get("emer_audio_dir") else AUDIO_DIRS

    result = LoadResult(docs=[], fingerprint=fingerprint(*files), source={"description_file": str(desc_file),
                        "openset_file": str(files[-1]) if len(files) > 1 else str(desc_file)})
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        name, reason = row["name"], row["reason"]
        if not name or name in seen:
            result.problem(f"{desc_file}:{line}: {'empty' if not name else 'repeated'} name {name!r}; row skipped")
            continue
        seen.add(name)
        refs = parse_openset(openset.get(name, ""))
        doc: dict[str, Any] = {"id": name, "clip_id": name, "_task": "emer", "choices": [], "answer": reason,
                               "reference_emotions": refs, "meta": {"row": line}}
        if not reason:
            msg = f"{desc_file}:{line}: clip {name} has no reference description"
            doc["_load_error"] = load_error("DataError", msg)
            result.problem(msg)
        if not refs:
            # the judge can still score it; only the judge-free emotion F1 cannot (counted there)
            result.problem(f"clip {name}: no reference emotions (openset) — excluded from emotion_f1, counted in n_no_reference")
        video = _find(base, tuple(video_dirs), name)
        if video is None:
            msg = f"clip {name} not found under {', '.join(str(base / d) for d in video_dirs)}"
            doc.setdefault("_load_error", load_error("MediaError", msg))
            result.problem(msg)
            doc["media"] = media_dict(base / video_dirs[0] / f"{name}.mp4", None)
        else:
            doc["media"] = media_dict(video, _find(base, tuple(audio_dirs), name))
        result.docs.append(doc)
    return result
