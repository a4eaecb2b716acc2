"""Collation and forward passes: real media in training batches, corrupted and text-only contexts
built as declared, per-row skips, and the shared-media batched forward equal to naive forwards."""

from __future__ import annotations

import pytest
import torch

from emorealm.media.decode import MediaSpec, load_media
from emorealm.model_adapters.inputs import append_continuation, build_inputs
from emorealm.training.collate import PreferenceCollator
from emorealm.training.data import load_preferences
from emorealm.training.forward import encode_media, sequence_logps, split_logps
from emorealm.training.loss import SEQUENCES, LossConfig

from support.train_launch import write_prefs

SPEC = MediaSpec(max_frames=4)


@pytest.fixture(scope="module")
def tiny():
    from transformers import AutoProcessor, Qwen2_5OmniThinkerForConditionalGeneration

    from emorealm.model_adapters.tiny_models.omni import ensure_tiny_omni

    d = ensure_tiny_omni()
    return Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(d).eval(), AutoProcessor.from_pretrained(d)


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    rows, _ = load_preferences(write_prefs(tmp_path_factory.mktemp("prefs"), 4, seed=3))
    return rows


def test_training_batches_carry_media(tiny, rows):
    """TRL's DPOTrainer silently trains text-only on such rows; ours must carry video and audio."""
    _, proc = tiny
    batch = PreferenceCollator(proc, SPEC, LossConfig(debias_form="margin"))(rows[:2])
    assert batch.n_rows == 2 and not batch.skipped
    assert set(batch.names()) == set(SEQUENCES) and len(batch.sequences) == 2 * len(SEQUENCES)
    for ctx, kind in zip(batch.contexts, batch.context_kinds, strict=True):
        f = ctx.features
        if kind in ("clean", "corrupt"):
            assert f["pixel_values_videos"].numel() > 0 and f["input_features"].numel() > 0
            assert ctx.modalities == ("video", "audio")
        else:  # the text-only pass really runs without media
            assert "pixel_values_videos" not in f and "input_features" not in f and ctx.modalities == ()
    clean, corrupt = batch.contexts[0].features, batch.contexts[1].features
    # the rows are about the audio: c~ replaces the audio and keeps the frames
    assert torch.equal(clean["pixel_values_videos"], corrupt["pixel_values_videos"])
    assert not torch.equal(clean["input_features"], corrupt["input_features"])
    # row 0 names audio_l (the other emotion's cue); rows without it get seeded noise, recorded
    assert batch.corruptions[0]["audio"].startswith("audio_l:")
    rows_noise = [r for r in rows if r.audio_l is None]
    b2 = PreferenceCollator(proc, SPEC, LossConfig(debias_form="margin"), seed=5)(rows_noise[:1])
    assert b2.corruptions[0]["audio"].startswith("noise(seed=")
    # the corrupted context equals build_inputs with that audio (the evaluation path), so it is reproducible
    b3 = PreferenceCollator(proc, SPEC, LossConfig(debias_form="margin"), seed=5)(rows_noise[:1])
    assert torch.equal(b2.contexts[1].features["input_features"], b3.contexts[1].features["input_features"])
    # and the clean context is exactly what evaluation builds for this clip and prompt
    ref = build_inputs(proc, load_media(rows[0].media(), SPEC), rows[0].prompt, SPEC)
    assert torch.equal(ref.features["input_ids"], clean["input_ids"])
    assert torch.equal(ref.features["pixel_values_videos"], clean["pixel_values_videos"])


def test_video_prompt_corrupts_video(tiny, rows):
    _, proc = tiny
    row = rows[1]
    row_v = type(row)(**{**row.__dict__, "modality": "video", "id": "v"})
    b = PreferenceCollator(proc, SPEC, LossConfig(debias=False, debias_form="margin"))([row_v])
    assert b.context_kinds == ["clean", "corrupt"]
    c, k = b.contexts[0].features, b.contexts[1].features
    assert not torch.equal(c["pixel_values_videos"], k["pixel_values_videos"])
    assert torch.equal(c["input_features"], k["input_features"])


def test_bad_rows_are_counted_and_skipped(tiny, rows, tmp_path):
    _, proc = tiny
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 garbage")
    bad_clip = type(rows[0])(**{**rows[0].__dict__, "video": str(broken), "id": "broken"})
    same = type(rows[1])(**{**rows[1].__dict__, "chosen": "The voice sounds happy indeed.",
                             "rejected_vr": "The voice sounds happy really.", "id": "trunc"})
    col = PreferenceCollator(proc, SPEC, LossConfig(debias_form="margin"))
    b = col([bad_clip, rows[2]])
    assert b.row_ids == [rows[2].id] and dict(b.skipped) == {"clip failed to decode": 1}
    col3 = PreferenceCollator(proc, SPEC, LossConfig(debias_form="margin"), max_completion_length=3)
    b = col3([same])
    assert b.row_ids == [] and b.sequences == []
    assert any("identical after tokenisation/truncation" in k for k in col3.skipped)
    assert col3.completion_ids("The voice sounds happy indeed.")[-1] == col3.eos_id


def test_shared_media_forward_equals_naive_full_forwards(tiny, rows):
    model, proc = tiny
    batch = PreferenceCollator(proc, SPEC, LossConfig(debias_form="margin"))(rows[:2])
    with torch.no_grad():
        ours = sequence_logps(model, batch)
        padded = sequence_logps(model, batch, prefix_reuse=False)  # full rows in one padded batch
        shared = sequence_logps(model, batch, encode_media(model, batch, torch.device("cpu")))
        naive = []
        for s in batch.sequences:  # one full forward per sequence, media re-encoded each time
            ctx = batch.contexts[s.context]
            logits = model(**append_continuation(ctx, s.completion).model_kwargs()).logits[0].float()
            p, n = ctx.prompt_length, len(s.completion)
            lp = torch.log_softmax(logits[p - 1:p - 1 + n], -1)
            naive.append(lp.gather(1, torch.tensor(s.completion)[:, None]).sum())
    naive = torch.stack(naive)
    assert ours.dtype == torch.float32
    assert torch.allclose(ours, naive, atol=1e-4, rtol=1e-6), (ours - naive).abs().max()
    assert torch.allclose(padded, naive, atol=1e-4, rtol=1e-6), (padded - naive).abs().max()
    assert torch.equal(ours, shared)
    split = split_logps(batch, ours)
    assert split["chosen"].shape == (2,)
    assert torch.equal(split["chosen"], ours[[i for i, s in enumerate(batch.sequences) if s.name == "chosen"]])
    # the corrupted input changes the chosen response's likelihood; the text-only one too
    assert not torch.allclose(split["chosen"], split["chosen_corrupt"])
    assert not torch.allclose(split["chosen"], split["chosen_text"])


def test_gradients_reach_the_language_model_through_the_batched_forward(tiny, rows):
    model, proc = tiny
    batch = PreferenceCollator(proc, SPEC, LossConfig(modality=False, debias=False, debias_form="margin"))(rows[:1])
    model.zero_grad()
    sequence_logps(model, batch).sum().backward()
    w = model.model.language_model.layers[0].self_attn.q_proj.weight
    assert w.grad is not None and w.grad.abs().sum() > 0
    model.zero_grad()
