"""Qwen3-Omni's model inputs against Qwen's own preprocessing (``qwen-omni-utils``), clip by clip.

The Qwen3-Omni model card calls the same ``process_mm_info(messages, use_audio_in_video=True)`` as
Qwen2.5-Omni's and hands its media to the Qwen3-Omni processor (16-pixel patches, a 32-pixel grid,
its own audio-token rule). Ours is ``emorealm.model_adapters.inputs.build_model_inputs`` under the default media
spec through the same processor (a tiny Qwen3-Omni MoE of the real classes). Token ids, grids,
seconds per grid, audio masks and the thinker's own rope position ids must be identical; pixels
and log-mel features agree within the tolerances of tests/media/test_media_parity.py.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from emorealm.media.decode import MediaSpec
from emorealm.model_adapters.inputs import build_model_inputs

from support.media_corpus import CORPUS, PROMPT, assert_same_inputs, doc_for, reference_inputs, write_clip

# a spread of the corpus: landscape 24 fps stereo, portrait, NTSC 29.97, an upscaled tiny clip, no audio
NAMES = ("dfew_3s52", "portrait", "ntsc_360", "tiny_upscale", "silent")
CLIPS = [c for c in CORPUS if c.name in NAMES]


@pytest.fixture(scope="module")
def qwen3(tmp_path_factory):
    from emorealm.model_adapters.random_configs import tiny_qwen3_omni

    thinker, processor = tiny_qwen3_omni(seed=0)
    out = tmp_path_factory.mktemp("parity3")
    clips = {c.name: write_clip(c, out, seed=i) for i, c in enumerate(CORPUS) if c.name in NAMES}
    # assert_same_inputs asks thinker.model for the rope index; Qwen3-Omni's thinker holds it itself
    rope = getattr(thinker.model, "get_rope_index", None) or thinker.get_rope_index
    return SimpleNamespace(model=SimpleNamespace(get_rope_index=rope)), processor, clips


def test_the_processor_is_qwen3_omnis(qwen3):
    from transformers import Qwen3OmniMoeProcessor

    processor = qwen3[1]
    assert type(processor) is Qwen3OmniMoeProcessor and processor.video_processor.patch_size == 16


@pytest.mark.parametrize("clip", CLIPS, ids=[c.name for c in CLIPS])
def test_qwen3_omni_inputs_match_qwen_omni_utils(clip, qwen3):
    thinker, processor, clips = qwen3
    path: Path = clips[clip.name]
    with_audio = clip.sample_rate is not None
    ref = reference_inputs(processor, path, with_audio)
    ours = build_model_inputs(processor, doc_for(path, with_audio), PROMPT, MediaSpec())
    assert ours.use_audio_in_video == with_audio
    assert ("input_features" in ref) == with_audio and "pixel_values_videos" in ref
    gaps = assert_same_inputs(ours.features, ref, thinker, with_audio, clip.name)
    print(f"{clip.name}: grid={ref['video_grid_thw'].tolist()} gaps={gaps}")
