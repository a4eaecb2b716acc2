"""Built-in sample preference data: synthetic clips whose emotion is carried by the audio.

``happy`` clips have a loud, high, rising tone; ``sad`` clips a quiet, low, falling one; the frames
are an uninformative moving pattern. Each prompt carries a *misleading* textual prior (it mentions
a cue of the other emotion), so a model that follows the text instead of the audio is wrong. Rows
follow the preference format of docs/avem-dpo.md; half of them name rejected inputs
(``audio_l`` = the clip of the other emotion), the other half leave them to seeded noise.
Written under ``<cache root>/sample-prefs/`` (docs/contracts.md §1).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from emorealm.media.synth import frames, write_av_clip, write_wav
from emorealm.paths import cache_root, ensure_versioned_dir

SAMPLE_PREFS_VERSION = 1
MARKER = "emorealm_sample_prefs.json"
EMOTIONS = ("happy", "sad")
_PRIOR = {"happy": "The person looks tearful.", "sad": "The person is smiling widely."}  # misleading cue
_HALLUCINATED = {"happy": "The person laughs and jumps with joy.", "sad": "The person cries and sobs loudly."}


def sample_prefs_dir() -> Path:
    return cache_root() / "sample-prefs"


def emotion_audio(emotion: str, seconds: float, sample_rate: int, seed: int) -> np.ndarray:
    """The audio cue: happy = loud rising 300-420 Hz chirp; sad = quiet falling 160-110 Hz chirp."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    jitter = rng.uniform(0.9, 1.1)
    f0, f1, amp = (300.0, 420.0, 0.5) if emotion == "happy" else (160.0, 110.0, 0.08)
    f = jitter * (f0 + (f1 - f0) * t / seconds)
    phase = 2 * np.pi * np.cumsum(f) / sample_rate
    return (amp * np.sin(phase) + 0.005 * rng.standard_normal(t.shape)).astype(np.float32)


def toy_rows(root: Path, n: int, seed: int = 0, prefix: str = "clip", seconds: float = 1.0,
             consistent: float = 0.0) -> list[dict]:
    """Write ``n`` clips under ``root/clips`` and return their preference rows (paths relative to root).

    ``consistent``: fraction of rows (seeded choice) whose prompt cue agrees with the audio's
    emotion; the others carry the misleading cue. Each row records it in ``prior``."""
    rows = []
    pick = np.random.default_rng(seed + 99).random(n) < consistent
    for i in range(n):
        emo = EMOTIONS[i % 2]
        other = EMOTIONS[(i + 1) % 2]
        cue = _PRIOR[other] if pick[i] else _PRIOR[emo]
        s = seed * 100_003 + i
        wave = emotion_audio(emo, seconds, 16000, s)
        clip = f"clips/{prefix}_{i:04d}_{emo}.mp4"
        write_av_clip(root / clip, seconds=seconds, fps=8, size=(56, 56), sample_rate=16000,
                      video=frames(seconds, 8, (56, 56), seed=s), audio=wave)
        row = {
            "id": f"{prefix}_{i:04d}", "emotion": emo, "prior": "consistent" if pick[i] else "misleading",
            "prompt": f"<video>\n<audio>\n{cue} What emotion does the voice convey?",
            "chosen": f"The voice sounds {emo}.", "rejected": f"The voice sounds {other}.",
            "rejected_2": _HALLUCINATED[emo], "video": clip, "modality": "audio",
        }
        if i % 4 < 2:  # half the rows name their rejected audio: the other emotion's cue
            wav = f"clips/{prefix}_{i:04d}_l.wav"
            write_wav(root / wav, emotion_audio(other, seconds, 16000, s + 7), 16000)
            row["audio_l"] = wav
        rows.append(row)
    return rows


def write_sample_prefs(root: str | Path, n: int = 8, seed: int = 0) -> Path:
    """Write the sample preference set (``prefs.jsonl`` + clips) under ``root``."""
    root = Path(root)
    rows = toy_rows(root, n, seed)
    with open(root / "prefs.jsonl", "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    (root / MARKER).write_text(json.dumps({"version": SAMPLE_PREFS_VERSION, "synthetic": True, "n": n}))
    return root


def ensure_sample_prefs() -> Path:
    """The cached sample preference set (folder holding ``prefs.jsonl``), written on first use."""
    return ensure_versioned_dir(sample_prefs_dir(), MARKER, SAMPLE_PREFS_VERSION, write_sample_prefs,
                                ".sample-prefs-")
