"""Chat-completions content parts for decoded media: ``video_url`` / ``image_url`` / ``input_audio``.

Video travels in one of three ways (``video_transport``):

* ``sampled`` (default): the frames emorealm sampled (fps, max_frames) re-encoded as a small H.264
  mp4 at their effective rate, sent as a ``video_url`` data URL. Ask the server to keep every frame
  (vLLM: ``--media-io-kwargs '{"video": {"num_frames": -1}}'``) and it sees our sampling.
* ``file``: the original clip as a ``video_url`` data URL; the server samples frames itself.
* ``frames``: one ``image_url`` JPEG part per sampled frame, for servers without video input.

Audio is an ``input_audio`` part holding a 16 kHz mono wav (``audio_subtype`` PCM_16 by default,
FLOAT for bit-exact samples).
"""

from __future__ import annotations

import base64
import io
import mimetypes
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from emorealm.errors import ConfigError, MediaError

VIDEO_TRANSPORTS = ("sampled", "file", "frames")


def data_url(payload: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def wav_bytes(wave: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.asarray(wave, dtype=np.float32), sample_rate, format="WAV", subtype=subtype)
    return buf.getvalue()


def mp4_bytes(frames: np.ndarray, fps: float) -> bytes:
    """Frames ``[T,H,W,3]`` uint8 as an H.264 mp4 (even sizes, yuv420p) at ``fps``."""
    import av

    t, h, w, _ = frames.shape
    h2, w2 = h - h % 2, w - w % 2
    buf = io.BytesIO()
    rate = Fraction(fps).limit_denominator(1000) if fps > 0 else Fraction(1)
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w2, h2, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "12"}
        for img in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[:h2, :w2]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def jpeg_bytes(frame: np.ndarray, quality: int = 90) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def video_parts(frames: np.ndarray, fps: float, source_path: str | None, transport: str) -> list[dict[str, Any]]:
    """Content parts carrying the video under ``transport``."""
    if transport == "sampled":
        return [{"type": "video_url", "video_url": {"url": data_url(mp4_bytes(frames, fps), "video/mp4")}}]
    if transport == "file":
        if not source_path:
            raise MediaError("video_transport=file needs a video file in the doc")
        mime = mimetypes.guess_type(source_path)[0] or "video/mp4"
        return [{"type": "video_url", "video_url": {"url": data_url(Path(source_path).read_bytes(), mime)}}]
    if transport == "frames":
        return [{"type": "image_url", "image_url": {"url": data_url(jpeg_bytes(f), "image/jpeg")}} for f in frames]
    raise ConfigError(f"unknown video_transport {transport!r}; use one of {', '.join(VIDEO_TRANSPORTS)}")


def audio_part(wave: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> dict[str, Any]:
    payload = base64.b64encode(wav_bytes(wave, sample_rate, subtype)).decode("ascii")
    return {"type": "input_audio", "input_audio": {"data": payload, "format": "wav"}}
