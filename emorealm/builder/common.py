"""Shared pieces of the builder stages: deterministic jsonl io, the clip manifest, per-stage reports."""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emorealm.doc import Media, media_dict
from emorealm.errors import DataError

MODALITIES = ("audio", "video")


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write rows with sorted keys (byte-identical for equal rows), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows),
                   encoding="utf-8")
    tmp.replace(path)
    return path


def read_jsonl(path: Path, what: str) -> list[dict[str, Any]]:
    """Rows of a jsonl file; a bad line is an error naming the file and line."""
    if not path.is_file():
        raise DataError(f"{what} file not found: {path}; run the stage that writes it")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{n}: not valid JSON ({exc.msg})") from exc
    return out


def seeded(seed: int, *parts: Any) -> random.Random:
    """A generator derived from the build seed and a key (independent of call order)."""
    digest = hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def sha256_file(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def norm(text: str) -> str:
    """Lower-case, single-spaced text for comparisons (duplicates, cue presence)."""
    return " ".join(str(text).lower().split())


@dataclass
class StageReport:
    """What one stage produced and what it dropped, per reason (printed and kept in the provenance)."""

    stage: str
    counts: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)
    skipped: bool = False  # output existed: the stage was not run again

    def drop(self, reason: str, n: int = 1) -> None:
        if n:
            self.dropped[reason] += n

    def as_dict(self) -> dict[str, Any]:
        return {"counts": dict(sorted(self.counts.items())), "dropped": dict(sorted(self.dropped.items())),
                "skipped": self.skipped}


@dataclass
class Clip:
    """One manifest row with its media resolved next to the manifest."""

    id: str
    video: Path
    audio: Path | None
    emotion: str
    extra: dict[str, Any]

    def media(self, modality: str | None = None) -> Media:
        """The doc ``media`` dict giving the model only ``modality`` (None: both)."""
        if modality == "audio":  # the video file read as an audio file when there is no sidecar
            return media_dict(None, self.audio or self.video)
        if modality == "video":
            return media_dict(self.video, audio_track=False)
        return media_dict(self.video, self.audio)


def read_manifest(path: Path, report: StageReport) -> list[Clip]:
    """Clips of a manifest (``id, video, audio?, emotion``; paths relative to it).

    Rows without a label or with a missing clip are counted in ``report`` and left out."""
    clips, seen = [], set()
    for r in read_jsonl(path, "clip manifest"):
        if not r.get("id") or not r.get("video"):
            report.drop("clip row without id or video")
            continue
        cid = str(r["id"])
        if cid in seen:
            report.drop("duplicate clip id")
            continue
        if not str(r.get("emotion") or "").strip():
            report.drop("clip without emotion label")
            continue
        video = (path.parent / r["video"]).resolve()
        audio = (path.parent / r["audio"]).resolve() if r.get("audio") else None
        if not video.is_file() or (audio is not None and not audio.is_file()):
            report.drop("clip file missing")
            continue
        seen.add(cid)
        extra = {k: v for k, v in r.items() if k not in ("id", "video", "audio", "emotion")}
        clips.append(Clip(cid, video, audio, str(r["emotion"]).strip().lower(), extra))
    report.counts["clips"] = len(clips)
    if not clips:
        raise DataError(f"{path}: no usable clip ({dict(report.dropped)}); every row needs id, video and emotion")
    return sorted(clips, key=lambda c: c.id)


def clip_relpath(clip: Clip) -> str:
    """The clip's path in the written layout (relative to the loader's clip folder)."""
    import re

    return re.sub(r"[^A-Za-z0-9._-]", "_", clip.id) + clip.video.suffix.lower()
