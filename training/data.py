"""Preference data: the jsonl row format, its validation, and media resolution (docs/avem-dpo.md).

One row (fields of the released AVERE launcher)::

    {"id": "...", "prompt": "<video>\\n<audio>\\nWhat emotion ...?",
     "chosen": "...", "rejected": "...", "rejected_2": "...",
     "video": "clips/a.mp4", "audio": "clips/a.wav",          # audio optional: the clip's own track
     "video_l": "clips/b.mp4", "audio_l": "clips/b.wav",      # optional rejected inputs (else seeded noise)
     "modality": "audio"}                                      # optional: audio | video | both

``rejected`` is y_l^vr (relevant to the clip, spurious emotion association), ``rejected_2`` is
y_l^er (about the emotion, hallucinated). Paths are relative to the data root (default: the jsonl's
folder) and joined with :func:`emorealm.paths.safe_join` (nothing outside the root); absolute
paths are taken as given (the author's own files, e.g. written by ``build-prefs``).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emorealm.doc import Media, media_dict
from emorealm.errors import DataError
from emorealm.paths import safe_join

REQUIRED = ("prompt", "chosen", "rejected", "video")
OPTIONAL = ("id", "rejected_2", "audio", "video_l", "audio_l", "modality")
MODALITIES = ("audio", "video", "both")
# media markers of the released prompts, mapped onto the chat template's placeholders by build_inputs
_MARKER = re.compile(r"<(video|audio|image)>\s*\n?")
# prompt wording that says which modality a question is about (first match wins per modality)
_AUDIO_WORDS = re.compile(r"\b(audio|voice|vocal|tone|speech|speaker'?s?|sound|pitch|hear|heard|loud|prosody)\b", re.I)
_VIDEO_WORDS = re.compile(r"\b(video|visual|visually|facial|face|expression|see|seen|look|looks|frame|gesture|body)\b",
                          re.I)


@dataclass
class PreferenceRow:
    """One validated preference example with resolved absolute media paths."""

    id: str
    prompt: str  # media markers removed
    chosen: str
    rejected_vr: str
    rejected_er: str | None
    video: str
    audio: str | None  # None: the clip's own audio track
    video_l: str | None
    audio_l: str | None
    modality: str  # audio | video | both
    modality_source: str  # "field" | "inferred" | "default"
    prompt_media: tuple[str, ...] = ("video", "audio")  # media the prompt's markers declare
    extra: dict[str, Any] = field(default_factory=dict)

    def media(self) -> Media:
        """The doc-style media dict (docs/contracts.md §3) of the clean input."""
        want_audio = "audio" in self.prompt_media
        return media_dict(self.video, self.audio if want_audio else None, audio_track=want_audio)


def strip_markers(prompt: str) -> tuple[str, tuple[str, ...]]:
    """Remove ``<video>``/``<audio>`` markers; return the text and the media they declare.

    A prompt without markers declares both video and audio (the clip as given)."""
    found = tuple(dict.fromkeys(m.group(1) for m in _MARKER.finditer(prompt)))
    text = _MARKER.sub("", prompt).strip()
    if not found:
        return text, ("video", "audio")
    return text, tuple(m for m in ("video", "audio") if m in found or (m == "video" and "image" in found))


def infer_modality(prompt: str) -> tuple[str, str]:
    """Which modality a prompt is about, from its wording: (modality, "inferred"|"default")."""
    a, v = bool(_AUDIO_WORDS.search(prompt)), bool(_VIDEO_WORDS.search(prompt))
    if a and not v:
        return "audio", "inferred"
    if v and not a:
        return "video", "inferred"
    return "both", "default"


@dataclass
class LoadReport:
    """What loading kept and what it skipped, with reasons (printed by the trainer)."""

    kept: int = 0
    skipped: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # reason -> first offending row id/line

    def skip(self, reason: str, where: str) -> None:
        self.skipped[reason] += 1
        self.examples.setdefault(reason, where)


def _resolve(root: Path, rel: Any, name: str, where: str) -> str:
    if not isinstance(rel, str) or not rel:
        raise DataError(f"{where}: field {name!r} must be a non-empty path string, got {rel!r}")
    # absolute paths are the author's own files (build-prefs writes them); relative ones stay inside the root
    path = Path(rel) if Path(rel).is_absolute() else safe_join(root, rel)
    if not path.exists():
        raise DataError(f"{where}: {name} file not found: {path}")
    return str(path)


def parse_row(raw: Any, root: Path, where: str) -> PreferenceRow:
    """Validate one raw row; raises :class:`DataError` saying which field is wrong and why."""
    if not isinstance(raw, dict):
        raise DataError(f"{where}: a row must be a JSON object, got {type(raw).__name__}")
    missing = [k for k in REQUIRED if k not in raw or raw[k] in (None, "")]
    if missing:
        raise DataError(f"{where}: missing required field(s) {missing} (required: {list(REQUIRED)})")
    for k in ("prompt", "chosen", "rejected", "rejected_2"):
        if k in raw and raw[k] is not None and not isinstance(raw[k], str):
            raise DataError(f"{where}: field {k!r} must be a string, got {type(raw[k]).__name__}")
    prompt, declared = strip_markers(raw["prompt"])
    if not prompt:
        raise DataError(f"{where}: the prompt is empty once the <video>/<audio> markers are removed")
    chosen, rej, rej2 = raw["chosen"].strip(), raw["rejected"].strip(), (raw.get("rejected_2") or "").strip() or None
    if not chosen or not rej:
        raise DataError(f"{where}: 'chosen' and 'rejected' must be non-empty")
    if chosen == rej or (rej2 is not None and rej2 in (chosen, rej)):
        raise DataError(f"{where}: responses are identical to each other (chosen/rejected/rejected_2 must differ)")
    modality = raw.get("modality")
    if modality is not None:
        if modality not in MODALITIES:
            raise DataError(f"{where}: modality must be one of {MODALITIES}, got {modality!r}")
        source = "field"
    else:
        modality, source = infer_modality(prompt)
    return PreferenceRow(
        id=str(raw.get("id", where)), prompt=prompt, chosen=chosen, rejected_vr=rej, rejected_er=rej2,
        video=_resolve(root, raw["video"], "video", where),
        audio=_resolve(root, raw["audio"], "audio", where) if raw.get("audio") else None,
        video_l=_resolve(root, raw["video_l"], "video_l", where) if raw.get("video_l") else None,
        audio_l=_resolve(root, raw["audio_l"], "audio_l", where) if raw.get("audio_l") else None,
        modality=modality, modality_source=source, prompt_media=declared,
        extra={k: v for k, v in raw.items() if k not in REQUIRED + OPTIONAL},
    )


def read_jsonl_rows(path: str | Path, data_root: str | Path | None, parse: Callable[[Any, Path, str], Any], *,
                    strict: bool = False, what: str = "preference") -> tuple[list[Any], LoadReport]:
    """Read a jsonl of rows with ``parse(raw, root, where)`` (which raises :class:`DataError`).

    Invalid rows (and duplicate ids) raise when ``strict``, else they are counted per reason and
    skipped (the report says which). An empty result is always an error. ``root``: ``data_root``,
    default the file's folder.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} file not found: {path}")
    root = Path(data_root) if data_root else path.parent
    rows: list[Any] = []
    report = LoadReport()
    seen: set[str] = set()
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path.name}:{lineno}"
        try:
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{where}: not valid JSON ({exc})") from exc
            row = parse(raw, root, where)
            if row.id in seen:
                raise DataError(f"{where}: duplicate id {row.id!r}")
        except DataError as exc:
            if strict:
                raise
            report.skip(str(exc).split(": ", 1)[-1][:120], where)
            continue
        seen.add(row.id)
        rows.append(row)
    report.kept = len(rows)
    if not rows:
        detail = "; ".join(f"{r} (e.g. {w})" for r, w in report.examples.items()) or "the file is empty"
        raise DataError(f"{path}: no usable {what} rows: {detail}")
    return rows, report


def load_preferences(path: str | Path, data_root: str | Path | None = None, *, strict: bool = False,
                     need_rejected_2: bool = False) -> tuple[list[PreferenceRow], LoadReport]:
    """Read and validate a preference jsonl (:func:`read_jsonl_rows`). ``need_rejected_2``: the
    objective uses y_l^er, so rows without it are invalid."""
    def parse(raw: Any, root: Path, where: str) -> PreferenceRow:
        row = parse_row(raw, root, where)
        if need_rejected_2 and row.rejected_er is None:
            raise DataError(f"{where}: missing 'rejected_2' (y_l^er), which the objective uses; "
                            "add it or set loss.w_vr: 1.0 (and a debias_form other than hallucination)")
        return row

    return read_jsonl_rows(path, data_root, parse, strict=strict, what="preference")
