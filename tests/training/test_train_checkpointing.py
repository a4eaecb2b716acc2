"""Gradient checkpointing with the shared-prefix forward: the gradient of every trainable tensor
equals the one without checkpointing (float32), on tiny Qwen2.5-Omni and Qwen3-Omni."""

from __future__ import annotations

import pytest
import torch

from emorealm.media.decode import MediaSpec
from emorealm.model_adapters.architectures import architecture_of
from emorealm.training.collate import PreferenceCollator
from emorealm.training.data import load_preferences
from emorealm.training.forward import encode_media, sequence_logps, split_logps
from emorealm.training.loss import LossConfig, avem_dpo_loss
from emorealm.training.prefix_cache import enable_gradient_checkpointing

from support.train_launch import write_prefs


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    return load_preferences(write_prefs(tmp_path_factory.mktemp("prefs"), 2, seed=5))[0]


def _models(kind: str):
    if kind == "qwen2_5_omni":
        from emorealm.model_adapters.random_configs import qwen25_omni_thinker

        return qwen25_omni_thinker("tiny", seed=1)
    from emorealm.model_adapters.random_configs import tiny_qwen3_omni

    return tiny_qwen3_omni()


def _grads(model, batch, ref_logps):
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        media = encode_media(model, batch, torch.device("cpu"))
    pol = sequence_logps(model, batch, media)
    loss, _ = avem_dpo_loss(split_logps(batch, pol), ref_logps, LossConfig())
    loss.backward()
    return loss.detach(), {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("kind", ["qwen2_5_omni", "qwen3_omni_moe"])
def test_checkpointed_gradients_equal_plain_ones(kind, rows):
    model, proc = _models(kind)
    arch = architecture_of(model)
    for t in arch.towers(model):
        t.requires_grad_(False)
    col = PreferenceCollator(proc, MediaSpec(max_frames=4), LossConfig(),
                             max_completion_length=12, end_of_turn_id=arch.end_of_turn_id(proc.tokenizer))
    batch = col(rows)
    assert {batch.context_kinds[s.context] for s in batch.sequences} == {"clean", "corrupt", "text"}
    with torch.no_grad():  # a reference that differs from the policy: the loss is not trivially log 2
        ref = {k: v - 0.3 * (i + 1) for i, (k, v) in enumerate(split_logps(batch, sequence_logps(model, batch)).items())}
    model.train()
    loss0, g0 = _grads(model, batch, ref)
    enable_gradient_checkpointing(model, arch.decoder_layers(model))
    layer = arch.decoder_layers(model)[0]
    assert layer.gradient_checkpointing and layer.training
    calls = []
    hook = layer.self_attn.register_forward_hook(lambda *a: calls.append(1))
    loss1, g1 = _grads(model, batch, ref)
    hook.remove()
    assert torch.allclose(loss0, loss1, atol=1e-6)
    trainable = {k for k, p in model.named_parameters() if p.requires_grad}
    assert set(g0) == set(g1) and set(g0) <= trainable and any(k.startswith("model.language_model") for k in g0)
    for k in g0:
        assert torch.allclose(g0[k], g1[k], atol=1e-5, rtol=1e-4), (k, (g0[k] - g1[k]).abs().max())
    # the checkpointed layers really were replayed during backward (attention ran more often)
    n_passes = len(calls)
    calls.clear()
    hook = layer.self_attn.register_forward_hook(lambda *a: calls.append(1))
    (getattr(model, "activation_checkpointing_disable", None) or model.gradient_checkpointing_disable)()
    _grads(model, batch, ref)
    hook.remove()
    assert n_passes > len(calls)
