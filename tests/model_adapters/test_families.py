"""Every model family the HF adapter claims, through its tiny twin: the CLI run with zero errors,
what the model accepts reaching it, modalities recorded, bad input refused up front, and inputs
prepared ahead giving the very results prepared in series."""

from __future__ import annotations

import glob
import json
import math

import numpy as np
import pytest
import torch
from lm_eval.api.instance import Instance

from emorealm.errors import ConfigError, ModelError
from emorealm.media.synth import write_av_clip

from support.docs import media_doc

FAMILIES = ["qwen2_5_omni", "qwen3_omni_moe", "gemma3n", "phi4_multimodal", "video_llava", "llava_onevision",
            "qwen2_5_vl", "qwen3_vl", "internvl", "qwen2_audio", "voxtral"]
# what each family's processor declares, and how the clip's video reaches it
ACCEPTS = {"qwen2_5_omni": ("video", "audio"), "qwen3_omni_moe": ("video", "audio"),
           "gemma3n": ("video", "audio"), "phi4_multimodal": ("video", "audio"), "video_llava": ("video",),
           "llava_onevision": ("video",), "qwen2_5_vl": ("video",), "qwen3_vl": ("video",), "internvl": ("video",),
           "qwen2_audio": ("audio",), "voxtral": ("audio",)}
AS_IMAGES = {"gemma3n", "phi4_multimodal"}


@pytest.fixture(scope="session")
def twins(tmp_path_factory):
    """Each family's tiny twin, built once per session (``python -m emorealm tiny-model``'s builders)."""
    from emorealm.model_adapters.tiny_models import build

    root = tmp_path_factory.mktemp("twins")
    return {arch: build(arch, root / arch, seed=0) for arch in FAMILIES}


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return str(write_av_clip(tmp_path_factory.mktemp("fam-media") / "c.mp4", seconds=2.0, seed=5))


def _doc(clip, task="t"):
    return media_doc(clip, doc_id="d1", task=task)


@pytest.mark.slow
@pytest.mark.parametrize("arch", FAMILIES)
def test_cli_run_of_every_family_has_zero_errors_and_records_modalities(arch, twins, sample_root, tmp_path):
    from emorealm.cli import main

    rc = main(["run", "--model", "hf", "--model-args", f"pretrained={twins[arch]}", "--tasks", "emorealm,emorealm_ll",
               "--limit", "2", "--output", str(tmp_path)])
    assert rc == 0
    res = json.loads(open(glob.glob(str(tmp_path / "*" / "results_*.json"))[0]).read())
    meta = res["emorealm"]
    assert len(meta["n_errors"]) == 10 and set(meta["n_errors"].values()) == {0}
    assert meta["architecture"] == arch and meta["smoke_test"] is True
    accepts = ACCEPTS[arch]
    video_label = "video (as 8 frames)" if arch in AS_IMAGES else "video"
    assert meta["modalities"]["accepted"] == [video_label if m == "video" else m for m in accepts]
    assert meta["media"]["video_as"] == ("images" if arch in AS_IMAGES else "video")
    # the _ll variant of a task counts under the same doc task name as its generation twin
    for task in ("reasoning_basic_video", "modality_agreement"):
        given, not_given = meta["modalities"]["given"][task], meta["modalities"]["not_given"].get(task, {})
        n = max(given.values())  # 2 generation + 2 log-likelihood questions
        assert n == 4 and given == {video_label if m == "video" else m: n for m in accepts}
        assert not_given == {m: n for m in ("video", "audio") if m not in accepts}
    if arch in AS_IMAGES:
        assert meta["media"]["image_frames"] == 8 and meta["media"]["frame_rule"] == "uniform"


def _logits(lm, doc, override=None):
    lm.media_transform = None if override is None else (lambda d, media: override(media))
    try:
        inputs = lm._inputs(doc, "Which emotion?")
    finally:
        lm.media_transform = None
    with torch.inference_mode():
        out = lm.model(**lm._to_device(inputs.model_kwargs()))
    return out.logits[0, -1].float()


