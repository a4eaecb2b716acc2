"""``write_toy_world``: the toy world as a data root in the released layouts (docs/toy-world.md).

::

    DIR/EmoReAlM/emorealm_v1.json                      toy EmoReAlM, held-out clips, five task keys
    DIR/dfew/dfew_original_clips_24fps/toy/<id>.mp4    H.264 + AAC clips (train and test)
    DIR/dfew/dfew_original_clips_16khz/toy/<id>.wav    16 kHz sidecars (the loader prefers them)
    DIR/captions.jsonl                                 per clip: emotions, present cues, captions
    DIR/sft.jsonl                                      SFT rows (training clips, text shortcut)
    DIR/prefs.jsonl                                    preference rows (training clips, released format)
    DIR/toyworld.json                                  config, version, counts
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emorealm.errors import ConfigError
from emorealm.media.synth import write_av_clip, write_wav
from emorealm.toyworld.media import clip_audio, clip_frames
from emorealm.toyworld.questions import (
    check_preference_row,
    clip_questions,
    preference_row,
    sft_row,
    shortcut_statement,
)
from emorealm.toyworld.spec import ToyClip, plan_clips

TOY_WORLD_VERSION = 1
MARKER = "toyworld.json"
CLIP_DIR = "dfew/dfew_original_clips_24fps"
AUDIO_DIR = "dfew/dfew_original_clips_16khz"
SAMPLE_RATE = 16000


@dataclass
class ToyWorldConfig:
    """What ``toy-world`` generates (every default is part of the design in docs/toy-world.md)."""

    seed: int = 0
    n_train: int = 200  # training clips (SFT and preference rows)
    n_test: int = 200  # held-out clips (one toy EmoReAlM question per task key each)
    seconds: float = 1.0
    fps: int = 8
    size: int = 64
    agree_rate: float = 0.5  # P(video emotion = audio emotion)
    shortcut_rate: float = 0.5  # fraction of SFT rows whose prompt carries a cue statement
    shortcut_agree: float = 0.8  # of those, the fraction whose statement agrees with the answer

    def __post_init__(self) -> None:
        if self.n_train < 2 or self.n_test < 2:
            raise ConfigError("toy world: n_train and n_test must be >= 2 (swaps and rejected inputs need another clip)")
        for name in ("agree_rate", "shortcut_rate", "shortcut_agree"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"toy world: {name} must lie in [0, 1]")


def _write_clip(root: Path, clip: ToyClip, cfg: ToyWorldConfig) -> tuple[str, str]:
    rel = f"toy/{clip.id}"
    wave = clip_audio(clip, cfg.seconds, SAMPLE_RATE)
    write_av_clip(root / CLIP_DIR / f"{rel}.mp4", fps=cfg.fps, video=clip_frames(clip, cfg.seconds, cfg.fps, cfg.size),
                  audio=wave, sample_rate=SAMPLE_RATE)
    write_wav(root / AUDIO_DIR / f"{rel}.wav", wave, SAMPLE_RATE)
    return f"{rel}.mp4", f"{rel}.wav"


def _other(clips: list[ToyClip], i: int, modality: str, rng: np.random.Generator) -> int:
    """Index of another clip whose emotion in ``modality`` differs (the rejected input)."""
    want = clips[i].emotion(modality)
    cands = [j for j, c in enumerate(clips) if c.emotion(modality) != want]
    return int(rng.choice(cands)) if cands else (i + 1) % len(clips)


def write_toy_world(root: str | Path, cfg: ToyWorldConfig | None = None, progress=None) -> dict[str, Any]:
    """Generate the toy world under ``root``; returns the manifest (also written to ``toyworld.json``).

    ``progress``: optional callable ``(done, total)`` called after each clip."""
    cfg = cfg or ToyWorldConfig()
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    train = plan_clips(cfg.n_train, "train", cfg.seed, cfg.agree_rate)
    test = plan_clips(cfg.n_test, "test", cfg.seed, cfg.agree_rate)
    paths: dict[str, tuple[str, str]] = {}
    for k, clip in enumerate(train + test):
        paths[clip.id] = _write_clip(root, clip, cfg)
        if progress:
            progress(k + 1, len(train) + len(test))
    captions = {c.id: c.caption() for c in train + test}
    rng = np.random.default_rng([cfg.seed, 7])
    bench = [q for c in test for q in clip_questions(c, paths[c.id][0], rng)]
    media = {cid: (f"{CLIP_DIR}/{v}", f"{AUDIO_DIR}/{a}") for cid, (v, a) in paths.items()}
    sft, shortcut = [], Counter()
    for c in train:
        for q in clip_questions(c, paths[c.id][0], rng):
            statement = None
            if rng.random() < cfg.shortcut_rate:
                agree = bool(rng.random() < cfg.shortcut_agree)
                statement = shortcut_statement(c, q, agree, rng)
                shortcut["agrees" if agree else "contradicts"] += 1
            sft.append(sft_row(c, q, *media[c.id], statement))
    prefs = []
    for i, c in enumerate(train):
        for modality in ("audio", "video"):
            j = _other(train, i, modality, rng)
            row = preference_row(c, modality, *media[c.id], *media[train[j].id], rng)
            check_preference_row(row, captions[c.id])
            prefs.append(row)
    (root / "EmoReAlM").mkdir(exist_ok=True)
    (root / "EmoReAlM" / "emorealm_v1.json").write_text(json.dumps(bench, indent=1))
    for name, rows in (("captions.jsonl", list(captions.values())), ("sft.jsonl", sft), ("prefs.jsonl", prefs)):
        with open(root / name, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows)
    manifest = {
        "version": TOY_WORLD_VERSION, "synthetic": True, "config": asdict(cfg),
        "counts": {"train_clips": len(train), "test_clips": len(test), "benchmark_questions": len(bench),
                   "sft_rows": len(sft), "preference_rows": len(prefs),
                   "sft_shortcut": dict(shortcut), "test_agreeing_clips": sum(c.agree for c in test)},
        "files": {"benchmark": "EmoReAlM/emorealm_v1.json", "captions": "captions.jsonl", "sft": "sft.jsonl",
                  "prefs": "prefs.jsonl"},
    }
    (root / MARKER).write_text(json.dumps(manifest, indent=2))
    return manifest
