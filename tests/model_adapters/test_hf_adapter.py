"""The HF adapter on tiny-omni: generation, log-likelihood, media really reaching the model, errors,
and checkpoints (full and LoRA) loading through the same code."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from emorealm.errors import clear_sample_errors, parse_error_response
from emorealm.media.decode import MediaSpec, load_media
from emorealm.media.synth import frames, tone, write_av_clip, write_wav
from emorealm.model_adapters.inputs import append_continuation, build_inputs

from support.docs import gen_request, ll_request, media_doc


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("hfclips")
    base_v = frames(2.0, 24, (64, 48), seed=1)
    other_v = frames(2.0, 24, (64, 48), seed=2)
    a = write_av_clip(d / "a.mp4", video=base_v, tone_hz=220.0, seed=1)
    same_frames_other_audio = write_av_clip(d / "b.mp4", video=base_v, tone_hz=660.0, seed=1)
    other_frames_same_audio = write_av_clip(d / "c.mp4", video=other_v, tone_hz=220.0, seed=1)
    return {"a": a, "b": same_frames_other_audio, "c": other_frames_same_audio, "dir": d}


def _doc(path, i=0, audio=None):
    return media_doc(path, audio, doc_id=f"q{i}", clip_id=str(path))


def _gen(doc, prompt="What emotion? (A) Yes (B) No", **gk):
    return gen_request(doc, prompt, **{"until": [], "max_gen_toks": 5, **gk})


def _ll(doc, cont, prompt="What emotion? (A) Yes (B) No"):
    return ll_request(doc, prompt, cont)


def test_generate_is_deterministic_and_decodes_new_tokens_only(hf_adapter, clips):
    doc = _doc(clips["a"])
    out1 = hf_adapter.generate_until([_gen(doc)])
    out2 = hf_adapter.generate_until([_gen(doc)])
    assert out1 == out2 and isinstance(out1[0], str)
    assert "What emotion" not in out1[0]


def test_loglikelihood_equals_the_models_own_loss(hf_adapter, clips):
    """Independent check: HF's cross-entropy on the continuation (labels) × its length."""
    doc = _doc(clips["a"])
    conts = ["A", "B", "Yes"]
    got = hf_adapter.loglikelihood([_ll(doc, c) for c in conts])
    media = load_media(doc["media"], hf_adapter.spec)
    prefix = build_inputs(hf_adapter.processor, media, "What emotion? (A) Yes (B) No", hf_adapter.spec)
    for cont, (ll, _) in zip(conts, got, strict=True):
        ids = hf_adapter.tokenizer(cont, add_special_tokens=False)["input_ids"]
        full = append_continuation(prefix, ids)
        labels = torch.full_like(full.features["input_ids"], -100)
        labels[0, -len(ids):] = torch.tensor(ids)
        with torch.no_grad():
            loss = hf_adapter.model(**full.model_kwargs(), labels=labels).loss
        assert ll == pytest.approx(-float(loss) * len(ids), abs=1e-4)


def test_greedy_flag_matches_generation(hf_adapter, clips):
    doc = _doc(clips["a"])
    text = hf_adapter.generate_until([_gen(doc, max_gen_toks=1)])[0]
    assert text, "tiny-omni's greedy first token decodes to visible text"
    ll, greedy = hf_adapter.loglikelihood([_ll(doc, text)])[0]
    assert greedy is True and ll < 0


def _logits(adapter, doc):
    media = load_media(doc["media"], adapter.spec)
    inputs = build_inputs(adapter.processor, media, "Emotion?", adapter.spec)
    with torch.no_grad():
        return adapter.model(**inputs.model_kwargs()).logits, inputs


def test_audio_and_video_really_reach_the_model(hf_adapter, clips):
    base, inputs = _logits(hf_adapter, _doc(clips["a"]))
    assert "pixel_values_videos" in inputs.features and "input_features" in inputs.features
    again, _ = _logits(hf_adapter, _doc(clips["a"]))
    assert torch.equal(base, again)  # control: same inputs, same logits
    other_audio, ia = _logits(hf_adapter, _doc(clips["b"]))
    other_frames, iv = _logits(hf_adapter, _doc(clips["c"]))
    assert torch.equal(ia.features["pixel_values_videos"], inputs.features["pixel_values_videos"])
    assert not torch.equal(ia.features["input_features"], inputs.features["input_features"])
    assert torch.equal(iv.features["input_features"], inputs.features["input_features"])
    assert (other_audio - base).abs().max() > 1e-4, "changing only the audio must change the logits"
    assert (other_frames - base).abs().max() > 1e-4, "changing only the frames must change the logits"


def test_sidecar_audio_is_used_and_counted(hf_adapter, clips):
    side = write_wav(clips["dir"] / "side.wav", tone(2.0, 16000, 880.0), 16000)
    with_side, _ = _logits(hf_adapter, _doc(clips["a"], audio=side))
    base, _ = _logits(hf_adapter, _doc(clips["a"]))
    assert (with_side - base).abs().max() > 1e-4
    hf_adapter.generate_until([_gen(_doc(clips["a"], i=9, audio=side))])
    assert hf_adapter.audio_sources["t"]["sidecar"] >= 1


