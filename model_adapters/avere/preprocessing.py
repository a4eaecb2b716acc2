"""AVERE's inputs as the released inference computes them, with PyAV in place of decord.

* Video (LanguageBind's video processor): ``num_frames`` (8) frames at
  ``linspace(0, n - 1, 8).astype(int)`` of the file's own frames; ``/255``; OpenAI CLIP mean/std
  normalisation *before* the resize (the released order); bilinear short-side resize to 224
  (``floor`` of the long side, no antialias); centre crop 224. The released processor then flips
  the clip horizontally with probability 0.5 even at inference; we never flip (deterministic).
* Audio (released ``WhisperAudioProcessor``): 16 kHz wave (first channel of a wav, as released),
  zero-padded to at least 1 s, cut at 30 s, then ``WhisperFeatureExtractor`` (128 mels, padded to
  30 s = 3000 frames).
* Prompt: the ``llava_v1`` template, ``"<image>" * 8 + "\\n"`` then ``"<audio>\\n"`` before the question
  (``avere_inference.py``), tokenized as ``tokenizer_audio_and_image_token`` does (every text chunk
  tokenized on its own, its BOS dropped, one BOS at the start).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from emorealm.doc import audio_file, audio_source
from emorealm.errors import MediaError
from emorealm.media.decode import DecodedMedia, MediaSpec, _check_file, decode_audio
from emorealm.model_adapters.avere.config import AUDIO_TOKEN, AUDIO_TOKEN_INDEX, IMAGE_TOKEN, IMAGE_TOKEN_INDEX

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
SIZE = 224
SAMPLE_RATE = 16000


def frame_indices(n_frames: int, num: int = 8) -> np.ndarray:
    """The released frame choice: ``np.linspace(0, n - 1, num).astype(int)``."""
    if n_frames < 1:
        raise MediaError("the video holds no frames")
    return np.linspace(0, n_frames - 1, num).astype(int)


def decode_frames(path: str, num: int = 8) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """(frames ``[num, H, W, 3]`` uint8 RGB, their indices, their times) decoded from ``path``."""
    import av

    _check_file(path, "video")
    try:
        with av.open(path) as c:
            stream = c.streams.video[0]
            count = sum(1 for p in c.demux(stream) if p.size)  # packets: cheap, decord counts the same way
    except (IndexError, av.error.FFmpegError) as exc:
        raise MediaError(f"cannot read video frames from {path}: {exc}") from exc
    idx = frame_indices(count, num)
    wanted = {int(i) for i in idx}
    got: dict[int, np.ndarray] = {}
    times: dict[int, float] = {}
    with av.open(path) as c:
        stream = c.streams.video[0]
        for k, frame in enumerate(c.decode(stream)):
            if k in wanted:
                got[k] = frame.to_ndarray(format="rgb24")
                times[k] = float(frame.pts * stream.time_base) if frame.pts is not None else k / 24.0
            if k >= idx[-1]:
                break
    missing = sorted(wanted - set(got))
    if missing:
        raise MediaError(f"{path}: frames {missing} of {count} could not be decoded; the file is truncated")
    return np.stack([got[int(i)] for i in idx]), idx, [times[int(i)] for i in idx]


def video_tensor(frames: np.ndarray, num: int = 8) -> torch.Tensor:
    """``[T, H, W, 3]`` uint8 -> ``[3, num, 224, 224]`` float32, as LanguageBind's video transform."""
    if frames.shape[0] != num:  # frames sampled by someone else: pick num of them the released way
        frames = frames[frame_indices(frames.shape[0], num)]
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).float() / 255.0
    mean = torch.tensor(OPENAI_MEAN).view(3, 1, 1, 1)
    std = torch.tensor(OPENAI_STD).view(3, 1, 1, 1)
    x = (x - mean) / std
    _, _, h, w = x.shape
    if w < h:
        size = (int(math.floor(h / w * SIZE)), SIZE)
    else:
        size = (SIZE, int(math.floor(w / h * SIZE)))
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    top, left = int(round((size[0] - SIZE) / 2.0)), int(round((size[1] - SIZE) / 2.0))
    return x[:, :, top:top + SIZE, left:left + SIZE].contiguous()


