"""RAVDESS: ``Actor_XX/`` folders with 7-part file names.

``MM-VV-EE-II-SS-RR-AA.ext``: modality (01 audio-video, 02 video-only, 03 audio-only), vocal channel
(01 speech, 02 song), emotion (01 neutral, 02 calm, 03 happy, 04 sad, 05 angry, 06 fearful,
07 disgust, 08 surprised), intensity (01 normal, 02 strong), statement (01 "Kids are talking by the
door", 02 "Dogs are sitting by the door"), repetition (01, 02), actor (01-24, odd = male).

Layouts: ``<data root>/RAVDESS/Actor_XX/`` as the official archives unpack, or the released AVERE
code's ``RAVDESS/ravdess_videos_24fps/Actor_XX/`` with 16 kHz sidecar wavs in
``RAVDESS/ravdess_videos_16khz/Actor_XX/``.

Default protocol (the released one): audio-video (01) speech (01) files, 7 classes, calm (02)
excluded. Options ``include_calm``, ``include_song``, ``include_video_only`` widen it.

The loader is here; the lm-eval hooks are those DFEW and RAVDESS share
(:mod:`emorealm.benchmarks.recognition`), re-exported for ``tasks/ravdess/utils.py``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emorealm.benchmarks import recognition
from emorealm.benchmarks.common import (
    LoadResult,
    find_benchmark_dir,
    load_error,
    resolve_data_root,
    task_dataset,
    under,
)
from emorealm.benchmarks.recognition import *  # noqa: F403  (the shared lm-eval hooks, recognition.HOOKS)
from emorealm.doc import media_dict
from emorealm.errors import DataError
from emorealm.options import parse_bool
from emorealm.scoring.aggregations import total

EMOTIONS = {"01": "neutral", "02": "calm", "03": "happiness", "04": "sadness", "05": "anger",
            "06": "fear", "07": "disgust", "08": "surprise"}
LABELS = ["happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear"]
LABELS_WITH_CALM = LABELS + ["calm"]
MEDIA_EXTS = {".mp4": "video", ".wav": "audio"}
_NAME = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")
_ACTOR_DIR = re.compile(r"^Actor_(\d{2})$")


@dataclass(frozen=True)
class RavdessName:
    modality: str
    channel: str
    emotion: str
    intensity: str
    statement: str
    repetition: str
    actor: int

    @property
    def label(self) -> str:
        return EMOTIONS[self.emotion]


def parse_name(stem: str) -> RavdessName:
    """Parse a RAVDESS file stem; raises :class:`DataError` saying which field is wrong."""
    m = _NAME.match(stem)
    if not m:
        raise DataError(f"{stem!r} is not a RAVDESS name (7 two-digit fields joined by '-')")
    mod, ch, emo, inten, stmt, rep, actor = m.groups()
    checks = [("modality", mod, {"01", "02", "03"}), ("vocal channel", ch, {"01", "02"}),
              ("emotion", emo, set(EMOTIONS)), ("intensity", inten, {"01", "02"}),
              ("statement", stmt, {"01", "02"}), ("repetition", rep, {"01", "02"})]
    for what, val, ok in checks:
        if val not in ok:
            raise DataError(f"{stem!r}: {what} {val} is not one of {sorted(ok)}")
    if not 1 <= int(actor) <= 24:
        raise DataError(f"{stem!r}: actor {actor} is not 01-24")
    return RavdessName(mod, ch, emo, inten, stmt, rep, int(actor))


def _layout(base: Path, options: dict[str, Any]) -> tuple[Path, Path | None]:
    """(folder holding Actor_XX/, sidecar audio folder or None)."""
    if options.get("ravdess_video_dir"):
        vdir = under(base, options["ravdess_video_dir"])
        if not vdir.is_dir():
            raise DataError(f"RAVDESS folder {vdir} does not exist (task option ravdess_video_dir)")
    elif (base / "ravdess_videos_24fps").is_dir():
        vdir = base / "ravdess_videos_24fps"
    else:
        vdir = base
    if options.get("ravdess_audio_dir"):
        adir: Path | None = under(base, options["ravdess_audio_dir"])
    elif vdir.name == "ravdess_videos_24fps" and (vdir.parent / "ravdess_videos_16khz").is_dir():
        adir = vdir.parent / "ravdess_videos_16khz"
    else:
        adir = None
    if not any(_ACTOR_DIR.match(p.name) for p in vdir.iterdir() if p.is_dir()):
        raise DataError(f"no Actor_XX folders in {vdir}; unpack the RAVDESS Video_Speech_Actor_XX.zip archives "
                        "there (or point ravdess_video_dir at them)")
    return vdir, adir


def load_ravdess(**options: Any) -> LoadResult:
    """Docs of RAVDESS under the selected protocol (see module doc). Unknown options are ignored."""
    root = resolve_data_root(options)
    base = find_benchmark_dir(root, options.get("ravdess_dir"), ("RAVDESS", "ravdess"), "RAVDESS")
    include_calm = parse_bool(options.get("include_calm", False), "task option include_calm")
    include_song = parse_bool(options.get("include_song", False), "task option include_song")
    include_vo = parse_bool(options.get("include_video_only", False), "task option include_video_only")
    labels = LABELS_WITH_CALM if include_calm else LABELS
    vdir, adir = _layout(base, options)
    modalities = {"01"} | ({"02"} if include_vo else set())
    channels = {"01"} | ({"02"} if include_song else set())

    result = LoadResult(docs=[], source={"video_dir": str(vdir), "audio_dir": str(adir) if adir else "",
                                         "protocol": f"modality {sorted(modalities)}, channel {sorted(channels)}, "
                                                     f"{len(labels)} classes"})
    skipped = {"modality": 0, "channel": 0, "calm": 0}
    listing = []
    for actor_dir in sorted(p for p in vdir.iterdir() if p.is_dir() and _ACTOR_DIR.match(p.name)):
        for f in sorted(actor_dir.iterdir()):
            if f.is_file() and f.suffix.lower() in MEDIA_EXTS:
                listing.append(f)
    result.fingerprint = "sha256:" + hashlib.sha256(
        "\n".join(str(f.relative_to(vdir)) for f in listing).encode()).hexdigest()
    for f in listing:
        rel = f.relative_to(vdir).with_suffix("").as_posix()
        try:
            name = parse_name(f.stem)
        except DataError as exc:
            result.problem(f"{f}: {exc}")  # reported, never guessed; counted as a failed sample
            result.docs.append({"id": rel, "clip_id": rel, "_task": "ravdess", "choices": [], "labels": labels,
                                "answer": None, "media": media_dict(f if f.suffix == ".mp4" else None, None),
                                "meta": {"file": f.name}, "_load_error": load_error("DataError", str(exc))})
            continue
        if name.modality == "03" or name.modality not in modalities or f.suffix.lower() != ".mp4":
            skipped["modality"] += 1
            continue
        if name.channel not in channels:
            skipped["channel"] += 1
            continue
        if name.emotion == "02" and not include_calm:
            skipped["calm"] += 1
            continue
        if int(f.parent.name[-2:]) != name.actor:
            result.problem(f"{f}: actor {name.actor:02d} in the name but folder {f.parent.name}")
        wav = None
        if adir is not None and name.modality == "01":
            cand = adir / f.relative_to(vdir).with_suffix(".wav")
            wav = cand if cand.is_file() else None
        result.docs.append({
            "id": rel, "clip_id": rel, "_task": "ravdess", "choices": [], "labels": labels,
            "answer": name.label,
            "media": media_dict(f, wav, audio_track=name.modality == "01"),
            "meta": {"modality": name.modality, "channel": name.channel, "intensity": name.intensity,
                     "statement": name.statement, "repetition": name.repetition, "actor": name.actor,
                     "sex": "male" if name.actor % 2 else "female"},
        })
    result.source["skipped_by_protocol"] = ", ".join(f"{k}: {v}" for k, v in skipped.items())
    return result


# the task options load_ravdess reads (checked by emorealm.options_check; docs/contracts.md §2)
TASK_OPTIONS = ("ravdess_dir", "include_calm", "include_song", "include_video_only", "ravdess_video_dir",
                "ravdess_audio_dir")


def load(**metadata: Any):
    """lm-eval custom_dataset: task options arrive as keyword arguments (unknown ones ignored)."""
    return task_dataset("ravdess", load_ravdess(**metadata))


BENCHMARK = recognition.benchmark("ravdess")
# what tasks/ravdess/utils.py hands to lm-eval
__all__ = [*recognition.HOOKS, "TASK_OPTIONS", "load", "total"]
