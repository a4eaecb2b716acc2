"""Rejected audiovisual inputs: seeded corruptions of decoded frames / audio.

Used by the collator (seeded noise when a row names no ``video_l``/``audio_l``, as the released
code does) and by ``build-prefs`` (swap, noise, silence/black, temporal shuffle).
"""

from __future__ import annotations

import hashlib

import numpy as np

from emorealm.errors import ConfigError

CORRUPTIONS = ("swap", "noise", "silence", "shuffle")  # "silence" means black frames for video


def row_seed(seed: int, key: str) -> int:
    """A stable per-row seed (independent of Python's hash randomisation)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:4], "little")


def noise_frames(like: np.ndarray, seed: int) -> np.ndarray:
    """Gaussian noise frames of ``like``'s shape (uint8, mean 128, std 64)."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(128.0, 64.0, size=like.shape), 0, 255).astype(np.uint8)


def noise_audio(like: np.ndarray, seed: int) -> np.ndarray:
    """Gaussian noise of ``like``'s length at the clip's own RMS level (0.1 for silent clips)."""
    rng = np.random.default_rng(seed)
    level = float(np.sqrt(np.mean(np.square(like, dtype=np.float64)))) if like.size else 0.0
    return (rng.standard_normal(like.shape) * (level or 0.1)).astype(np.float32)


def black_frames(like: np.ndarray) -> np.ndarray:
    return np.zeros_like(like)


def silence(like: np.ndarray) -> np.ndarray:
    return np.zeros_like(like)


def shuffle_frames(frames: np.ndarray, seed: int) -> np.ndarray:
    """Frames in a seeded random order that differs from the original (when more than one frame)."""
    rng = np.random.default_rng(seed)
    order = np.arange(len(frames))
    if len(frames) > 1:
        while (order == np.arange(len(frames))).all():
            order = rng.permutation(len(frames))
    return frames[order]


def shuffle_audio(wave: np.ndarray, seed: int, pieces: int = 8) -> np.ndarray:
    """Audio cut into ``pieces`` segments put back in a seeded random order."""
    chunks = np.array_split(wave, pieces)
    rng = np.random.default_rng(seed)
    order = np.arange(len(chunks))
    while len(chunks) > 1 and (order == np.arange(len(chunks))).all():
        order = rng.permutation(len(chunks))
    return np.concatenate([chunks[i] for i in order]).astype(np.float32)


def corrupt(kind: str, modality: str, data: np.ndarray, seed: int, other: np.ndarray | None = None) -> np.ndarray:
    """Apply corruption ``kind`` to ``data`` of ``modality`` ("video" frames or "audio" wave)."""
    if kind == "swap":
        if other is None:
            raise ConfigError("swap corruption needs another clip's media")
        return other
    if kind == "noise":
        return noise_frames(data, seed) if modality == "video" else noise_audio(data, seed)
    if kind == "silence":
        return black_frames(data) if modality == "video" else silence(data)
    if kind == "shuffle":
        return shuffle_frames(data, seed) if modality == "video" else shuffle_audio(data, seed)
    raise ConfigError(f"unknown corruption {kind!r}; use one of {CORRUPTIONS}")