@pytest.mark.parametrize("arch", FAMILIES)
def test_frames_and_audio_reach_the_model_iff_it_accepts_them(arch, twins, clip):
    from emorealm.model_adapters.hf import HFAdapter

    lm = HFAdapter(pretrained=str(twins[arch]), prefetch=0)
    assert lm.arch.accepts == ACCEPTS[arch]
    assert lm.arch.video_as == ("images" if arch in AS_IMAGES else "video")
    doc = _doc(clip)
    base = _logits(lm, doc)
    again = _logits(lm, doc)
    assert torch.equal(base, again)  # deterministic: any difference below comes from the media
    rng = np.random.default_rng(0)
    frames = _logits(lm, doc, lambda m: {"frames": rng.integers(0, 256, m.frames.shape, dtype=np.uint8)})
    audio = _logits(lm, doc, lambda m: {"audio": (0.5 * rng.standard_normal(m.audio.shape)).astype(np.float32)})
    assert (not torch.allclose(base, frames, atol=1e-6)) == ("video" in ACCEPTS[arch])
    assert (not torch.allclose(base, audio, atol=1e-6)) == ("audio" in ACCEPTS[arch])


def test_frames_as_images_picks_n_frames_by_rule():
    from emorealm.model_adapters.frames_as_images import frame_indices

    assert frame_indices(16, 4, "uniform") == [2, 6, 10, 14]
    assert frame_indices(16, 4, "linspace") == [0, 5, 10, 15]
    assert frame_indices(3, 8) == [0, 1, 2]
    with pytest.raises(ConfigError, match="frame_rule"):
        frame_indices(4, 2, "random")


def test_frames_as_images_gives_n_frames_and_the_audio(twins, clip):
    from emorealm.model_adapters.hf import HFAdapter

    lm = HFAdapter(pretrained=str(twins["gemma3n"]), image_frames=6, frame_rule="linspace")
    inputs = lm._inputs(_doc(clip, "g"), "Which emotion?")
    assert tuple(inputs.features["pixel_values"].shape[:1]) == (6,)  # one image per frame
    n_image_tokens = int((inputs.features["input_ids"] == lm.processor.image_token_id).sum())
    assert n_image_tokens == 6 * lm.processor.image_seq_length
    assert int((inputs.features["input_ids"] == lm.processor.audio_token_id).sum()) == lm.processor.audio_seq_length
    meta = lm.emorealm_metadata()
    assert meta["modalities"]["given"]["g"] == {"video (as 6 frames)": 1, "audio": 1}
    assert meta["media"]["max_seconds"] == 30.0  # Gemma 3n's audio window


def test_bad_input_is_refused_before_the_run(twins, tmp_path, monkeypatch):
    from emorealm.model_adapters.hf import HFAdapter

    with pytest.raises(ConfigError, match=r"image_frames=5000 but gemma3n .* holds at most \d+ images.*image_frames"):
        HFAdapter(pretrained=str(twins["gemma3n"]), image_frames=5000)
    with pytest.raises(ConfigError, match="modalities=video but .* accepts only audio"):
        HFAdapter(pretrained=str(twins["qwen2_audio"]), modalities="video")
    with pytest.raises(ConfigError, match="modalities=audio but .* accepts only video"):
        HFAdapter(pretrained=str(twins["internvl"]), modalities="audio")
    with pytest.raises(ConfigError, match=r"modalities=video but .* \(voxtral\) accepts only audio; change modalities="):
        HFAdapter(pretrained=str(twins["voxtral"]), modalities="video")
    # a processor with no image, video or audio part: the tokenizer alone
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(twins["qwen2_5_vl"])
    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", lambda *a, **k: tok)
    with pytest.raises(ModelError, match="no video processor, image processor or audio feature extractor"):
        HFAdapter(pretrained=str(twins["qwen2_5_vl"]))


def test_a_family_that_cannot_work_says_why_before_loading(tmp_path, monkeypatch):
    import dataclasses

    from transformers import VoxtralConfig

    from emorealm.model_adapters import hf_models
    from emorealm.model_adapters.hf import HFAdapter

    VoxtralConfig().save_pretrained(tmp_path)
    monkeypatch.setitem(hf_models.FAMILIES, "voxtral",
                        dataclasses.replace(hf_models.FAMILIES["voxtral"], unsupported="no way to give it audio"))
    with pytest.raises(ModelError, match="cannot run 'voxtral': no way to give it audio"):
        HFAdapter(pretrained=str(tmp_path))


def test_a_family_whose_processor_needs_a_missing_package_says_so_before_loading(tmp_path, monkeypatch):
    import importlib.util

    from transformers import VoxtralConfig

    from emorealm.model_adapters.hf import HFAdapter

    VoxtralConfig().save_pretrained(tmp_path)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mistral_common" else real(name, *a))
    with pytest.raises(ModelError, match=r"'voxtral' checkpoints need the mistral_common package.*emorealm\[voxtral\]"):
        HFAdapter(pretrained=str(tmp_path))


