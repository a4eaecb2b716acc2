"""Audio and frames of one toy clip: the emotion's learnable features plus its irrelevant cues."""

from __future__ import annotations

import numpy as np

from emorealm.toyworld.spec import AUDIO_FEATURES, VIDEO_FEATURES, ToyClip


def clip_audio(clip: ToyClip, seconds: float, sample_rate: int) -> np.ndarray:
    """Mono float32: a voiced tone (pitch, contour, loudness, syllable tempo of the audio emotion)
    plus the clip's irrelevant background cue; per-clip jitter keeps clips of one emotion distinct."""
    rng = np.random.default_rng([clip.seed, 1])
    f0, slope, amp, tempo, harmonic = AUDIO_FEATURES[clip.audio_emotion]
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    f = f0 * rng.uniform(0.92, 1.08) * (1.0 + slope * t / seconds)
    phase = 2 * np.pi * np.cumsum(f) / sample_rate
    voice = np.sin(phase) + harmonic * np.sin(3 * phase) / 3
    if tempo > 0:  # syllables: a raised-cosine envelope at the emotion's tempo
        rate = tempo * rng.uniform(0.9, 1.1)
        voice = voice * (0.55 + 0.45 * np.cos(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi)))
    wave = amp * rng.uniform(0.85, 1.15) * voice / (1 + harmonic / 3)
    if clip.audio_irrelevant == "a faint high beep":
        wave = wave + 0.04 * np.sin(2 * np.pi * 2000.0 * t)
    else:  # ticking: 4 short clicks per second
        ticks = (np.mod(t, 0.25) < 0.004).astype(np.float64)
        wave = wave + 0.15 * ticks * np.sin(2 * np.pi * 3000.0 * t)
    wave = wave + 0.003 * rng.standard_normal(n)
    return np.clip(wave, -1, 1).astype(np.float32)


def clip_frames(clip: ToyClip, seconds: float, fps: int, size: int) -> np.ndarray:
    """``[T, size, size, 3]`` uint8: a face-like disc (colour, mouth, motion of the video emotion)
    on a noisy grey background, plus the clip's irrelevant object."""
    rng = np.random.default_rng([clip.seed, 2])
    colour, curve, motion = VIDEO_FEATURES[clip.video_emotion]
    n = max(1, int(round(seconds * fps)))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    bg = np.clip(rng.normal(120, 6, size=(size, size, 3)), 0, 255)
    r = size * rng.uniform(0.22, 0.27)
    cx0, cy0 = size / 2 + rng.uniform(-3, 3), size / 2 + rng.uniform(-3, 3)
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        s = i / fps
        dx = dy = 0.0
        if motion == "bounce":
            dy = -4.0 * abs(np.sin(2 * np.pi * 1.5 * s))
        elif motion == "shake":
            dx = 3.0 * np.sin(2 * np.pi * 6.0 * s)
        elif motion == "droop":
            dy = 4.0 * s / max(seconds, 1e-6)
        cx, cy = cx0 + dx, cy0 + dy
        img = bg.copy()
        face = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
        img[face] = colour
        for ex in (-0.4, 0.4):  # eyes
            eye = (xx - (cx + ex * r)) ** 2 + (yy - (cy - 0.3 * r)) ** 2 <= (0.12 * r) ** 2
            img[eye] = (20, 20, 20)
        u = (xx - cx) / (0.55 * r)  # mouth: a parabola, curving up (smile) or down (frown)
        mouth_y = cy + 0.25 * r + curve * 0.25 * r * (1 - u**2)  # image y grows downward
        mouth = (np.abs(u) <= 1) & (np.abs(yy - mouth_y) <= max(1.0, 0.08 * r))
        img[mouth] = (20, 20, 20)
        if clip.video_irrelevant == "a white square in the corner":
            img[2:2 + size // 6, 2:2 + size // 6] = 250
        else:
            img[size - size // 8:, :] = 10
        out[i] = img.astype(np.uint8)
    return out
