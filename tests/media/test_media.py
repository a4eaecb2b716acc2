"""Decoding and sampling with PyAV, checked against what was written and independent formulas."""

from __future__ import annotations

import numpy as np
import pytest

from emorealm.errors import MediaError
from emorealm.media.decode import MediaSpec, decode_audio, decode_video, load_media
from emorealm.media.synth import frames, tone, write_av_clip, write_wav


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    video = frames(3.0, 24, (64, 48), seed=5)
    path = write_av_clip(d / "c.mp4", seconds=3.0, fps=24, video=video, tone_hz=440.0, seed=5)
    return path, video


def test_frame_count_and_positions_follow_the_reference_rule(clip):
    """Frame count, indices and pixels are those qwen-omni-utils itself gives (not hand-copied numbers)."""
    from qwen_omni_utils.v2_5.vision_process import fetch_video

    path, written = clip
    got, fps, duration, times = decode_video(str(path), MediaSpec())
    ref, meta = fetch_video({"video": str(path)}, return_video_metadata=True)
    idx = list(meta["frames_indices"])
    assert got.shape == (ref.shape[0], ref.shape[2], ref.shape[3], 3) == (len(idx), 280, 392, 3)
    assert duration == pytest.approx(3.0, abs=1e-6)
    assert fps == pytest.approx(len(idx) / duration)
    assert times == pytest.approx([i / 24 for i in idx], abs=1e-6)
    # the 64x48 source is upscaled once, from its own size, to the reference's size and pixels
    assert np.array_equal(got, ref.permute(0, 2, 3, 1).numpy().astype(np.uint8))
    assert written.shape[0] == 72 and max(idx) == 71


@pytest.mark.parametrize("seconds", [3.52, 1.4, 5.3, 0.5])
def test_frame_count_floors_like_the_reference(seconds, tmp_path):
    from qwen_omni_utils.v2_5.vision_process import fetch_video

    path = write_av_clip(tmp_path / "c.mp4", seconds=seconds, fps=24, with_audio=False)
    got, *_ = decode_video(str(path), MediaSpec())
    ref = fetch_video({"video": str(path)})
    assert got.shape[0] == ref.shape[0]
    # floor(n / 24 * 2) to even, at least 4: 3.52 s gives 6 where rounding gave 8
    assert got.shape[0] == max(4, int(round(seconds * 24) / 24 * 2) // 2 * 2)


def test_caps_frames_and_resolution(clip):
    path, _ = clip
    spec = MediaSpec(fps=24.0, max_frames=8, min_pixels=28 * 28, max_pixels=28 * 56)
    got, *_ = decode_video(str(path), spec)
    assert got.shape[:3] == (8, 28, 28)  # 64x48 -> 56x56 exceeds 1568 pixels -> scaled by sqrt(3072/1568)
    assert spec.name == "qwen-reference+fps=24.0+max_frames=8+min_pixels=784+max_pixels=1568"


def test_audio_from_video_is_16k_mono_with_the_written_tone(clip):
    path, _ = clip
    wave = decode_audio(str(path), MediaSpec())
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(len(wave) - 3 * 16000) < 2048  # AAC priming/padding
    spectrum = np.abs(np.fft.rfft(wave[4000:36000]))
    peak = np.fft.rfftfreq(32000, 1 / 16000)[spectrum.argmax()]
    assert peak == pytest.approx(440.0, abs=2.0)


def test_sidecar_wins_when_present_and_is_recorded(clip, tmp_path):
    path, _ = clip
    side = write_wav(tmp_path / "c.wav", tone(3.0, 16000, 300.0), 16000)
    m = load_media({"video": str(path), "audio": str(side), "audio_source": "sidecar"}, MediaSpec())
    assert m.audio_source == "sidecar"
    assert np.allclose(m.audio[:100], tone(3.0, 16000, 300.0)[:100], atol=1e-3)
    m2 = load_media({"video": str(path), "audio": str(tmp_path / "absent.wav"), "audio_source": "sidecar"},
                    MediaSpec())
    assert m2.audio_source == "video"


def test_errors_name_the_file(tmp_path):
    spec = MediaSpec()
    with pytest.raises(MediaError, match="not found"):
        decode_video(str(tmp_path / "missing.mp4"), spec)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        decode_video(str(empty), spec)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00not a container" * 100)
    with pytest.raises(MediaError, match="garbage.mp4"):
        decode_video(str(garbage), spec)
    silent = write_av_clip(tmp_path / "silent.mp4", with_audio=False)
    with pytest.raises(MediaError, match="no audio stream"):
        decode_audio(str(silent), spec)
    audio_only = write_av_clip(tmp_path / "audio_only.mp4", with_video=False)
    with pytest.raises(MediaError, match="no video stream"):
        decode_video(str(audio_only), spec)


def test_truncated_clip_is_an_error_or_partial(tmp_path):
    full = write_av_clip(tmp_path / "full.mp4", seconds=2.0)
    data = full.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(MediaError):
        load_media({"video": str(cut), "audio": None, "audio_source": "video"}, MediaSpec())


def test_named_spec_from_model_args_and_its_record():
    from emorealm.errors import ConfigError
    from emorealm.media.spec import REFERENCE_VERSION, spec_from_args

    args = {"media": "qwen-reference", "video": "false", "batch_size": 2}
    spec = spec_from_args(args)
    assert spec.name == "qwen-reference" and not spec.video and args == {"batch_size": 2}
    record = spec.record()
    assert record["reference"] == f"qwen-omni-utils=={REFERENCE_VERSION}" and record["max_frames"] == 768
    changed = spec_from_args({"max_frames": "64", "processor_fps": "true"})
    assert changed.name == "qwen-reference+max_frames=64+processor_fps=True"
    assert "reference" not in changed.record()  # a deviating spec never claims the reference rule
    assert MediaSpec(**changed.as_dict()) == changed  # as_dict round-trips (adapters rebuild specs so)
    with pytest.raises(ConfigError, match="unknown media spec 'qwen-legacy'"):
        spec_from_args({"media": "qwen-legacy"})
    with pytest.raises(ConfigError, match="use max_pixels"):
        spec_from_args({"decode_max_pixels": "1000"})


def test_results_record_the_spec_name_and_reference_version(hf_adapter):
    media = hf_adapter.emorealm_metadata()["media"]
    assert media["name"] == "qwen-reference" and media["reference"] == "qwen-omni-utils==0.0.9"
    assert media["processor_max_pixels"] == media["max_pixels"] == 768 * 28 * 28
