"""Prefix-cached option scoring equals one full forward per option (float32, 1e-4)."""

from __future__ import annotations

import pytest
import torch

from emorealm.media.decode import MediaSpec
from emorealm.media.synth import tone, write_av_clip, write_wav
from emorealm.model_adapters.inputs import build_model_inputs
from emorealm.model_adapters.prefix import continuation_positions, score_from_prefix, score_naive

CONTINUATIONS = ["A", " (B) The person feels sad", "happy happiness", "C"]


@pytest.fixture(scope="module")
def tiny(hf_adapter, tiny_omni_dir):
    return tiny_omni_dir, hf_adapter.model, hf_adapter.processor


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    clip = write_av_clip(d / "clip.mp4", seconds=2.0, seed=3)
    wav = write_wav(d / "side.wav", tone(2.0, 16000, 300.0, seed=4))
    return str(clip), str(wav)


def _ids(processor, texts):
    return [processor.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]


@pytest.mark.parametrize("case", ["audio_in_video", "sidecar_audio", "video_only", "audio_only"])
def test_prefix_equals_naive(tiny, media, case):
    _, model, processor = tiny
    clip, wav = media
    spec = MediaSpec()
    doc = {"media": {"video": clip, "audio": None, "audio_source": "video"}}
    if case == "sidecar_audio":
        doc = {"media": {"video": clip, "audio": wav, "audio_source": "sidecar"}}
    elif case == "video_only":
        spec = MediaSpec(audio=False)
    elif case == "audio_only":
        doc = {"media": {"video": None, "audio": wav, "audio_source": "sidecar"}}
    inputs = build_model_inputs(processor, doc, "Which emotion? (A) happy (B) sad (C) angry", spec)
    conts = _ids(processor, CONTINUATIONS)
    assert sorted({len(c) for c in conts})[0] == 1 and max(len(c) for c in conts) > 3  # mixed lengths
    fast = score_from_prefix(model, inputs.model_kwargs(), conts)
    ref = score_naive(model, inputs.model_kwargs(), conts)
    for (ll, greedy), (ll_ref, greedy_ref) in zip(fast, ref, strict=True):
        assert ll == pytest.approx(ll_ref, abs=1e-4)
        assert greedy == greedy_ref
    # options really differ: the comparison is not between constants
    assert len({round(x[0], 3) for x in ref}) == len(ref)


def test_encoders_run_once_per_question(tiny, media):
    _, model, processor = tiny
    clip, _ = media
    calls = {"audio": 0, "visual": 0}
    hooks = [model.model.audio_tower.register_forward_hook(lambda *a: calls.__setitem__("audio", calls["audio"] + 1)),
             model.model.visual.register_forward_hook(lambda *a: calls.__setitem__("visual", calls["visual"] + 1))]
    try:
        inputs = build_model_inputs(processor, {"media": {"video": clip, "audio": None, "audio_source": "video"}},
                                    "Which emotion?", MediaSpec())
        score_from_prefix(model, inputs.model_kwargs(), _ids(processor, CONTINUATIONS))
        assert calls == {"audio": 1, "visual": 1}
        score_naive(model, inputs.model_kwargs(), _ids(processor, CONTINUATIONS))
        assert calls == {"audio": 1 + len(CONTINUATIONS), "visual": 1 + len(CONTINUATIONS)}
    finally:
        for h in hooks:
            h.remove()


def test_adapter_loglikelihood_uses_prefix_and_matches_naive(hf_adapter, media):
    from lm_eval.api.instance import Instance

    clip, _ = media
    lm, errors_before = hf_adapter, hf_adapter.n_errors
    doc = {"id": "q1", "_task": "t", "media": {"video": clip, "audio": None, "audio_source": "video"}}
    ctx = "Which emotion? (A) happy (B) sad"
    reqs = [Instance("loglikelihood", doc, (ctx, c), i) for i, c in enumerate(CONTINUATIONS)]
    got = lm.loglikelihood(reqs)
    inputs = build_model_inputs(lm.processor, doc, ctx, lm.spec)
    ref = score_naive(lm.model, inputs.model_kwargs(), _ids(lm.processor, CONTINUATIONS))
    assert [g[0] for g in got] == pytest.approx([r[0] for r in ref], abs=1e-4)
    assert lm.n_errors == errors_before


def test_empty_continuation_is_rejected(tiny, media):
    _, model, processor = tiny
    inputs = build_model_inputs(processor, {"media": {"video": media[0], "audio": None, "audio_source": "video"}},
                                "x", MediaSpec())
    with pytest.raises(ValueError, match="at least one token"):
        score_from_prefix(model, inputs.model_kwargs(), [[1], []])


def test_continuation_positions_mrope_and_plain():
    plain = continuation_positions(10, 3, 2, None, "cpu")
    assert plain.tolist() == [[10, 11, 12], [10, 11, 12]]
    mrope = continuation_positions(10, 3, 2, torch.tensor([[-7]]), "cpu")
    assert mrope.shape == (3, 2, 3) and mrope[2, 1].tolist() == [3, 4, 5]


def test_prefix_scoring_through_a_peft_wrapper(tiny_omni_dir, media):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoProcessor, Qwen2_5OmniThinkerForConditionalGeneration

    torch.manual_seed(0)
    base = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(tiny_omni_dir).eval()
    model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)).eval()
    processor = AutoProcessor.from_pretrained(tiny_omni_dir)
    inputs = build_model_inputs(processor, {"media": {"video": media[0], "audio": None, "audio_source": "video"}},
                                "Which emotion?", MediaSpec())
    conts = _ids(processor, CONTINUATIONS)
    fast = score_from_prefix(model, inputs.model_kwargs(), conts)
    ref = score_naive(model, inputs.model_kwargs(), conts)
    assert [f[0] for f in fast] == pytest.approx([r[0] for r in ref], abs=1e-4)
