"""Miniature DFEW, RAVDESS and EMER in their distributed layouts (for ``sample-data`` and tests).

Synthetic clips (1 s, 64x48, H.264 + AAC) carry no emotion: the sample data exercises layouts,
protocol filters and scoring end to end, not model quality.

* ``dfew/`` — the released AVERE code's layout: ``dfew_annotation/{test,train}(single-labeled)/set_1.csv``,
  ``dfew_original_clips_24fps/part_1/<id>.mp4``, 16 kHz sidecars for some clips in
  ``dfew_original_clips_16khz/part_1/``.
* ``RAVDESS/Actor_01..02/`` — the official archive layout with a mix the default protocol must skip
  (calm, song, video-only, audio-only files).
* ``EMER/`` — OV-MERD as released: ``track3_train_ovmerd.csv`` (name, reason),
  ``track2_train_ovmerd.csv`` (name, openset) and ``video/<name>.mp4``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from emorealm.media.synth import tone, write_av_clip, write_wav

SECONDS = 1.0
# sample DFEW ids stay clear of the EmoReAlM sample clips that share dfew_original_clips_24fps/
DFEW_ROWS = [("90001", 1), ("90002", 2), ("90003", 3), ("90004", 4), ("90005", 5), ("90006", 6), ("90007", 7)]
DFEW_TRAIN_ROWS = [("90011", 1), ("90012", 4)]
RAVDESS_FILES = [
    # (actor, name, kind) -- kind: av | video | audio
    (1, "01-01-01-01-01-01-01", "av"),  # neutral
    (1, "01-01-03-02-01-01-01", "av"),  # happy, strong
    (1, "01-01-04-01-02-01-01", "av"),  # sad
    (1, "01-01-05-01-01-02-01", "av"),  # angry
    (2, "01-01-06-02-01-01-02", "av"),  # fearful
    (2, "01-01-07-01-02-02-02", "av"),  # disgust
    (2, "01-01-08-01-01-01-02", "av"),  # surprised
    (1, "01-01-02-01-01-01-01", "av"),  # calm: skipped by default
    (2, "01-02-03-01-01-01-02", "av"),  # song: skipped by default
    (1, "02-01-04-01-01-01-01", "video"),  # video-only: skipped by default
    (2, "03-01-05-01-01-01-02", "audio"),  # audio-only wav: never part of the video protocol
    (2, "01-01-03-01-01-02-02", "av"),  # happy, second actor
]
EMER_ROWS = [
    ("sample_00000001", "In the video, the woman smiles broadly and her voice rises with a light, quick tone; she laughs "
                        "while talking about her holiday. Her expression and tone suggest happiness and excitement.",
     "['happy', 'excited']"),
    ("sample_00000002", "The man frowns, his brows are drawn together and he speaks loudly and sharply, complaining "
                        "about being ignored. He appears angry and frustrated.", "['angry', 'frustrated']"),
    ("sample_00000003", "The person looks down, speaks slowly in a low voice and sighs between sentences while "
                        "mentioning a loss, suggesting sadness and some disappointment.", "['sad', 'disappointed']"),
]


def _write_csv(path: Path, header: list[str], rows: list[tuple]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def write_dfew(root: Path) -> Path:
    base = root / "dfew"
    for split, rows in (("test", DFEW_ROWS), ("train", DFEW_TRAIN_ROWS)):
        _write_csv(base / "dfew_annotation" / f"{split}(single-labeled)" / "set_1.csv", ["video_name", "label"], rows)
    for i, (name, label) in enumerate(DFEW_ROWS + DFEW_TRAIN_ROWS):
        write_av_clip(base / "dfew_original_clips_24fps" / "part_1" / f"{name}.mp4", seconds=SECONDS, fps=24,
                      size=(64, 48), tone_hz=200.0 + 30 * label, seed=900 + i)
        if i % 2 == 0:  # a mix of sidecar and in-video audio
            write_wav(base / "dfew_original_clips_16khz" / "part_1" / f"{name}.wav",
                      tone(SECONDS, 16000, 200.0 + 30 * label, seed=900 + i), 16000)
    return base


def write_ravdess(root: Path) -> Path:
    base = root / "RAVDESS"
    for i, (actor, name, kind) in enumerate(RAVDESS_FILES):
        folder = base / f"Actor_{actor:02d}"
        if kind == "audio":
            write_wav(folder / f"{name}.wav", tone(SECONDS, 48000, 300.0, seed=950 + i), 48000)
        else:
            write_av_clip(folder / f"{name}.mp4", seconds=SECONDS, fps=24, size=(64, 48), tone_hz=250.0 + 10 * i,
                          with_audio=kind == "av", seed=950 + i)
    return base


def write_emer(root: Path) -> Path:
    base = root / "EMER"
    _write_csv(base / "track3_train_ovmerd.csv", ["name", "reason"], [(n, r) for n, r, _ in EMER_ROWS])
    _write_csv(base / "track2_train_ovmerd.csv", ["name", "openset"], [(n, o) for n, _, o in EMER_ROWS])
    for i, (name, _, _) in enumerate(EMER_ROWS):
        write_av_clip(base / "video" / f"{name}.mp4", seconds=SECONDS, fps=24, size=(64, 48), seed=980 + i)
    return base


def write_all(root: str | Path) -> dict[str, Path]:
    """Write the three miniature benchmarks under ``root``; returns their folders."""
    root = Path(root)
    return {"dfew": write_dfew(root), "ravdess": write_ravdess(root), "emer": write_emer(root)}
