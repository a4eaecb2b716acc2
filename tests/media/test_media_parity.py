"""Our model inputs against Qwen's own preprocessing, ``qwen-omni-utils`` (the package itself), clip by clip.

For each clip of a generated corpus (tests/support/media_corpus.py) the reference path is the Qwen2.5-Omni
model card's: ``process_mm_info(messages, use_audio_in_video=True)`` then the HF processor with the
clip's audio interleaved. Ours is ``emorealm.model_adapters.inputs.build_model_inputs`` under the default media
spec (``qwen-reference``) through the same processor. Token ids, grids, seconds per grid, audio
masks and the model's own rope position ids must be identical; pixels and log-mel features agree
within the issue's tolerances (mean absolute difference 0.05 and 0.01, normalised units). The vLLM
adapter's prepared request and the training collator are checked against the same reference.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

from emorealm.media.decode import MediaSpec
from emorealm.media.spec import REFERENCE_VERSION
from emorealm.model_adapters.inputs import build_model_inputs

from support.media_corpus import (
    CORPUS,
    PIXEL_TOL,
    PROMPT,
    assert_same_inputs,
    doc_for,
    reference_inputs,
    reference_media,
    write_clip,
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("parity")
    return {c.name: write_clip(c, out, seed=i) for i, c in enumerate(CORPUS)}


@pytest.fixture(scope="module")
def thinker(tiny_omni_dir):
    from transformers import Qwen2_5OmniThinkerForConditionalGeneration

    return Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(tiny_omni_dir).eval()


def test_reference_package_is_the_pinned_version():
    assert version("qwen-omni-utils") == REFERENCE_VERSION
    assert MediaSpec().record()["reference"] == f"qwen-omni-utils=={REFERENCE_VERSION}"


@pytest.mark.parametrize("clip", CORPUS, ids=[c.name for c in CORPUS])
def test_model_inputs_match_qwen_omni_utils(clip, corpus, processor, thinker):
    path = corpus[clip.name]
    with_audio = clip.sample_rate is not None
    ref = reference_inputs(processor, path, with_audio)
    ours = build_model_inputs(processor, doc_for(path, clip.sample_rate is not None), PROMPT, MediaSpec())
    assert ours.use_audio_in_video == with_audio
    gaps = assert_same_inputs(ours.features, ref, thinker, with_audio, clip.name)
    print(f"{clip.name}: n_video_frames={int(ref['video_grid_thw'][0, 0]) * 2} grid={ref['video_grid_thw'].tolist()} "
          f"gaps={gaps}")


@pytest.mark.parametrize("name", [c.name for c in CORPUS])
def test_vllm_request_media_match_qwen_omni_utils(name, corpus):
    """The frames and audio the vLLM adapter hands the engine are the reference's, with no fps."""
    from emorealm.model_adapters.vllm import request_media

    clip = next(c for c in CORPUS if c.name == name)
    path = corpus[name]
    _, audios, videos = reference_media(path, clip.sample_rate is not None)
    mm, kwargs, _ = request_media(doc_for(path, clip.sample_rate is not None), MediaSpec(), ("video", "audio"), "tiny")
    ref_frames = videos[0].permute(0, 2, 3, 1).numpy()
    assert mm["video"].shape == ref_frames.shape and mm["video"].dtype == np.uint8
    assert np.abs(mm["video"].astype(np.float32) - ref_frames).mean() / 255 < PIXEL_TOL / 4
    assert "fps" not in kwargs
    if clip.sample_rate:
        wave, rate = mm["audio"]
        assert rate == 16000 and wave.shape == audios[0].shape
        assert np.abs(wave - audios[0]).max() < 1e-3
        assert kwargs["use_audio_in_video"] is True
    else:
        assert "audio" not in mm and "use_audio_in_video" not in kwargs


def test_training_collator_builds_the_reference_inputs(corpus, processor, thinker):
    """The preference collator's clean context is the reference's inputs (same inputs function)."""
    from emorealm.training.collate import PreferenceCollator
    from emorealm.training.data import PreferenceRow
    from emorealm.training.loss import LossConfig

    path = corpus["ravdess_720p"]
    row = PreferenceRow(id="r0", prompt=PROMPT, chosen="happy", rejected_vr="sad", rejected_er="angry",
                        video=str(path), audio=None, video_l=None, audio_l=None, modality="video",
                        modality_source="field")
    batch = PreferenceCollator(processor, MediaSpec(), LossConfig())([row])
    assert not batch.skipped and batch.row_ids == ["r0"]
    clean = batch.contexts[batch.context_kinds.index("clean")]
    assert_same_inputs(clean.features, reference_inputs(processor, path, True), thinker, True, "collator")


def test_sidecar_audio_matches_the_reference_audio_item(tmp_path, processor):
    """A separate audio file (44.1 kHz stereo wav) becomes what qwen-omni-utils makes of an audio item."""
    import soundfile as sf
    from qwen_omni_utils import process_mm_info

    from emorealm.media.decode import decode_audio

    rng = np.random.default_rng(3)
    t = np.arange(44100 * 2) / 44100
    wave = np.stack([0.4 * np.sin(2 * np.pi * 330 * t), 0.2 * rng.standard_normal(t.shape)], axis=1)
    path = tmp_path / "side.wav"
    sf.write(str(path), wave, 44100, subtype="PCM_16")
    audios, _, _ = process_mm_info([{"role": "user", "content": [{"type": "audio", "audio": str(path)}]}],
                                   use_audio_in_video=False)
    ours = decode_audio(str(path), MediaSpec())
    assert ours.shape == audios[0].shape
    assert np.abs(ours - audios[0]).max() < 1e-5
