"""A generated corpus of clips for the reference-parity tests (tests/test_media_parity.py).

Each clip is H.264 + AAC written with PyAV: a smooth moving gradient with a seeded block pattern
(so resize filters and chroma matter), a tone with noise per channel (stereo channels differ so a
wrong downmix shows). Frame rates may be fractional (29.97 = 30000/1001).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Clip:
    name: str
    size: tuple[int, int]  # width, height
    fps: Fraction
    seconds: float
    sample_rate: int | None  # None: no audio track
    channels: int = 1


CORPUS = [
    Clip("dfew_3s52", (1024, 576), Fraction(24), 3.52, 48000, 2),
    Clip("dfew_0s9", (1024, 576), Fraction(24), 0.9, 44100, 1),
    Clip("ravdess_720p", (1280, 720), Fraction(25), 2.6, 48000, 2),
    Clip("portrait", (720, 1280), Fraction(30), 2.1, 48000, 1),
    Clip("p360_30fps", (640, 360), Fraction(30), 5.3, 16000, 1),
    Clip("ntsc_360", (640, 360), Fraction(30000, 1001), 6.2, 44100, 2),
    Clip("ntsc_720p", (1280, 720), Fraction(30000, 1001), 1.7, 16000, 2),
    Clip("tiny_upscale", (96, 64), Fraction(24), 3.0, 16000, 1),
    Clip("tiny_portrait", (90, 160), Fraction(30), 4.4, 44100, 2),
    Clip("long_40s", (320, 240), Fraction(25), 40.0, 48000, 1),
    Clip("mid_12s", (480, 270), Fraction(24), 12.7, 16000, 2),
    Clip("silent", (1024, 576), Fraction(25), 2.4, None),
    Clip("odd_size", (854, 480), Fraction(30000, 1001), 4.05, 48000, 2),
]


def _still(w: int, h: int, rng) -> np.ndarray:
    """A smooth gradient plus a seeded 8x8 block pattern; frames are this image shifted over time."""
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    r = 127 + 100 * np.sin(2 * np.pi * x)
    g = 127 + 100 * np.cos(2 * np.pi * y)
    b = 127 + 80 * np.sin(2 * np.pi * (x + y))
    img = np.stack(np.broadcast_arrays(r, g, b), axis=-1)
    blocks = np.kron(rng.integers(0, 256, size=(h // 8 + 1, w // 8 + 1, 3)), np.ones((8, 8, 1)))[:h, :w]
    return np.clip(0.7 * img + 0.3 * blocks, 0, 255).astype(np.uint8)


def write_clip(clip: Clip, out_dir: Path, seed: int = 0) -> Path:
    """Write ``clip`` as ``<out_dir>/<name>.mp4``."""
    import av

    path = out_dir / f"{clip.name}.mp4"
    w, h = clip.size
    rng = np.random.default_rng(seed)
    still = _still(w, h, rng)
    n_frames = int(round(clip.seconds * clip.fps))
    with av.open(str(path), mode="w") as container:
        vs = container.add_stream("libx264", rate=clip.fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "18"}
        aus = None
        if clip.sample_rate:
            aus = container.add_stream("aac", rate=clip.sample_rate)
            aus.layout = "stereo" if clip.channels == 2 else "mono"
        for i in range(n_frames):
            for packet in vs.encode(av.VideoFrame.from_ndarray(np.roll(still, 3 * i, axis=1), format="rgb24")):
                container.mux(packet)
        for packet in vs.encode():
            container.mux(packet)
        if aus is not None:
            sr = clip.sample_rate
            t = np.arange(int(round(clip.seconds * sr))) / sr
            chans = [0.3 * np.sin(2 * np.pi * (220 + 110 * c) * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 1.3 * t))
                     + 0.02 * rng.standard_normal(t.shape) for c in range(clip.channels)]
            wave = np.stack(chans).astype(np.float32)
            layout = "stereo" if clip.channels == 2 else "mono"
            for start in range(0, wave.shape[1], 1024):
                piece = np.ascontiguousarray(wave[:, start:start + 1024].T.reshape(1, -1))
                frame = av.AudioFrame.from_ndarray(piece, format="flt", layout=layout)
                frame.sample_rate, frame.pts, frame.time_base = sr, start, Fraction(1, sr)
                for packet in aus.encode(frame):
                    container.mux(packet)
            for packet in aus.encode():
                container.mux(packet)
    return path
