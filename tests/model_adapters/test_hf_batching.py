"""Batched generation in the HF adapter: left-padded batches give what one-at-a-time runs give."""

from __future__ import annotations

import functools
import math

import pytest
import torch
from lm_eval.api.instance import Instance

from emorealm.errors import ModelError, clear_sample_errors, parse_error_response
from emorealm.media.decode import load_media
from emorealm.media.synth import tone, write_av_clip, write_wav
from emorealm.model_adapters.inputs import ModelInputs, build_inputs, collate_inputs
from emorealm.model_adapters.prefix import reset_rope_deltas

PROMPTS = ["What emotion?", "Which emotion does the speaker show? (A) joy (B) anger (C) fear",
           "Yes or no?", "Describe the person's face and voice, then name the emotion.", "Q"]


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    d = tmp_path_factory.mktemp("batchclips")
    out = []
    for i in range(len(PROMPTS)):  # clips of different lengths: different token counts per sample
        clip = write_av_clip(d / f"{i}.mp4", seconds=1.0 + 0.5 * i, size=(64, 48), seed=i, tone_hz=200.0 + 90 * i)
        out.append({"id": f"q{i}", "_task": "t", "media": {"video": str(clip), "audio": None, "audio_source": "video"}})
    return out


def _requests(docs, **gk):
    return [Instance("generate_until", doc, (p, {"until": [], "max_gen_toks": 8, **gk}), i)
            for i, (doc, p) in enumerate(zip(docs, PROMPTS, strict=False))]


@pytest.fixture()
def spy_generate(hf_adapter, monkeypatch):
    """Batch sizes of the adapter's calls to ``model.generate``."""
    calls: list[int] = []
    orig = hf_adapter.model.generate

    def spy(**kw):
        calls.append(int(kw["input_ids"].shape[0]))
        return orig(**kw)

    monkeypatch.setattr(hf_adapter.model, "generate", spy)
    monkeypatch.setattr(hf_adapter, "batch_size", 1)
    return calls


