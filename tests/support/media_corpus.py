"""A generated corpus of clips for the reference-parity tests (tests/media/test_media_parity.py).

Each clip is H.264 + AAC written with PyAV: a smooth moving gradient with a seeded block pattern
(so resize filters and chroma matter), a tone with noise per channel (stereo channels differ so a
wrong downmix shows). Frame rates may be fractional (29.97 = 30000/1001).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from support.docs import media_doc

PROMPT = "What emotion does the person show?"
PIXEL_TOL = 0.05  # mean |difference| of pixel_values_videos, normalised units (the tolerance)
MEL_TOL = 0.01  # mean |difference| of input_features (log-mel)


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


def doc_for(path: Path, with_audio: bool) -> dict:
    """A doc whose media are the clip (and its own audio track when it has one)."""
    return media_doc(path, audio_source="video" if with_audio else "none")


def _no_fallback(ele):
    raise AssertionError(f"qwen-vl-utils' torchcodec reader failed on {ele['video']} and it fell back to "
                         "torchvision: the reference would not be the one users run (is FFmpeg installed?)")


def reference_media(path: Path, with_audio: bool):
    """qwen-omni-utils' media for one clip: (messages, audios, videos) as the model card gets them,
    read with its torchcodec backend (its silent fallback to another reader is turned into a failure)."""
    from qwen_omni_utils import process_mm_info
    from qwen_omni_utils.v2_5 import vision_process

    assert vision_process.get_video_reader_backend() == "torchcodec"
    messages = [{"role": "user", "content": [{"type": "video", "video": str(path)}, {"type": "text", "text": PROMPT}]}]
    saved = vision_process.VIDEO_READER_BACKENDS["torchvision"]
    vision_process.VIDEO_READER_BACKENDS["torchvision"] = _no_fallback
    try:
        audios, images, videos = process_mm_info(messages, use_audio_in_video=with_audio)
    finally:
        vision_process.VIDEO_READER_BACKENDS["torchvision"] = saved
    assert images is None
    return messages, audios, videos


def reference_inputs(processor, path: Path, with_audio: bool) -> dict:
    """The model card's processor call on qwen-omni-utils' media (transformers 5.24 needs the
    audio's video index when the audio comes from the video)."""
    messages, audios, videos = reference_media(path, with_audio)
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    kwargs = {"use_audio_in_video": True, "audio_from_video_indices": [0]} if with_audio else {}
    return dict(processor(text=text, audio=audios, images=None, videos=videos, return_tensors="pt",
                          padding=True, **kwargs))


def rope_ids(thinker, feats: dict, interleaved: bool) -> torch.Tensor:
    fam = feats.get("feature_attention_mask")
    pos, _ = thinker.model.get_rope_index(
        feats["input_ids"], None, feats.get("video_grid_thw"), feats["attention_mask"], interleaved,
        fam.sum(-1) if fam is not None else None, feats.get("video_second_per_grid"))
    return pos


def assert_same_inputs(ours: dict, ref: dict, thinker, interleaved: bool, what: str) -> dict[str, float]:
    """Exact where the issue asks for exact, within tolerance for pixels and log-mel; returns the gaps."""
    assert set(ours) == set(ref), f"{what}: keys {sorted(ours)} vs {sorted(ref)}"
    for key in ("input_ids", "attention_mask", "video_grid_thw", "feature_attention_mask"):
        if key in ref:
            assert torch.equal(ours[key], ref[key]), f"{what}: {key} differs"
    if "video_second_per_grid" in ref:
        assert torch.equal(torch.as_tensor(ours["video_second_per_grid"]),
                           torch.as_tensor(ref["video_second_per_grid"])), f"{what}: video_second_per_grid"
    assert torch.equal(rope_ids(thinker, ours, interleaved), rope_ids(thinker, ref, interleaved)), \
        f"{what}: rope position ids differ"
    gaps = {}
    if "pixel_values_videos" in ref:
        gaps["pixels"] = float((ours["pixel_values_videos"] - ref["pixel_values_videos"]).abs().mean())
        assert gaps["pixels"] < PIXEL_TOL, f"{what}: pixels differ by {gaps['pixels']:.4f}"
    if "input_features" in ref:
        gaps["mel"] = float((ours["input_features"] - ref["input_features"]).abs().mean())
        assert gaps["mel"] < MEL_TOL, f"{what}: log-mel differs by {gaps['mel']:.4f}"
    return gaps