def read_wave(path: str, spec: MediaSpec) -> np.ndarray:
    """16 kHz mono wave: the first channel of a 16 kHz wav/flac (as released), else PyAV's resampled mix."""
    _check_file(path, "audio")
    if path.lower().endswith((".wav", ".flac")):
        import soundfile as sf

        info = sf.info(path)
        if info.samplerate == SAMPLE_RATE:
            frames = -1 if spec.max_seconds is None else int(spec.max_seconds * SAMPLE_RATE)  # None: whole file
            wave, _ = sf.read(path, dtype="float32", always_2d=True, frames=frames)
            if wave.shape[0] == 0:
                raise MediaError(f"{path}: audio file holds no samples; re-export it or remove the sidecar")
            return wave[:, 0].copy()
    return decode_audio(path, dataclasses.replace(spec, sample_rate=SAMPLE_RATE))


def mel_features(wave: np.ndarray, feature_extractor) -> torch.Tensor:
    """``[n_mels, 3000]`` Whisper features of a 16 kHz wave (padded to >= 1 s, cut at 30 s)."""
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    if wave.size == 0:
        raise MediaError("the audio holds no samples")
    if wave.size < SAMPLE_RATE:  # released: clips under 1 s are zero-padded to 1 s
        wave = np.concatenate([wave, np.zeros(SAMPLE_RATE - wave.size, dtype=np.float32)])
    wave = wave[:SAMPLE_RATE * 30]
    return feature_extractor([wave], sampling_rate=SAMPLE_RATE, return_tensors="pt")["input_features"][0]


def llava_v1_prompt(question: str, system: str, *, video_frames: int, audio: bool) -> str:
    """The released ``llava_v1`` prompt with the media placeholders before the question."""
    inp = question
    if audio:
        inp = AUDIO_TOKEN + "\n" + inp
    if video_frames:
        inp = IMAGE_TOKEN * video_frames + "\n" + inp
    return f"{system} USER: {inp} ASSISTANT:"


def tokenize_with_placeholders(prompt: str, tokenizer) -> list[int]:
    """``tokenizer_audio_and_image_token``: ids with -200 per ``<image>`` and -300 per ``<audio>``."""
    ids: list[int] = []
    bos = tokenizer.bos_token_id
    image_chunks = prompt.split(IMAGE_TOKEN)
    for i, image_chunk in enumerate(image_chunks):
        audio_chunks = image_chunk.split(AUDIO_TOKEN)
        for j, chunk in enumerate(audio_chunks):
            chunk_ids = tokenizer(chunk).input_ids
            if i == 0 and j == 0 and chunk_ids and chunk_ids[0] == bos:
                ids.append(bos)
            ids.extend(chunk_ids[1:])  # the released code drops every chunk's first id
            if j < len(audio_chunks) - 1:
                ids.append(AUDIO_TOKEN_INDEX)
        if i < len(image_chunks) - 1:
            ids.append(IMAGE_TOKEN_INDEX)
    return ids


def expand_placeholders(ids: list[int], tokens_per_frame: int, audio_tokens: int) -> list[int]:
    """Each placeholder repeated once per feature it stands for (see model.py)."""
    out: list[int] = []
    for t in ids:
        if t == IMAGE_TOKEN_INDEX:
            out.extend([t] * tokens_per_frame)
        elif t == AUDIO_TOKEN_INDEX:
            out.extend([t] * audio_tokens)
        else:
            out.append(t)
    return out


def released_media(media: dict[str, Any], spec: MediaSpec, num_frames: int) -> DecodedMedia:
    """A doc's media decoded as the released processors read files (see the module docstring)."""
    video = media.get("video") if spec.video else None
    audio_path = media.get("audio")
    frames, times, duration = None, [], 0.0
    if video:
        frames, _, times = decode_frames(video, num_frames)
        duration = times[-1] if times else 0.0
    wave, source = None, "none"
    if spec.audio and audio_source(media) != "none":
        if (found := audio_file(media)) is not None:
            wave, source = read_wave(found[0], spec), found[1]
        elif audio_path:
            raise MediaError(f"audio file not found: {audio_path}")
    if frames is None and wave is None:
        raise MediaError(f"doc has no usable media (video={media.get('video')}, audio={audio_path})")
    if wave is not None:
        duration = max(duration, len(wave) / SAMPLE_RATE)
    return DecodedMedia(frames, wave, num_frames, source, duration, times)
