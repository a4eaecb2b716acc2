"""AVEm-DPO on the AVERE architecture (the tiny twin in the released layout) through the training
architecture interface: inputs equal evaluation's, shared-prefix log-probs equal full forwards,
gradient checkpointing changes no gradient, and 2 optimizer steps keep the towers and projectors
bit-identical, move the LLaMA, and save a checkpoint the harness evaluates."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import torch

from emorealm.media.decode import MediaSpec
from emorealm.model_adapters.architectures import architecture_for, architecture_of
from emorealm.training.collate import PreferenceCollator
from emorealm.training.data import load_preferences
from emorealm.training.forward import sequence_logps
from emorealm.training.loss import LossConfig

from support.train_launch import full_forward_logps, write_prefs

FROZEN = ("model.image_tower.", "model.video_tower.", "model.speech_tower.", "model.mm_projector.",
          "model.speech_projector.")


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    from emorealm.model_adapters.tiny_models import build

    return build("avere", tmp_path_factory.mktemp("avere_train") / "twin", 0)


@pytest.fixture(scope="module")
def prefs(tmp_path_factory):
    return write_prefs(tmp_path_factory.mktemp("avere_prefs"), 4, seed=3)


@pytest.fixture(scope="module")
def loaded(twin):
    arch = architecture_for(str(twin))
    model, proc = arch.load(str(twin))
    return arch, model, proc


def _batch(arch, proc, prefs, n=1):
    rows, _ = load_preferences(prefs)
    spec = arch.media_spec(MediaSpec(max_frames=16))
    return PreferenceCollator(proc, spec, LossConfig(debias_form="margin"), max_completion_length=12,
                              end_of_turn_id=arch.end_of_turn_id(proc.tokenizer))(rows[:n])


def test_the_twin_is_an_avere_training_architecture(loaded):
    arch, model, proc = loaded
    assert arch.name == "avere" and architecture_of(model) is not None
    assert proc.tokenizer.convert_ids_to_tokens(arch.end_of_turn_id(proc.tokenizer)) == "</s>"
    assert arch.media_spec(MediaSpec()).use_audio_in_video is False
    towers = {id(m) for m in arch.towers(model)}
    for name in ("image_tower", "video_tower", "speech_tower", "mm_projector", "speech_projector"):
        assert id(getattr(model.model, name)) in towers
    assert {id(m) for m in arch.projectors(model)} == {id(model.model.mm_projector), id(model.model.speech_projector)}
    # LoRA's scope: the LLaMA projections only, never the towers' CLIP/Whisper ones of the same names
    scope = re.compile(arch.lora_scope + r"(q_proj|v_proj)")
    hits = [n for n, _ in model.named_modules() if scope.fullmatch(n)]
    assert len(hits) == 2 * len(arch.decoder_layers(model)) and all(h.startswith("model.layers.") for h in hits)


def test_training_inputs_are_the_evaluation_inputs(loaded, prefs, twin):
    """The collator's clean context is what the HF adapter builds for the same clip and question."""
    from emorealm.model_adapters.hf import HFAdapter

    arch, _, proc = loaded
    batch = _batch(arch, proc, prefs)
    rows, _ = load_preferences(prefs)
    ctx = batch.contexts[batch.context_kinds.index("clean")]
    ids = ctx.features["input_ids"][0]
    assert int((ids == -200).sum()) == 8 * 257 and int((ids == -300).sum()) == 88
    text = proc.tokenizer.decode(ids[ids >= 0])
    assert "USER:" in text and text.rstrip().endswith("ASSISTANT:") and rows[0].prompt in text
    lm = HFAdapter(pretrained=str(twin))
    doc = {"id": "x", "_task": "t", "media": rows[0].media()}
    ev = lm._inputs(doc, rows[0].prompt)
    assert torch.equal(ev.features["input_ids"], ctx.features["input_ids"])
    assert torch.equal(ev.features["videos"], ctx.features["videos"])
    assert torch.equal(ev.features["audio_mel"], ctx.features["audio_mel"])
    # c~ replaces the audio the prompt is about (the row's audio_l), the frames stay
    bad = batch.contexts[batch.context_kinds.index("corrupt")]
    assert torch.equal(bad.features["videos"], ctx.features["videos"])
    assert not torch.equal(bad.features["audio_mel"], ctx.features["audio_mel"])


def test_prefix_logps_equal_full_forwards(loaded, prefs):
    arch, model, proc = loaded
    batch = _batch(arch, proc, prefs, n=2)
    with torch.no_grad():
        ours = sequence_logps(model, batch)
        padded = sequence_logps(model, batch, prefix_reuse=False)
        full = full_forward_logps(model, batch)
    assert len(full) == 2 * 7  # 3 responses on c, y_w on c~, 3 on the text-only context, per row
    assert torch.allclose(ours, full, atol=1e-5, rtol=0), (ours - full).abs().max()
    assert torch.allclose(padded, full, atol=1e-5, rtol=0), (padded - full).abs().max()


def test_gradient_checkpointing_gives_the_same_gradients(twin, prefs):
    from emorealm.training.prefix_cache import enable_gradient_checkpointing

    grads = []
    for ckpt in (False, True):
        arch = architecture_for(str(twin))
        model, proc = arch.load(str(twin))
        for m in arch.towers(model):
            m.requires_grad_(False)
        assert arch.supports_gradient_checkpointing(model)
        if ckpt:
            enable_gradient_checkpointing(model, arch.decoder_layers(model))
        model.train()
        sequence_logps(model, _batch(arch, proc, prefs)).sum().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and not any(k.startswith(FROZEN) for k in grads[0])
    assert "model.layers.0.self_attn.q_proj.weight" in grads[0]
    worst = max((grads[0][k] - grads[1][k]).abs().max().item() for k in grads[0])
    assert worst <= 1e-5, worst


