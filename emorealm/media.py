"""Decode and sample media with PyAV: frames at a target fps, 16 kHz mono audio.

Sampling follows the Qwen2.5-Omni reference usage (``qwen_omni_utils``): ``round(duration * fps)``
frames rounded to a multiple of 2, clamped to ``[min_frames, max_frames]`` and to the clip's own frame
count, spread evenly over the clip. Frames are scaled down while decoding so that no frame holds
more than ``decode_max_pixels`` pixels (the processor then applies the model's own pixel caps).
Audio comes from a sidecar wav when the doc names one (read with soundfile), else from the clip's
own audio track, resampled to ``sample_rate`` mono.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emorealm import media_cache
from emorealm.errors import MediaError

FRAME_FACTOR = 2
# Largest source frame accepted (16384 x 16384): beyond it a header is corrupt or hostile, and decoding
# one frame alone would need gigabytes. Output frames are capped separately by spec.decode_max_pixels.
MAX_SOURCE_PIXELS = 1 << 28
# clips longer than this are sampled by seeking to each target frame rather than decoding all frames
SEEK_MIN_SECONDS = 120.0


@dataclass(frozen=True)
class MediaSpec:
    """How media are sampled for a model. Recorded in every results file."""

    fps: float = 2.0
    min_frames: int = 4
    max_frames: int = 64
    decode_max_pixels: int = 768 * 28 * 28
    sample_rate: int = 16000
    use_audio_in_video: bool = True
    max_seconds: float = 600.0  # longer clips are sampled over their first max_seconds
    video: bool = True  # give the model frames
    audio: bool = True  # give the model audio

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DecodedMedia:
    """Sampled media of one doc."""

    frames: np.ndarray | None  # [T, H, W, 3] uint8
    audio: np.ndarray | None  # [N] float32 at spec.sample_rate
    fps: float  # effective sampling rate of ``frames`` (frames per second of clip time)
    audio_source: str  # "sidecar", "video" or "none"
    duration: float
    frame_times: list[float] = field(default_factory=list)


def _file_key(path: str) -> tuple[str, int, int]:
    st = os.stat(path)
    return (os.path.realpath(path), st.st_size, st.st_mtime_ns)


def _check_file(path: str | None, what: str) -> str:
    if not path:
        raise MediaError(f"no {what} file given")
    if not os.path.exists(path):
        raise MediaError(f"{what} file not found: {path}; check the data root and the clip folder options")
    if os.path.getsize(path) == 0:
        raise MediaError(f"{what} file is empty (0 bytes): {path}; re-download or remove it")
    return path


def _open(path: str):
    import av

    try:
        return av.open(path)
    except Exception as exc:  # PyAV raises many FFmpeg error types
        raise MediaError(f"cannot open {path}: {exc}; the file is corrupt or not a media container") from exc


def _scaled_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    if width * height <= max_pixels:
        return width, height
    s = math.sqrt(max_pixels / (width * height))
    return max(2, int(width * s) // 2 * 2), max(2, int(height * s) // 2 * 2)


def n_frames_for(duration: float, native_frames: int, spec: MediaSpec) -> int:
    """Number of frames to sample, as in the Qwen2.5-Omni reference code."""
    n = round(duration * spec.fps / FRAME_FACTOR) * FRAME_FACTOR
    n = max(spec.min_frames, min(n, spec.max_frames))
    if native_frames > 0:
        n = min(n, max(1, native_frames // FRAME_FACTOR * FRAME_FACTOR or native_frames))
    return max(1, n)


def _frame_time(frame, stream, start: float) -> float | None:
    return float(frame.pts * stream.time_base) - start if frame.pts is not None else None


def _sample_sequential(container, stream, targets: list[float], rate: float, start: float, size: tuple[int, int],
                       max_seconds: float, out: list[np.ndarray], times: list[float]) -> Exception | None:
    """Decode from the current position, keeping the frames that serve ``targets``; returns the decode
    error that stopped it early, if any (frames gathered so far stay in ``out``)."""
    ti = 0
    try:
        for frame in container.decode(stream):
            t = _frame_time(frame, stream, start)
            if t is None:
                t = len(times) / rate
            # a frame serves every target time it covers (half a frame of slack)
            while ti < len(targets) and t + 0.5 / rate >= targets[ti]:
                out.append(frame.to_ndarray(format="rgb24", width=size[0], height=size[1]))
                times.append(t)
                ti += 1
            if ti >= len(targets) or t > max_seconds:
                break
    except Exception as exc:  # PyAV raises many FFmpeg error types
        return exc
    return None


def _sample_by_seeking(container, stream, targets: list[float], rate: float, start: float,
                       size: tuple[int, int]) -> tuple[list[np.ndarray], list[float]]:
    """The frames :func:`_sample_sequential` would pick, found by seeking to the keyframe before each target.

    Returns what it found; the caller falls back to sequential decoding when it is short (a container
    that cannot seek, a frame without a timestamp)."""
    out: list[np.ndarray] = []
    times: list[float] = []
    try:
        for target in targets:
            if times and times[-1] + 0.5 / rate >= target:  # the previous frame still covers this target
                out.append(out[-1])
                times.append(times[-1])
                continue
            container.seek(int((start + max(0.0, target - 0.5 / rate)) / stream.time_base), stream=stream,
                           backward=True, any_frame=False)
            for frame in container.decode(stream):
                t = _frame_time(frame, stream, start)
                if t is None:
                    return out, times
                if t + 0.5 / rate >= target:
                    out.append(frame.to_ndarray(format="rgb24", width=size[0], height=size[1]))
                    times.append(t)
                    break
            else:
                return out, times
    except Exception:  # noqa: BLE001  (any seek/decode failure: the caller decodes sequentially)
        return out, times
    return out, times


def decode_video(path: str, spec: MediaSpec) -> tuple[np.ndarray, float, float, list[float]]:
    """Sample frames from ``path``: returns (frames, effective fps, duration, frame times)."""
    _check_file(path, "video")
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError(f"{path} has no video stream; this task needs frames")
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1_000_000
        else:
            duration = (stream.frames or 0) / rate
        duration = min(duration, spec.max_seconds)
        native = int(stream.frames or round(duration * rate))
        n = n_frames_for(duration, native, spec)
        # target times spread like numpy.linspace over the frame indices of the clip
        last = max(0, min(native, int(round(duration * rate))) - 1)
        targets = [i / rate for i in np.linspace(0, last, n).round().astype(int)]
        src_w, src_h = stream.codec_context.width, stream.codec_context.height
        if src_w * src_h > MAX_SOURCE_PIXELS:
            raise MediaError(f"{path}: frame size {src_w}x{src_h} exceeds {MAX_SOURCE_PIXELS} pixels; "
                             "the header is corrupt or the clip needs downscaling before evaluation")
        # frames are scaled while converting, so the output never holds more than decode_max_pixels per frame
        width, height = _scaled_size(src_w, src_h, spec.decode_max_pixels)
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        out: list[np.ndarray] = []
        times: list[float] = []
        seeking = duration > SEEK_MIN_SECONDS
        if seeking:
            # long clip: jump to each target instead of decoding everything in between
            out, times = _sample_by_seeking(container, stream, targets, rate, start, (width, height))
        if len(out) < len(targets):
            if seeking:
                try:
                    container.seek(0)
                except Exception as exc:  # noqa: BLE001
                    raise MediaError(f"cannot rewind {path} after a failed seek: {exc}") from exc
            out, times = [], []
            error = _sample_sequential(container, stream, targets, rate, start, (width, height), spec.max_seconds,
                                       out, times)
            if error is not None and not out:
                raise MediaError(f"cannot decode video of {path}: {error}; the file is truncated or corrupt") from error
        if not out:
            raise MediaError(f"{path}: no decodable video frames; the file is truncated or corrupt")
        while len(out) < len(targets):  # stream ended early (truncated file): repeat the last frame
            out.append(out[-1])
            times.append(times[-1])
    eff_fps = n / duration if duration > 0 else spec.fps
    return np.stack(out), eff_fps, duration, times


def _resample_av(container, stream, sample_rate: int, max_seconds: float, path: str) -> np.ndarray:
    import av

    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    chunks: list[np.ndarray] = []
    total, limit = 0, int(max_seconds * sample_rate)
    try:
        for frame in container.decode(stream):
            for rf in resampler.resample(frame):
                arr = rf.to_ndarray().reshape(-1)
                chunks.append(arr)
                total += arr.size
            if total >= limit:
                break
        for rf in resampler.resample(None):
            chunks.append(rf.to_ndarray().reshape(-1))
    except Exception as exc:
        if not chunks:
            raise MediaError(f"cannot decode audio of {path}: {exc}; the file is truncated or corrupt") from exc
    if not chunks:
        raise MediaError(f"{path}: audio stream holds no samples")
    return np.concatenate(chunks)[:limit].astype(np.float32)


def decode_audio(path: str, spec: MediaSpec) -> np.ndarray:
    """Mono float32 audio at ``spec.sample_rate`` from a wav (soundfile) or any container (PyAV)."""
    _check_file(path, "audio")
    if path.lower().endswith((".wav", ".flac")):
        import soundfile as sf

        try:
            info = sf.info(path)
            if info.samplerate == spec.sample_rate:
                wave, _ = sf.read(path, dtype="float32", always_2d=True,
                                  frames=int(spec.max_seconds * spec.sample_rate))
                if wave.shape[0] == 0:
                    raise MediaError(f"{path}: audio file holds no samples; re-export it or remove the sidecar")
                return wave.mean(axis=1).astype(np.float32)
        except RuntimeError as exc:
            raise MediaError(f"cannot read audio file {path}: {exc}") from exc
    with _open(path) as container:
        if not container.streams.audio:
            raise MediaError(f"{path} has no audio stream; this task needs audio (or give a sidecar wav)")
        return _resample_av(container, container.streams.audio[0], spec.sample_rate, spec.max_seconds, path)


_cache: OrderedDict[tuple, DecodedMedia] = OrderedDict()
_CACHE_ITEMS = 64
# the in-process memo is bounded in bytes too, so peak memory does not grow with the clips seen
_CACHE_BYTES = 256 << 20


def _nbytes(m: DecodedMedia) -> int:
    return sum(a.nbytes for a in (m.frames, m.audio) if a is not None)


def load_media(media: dict[str, Any], spec: MediaSpec) -> DecodedMedia:
    """Decode a doc's ``media`` dict (see docs/contracts.md §3) under ``spec``.

    Results are kept in a small in-process LRU keyed by file identity (path, size, mtime) and the
    spec, so the options of one question decode their clip once, and on disk under the same key
    (``emorealm.media_cache``), so later runs and other processes do not decode it again.
    """
    video = media.get("video") if spec.video else None
    audio_path = media.get("audio")
    want_audio = spec.audio and media.get("audio_source", "video" if video else "none") != "none"
    key = (
        _file_key(video) if video and os.path.exists(video) else video,
        _file_key(audio_path) if audio_path and os.path.exists(audio_path) else audio_path,
        want_audio, spec,
    )
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    # decoded once per file identity + spec, across processes and runs (emorealm.media_cache)
    disk_key = {"video": media_cache.file_identity(video), "audio": media_cache.file_identity(audio_path),
                "source_video": media_cache.file_identity(media.get("video")), "want_audio": want_audio,
                "spec": dict(vars(spec))}
    decoded = DecodedMedia(**media_cache.get_or_decode(
        disk_key, lambda: vars(_decode_doc(media, spec, video, audio_path, want_audio))))
    _cache[key] = decoded
    # the in-process memo is bounded by items and bytes (peak memory must not grow with the run)
    total = sum(_nbytes(m) for m in _cache.values())
    while len(_cache) > 1 and (len(_cache) > _CACHE_ITEMS or total > _CACHE_BYTES):
        total -= _nbytes(_cache.popitem(last=False)[1])
    return decoded


def _decode_doc(media: dict[str, Any], spec: MediaSpec, video: str | None, audio_path: str | None,
                want_audio: bool) -> DecodedMedia:
    frames, fps, duration, times = None, spec.fps, 0.0, []
    if video:
        frames, fps, duration, times = decode_video(video, spec)
    wave, source = None, "none"
    if want_audio:
        if audio_path and os.path.exists(audio_path):
            wave, source = decode_audio(audio_path, spec), "sidecar"
        elif media.get("video"):
            wave, source = decode_audio(media["video"], spec), "video"
        elif audio_path:
            _check_file(audio_path, "audio")
        if wave is not None and not duration:
            duration = len(wave) / spec.sample_rate
    if frames is None and wave is None:
        raise MediaError(f"doc has no usable media (video={media.get('video')}, audio={audio_path})")
    return DecodedMedia(frames, wave, fps, source, duration, times)


def media_paths_exist(media: dict[str, Any]) -> bool:
    """True when every file the doc names exists (used by loaders to report missing clips early)."""
    return all(Path(p).exists() for p in (media.get("video"), media.get("audio")) if p)
