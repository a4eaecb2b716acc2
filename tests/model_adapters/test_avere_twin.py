"""The tiny AVERE twin (released layout) through the harness: loading, media sensitivity, windows,
batching, sampling, bad input, and an end-to-end ``run`` on the EmoReAlM tasks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from lm_eval.api.instance import Instance

from emorealm.errors import ConfigError, MediaError, ModelError, clear_sample_errors, parse_error_response
from emorealm.media.synth import tone, write_av_clip


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    from emorealm.model_adapters.tiny_models import BUILDERS

    module, func = BUILDERS["avere"].split(":")
    build = getattr(__import__(module, fromlist=[func]), func)
    return build(tmp_path_factory.mktemp("avere") / "twin", 0)


@pytest.fixture(scope="module")
def adapter(twin):
    from emorealm.model_adapters.hf import HFAdapter

    return HFAdapter(pretrained=str(twin))


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    d = tmp_path_factory.mktemp("avereclips")
    out = []
    for i, secs in enumerate((1.0, 2.0, 1.5)):
        clip = write_av_clip(d / f"{i}.mp4", seconds=secs, size=(64, 48), seed=i, tone_hz=220.0 + 150 * i)
        out.append({"id": f"q{i}", "_task": "t", "media": {"video": str(clip), "audio": None, "audio_source": "video"}})
    return out


def _inputs(adapter, doc, prompt="Which emotion? (A) joy (B) anger"):
    return adapter._inputs(doc, prompt)


def test_twin_is_in_the_released_layout(twin):
    cfg = json.loads((twin / "config.json").read_text())
    assert cfg["model_type"] == "avere" and cfg["mm_projector_type"] == "mlp2x_gelu"
    assert cfg["speech_projector_type"] == "qformer" and cfg["qformer_second_per_window"] == 0.33333
    for sub in ("LanguageBind_Image", "LanguageBind_Video_merge", "whisper-large-v3", "bert-base-uncased"):
        assert (twin / "backbones" / sub / "config.json").exists()
    sd = torch.load(twin / "pytorch_model.bin", weights_only=True)
    assert sd["model.mm_projector.0.weight"].dtype == torch.float16
    assert "model.speech_projector.speech_Qformer.bert.encoder.layer.1.crossattention.self.key.weight" in sd
    assert "model.video_tower.video_tower.encoder.layers.0.temporal_attn.q_proj.weight" in sd


def test_seeded_twin_is_reproducible(twin, tmp_path):
    from emorealm.model_adapters.avere.tiny import build_tiny_avere

    again = torch.load(build_tiny_avere(tmp_path / "again", 0) / "pytorch_model.bin", weights_only=True)
    first = torch.load(twin / "pytorch_model.bin", weights_only=True)
    assert all(torch.equal(first[k], again[k]) for k in first)
    other = torch.load(build_tiny_avere(tmp_path / "other", 1) / "pytorch_model.bin", weights_only=True)
    assert not torch.equal(first["lm_head.weight"], other["lm_head.weight"])


@torch.inference_mode()
def test_only_frames_or_only_audio_change_the_logits(adapter, docs):
    model, proc = adapter.model, adapter.processor
    media = proc.load_media(docs[1]["media"], adapter.spec)
    prompt = proc.apply_chat_template([{"role": "user", "content": [{"type": "video"}, {"type": "audio"},
                                                                    {"type": "text", "text": "Emotion?"}]}])

    def logits(frames, wave):
        return model(**proc(text=[prompt], videos=[frames], audio=[wave])).logits[0, -1]

    base = logits(media.frames, media.audio)
    assert torch.equal(base, logits(media.frames.copy(), media.audio.copy()))  # deterministic: no random flip
    other_frames = np.ascontiguousarray(media.frames[:, ::-1])  # flipped frames, same audio
    other_audio = tone(len(media.audio) / 16000, 16000, 900.0, seed=5)  # other audio, same frames
    assert (logits(other_frames, media.audio) - base).abs().max() > 1e-3
    assert (logits(media.frames, other_audio) - base).abs().max() > 1e-3


def test_speech_windows_follow_the_config_not_the_clip_length(adapter):
    """Released behaviour: Whisper pads every clip to 30 s, so the window count is
    (1500 - kernel) // stride + 1 whatever the clip's length; a clip under 1 s is zero-padded to 1 s."""
    from types import SimpleNamespace

    from emorealm.model_adapters.avere.config import speech_windows

    model, proc = adapter.model, adapter.processor
    counts = []
    for secs in (0.05, 0.5, 2.0, 12.0, 45.0):  # 45 s: cut at 30 s, as released
        mel = proc(text=[proc.apply_chat_template([{"role": "user", "content": [{"type": "audio"},
                                                                                 {"type": "text", "text": "Q"}]}])],
                   audio=[tone(secs, 16000, 300.0)])["audio_mel"]
        counts.append(model.encode_speech(mel).shape[1])
    assert counts == [88] * 5
    cfg = SimpleNamespace(qformer_window_level=True, qformer_second_per_window=0.5, qformer_second_stride=0.25)
    assert speech_windows(cfg) == (25, 12, (1500 - 25) // 12 + 1)
    with pytest.raises(MediaError, match="no samples"):
        proc(text=["USER: <audio>\nQ ASSISTANT:"], audio=[np.zeros(0, np.float32)])


@torch.inference_mode()
def test_batched_generation_and_scoring_equal_one_at_a_time(adapter, docs, monkeypatch):
    reqs = [Instance("generate_until", d, ("Which emotion?" + " x" * i, {"until": [], "max_gen_toks": 6}), i)
            for i, d in enumerate(docs)]
    monkeypatch.setattr(adapter, "batch_size", 1)
    single = adapter.generate_until(reqs)
    monkeypatch.setattr(adapter, "batch_size", 3)
    assert adapter.generate_until(reqs) == single
    ll = [Instance("loglikelihood", d, ("Which emotion?" + " x" * i, " A"), i) for i, d in enumerate(docs)]
    batched = adapter.loglikelihood(ll)
    monkeypatch.setattr(adapter, "batch_size", 1)
    alone = adapter.loglikelihood(ll)
    assert np.allclose([x[0] for x in batched], [x[0] for x in alone], atol=1e-4)


def test_a_broken_sample_fails_alone(adapter, docs, monkeypatch):
    clear_sample_errors()
    bad = {**docs[0], "id": "bad", "media": {"video": "/nonexistent/clip.mp4", "audio": None, "audio_source": "video"}}
    monkeypatch.setattr(adapter, "batch_size", 3)
    out = adapter.generate_until([Instance("generate_until", d, ("Q?", {"until": [], "max_gen_toks": 3}), i)
                                  for i, d in enumerate([docs[0], bad, docs[1]])])
    assert parse_error_response(out[1]) is not None and "not found" in parse_error_response(out[1]).message
    assert parse_error_response(out[0]) is None and parse_error_response(out[2]) is None
    clear_sample_errors()


def test_released_sampling_is_reproducible_with_a_seed(adapter, docs):
    req = [Instance("generate_until", docs[0], ("Emotion?", {"until": [], "max_gen_toks": 6, "temperature": 0.1}), 0)]
    torch.manual_seed(7)
    a = adapter.generate_until(req)
    torch.manual_seed(7)
    assert adapter.generate_until(req) == a


def test_metadata_reports_modalities(adapter, docs):
    adapter._inputs(docs[0], "Q?")
    meta = adapter.emorealm_metadata()
    assert meta["architecture"] == "avere" and meta["smoke_test"] is True
    assert meta["modalities"]["accepted"] == ["video", "audio"]
    assert meta["modalities"]["given"]["t"]["video"] >= 1 and meta["modalities"]["given"]["t"]["audio"] >= 1


def test_missing_backbone_names_the_tower_and_the_places(twin, tmp_path):
    from emorealm.model_adapters.avere.loading import load_avere

    broken = tmp_path / "broken"
    shutil.copytree(twin, broken)
    shutil.rmtree(broken / "backbones" / "whisper-large-v3")
    with pytest.raises(ModelError, match=r"mm_speech_tower '\./backbones/whisper-large-v3'.*backbones=") as err:
        load_avere(broken)
    assert str(broken / "backbones" / "whisper-large-v3") in str(err.value)
    # the towers may live elsewhere: backbones=<folder>
    shutil.rmtree(broken / "backbones")
    _, _, accepts = load_avere(broken, backbones=str(twin / "backbones"))
    assert accepts == ("video", "audio")


@pytest.mark.parametrize("key, value, match", [
    ("mm_projector_type", "resampler", "mm_projector_type 'resampler' is not implemented"),
    ("speech_projector_type", "linear", "speech_projector_type 'linear' is not implemented"),
    ("qformer_window_level", False, "only the window-level speech Q-Former"),
    ("qformer_second_per_window", 0.001, "window of 0"),
])
def test_unimplemented_configs_are_refused(twin, tmp_path, key, value, match):
    from emorealm.model_adapters.avere.loading import load_avere

    bad = tmp_path / "bad"
    shutil.copytree(twin, bad)
    cfg = json.loads((bad / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps({**cfg, key: value}))
    with pytest.raises(ConfigError, match=match):
        load_avere(bad)


def test_pickled_objects_are_refused(twin, tmp_path):
    from emorealm.model_adapters.avere.loading import load_avere

    bad = tmp_path / "pickle"
    shutil.copytree(twin, bad)
    torch.save({"w": torch.zeros(1), "obj": ConfigError("x")}, bad / "pytorch_model.bin")
    with pytest.raises(ModelError, match="refusing to unpickle"):
        load_avere(bad)


@pytest.mark.slow
def test_run_on_emorealm_generation_and_ll_tasks(twin, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "emorealm", "run", "--model", "hf", "--model-args",
                           f"pretrained={twin}", "--batch-size", "2", "--tasks", "emorealm,emorealm_ll", "--limit", "2",
                           "--output", str(out)], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(next(out.rglob("results_*.json")).read_text())
    errors = res["emorealm"]["n_errors"]
    assert len(errors) == 10 and set(errors.values()) == {0}
    assert res["emorealm"]["architecture"] == "avere"