def test_collate_left_pads_tokens_and_concatenates_media():
    a = ModelInputs({"input_ids": torch.tensor([[5, 6, 7]]), "attention_mask": torch.ones(1, 3, dtype=torch.long),
                     "pixel_values_videos": torch.ones(4, 2), "video_grid_thw": torch.tensor([[1, 2, 2]]),
                     "input_features": torch.ones(1, 2, 3), "feature_attention_mask": torch.ones(1, 3)},
                    3, True, ("video", "audio"))
    b = ModelInputs({"input_ids": torch.tensor([[8]]), "attention_mask": torch.ones(1, 1, dtype=torch.long),
                     "pixel_values_videos": torch.full((2, 2), 2.0), "video_grid_thw": torch.tensor([[1, 1, 2]]),
                     "input_features": torch.full((1, 2, 5), 3.0), "feature_attention_mask": torch.ones(1, 5)},
                    1, True, ("video", "audio"))
    batch = collate_inputs([a, b], pad_token_id=0)
    f = batch.features
    assert f["input_ids"].tolist() == [[5, 6, 7], [0, 0, 8]]
    assert f["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]
    assert f["pixel_values_videos"].tolist() == [[1, 1]] * 4 + [[2, 2]] * 2
    assert f["video_grid_thw"].tolist() == [[1, 2, 2], [1, 1, 2]]
    assert f["input_features"].shape == (2, 2, 5) and f["input_features"][0, :, 3:].abs().sum() == 0
    assert f["feature_attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch.prompt_length == 3 and batch.model_kwargs()["use_audio_in_video"] is True
    c = ModelInputs({**b.features}, 1, False, ("video", "audio"))
    with pytest.raises(ModelError, match="cannot share a batch"):
        collate_inputs([a, c], pad_token_id=0)


def test_batched_forward_equals_single_forwards(hf_adapter, docs):
    """Independent check of padding, mRoPE positions and media order: each row's last-position
    logits in one left-padded batch equal that sample's own forward (float32, 1e-4)."""
    items = [build_inputs(hf_adapter.processor, load_media(d["media"], hf_adapter.spec), p, hf_adapter.spec)
             for d, p in zip(docs, PROMPTS, strict=True)]
    assert len({it.prompt_length for it in items}) == len(items)  # really different lengths
    model = hf_adapter.model
    with torch.inference_mode():
        singles = [model(**it.model_kwargs()).logits[0, -1] for it in items]
        reset_rope_deltas(model)
        batched = model(**collate_inputs(items, hf_adapter._pad_id()).model_kwargs()).logits[:, -1]
    for row, single in enumerate(singles):
        torch.testing.assert_close(batched[row], single, atol=1e-4, rtol=0)
    assert (singles[0] - singles[1]).abs().max() > 1e-3  # the samples' logits do differ


def test_generate_until_batches_and_matches_one_at_a_time(hf_adapter, docs, spy_generate):
    one = hf_adapter.generate_until(_requests(docs))
    assert spy_generate == [1] * len(docs)
    spy_generate.clear()
    hf_adapter.batch_size = 2
    two = hf_adapter.generate_until(_requests(docs))
    assert spy_generate == [2, 2, 1]
    assert two == one
    spy_generate.clear()
    hf_adapter.batch_size = 8
    assert hf_adapter.generate_until(_requests(docs)) == one and spy_generate == [len(docs)]


def test_a_failing_sample_does_not_fail_its_batch(hf_adapter, docs, spy_generate, tmp_path):
    clear_sample_errors()
    bad = {"id": "bad", "_task": "t", "media": {"video": str(tmp_path / "missing.mp4"), "audio": None}}
    reqs = _requests(docs)
    reqs[2] = Instance("generate_until", bad, reqs[2].args, 2)
    hf_adapter.batch_size = 8
    out = hf_adapter.generate_until(reqs)
    err = parse_error_response(out[2])
    assert err is not None and err.kind == "MediaError"
    assert spy_generate == [len(docs) - 1]
    hf_adapter.batch_size = 1
    singles = hf_adapter.generate_until([r for i, r in enumerate(reqs) if i != 2])
    assert [o for i, o in enumerate(out) if i != 2] == singles


def test_batch_error_reruns_one_at_a_time(hf_adapter, docs, spy_generate, monkeypatch):
    """A per-sample error raised by a batched call (e.g. out of memory) costs only its culprit."""
    clear_sample_errors()
    gen = hf_adapter.model.generate

    def flaky(**kw):
        if kw["input_ids"].shape[0] > 1 or kw["input_ids"].shape[1] == culprit_len:
            raise torch.OutOfMemoryError("simulated out of memory")
        return gen(**kw)

    culprit = build_inputs(hf_adapter.processor, load_media(docs[1]["media"], hf_adapter.spec), PROMPTS[1],
                           hf_adapter.spec)
    culprit_len = culprit.prompt_length
    monkeypatch.setattr(hf_adapter.model, "generate", flaky)
    hf_adapter.batch_size = 8
    out = hf_adapter.generate_until(_requests(docs))
    errors = [i for i, o in enumerate(out) if parse_error_response(o) is not None]
    assert errors == [1]
    err = parse_error_response(out[1])
    assert err.kind == "ModelError" and "ran out of memory on 1 sample(s)" in err.message


def test_a_bug_in_a_model_call_stops_the_batch(hf_adapter, docs, monkeypatch):
    """Anything but an emorealm error (here a shape-mismatch RuntimeError) is a bug: it propagates
    instead of being recorded as a per-sample error on every request."""
    clear_sample_errors()

    def broken(**kw):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (simulated bug)")

    monkeypatch.setattr(hf_adapter.model, "generate", broken)
    hf_adapter.batch_size = 8
    with pytest.raises(RuntimeError, match="simulated bug"):
        hf_adapter.generate_until(_requests(docs))


def test_mixed_modalities_split_into_separate_calls(hf_adapter, docs, spy_generate, tmp_path):
    wav = write_wav(tmp_path / "side.wav", tone(1.0, 16000, 300.0))
    audio_only = {"id": "ao", "_task": "t", "media": {"video": None, "audio": str(wav), "audio_source": "sidecar"}}
    reqs = _requests(docs[:2]) + [Instance("generate_until", audio_only, ("What emotion?", {"until": [],
                                                                                            "max_gen_toks": 8}), 9)]
    hf_adapter.batch_size = 8
    out = hf_adapter.generate_until(reqs)
    assert sorted(spy_generate) == [1, 2]
    hf_adapter.batch_size = 1
    assert hf_adapter.generate_until(reqs) == out


def test_sampling_runs_one_at_a_time_and_is_reproducible(hf_adapter, docs, spy_generate):
    hf_adapter.sample_seed = 1234
    try:
        hf_adapter.batch_size = 4
        first = hf_adapter.generate_until(_requests(docs, temperature=1.0))
        assert spy_generate == [1] * len(docs)
        hf_adapter.batch_size = 1
        again = hf_adapter.generate_until(list(reversed(_requests(docs, temperature=1.0))))
        assert list(reversed(again)) == first
    finally:
        hf_adapter.sample_seed = None


def _ll_requests(docs, options=("A", "B", "C")):
    return [Instance("loglikelihood", doc, (p, f" {o}"), k, (doc["_task"], i, 1))
            for i, (doc, p) in enumerate(zip(docs, PROMPTS, strict=False)) for k, o in enumerate(options)]


@pytest.fixture()
def spy_forward(hf_adapter, monkeypatch):
    """Batch sizes of the adapter's model forwards."""
    calls: list[int] = []
    model = hf_adapter.model
    orig = type(model).forward

    @functools.wraps(orig)  # keeps forward's signature, which prefix scoring inspects
    def spy(self, *args, **kw):
        calls.append(int(kw["input_ids"].shape[0]))
        return orig(self, *args, **kw)

    monkeypatch.setattr(type(model), "forward", spy)
    monkeypatch.setattr(hf_adapter, "batch_size", 1)
    return calls


def test_single_token_options_of_several_questions_share_a_forward(hf_adapter, docs, spy_forward):
    assert all(len(hf_adapter.tokenizer(f" {o}", add_special_tokens=False)["input_ids"]) == 1 for o in "ABC")
    one = hf_adapter.loglikelihood(_ll_requests(docs))
    assert spy_forward == [1] * len(docs)  # one prefix pass per question, no option pass
    spy_forward.clear()
    hf_adapter.batch_size = 2
    two = hf_adapter.loglikelihood(_ll_requests(docs))
    assert spy_forward == [2, 2, 1]
    for (a, ga), (b, gb) in zip(one, two, strict=True):
        assert abs(a - b) < 1e-4 and ga == gb
    assert len({round(a, 3) for a, _ in one}) > len(docs)  # the scores do depend on the question


def test_multi_token_options_fall_back_to_prefix_scoring(hf_adapter, docs, spy_forward):
    opts = ("A", "happiness and joy", "sadness, then fear")
    one = hf_adapter.loglikelihood(_ll_requests(docs[:3], opts))
    spy_forward.clear()
    hf_adapter.batch_size = 3
    three = hf_adapter.loglikelihood(_ll_requests(docs[:3], opts))
    assert spy_forward == [1, 2] * 3  # per question: prefix pass, then one pass of the two multi-token options
    for (a, _), (b, _) in zip(one, three, strict=True):
        assert abs(a - b) < 1e-4


def test_a_failing_question_does_not_fail_its_scoring_batch(hf_adapter, docs, spy_forward, tmp_path):
    clear_sample_errors()
    bad = {"id": "bad", "_task": "t", "media": {"video": str(tmp_path / "missing.mp4"), "audio": None}}
    reqs = _ll_requests([docs[0], bad, docs[2]])
    hf_adapter.batch_size = 4
    out = hf_adapter.loglikelihood(reqs)
    assert all(math.isnan(a) for a, _ in out[3:6]) and not any(math.isnan(a) for a, _ in out[:3] + out[6:])
    assert spy_forward == [2]
