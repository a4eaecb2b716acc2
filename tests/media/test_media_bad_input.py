"""Awkward clips under the reference rule: built as qwen-omni-utils builds them, or refused clearly.

Rotation flag (90 and 270 degrees), variable frame rate and a container header that misreports the
duration are compared with the reference package through the same processor; a zero-length audio
stream and an empty sidecar fail the sample with a MediaError that names the file.
"""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from emorealm.errors import MediaError
from emorealm.media.decode import MediaSpec, decode_audio, decode_video
from emorealm.model_adapters.inputs import build_model_inputs

from support.media_corpus import PROMPT, assert_same_inputs, doc_for, reference_inputs


def _write(path: Path, *, n: int = 60, rate: int = 24, rotation: int | None = None,
           durations_ms: list[int] | None = None, empty_audio: bool = False) -> Path:
    """A 320x240 H.264 clip; ``durations_ms`` gives per-frame durations (variable frame rate)."""
    import av

    rng = np.random.default_rng(n)
    still = rng.integers(0, 256, size=(30, 40, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    with av.open(str(path), "w") as c:
        vs = c.add_stream("libx264", rate=rate)
        vs.width, vs.height, vs.pix_fmt = 320, 240, "yuv420p"
        if durations_ms:
            vs.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            vs.set_display_rotation(rotation)
        if empty_audio:
            audio = c.add_stream("aac", rate=16000)
            audio.layout = "mono"
        t = 0
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(np.roll(still, 4 * i, axis=1), format="rgb24")
            if durations_ms:
                frame.pts, frame.time_base = t, Fraction(1, 1000)
                t += durations_ms[i % len(durations_ms)]
            for packet in vs.encode(frame):
                c.mux(packet)
        for packet in vs.encode():
            c.mux(packet)
        if empty_audio:
            for packet in audio.encode():
                c.mux(packet)
    return path


def _misreport_duration(path: Path, factor: int) -> None:
    """Multiply the Matroska Segment Info ``Duration`` element (EBML id 0x4489, a float) by ``factor``.
    (FFmpeg's mp4 demuxer recomputes durations from the sample tables; Matroska's header is trusted.)"""
    data = bytearray(path.read_bytes())
    i = data.find(b"\x44\x89")
    fmt = {0x88: ">d", 0x84: ">f"}[data[i + 2]]
    size = struct.calcsize(fmt)
    value = struct.unpack(fmt, data[i + 3:i + 3 + size])[0]
    data[i + 3:i + 3 + size] = struct.pack(fmt, value * factor)
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def thinker(tiny_omni_dir):
    from transformers import Qwen2_5OmniThinkerForConditionalGeneration

    return Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(tiny_omni_dir).eval()


def _same_as_reference(path: Path, processor, thinker) -> None:
    ours = build_model_inputs(processor, doc_for(path, False), PROMPT, MediaSpec())
    assert_same_inputs(ours.features, reference_inputs(processor, path, False), thinker, False, path.name)


@pytest.mark.parametrize("degrees", [90, 270])
def test_rotation_flag_turns_frames_upright_as_the_reference(degrees, tmp_path, processor, thinker):
    path = _write(tmp_path / f"rot{degrees}.mp4", rotation=degrees)
    frames, *_ = decode_video(str(path), MediaSpec())
    assert frames.shape[1] > frames.shape[2]  # 320x240 stored, shown portrait
    _same_as_reference(path, processor, thinker)


def test_variable_frame_rate_samples_by_frame_index_as_the_reference(tmp_path, processor, thinker):
    path = _write(tmp_path / "vfr.mp4", n=61, durations_ms=[20, 20, 100])
    frames, fps, duration, times = decode_video(str(path), MediaSpec())
    # 61 frames over 2.82 s of content: floor(2 * 2.82 / 2) * 2 = 4 frames at indices round(linspace(0, 60, 4))
    assert frames.shape[0] == 4 and duration == pytest.approx(2.82, abs=1e-6)
    pts_ms = np.cumsum([0] + [[20, 20, 100][i % 3] for i in range(60)])
    assert times == pytest.approx(list(pts_ms[[0, 20, 40, 60]] / 1000), abs=1e-6)
    _same_as_reference(path, processor, thinker)


def test_misreported_duration_changes_nothing(tmp_path, processor, thinker):
    import av

    path = _write(tmp_path / "liar.mkv", n=84)  # 3.5 s
    before = decode_video(str(path), MediaSpec())
    _misreport_duration(path, 3)
    with av.open(str(path)) as c:  # the header now claims 10.5 s
        assert c.duration / 1e6 == pytest.approx(10.5, abs=0.01)
    after = decode_video(str(path), MediaSpec())
    assert after[0].shape == before[0].shape == (6, 280, 392, 3) and after[2] == before[2]
    assert np.array_equal(after[0], before[0])
    _same_as_reference(path, processor, thinker)


def test_zero_length_audio_fails_the_sample_clearly(tmp_path):
    path = _write(tmp_path / "empty_audio.mkv", empty_audio=True)  # mkv keeps a track with no packets
    with pytest.raises(MediaError, match="empty_audio.mkv: the audio stream holds no samples"):
        decode_audio(str(path), MediaSpec())
    import soundfile as sf

    wav = tmp_path / "empty.wav"
    sf.write(str(wav), np.zeros((0, 2), dtype=np.float32), 44100)
    with pytest.raises(MediaError, match="empty.wav: audio file holds no samples"):
        decode_audio(str(wav), MediaSpec())


def test_single_frame_clip_gives_that_frame_twice(tmp_path):
    """qwen-vl-utils' file readers refuse a one-frame clip; its frame-list path pads to an even count,
    which is what we do (the temporal patch needs two frames)."""
    path = _write(tmp_path / "one.mp4", n=1)
    frames, _, duration, times = decode_video(str(path), MediaSpec())
    assert frames.shape[0] == 2 and np.array_equal(frames[0], frames[1]) and times == [0.0, 0.0]
    assert duration == pytest.approx(1 / 24)
