"""DFEW: split files ``set_<k>.csv`` (``video_name,label``) and the original clips.

Layouts understood (under ``<data root>/DFEW`` or ``<data root>/dfew``):

* official release: ``EmoLabel_DataSplit/{test,train}(single-labeled)/set_<k>.csv`` and clips under
  ``Clip/original/`` (any depth);
* released AVERE code: ``dfew_annotation/{test,train}(single-labeled)/set_<k>.csv``, clips under
  ``dfew_original_clips_24fps/part_*/`` and 16 kHz sidecar wavs under ``dfew_original_clips_16khz/``
  at the same relative path (used when present, recorded in ``media.audio_source``).

The loader is here; the lm-eval hooks are those DFEW and RAVDESS share
(:mod:`emorealm.benchmarks.recognition`), re-exported for ``tasks/dfew/utils.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emorealm.benchmarks import recognition
from emorealm.benchmarks.common import (
    VIDEO_EXTS,
    LoadResult,
    find_benchmark_dir,
    fingerprint,
    load_error,
    read_csv,
    resolve_data_root,
    task_dataset,
    under,
)
from emorealm.benchmarks.recognition import *  # noqa: F403  (the shared lm-eval hooks, recognition.HOOKS)
from emorealm.doc import media_dict
from emorealm.errors import ConfigError, DataError
from emorealm.scoring.aggregations import total

# DFEW label ids (official README; the released code's classes_map)
DFEW_LABELS = {1: "happiness", 2: "sadness", 3: "neutral", 4: "anger", 5: "surprise", 6: "disgust", 7: "fear"}
LABELS = [DFEW_LABELS[i] for i in range(1, 8)]

SPLIT_DIRS = ("EmoLabel_DataSplit", "dfew_annotation")
CLIP_DIRS = ("dfew_original_clips_24fps", "Clip/original", "Clip", "clips")
AUDIO_DIRS = {"dfew_original_clips_24fps": "dfew_original_clips_16khz"}


def _key(name: str) -> str:
    """Clip identity: split files write 1 or 00001 for clip 00001.mp4; compare as integers."""
    name = name.strip()
    return str(int(name)) if name.isdigit() else name


def find_split_file(base: Path, split: str, fold: int, option: Any = None) -> Path:
    if option:
        p = under(base, option)
        if not p.is_file():
            raise DataError(f"DFEW split file {p} not found (task option dfew_split_file)")
        return p
    tried = []
    for d in SPLIT_DIRS:
        p = base / d / f"{split}(single-labeled)" / f"set_{fold}.csv"
        tried.append(str(p))
        if p.is_file():
            return p
    raise DataError("DFEW split file not found; looked for " + ", ".join(tried)
                    + ". Copy EmoLabel_DataSplit/ from the official release (or dfew_annotation/ of the "
                      "released code) into the DFEW folder, or pass dfew_split_file=...")


def index_clips(clip_dir: Path) -> dict[str, Path]:
    """Clip key → path for every video file below ``clip_dir`` (any depth, e.g. ``part_*``)."""
    out: dict[str, Path] = {}
    for p in sorted(clip_dir.rglob("*")):
        if p.suffix.lower() in VIDEO_EXTS and p.is_file():
            out.setdefault(_key(p.stem), p)
    return out


def load_dfew(**options: Any) -> LoadResult:
    """Docs of DFEW fold ``fold`` (default 1), split ``split`` (default ``test``).

    Options: ``data_root``, ``dfew_dir``, ``fold``, ``dfew_split``, ``dfew_split_file``,
    ``dfew_clip_dir``, ``dfew_audio_dir`` (unknown keys are ignored: one metadata dict serves every task).
    """
    root = resolve_data_root(options)
    base = find_benchmark_dir(root, options.get("dfew_dir"), ("DFEW", "dfew"), "DFEW")
    try:
        fold = int(options.get("fold", 1))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"DFEW fold must be 1-5, got {options.get('fold')!r}") from exc
    if not 1 <= fold <= 5:
        raise ConfigError(f"DFEW fold must be 1-5, got {fold}")
    split = str(options.get("dfew_split", "test"))
    if split not in {"test", "train"}:
        raise ConfigError(f"DFEW split must be test or train, got {split!r}")
    split_file = find_split_file(base, split, fold, options.get("dfew_split_file"))
    rows = read_csv(split_file, ("video_name", "label"), "DFEW split file")

    if options.get("dfew_clip_dir"):
        clip_dir = under(base, options["dfew_clip_dir"])
        if not clip_dir.is_dir():
            raise DataError(f"DFEW clip folder {clip_dir} does not exist (task option dfew_clip_dir)")
    else:
        found = [base / d for d in CLIP_DIRS if (base / d).is_dir()]
        if not found:
            raise DataError(f"no DFEW clip folder under {base} (looked for {', '.join(CLIP_DIRS)}); "
                            "pass dfew_clip_dir=...")
        clip_dir = found[0]
    audio_dir = None
    if options.get("dfew_audio_dir"):
        audio_dir = under(base, options["dfew_audio_dir"])
    elif clip_dir.name in AUDIO_DIRS and (clip_dir.parent / AUDIO_DIRS[clip_dir.name]).is_dir():
        audio_dir = clip_dir.parent / AUDIO_DIRS[clip_dir.name]
    clips = index_clips(clip_dir)

    result = LoadResult(docs=[], fingerprint=fingerprint(split_file),
                        source={"split_file": str(split_file), "clip_dir": str(clip_dir),
                                "audio_dir": str(audio_dir) if audio_dir else ""})
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        name = row["video_name"]
        doc: dict[str, Any] = {
            "id": name or f"row{line}", "clip_id": name or f"row{line}", "_task": "dfew", "choices": [], "labels": LABELS,
            "meta": {"fold": fold, "split": split, "row": line, "raw_label": row["label"]},
        }
        if not name:
            msg = f"{split_file}:{line}: empty video_name"
            doc.update(answer=None, media=media_dict(None, None), _load_error=load_error("DataError", msg))
            result.problem(msg)
            result.docs.append(doc)
            continue
        if _key(name) in seen:
            result.problem(f"{split_file}:{line}: clip {name} listed twice; second row skipped")
            continue
        seen.add(_key(name))
        try:
            label = DFEW_LABELS[int(row["label"])]
        except (ValueError, KeyError):
            label = None
            msg = f"{split_file}:{line}: label {row['label']!r} of clip {name} is not 1-7"
            doc["_load_error"] = load_error("DataError", msg)
            result.problem(msg)
        doc["answer"] = label
        clip = clips.get(_key(name))
        if clip is None:
            expected = clip_dir / f"{name}.mp4"
            msg = f"clip {name} of {split_file.name} not found under {clip_dir}"
            doc.setdefault("_load_error", load_error("MediaError", msg))
            result.problem(msg)
            doc["media"] = media_dict(expected, None)  # the adapter reports it per sample as well
        else:
            wav = None
            if audio_dir is not None:
                cand = audio_dir / clip.relative_to(clip_dir).with_suffix(".wav")
                wav = cand if cand.is_file() else None
            doc["media"] = media_dict(clip, wav)
        result.docs.append(doc)
    return result


# the task options load_dfew reads (checked by emorealm.options_check; docs/contracts.md §2)
TASK_OPTIONS = ("dfew_dir", "fold", "dfew_split", "dfew_split_file", "dfew_clip_dir", "dfew_audio_dir")


def load(**metadata: Any):
    """lm-eval custom_dataset: task options arrive as keyword arguments (unknown ones ignored)."""
    return task_dataset("dfew", load_dfew(**metadata))


BENCHMARK = recognition.benchmark("dfew")
# what tasks/dfew/utils.py hands to lm-eval
__all__ = [*recognition.HOOKS, "TASK_OPTIONS", "load", "total"]