def test_per_sample_errors_do_not_stop_the_batch(hf_adapter, clips):
    clear_sample_errors()
    bad = _doc(clips["dir"] / "missing.mp4", i=1)
    good = _doc(clips["a"], i=2)
    out = hf_adapter.generate_until([_gen(bad), _gen(good)])
    err = parse_error_response(out[0])
    assert err is not None and err.kind == "MediaError" and "missing.mp4" in err.message
    assert parse_error_response(out[1]) is None
    lls = hf_adapter.loglikelihood([_ll(bad, "A"), _ll(bad, "B"), _ll(good, "A")])
    assert math.isnan(lls[0][0]) and math.isnan(lls[1][0]) and not math.isnan(lls[2][0])


def test_video_only_and_audio_only_specs(tiny_omni_dir, clips):
    from emorealm.model_adapters.hf import HFAdapter

    video_only = HFAdapter(pretrained=str(tiny_omni_dir), audio="false")
    _, inputs = _logits(video_only, _doc(clips["a"]))
    assert inputs.modalities == ("video",) and "input_features" not in inputs.features
    audio_only = HFAdapter(pretrained=str(tiny_omni_dir), video="false")
    _, inputs = _logits(audio_only, _doc(clips["a"]))
    assert inputs.modalities == ("audio",) and "pixel_values_videos" not in inputs.features
    assert audio_only.emorealm_metadata()["media"]["video"] is False


def test_unknown_model_args_and_bad_checkpoint_are_clear(tiny_omni_dir, tmp_path):
    from emorealm.errors import ModelError
    from emorealm.model_adapters.hf import HFAdapter

    with pytest.raises(ModelError, match="unknown hf model_args"):
        HFAdapter(pretrained=str(tiny_omni_dir), fsp=2)
    with pytest.raises(ModelError, match="cannot load a model config"):
        HFAdapter(pretrained=str(tmp_path))
    with pytest.raises(ModelError, match="needs pretrained"):
        HFAdapter()


def test_lora_adapter_folder_loads_as_pretrained(tiny_omni_dir, tmp_path, clips):
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2_5OmniThinkerForConditionalGeneration

    from emorealm.model_adapters.hf import HFAdapter

    torch.manual_seed(0)
    base = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(tiny_omni_dir)
    lora = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    lora.save_pretrained(tmp_path / "adapter")
    cfg = (tmp_path / "adapter" / "adapter_config.json")
    import json

    data = json.loads(cfg.read_text())
    data["base_model_name_or_path"] = str(tiny_omni_dir)
    cfg.write_text(json.dumps(data))
    by_folder = HFAdapter(pretrained=str(tmp_path / "adapter"))
    by_peft = HFAdapter(pretrained=str(tiny_omni_dir), peft=str(tmp_path / "adapter"))
    plain = HFAdapter(pretrained=str(tiny_omni_dir))
    doc = _doc(clips["a"])
    l1, l2, l0 = (a.loglikelihood([_ll(doc, "A")])[0][0] for a in (by_folder, by_peft, plain))
    assert l1 == pytest.approx(l2, abs=1e-6)
    assert abs(l1 - l0) > 1e-6, "the LoRA weights must be applied"
    meta = by_folder.emorealm_metadata()
    assert meta["peft"] == str(tmp_path / "adapter") and meta["model"] == str(tiny_omni_dir)
    assert meta["model_sha256"] != plain.emorealm_metadata()["model_sha256"]
    assert np.isfinite(l1)


def test_inputs_without_audio_placeholders_are_refused(processor, clips):
    """Some transformers versions silently drop an interleaved video's audio: that must not pass."""
    from emorealm.errors import ModelError
    from emorealm.model_adapters.inputs import _check_placeholders

    spec = MediaSpec()
    media = load_media(_doc(clips["a"])["media"], spec)
    inputs = build_inputs(processor, media, "Emotion?", spec)
    feats = dict(inputs.features)
    _check_placeholders(processor, feats, True, True)  # the real inputs pass
    ids = feats["input_ids"].clone()
    ids[ids == processor.audio_token_id] = processor.tokenizer.pad_token_id
    feats["input_ids"] = ids
    with pytest.raises(ModelError, match="no audio placeholder tokens"):
        _check_placeholders(processor, feats, True, True)


def test_video_frames_follow_the_reference_total_pixel_rule(processor, clips, monkeypatch):
    """Frames arrive already sized by qwen-vl-utils' rule (emorealm.media.spec, total-pixel budget
    included), so the video processor gets the reference call's arguments: no fps, no pixel cap."""
    spec = MediaSpec()
    media = load_media(_doc(clips["a"])["media"], spec)
    vp = processor.video_processor
    seen: list[dict] = []
    orig = type(vp).__call__

    def spy(self, *args, **kwargs):
        seen.append(kwargs)
        return orig(self, *args, **kwargs)

    monkeypatch.setattr(type(vp), "__call__", spy)
    build_inputs(processor, media, "Emotion?", spec)
    assert len(seen) == 1 and "cap_pixels_per_frame" not in seen[0] and "fps" not in seen[0]
