"""Decode and sample media with PyAV under a :class:`~emorealm.media.spec.MediaSpec`.

The default spec, ``qwen-reference``, reproduces Qwen's own preprocessing (``qwen-omni-utils``; the
rule is written out in :mod:`emorealm.media.spec`): the stream's packets are scanned for its frame
count and average rate, the frames ``round(linspace(0, n - 1, k))`` are decoded and each is resized
once, from its source size, with torchvision's bicubic + antialias filter. Audio comes from a
sidecar wav when the doc names one (soundfile), else from the clip's own track (PyAV, 16-bit as
the reference's ffmpeg pipe gives it), at its native rate; channels are averaged and the result is
resampled to ``sample_rate`` with soxr's HQ filter.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emorealm.doc import audio_file
from emorealm.errors import MediaError
from emorealm.media import cache as media_cache
from emorealm.media.spec import MediaSpec, frame_indices, frame_size, n_frames_for

__all__ = ["DecodedMedia", "MediaSpec", "decode_audio", "decode_video", "load_media", "media_paths_exist"]

# Largest source frame accepted (16384 x 16384): beyond it a header is corrupt or hostile, and decoding
# one frame alone would need gigabytes.
MAX_SOURCE_PIXELS = 1 << 28
# clips longer than this are sampled by seeking to each target frame rather than decoding all frames
SEEK_MIN_SECONDS = 120.0


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


@dataclass
class StreamScan:
    """What a scan of a video stream's packets tells (as torchcodec's exact mode computes it)."""

    pts: list[int]  # presentation timestamps of every frame, sorted
    begin: float  # seconds of the first frame
    end: float  # seconds where the last frame ends
    time_base: float
    width: int  # stored frame size (before any display rotation)
    height: int

    @property
    def n_frames(self) -> int:
        return len(self.pts)

    @property
    def average_fps(self) -> float:
        return self.n_frames / (self.end - self.begin)


def scan_stream(path: str) -> StreamScan:
    """Frame count, timestamps and content duration from the packets (no decoding), so a container
    header that misreports the duration or frame count changes nothing."""
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError(f"{path} has no video stream; this task needs frames")
        stream = container.streams.video[0]
        tb = stream.time_base
        rate = stream.average_rate or stream.guessed_rate or 25
        width, height = stream.codec_context.width, stream.codec_context.height
        pts: list[int] = []
        end = -math.inf
        try:
            for packet in container.demux(stream):
                if packet.pts is None or packet.size == 0:
                    continue
                pts.append(packet.pts)
                end = max(end, float(packet.pts + (packet.duration or 0)) * tb.numerator / tb.denominator)
        except Exception as exc:  # noqa: BLE001  (a truncated file: what was read is the clip)
            if not pts:
                raise MediaError(f"cannot read video packets of {path}: {exc}; the file is truncated or corrupt") from exc
    if not pts:
        raise MediaError(f"{path}: no video frames; the file is truncated or corrupt")
    pts.sort()
    begin = float(pts[0]) * tb.numerator / tb.denominator
    if end <= begin:  # one frame without a duration: give it one frame period of the nominal rate
        end = begin + 1.0 / float(rate)
    return StreamScan(pts, begin, end, float(tb), width, height)


def _resizer(src: tuple[int, int], dst: tuple[int, int]):
    """uint8 HWC frame -> uint8 HWC frame at ``dst`` (height, width): torchvision bicubic + antialias,
    the reference's filter, applied once to the source-size frame."""
    if src == dst:
        return lambda a: a
    import torch
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as tvf

    def resize(a: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(a).permute(2, 0, 1).unsqueeze(0)
        out = tvf.resize(t, list(dst), interpolation=InterpolationMode.BICUBIC, antialias=True)
        return out[0].permute(1, 2, 0).contiguous().numpy()

    return resize


def _rotation_of(frame) -> int:
    """The frame's display rotation in degrees (0, 90, 180 or 270); anything else is refused."""
    degrees = int(round(getattr(frame, "rotation", 0) or 0)) % 360
    if degrees % 90:
        raise MediaError(f"a {degrees} degree display rotation is not supported; re-encode the clip upright")
    return degrees


def _decode_sequential(path: str, wanted: list[int], convert) -> dict[int, np.ndarray]:
    """Frames at presentation-order indices ``wanted`` (sorted, unique), decoding from the start."""
    out: dict[int, np.ndarray] = {}
    want = set(wanted)
    last = wanted[-1]
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        k = 0
        try:
            for frame in container.decode(stream):
                if k in want:
                    out[k] = convert(frame)
                k += 1
                if k > last:
                    break
        except MediaError:
            raise
        except Exception as exc:  # noqa: BLE001  (PyAV raises many FFmpeg error types)
            if not out:
                raise MediaError(f"cannot decode video of {path}: {exc}; the file is truncated or corrupt") from exc
    return out


def _decode_by_seeking(path: str, scan: StreamScan, wanted: list[int], convert) -> dict[int, np.ndarray]:
    """The same frames found by seeking to the keyframe before each; what it finds (the caller decodes
    sequentially when something is missing)."""
    out: dict[int, np.ndarray] = {}
    try:
        with _open(path) as container:
            stream = container.streams.video[0]
            for k in wanted:
                target = scan.pts[k]
                container.seek(target, stream=stream, backward=True, any_frame=False)
                for frame in container.decode(stream):
                    if frame.pts is None or frame.pts > target:
                        return out
                    if frame.pts == target:
                        out[k] = convert(frame)
                        break
    except Exception:  # noqa: BLE001  (any seek/decode failure: the caller decodes sequentially)
        return out
    return out


def decode_video(path: str, spec: MediaSpec) -> tuple[np.ndarray, float, float, list[float]]:
    """Sample frames from ``path`` under ``spec``: returns (frames, sampled fps, duration, frame times)."""
    _check_file(path, "video")
    scan = scan_stream(path)
    if spec.max_seconds is not None and scan.end - scan.begin > spec.max_seconds:
        limit = scan.pts[0] + spec.max_seconds / scan.time_base
        scan = StreamScan([p for p in scan.pts if p < limit], scan.begin, scan.begin + spec.max_seconds,
                          scan.time_base, scan.width, scan.height)
    try:
        n = n_frames_for(scan.n_frames, scan.average_fps, spec)
    except ValueError as exc:
        raise MediaError(f"{path}: {exc}; the clip is too short to sample") from exc
    indices = frame_indices(scan.n_frames, n)
    if scan.width * scan.height > MAX_SOURCE_PIXELS:
        raise MediaError(f"{path}: frame size {scan.width}x{scan.height} exceeds {MAX_SOURCE_PIXELS} pixels; "
                         "the header is corrupt or the clip needs downscaling before evaluation")
    for h, w in ((scan.height, scan.width), (scan.width, scan.height)):
        try:
            frame_size(h, w, n, spec)
        except ValueError as exc:
            raise MediaError(f"{path}: {exc}; the reference preprocessing refuses such frames") from exc
    # set by the first decoded frame: a display-rotation flag turns frames upright, as the reference's
    # decoder (torchcodec) does, and the frame size follows the upright frame
    state: dict[str, Any] = {}

    def convert(frame) -> np.ndarray:
        turns = _rotation_of(frame) // 90
        if not state:
            shape = (scan.width, scan.height) if turns % 2 else (scan.height, scan.width)
            state.update(turns=turns, shape=shape, resize=_resizer(shape, frame_size(*shape, n, spec)))
        if turns != state["turns"]:
            raise MediaError(f"{path}: the rotation flag changes inside the clip; re-encode it upright")
        rgb = frame.to_ndarray(format="rgb24")
        if turns:
            rgb = np.ascontiguousarray(np.rot90(rgb, turns))
        if rgb.shape[:2] != state["shape"]:
            raise MediaError(f"{path}: frame size changes inside the clip ({state['shape'][1]}x{state['shape'][0]} "
                             f"-> {rgb.shape[1]}x{rgb.shape[0]}); re-encode it at one size")
        return state["resize"](rgb)

    wanted = sorted(set(indices))
    got: dict[int, np.ndarray] = {}
    if scan.end - scan.begin > SEEK_MIN_SECONDS and scan.n_frames > 4 * len(wanted):
        got = _decode_by_seeking(path, scan, wanted, convert)  # long, sparse: jump instead of decoding all
    if len(got) < len(wanted):
        got = _decode_sequential(path, wanted, convert)
    missing = [k for k in wanted if k not in got]
    if missing:
        # the packets promised frames the decoder could not give: never hand over a different number
        raise MediaError(f"{path}: {len(missing)} of the {len(wanted)} sampled frames could not be decoded "
                         f"(first missing index {missing[0]} of {scan.n_frames}); the file is truncated or corrupt")
    frames = np.stack([got[k] for k in indices])
    times = [scan.pts[k] * scan.time_base - scan.begin for k in indices]
    sample_fps = n / scan.n_frames * scan.average_fps
    return frames, sample_fps, scan.end - scan.begin, times


def _to_16k(wave: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Resample like librosa's default (soxr HQ, then the length fixed to ceil(n * ratio))."""
    if rate == target:
        return wave.astype(np.float32)
    import soxr

    out = soxr.resample(wave, rate, target, quality="soxr_hq")
    n = int(np.ceil(wave.shape[-1] * float(target) / rate))
    if out.shape[-1] < n:
        out = np.pad(out, (0, n - out.shape[-1]))
    return np.asarray(out[:n], dtype=np.float32)


def _track_av(container, stream, max_seconds: float | None, path: str) -> tuple[np.ndarray, int]:
    """The whole track as [channels, n] float32 at its native rate (16-bit, as ffmpeg's s16 pipe gives it)."""
    import av

    rate = stream.rate or stream.codec_context.sample_rate
    layout = stream.layout.name if stream.layout is not None else "mono"
    resampler = av.AudioResampler(format="s16p", layout=layout, rate=rate)
    chunks: list[np.ndarray] = []
    total = 0
    limit = None if max_seconds is None else int(max_seconds * rate)
    try:
        for frame in container.decode(stream):
            for rf in resampler.resample(frame):
                arr = rf.to_ndarray()
                chunks.append(arr)
                total += arr.shape[1]
            if limit is not None and total >= limit:
                break
        for rf in resampler.resample(None):
            chunks.append(rf.to_ndarray())
    except Exception as exc:  # noqa: BLE001  (PyAV raises many FFmpeg error types)
        if not chunks:
            raise MediaError(f"cannot decode audio of {path}: {exc}; the file is truncated or corrupt") from exc
    if not chunks or sum(c.shape[1] for c in chunks) == 0:
        raise MediaError(f"{path}: the audio stream holds no samples; remove the track or give a sidecar wav")
    wave = np.concatenate(chunks, axis=1).astype(np.float32) / 32768.0
    return (wave if limit is None else wave[:, :limit]), int(rate)


def decode_audio(path: str, spec: MediaSpec) -> np.ndarray:
    """Mono float32 audio at ``spec.sample_rate`` from a wav/flac (soundfile) or any container (PyAV)."""
    _check_file(path, "audio")
    if path.lower().endswith((".wav", ".flac")):
        import soundfile as sf

        try:
            rate = sf.info(path).samplerate
            frames = -1 if spec.max_seconds is None else int(spec.max_seconds * rate)
            wave, rate = sf.read(path, dtype="float32", always_2d=True, frames=frames)
        except RuntimeError as exc:
            raise MediaError(f"cannot read audio file {path}: {exc}") from exc
        if wave.shape[0] == 0:
            raise MediaError(f"{path}: audio file holds no samples; re-export it or remove the sidecar")
        return _to_16k(wave.T.mean(axis=0), rate, spec.sample_rate)
    with _open(path) as container:
        if not container.streams.audio:
            raise MediaError(f"{path} has no audio stream; this task needs audio (or give a sidecar wav)")
        wave, rate = _track_av(container, container.streams.audio[0], spec.max_seconds, path)
    # channels averaged (0.5 (L + R)), not ffmpeg's downmix matrix, as the reference does
    return _to_16k(wave.mean(axis=0), rate, spec.sample_rate)


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
    (``emorealm.media.cache``), so later runs and other processes do not decode it again.
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
    # decoded once per file identity + spec, across processes and runs (emorealm.media.cache)
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
        if (found := audio_file(media)) is not None:
            wave, source = decode_audio(found[0], spec), found[1]
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