def _frozen(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items() if k.startswith(FROZEN)}


def _trainer(twin, prefs, out, **over):
    from emorealm.training.config import config_from_dict
    from emorealm.training.trainer import Trainer

    cfg = {"model": str(twin), "data": str(prefs), "output_dir": str(out), "lora": {"r": 4, "alpha": 8},
           "train": {"batch_size": 2, "max_steps": 2, "lr": 5e-3, "max_completion_length": 12}, **over}
    return Trainer(config_from_dict(cfg))


@pytest.mark.slow
def test_lora_avem_dpo_trains_and_its_checkpoint_evaluates(twin, prefs, tmp_path):
    tr = _trainer(twin, prefs, tmp_path / "out")
    assert tr.arch.name == "avere"
    base = tr.acc.unwrap_model(tr.policy).model.get_base_model()
    trainable = {k for k, p in tr.policy_model.named_parameters() if p.requires_grad}
    assert trainable and all(".model.layers." in k and "lora_" in k for k in trainable)
    frozen = _frozen(base)
    lora = {k: p.detach().clone() for k, p in tr.policy_model.named_parameters() if p.requires_grad}
    res = tr.run()
    assert res.steps == 2 and {"response/loss", "modality/loss"} <= set(res.metrics[-1])
    after = _frozen(base)
    assert frozen.keys() == after.keys() and all(torch.equal(frozen[k], after[k]) for k in frozen)
    now = dict(tr.policy_model.named_parameters())
    assert sum(not torch.equal(lora[k], now[k]) for k in lora) >= len(lora) // 2
    out = tmp_path / "out"
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(twin.resolve())
    ev = tmp_path / "eval"
    proc = subprocess.run([sys.executable, "-m", "emorealm", "run", "--model", "hf", "--model-args", f"pretrained={out}",
                           "--tasks", "emorealm,emorealm_ll", "--limit", "2", "--output", str(ev)],
                          capture_output=True, text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    res_json = json.loads(next(ev.rglob("results_*.json")).read_text())
    errors = res_json["emorealm"]["n_errors"]
    assert len(errors) == 10 and set(errors.values()) == {0}
    assert res_json["emorealm"]["architecture"] == "avere"
    # merged into the base: one towers-inside folder that computes what base + adapter computes
    from emorealm.model_adapters.avere.loading import load_avere
    from emorealm.model_adapters.hf_models import load_model
    from emorealm.training.merge import merge_adapter

    merged, _, _ = load_avere(merge_adapter(out, tmp_path / "merged"))
    peft_model, _, _ = load_model(str(twin), peft=str(out))
    batch = _batch(tr.arch, tr.processor, prefs)
    with torch.no_grad():
        a, b = sequence_logps(merged, batch), sequence_logps(peft_model.get_base_model(), batch)
        c = sequence_logps(load_avere(twin)[0], batch)
    assert torch.allclose(a, b, atol=1e-4) and not torch.allclose(a, c, atol=1e-4)


@pytest.mark.slow
def test_full_avem_dpo_moves_only_the_llama_and_saves_towers_inside(twin, prefs, tmp_path):
    from emorealm.model_adapters.avere.loading import load_avere

    tr = _trainer(twin, prefs, tmp_path / "full", finetune="full")
    model = tr.acc.unwrap_model(tr.policy).model
    assert not any(p.requires_grad for k, p in model.named_parameters() if k.startswith(FROZEN))
    assert all(p.requires_grad for k, p in model.named_parameters() if k.startswith("model.layers."))
    frozen = _frozen(model)
    llm = {k: v.detach().clone() for k, v in model.state_dict().items() if k.startswith(("model.layers.", "lm_head"))}
    assert tr.run().steps == 2
    assert all(torch.equal(frozen[k], v) for k, v in _frozen(model).items())
    moved = {k for k, v in model.state_dict().items() if k in llm and not torch.equal(llm[k], v)}
    assert "model.layers.0.self_attn.q_proj.weight" in moved and "lm_head.weight" in moved
    # the checkpoint holds its towers (no backbones/ folder) and loads with the trained weights
    out = tmp_path / "full"
    assert (out / "model.safetensors").exists() and not (out / "backbones").exists()
    assert "avere_backbones" in json.loads((out / "config.json").read_text())
    again, _, accepts = load_avere(out)
    assert accepts == ("video", "audio")
    sd = again.state_dict()
    assert all(torch.equal(frozen[k], sd[k]) for k in frozen)
    assert all(torch.equal(model.state_dict()[k], sd[k]) for k in moved)


@pytest.mark.slow
def test_sft_trains_the_llama_only(twin, tmp_path):
    from emorealm.training.sample_prefs import toy_rows

    rows = toy_rows(tmp_path, 2, seed=5)
    data = tmp_path / "sft.jsonl"
    data.write_text("".join(json.dumps({"id": r["id"], "prompt": r["prompt"], "response": r["chosen"],
                                        "video": r["video"]}) + "\n" for r in rows))
    tr = _trainer(twin, data, tmp_path / "sft", objective="sft")
    base = tr.acc.unwrap_model(tr.policy).model.get_base_model()
    frozen = _frozen(base)
    res = tr.run()
    assert res.steps == 2 and res.metrics[-1]["loss"] > 0
    assert all(torch.equal(frozen[k], v) for k, v in _frozen(base).items())