def _requests(clip, missing):
    docs = [{**_doc(clip, "p"), "id": f"d{k}"} for k in range(4)]
    docs[2] = {**docs[2], "media": {"video": missing, "audio": None, "audio_source": "video"}}
    gen = [Instance("generate_until", d, ("Which emotion?", {"max_gen_toks": 4}), k, task_name="p", doc_id=k)
           for k, d in enumerate(docs)]
    ll = [Instance("loglikelihood", d, ("Which emotion?", o), k, task_name="p", doc_id=k)
          for k, d in enumerate(docs) for o in ("A", " B")]
    return gen, ll


def test_prepared_ahead_equals_prepared_in_series(twins, clip, tmp_path):
    from emorealm.model_adapters.hf import HFAdapter

    results = []
    for prefetch in (0, 2):
        lm = HFAdapter(pretrained=str(twins["qwen2_5_vl"]), prefetch=prefetch, batch_size=2)
        gen, ll = _requests(clip, str(tmp_path / "missing.mp4"))
        results.append((lm.generate_until(gen), lm.loglikelihood(ll), lm.n_errors,
                        lm.emorealm_metadata()["modalities"]))
    (g0, l0, e0, m0), (g1, l1, e1, m1) = results
    assert g0 == g1 and e0 == e1 == 2 and m0 == m1
    assert g0[2].startswith("<<emorealm-error:MediaError>>")
    assert [math.isnan(a) for a, _ in l0] == [math.isnan(a) for a, _ in l1] == [k // 2 == 2 for k in range(8)]
    assert [a for a, _ in l0 if not math.isnan(a)] == [a for a, _ in l1 if not math.isnan(a)]


def test_prefetcher_keeps_order_bounds_lookahead_and_reraises_in_place():
    import threading

    from emorealm.model_adapters.prefetch import Prefetcher

    started, lock = [], threading.Lock()

    def build(k):
        with lock:
            started.append(k)
        if k == 3:
            raise ValueError("bad 3")
        return k * 10

    pre = Prefetcher(build, [(k,) for k in range(6)], depth=2)
    try:
        assert pre.get(0) == 0
        assert max(started) <= 2  # never more than depth ahead of the consumer
        assert [pre.get(k) for k in (1, 2)] == [10, 20]
        with pytest.raises(ValueError, match="bad 3"):
            pre.get(3)
        assert [pre.get(k) for k in (4, 5)] == [40, 50]
    finally:
        pre.close()


def test_tiny_model_command_is_seeded_and_loads_with_from_pretrained(tmp_path, capsys):
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoProcessor

    from emorealm.cli import main

    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        assert main(["tiny-model", "--arch", "internvl", str(tmp_path / name), "--seed", str(seed)]) == 0
    assert str(tmp_path / "c") in capsys.readouterr().out
    w = {n: load_file(tmp_path / n / "model.safetensors") for n in "abc"}
    assert all(torch.equal(w["a"][k], w["b"][k]) for k in w["a"])
    assert any(not torch.equal(w["a"][k], w["c"][k]) for k in w["a"])
    assert AutoConfig.from_pretrained(tmp_path / "a").model_type == "internvl"
    proc = AutoProcessor.from_pretrained(tmp_path / "a")
    assert type(proc).__name__ == "InternVLProcessor" and proc.chat_template
    assert main(["tiny-model", "--arch", "nope", str(tmp_path / "d")]) == 2


def test_adapters_listing_prints_the_families(capsys):
    from emorealm.cli import main

    assert main(["adapters", "--families", "--json"]) == 0
    rows = {r["model_type"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(FAMILIES) | {"voxtral"} <= set(rows)
    assert rows["gemma3n"]["modalities"] == "video (as frames) + audio"
    assert rows["voxtral"]["hf"] == "supported" and rows["voxtral"]["modalities"] == "audio"
    assert rows["voxtral"]["loglikelihood"] == "yes" and rows["voxtral"]["vllm"].startswith("not supported")
    assert rows["video_llava"]["vllm"].startswith("not supported")
    assert main(["adapters", "--families"]) == 0
    out = capsys.readouterr().out
    assert "model families" in out and "phi4_multimodal" in out and "emorealm-hf" not in out
