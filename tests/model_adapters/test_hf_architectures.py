"""HF adapter architectures: Qwen3-Omni MoE thinker, generic video-only / audio-only Auto models,
unsupported checkpoints, declared modalities."""

from __future__ import annotations

import math

import pytest
from lm_eval.api.instance import Instance

from emorealm.errors import ConfigError, ModelError
from emorealm.media.synth import tone, write_av_clip, write_wav
from emorealm.model_adapters.prefix import score_naive

from support.docs import media_doc

OPTIONS = ["A", " (B) The person feels sad"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("arch-media")
    return {"clip": str(write_av_clip(d / "c.mp4", seconds=2.0, seed=5)),
            "wav": str(write_wav(d / "a.wav", tone(2.0, 16000, 330.0, seed=6)))}


@pytest.fixture(scope="module")
def adapters(tmp_path_factory):
    from emorealm.model_adapters.hf import HFAdapter
    from emorealm.model_adapters.random_configs import save_tiny

    out = {}
    for arch in ("qwen3_omni_moe", "qwen2_vl", "qwen2_audio"):
        folder = save_tiny(arch, tmp_path_factory.mktemp(arch) / "model")
        out[arch] = HFAdapter(pretrained=str(folder))
    return out


def _doc(clips, kind="clip"):
    if kind == "clip":
        return media_doc(clips["clip"], doc_id="d1")
    return media_doc(audio=clips["wav"], doc_id="d2")


@pytest.mark.parametrize("arch,name,accepts,klass", [
    ("qwen3_omni_moe", "qwen3_omni_moe", ("video", "audio"), "Qwen3OmniMoeThinkerForConditionalGeneration"),
    ("qwen2_vl", "qwen2_vl", ("video",), "Qwen2VLForConditionalGeneration"),
    ("qwen2_audio", "qwen2_audio", ("audio",), "Qwen2AudioForConditionalGeneration"),
])
def test_architecture_scores_from_prefix_like_full_forwards(adapters, clips, arch, name, accepts, klass):
    lm = adapters[arch]
    assert (lm.arch.name, lm.arch.accepts, type(lm.model).__name__) == (name, accepts, klass)
    doc = _doc(clips)
    got = lm.loglikelihood([Instance("loglikelihood", doc, ("Which emotion?", o), i) for i, o in enumerate(OPTIONS)])
    inputs = lm._inputs(doc, "Which emotion?")
    assert inputs.modalities == accepts
    ids = [lm.tokenizer(o, add_special_tokens=False)["input_ids"] for o in OPTIONS]
    ref = score_naive(lm.model, inputs.model_kwargs(), ids)
    assert [g[0] for g in got] == pytest.approx([r[0] for r in ref], abs=1e-4)
    text = lm.generate_until([Instance("generate_until", doc, ("Which emotion?", {"max_gen_toks": 3}), 0)])[0]
    assert isinstance(text, str) and not text.startswith("<<emorealm-error")
    assert lm.n_errors == 0


def test_video_only_model_records_audio_not_given(adapters, clips):
    lm = adapters["qwen2_vl"]
    lm.loglikelihood([Instance("loglikelihood", {**_doc(clips), "_task": "vo"}, ("Q?", "A"), 0)])
    meta = lm.emorealm_metadata()["modalities"]
    assert meta["accepted"] == ["video"]
    assert meta["given"]["vo"] == {"video": 1} and meta["not_given"]["vo"] == {"audio": 1}
    assert lm.emorealm_metadata()["media"]["use_audio_in_video"] is False


def test_doc_without_an_accepted_modality_is_a_counted_sample_error(adapters, clips):
    lm = adapters["qwen2_vl"]
    before = lm.n_errors
    audio_doc = {**_doc(clips, "audio"), "_task": "ao"}
    out = lm.loglikelihood([Instance("loglikelihood", audio_doc, ("Q?", o), i) for i, o in enumerate("AB")])
    assert all(math.isnan(ll) for ll, _ in out)
    gen = lm.generate_until([Instance("generate_until", audio_doc, ("Q?", {"max_gen_toks": 2}), 0)])[0]
    assert gen.startswith("<<emorealm-error:ModelError>>") and "accepts only video" in gen
    assert lm.n_errors == before + 2


def test_unsupported_architecture_is_a_clear_error(tmp_path):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from emorealm.model_adapters.hf import HFAdapter

    Qwen2ForCausalLM(Qwen2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                 num_attention_heads=1, num_key_value_heads=1)).save_pretrained(tmp_path)
    with pytest.raises(ModelError, match="no emorealm HF adapter supports model_type 'qwen2'.*plugin adapter"):
        HFAdapter(pretrained=str(tmp_path))


def test_modalities_option_narrows_and_rejects(adapters, tiny_omni_dir, clips):
    from emorealm.model_adapters.hf import HFAdapter

    audio_only = HFAdapter(pretrained=str(tiny_omni_dir), modalities="audio")
    assert audio_only.arch.accepts == ("audio",)
    assert audio_only._inputs(_doc(clips), "Q?").modalities == ("audio",)
    folder = adapters["qwen2_audio"].pretrained
    with pytest.raises(ConfigError, match="accepts only audio"):
        HFAdapter(pretrained=folder, modalities="video")
    with pytest.raises(ConfigError, match="unknown modalities"):
        HFAdapter(pretrained=folder, modalities="smell")


def test_full_qwen3_omni_checkpoint_loads_its_thinker_weights(tmp_path):
    import torch
    from transformers import Qwen3OmniMoeConfig, Qwen3OmniMoeForConditionalGeneration

    from emorealm.model_adapters.hf_models import load_model
    from emorealm.model_adapters.random_configs import tiny_qwen3_omni

    thinker, processor = tiny_qwen3_omni()
    torch.manual_seed(1)
    full = Qwen3OmniMoeForConditionalGeneration(
        Qwen3OmniMoeConfig(thinker_config=thinker.config.to_dict(), enable_audio_output=False)).eval()
    full.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    model, _, arch = load_model(str(tmp_path))
    assert arch.name == "qwen3_omni_moe" and type(model).__name__ == "Qwen3OmniMoeThinkerForConditionalGeneration"
    expected = full.thinker.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in model.state_dict().items())  # no random init left
