"""Synthetic media written with PyAV: H.264 + AAC mp4 clips and wav files.

Used by the built-in sample data and by tests. Content is deterministic under ``seed`` and varies
with it (frame colour pattern, tone frequency), so different clips really differ.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


def tone(seconds: float, sample_rate: int, freq: float, seed: int = 0, amp: float = 0.3) -> np.ndarray:
    """A mono float32 tone with a little seeded noise."""
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    rng = np.random.default_rng(seed)
    wave = amp * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.shape)
    return wave.astype(np.float32)


def frames(seconds: float, fps: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """``[T, H, W, 3]`` uint8 frames: a moving seeded colour pattern (width, height = size)."""
    w, h = size
    n = max(1, int(round(seconds * fps)))
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    base = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))[:h, :w]
    out = np.empty((n, h, w, 3), dtype=np.uint8)
    for i in range(n):
        out[i] = np.roll(base, shift=2 * i, axis=1)
    return out


def write_av_clip(
    path: str | Path,
    *,
    seconds: float = 2.0,
    fps: int = 24,
    size: tuple[int, int] = (64, 48),
    tone_hz: float | None = None,
    with_video: bool = True,
    with_audio: bool = True,
    sample_rate: int = 48000,
    seed: int = 0,
    video: np.ndarray | None = None,
    audio: np.ndarray | None = None,
) -> Path:
    """Write an mp4 (H.264 video, AAC audio) and return its path.

    ``video`` (``[T,H,W,3]`` uint8) and ``audio`` (mono float32 at ``sample_rate``) override the
    generated content.
    """
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if with_video and video is None:
        video = frames(seconds, fps, size, seed)
    if with_audio and audio is None:
        audio = tone(seconds, sample_rate, tone_hz or 180.0 + 40.0 * (seed % 10), seed)
    with av.open(str(path), mode="w") as container:
        vstream = astream = None
        if with_video:
            vstream = container.add_stream("libx264", rate=fps)
            vstream.height, vstream.width = video.shape[1], video.shape[2]
            vstream.pix_fmt = "yuv420p"
            vstream.options = {"preset": "ultrafast"}
        if with_audio:
            astream = container.add_stream("aac", rate=sample_rate)
            astream.layout = "mono"
        if vstream is not None:
            for img in video:
                for packet in vstream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    container.mux(packet)
            for packet in vstream.encode():
                container.mux(packet)
        if astream is not None:
            chunk = 1024
            for start in range(0, len(audio), chunk):
                piece = audio[start:start + chunk].reshape(1, -1).astype(np.float32)
                frame = av.AudioFrame.from_ndarray(piece, format="flt", layout="mono")
                frame.sample_rate = sample_rate
                frame.pts = start
                frame.time_base = Fraction(1, sample_rate)
                for packet in astream.encode(frame):
                    container.mux(packet)
            for packet in astream.encode():
                container.mux(packet)
    return path


def write_wav(path: str | Path, wave: np.ndarray, sample_rate: int = 16000) -> Path:
    """Write a mono wav with soundfile."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), wave, sample_rate, subtype="PCM_16")
    return path
