"""Diagnostics on tiny-omni: ablated inputs the model sees, likelihood shift, attention share."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from emorealm.benchmarks.emorealm import build_prompt, load_docs
from emorealm.diagnostics.ablations import Ablation, clip_media_map, derangement, fit_audio, fit_frames
from emorealm.diagnostics.attention import (
    TYPES,
    AttentionUnsupported,
    EagerAttention,
    answer_attention_share,
)
from emorealm.diagnostics.likelihood import Probe, probe_logps
from emorealm.media.decode import load_media
from emorealm.model_adapters.inputs import append_continuation, build_inputs


@pytest.fixture(scope="module")
def lm(hf_adapter):
    """The session's tiny-omni HF adapter (tests/conftest.py); every test here leaves its
    media_transform unset and its attention implementation as it found it."""
    return hf_adapter


@pytest.fixture(scope="module")
def docs(sample_root):
    return load_docs("modality_agreement", data_root=str(sample_root))


@pytest.fixture(scope="module")
def swap(docs):
    media = clip_media_map(docs)
    return {"swap_map": derangement(media, seed=0), "clip_media": media}


def _inputs(lm, doc, ablation=None):
    lm.media_transform = ablation
    try:
        return lm.model_inputs(doc, build_prompt(doc)).features
    finally:
        lm.media_transform = None


def _direct(lm, doc, override):
    """Features built here from the decoded media and an explicit override (independent of Ablation)."""
    media = load_media(doc["media"], lm.spec)
    return build_inputs(lm.processor, media, build_prompt(doc), lm.spec, media_override=override).features


def _same(a, b):
    return a.shape == b.shape and torch.equal(a, b)


def test_ablations_change_what_the_model_sees(lm, docs, swap):
    doc = docs[0]
    media = load_media(doc["media"], lm.spec)
    intact = _inputs(lm, doc)
    assert _same(intact["input_ids"], _direct(lm, doc, None)["input_ids"])
    audio_ids = (intact["input_ids"] == lm.model.config.audio_token_index).sum()
    assert audio_ids > 0

    silent = _inputs(lm, doc, Ablation("no_audio", lm.spec))
    assert not _same(silent["input_features"], intact["input_features"])
    assert _same(silent["input_features"], _direct(lm, doc, {"audio": np.zeros_like(media.audio)})["input_features"])
    assert _same(silent["pixel_values_videos"], intact["pixel_values_videos"])

    black = _inputs(lm, doc, Ablation("no_video", lm.spec))
    assert not _same(black["pixel_values_videos"], intact["pixel_values_videos"])
    expected = _direct(lm, doc, {"frames": np.zeros_like(media.frames)})["pixel_values_videos"]
    assert _same(black["pixel_values_videos"], expected)
    assert _same(black["input_features"], intact["input_features"])

    dropped = _inputs(lm, doc, Ablation("no_audio", lm.spec, removal="drop"))
    assert (dropped["input_ids"] == lm.model.config.audio_token_index).sum() == 0
    assert "input_features" not in dropped
    no_vid = _inputs(lm, doc, Ablation("no_video", lm.spec, removal="drop"))
    assert (no_vid["input_ids"] == lm.model.config.video_token_index).sum() == 0
    assert "pixel_values_videos" not in no_vid and _same(no_vid["input_features"], intact["input_features"])

    donor_clip = swap["swap_map"][doc["clip_id"]]
    assert donor_clip != doc["clip_id"]
    donor = load_media(swap["clip_media"][donor_clip], lm.spec)
    sa = _inputs(lm, doc, Ablation("swap_audio", lm.spec, **swap))
    assert not _same(sa["input_features"], intact["input_features"])
    assert _same(sa["input_features"],
                 _direct(lm, doc, {"audio": fit_audio(donor.audio, media.audio.size)})["input_features"])
    assert _same(sa["pixel_values_videos"], intact["pixel_values_videos"])
    assert _same(sa["input_ids"], intact["input_ids"])  # same token layout: only the content changed

    sv = _inputs(lm, doc, Ablation("swap_video", lm.spec, **swap))
    assert _same(sv["pixel_values_videos"],
                 _direct(lm, doc, {"frames": fit_frames(donor.frames, media.frames)})["pixel_values_videos"])
    assert not _same(sv["pixel_values_videos"], intact["pixel_values_videos"])
    sb = _inputs(lm, doc, Ablation("swap_both", lm.spec, **swap))
    assert _same(sb["pixel_values_videos"], sv["pixel_values_videos"])
    assert _same(sb["input_features"], sa["input_features"])
    assert lm.media_transform is None


def _direct_logp(lm, doc, override, continuation):
    feats = build_inputs(lm.processor, load_media(doc["media"], lm.spec), build_prompt(doc), lm.spec,
                         media_override=override)
    ids = lm.tokenizer(continuation, add_special_tokens=False)["input_ids"]
    full = append_continuation(feats, ids)
    with torch.inference_mode():
        logits = lm.model(**full.model_kwargs()).logits[0].double()
    p = feats.prompt_length
    total = 0.0
    for k, tok in enumerate(ids):
        total += float(torch.log_softmax(logits[p - 1 + k], dim=-1)[tok])
    return total


def test_likelihood_shift_equals_a_direct_computation(lm, docs, swap):
    doc = docs[1]
    probe = Probe(1, "c", doc, build_prompt(doc), doc["answer"])
    intact = probe_logps(lm, [probe])[0]
    assert intact == pytest.approx(_direct_logp(lm, doc, None, doc["answer"]), abs=1e-4)
    ablation = Ablation("swap_audio", lm.spec, **swap)
    lm.media_transform = ablation
    try:
        ablated = probe_logps(lm, [probe])[0]
    finally:
        lm.media_transform = None
    media = load_media(doc["media"], lm.spec)
    direct = _direct_logp(lm, doc, ablation(doc, media), doc["answer"])
    assert ablated == pytest.approx(direct, abs=1e-4)
    assert intact - ablated == pytest.approx(_direct_logp(lm, doc, None, doc["answer"]) - direct, abs=2e-4)
    assert intact != ablated


def test_attention_shares_sum_to_one_and_match_output_attentions(lm, docs):
    doc = docs[0]
    prompt = build_prompt(doc)
    with pytest.raises(AttentionUnsupported):  # sdpa returns no weights
        answer_attention_share(lm, doc, prompt, "A")
    before = lm.model.config._attn_implementation
    with EagerAttention(lm.model):
        share = answer_attention_share(lm, doc, prompt, "A")
        prefix = lm.model_inputs(doc, prompt)
        ids = lm.tokenizer("A", add_special_tokens=False)["input_ids"]
        full = append_continuation(prefix, ids)
        with torch.inference_mode():
            out = lm.model(**full.model_kwargs(), output_attentions=True)
    assert lm.model.config._attn_implementation == before
    n_layers = lm.model.config.text_config.num_hidden_layers
    assert share.per_layer.shape == (n_layers, len(TYPES))
    assert np.allclose(share.per_layer.sum(axis=1), 1.0, atol=1e-5)
    input_ids = full.features["input_ids"][0].tolist()
    cfg = lm.model.config
    kinds = ["video" if t == cfg.video_token_index else "audio" if t == cfg.audio_token_index else "text"
             for t in input_ids]
    assert share.token_counts == {k: kinds.count(k) for k in TYPES}
    assert share.token_counts["video"] > 0 and share.token_counts["audio"] > 0
    p = prefix.prompt_length
    queries = range(p - 1, p - 1 + len(ids))
    for layer, att in enumerate(out.attentions):  # [1, heads, L, L] from transformers itself
        ref = {k: 0.0 for k in TYPES}
        heads = att.shape[1]
        for h in range(heads):
            for q in queries:
                for key, w in enumerate(att[0, h, q].tolist()):
                    ref[kinds[key]] += w / (heads * len(queries))
        assert [ref[k] for k in TYPES] == pytest.approx(share.per_layer[layer].tolist(), abs=1e-5)
    assert math.isclose(sum(share.mean), 1.0, abs_tol=1e-5)
