"""objective: sft — row validation, the loss against the model's own cross-entropy, and the trainer
end to end on tiny-omni (LoRA with frozen or trainable encoders, full fine-tuning)."""

from __future__ import annotations

import json

import pytest
import torch

from emorealm.errors import ConfigError, DataError
from emorealm.media.decode import MediaSpec
from emorealm.training.config import config_from_dict
from emorealm.training.sample_prefs import toy_rows
from emorealm.training.sft import SFTCollator, load_sft_rows, sft_loss
from emorealm.training.trainer import Trainer


@pytest.fixture(scope="module")
def sft_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("sft")
    rows = [{"id": r["id"], "prompt": r["prompt"], "response": r["chosen"], "video": r["video"], "audio": r.get("audio")}
            for r in toy_rows(root, 4, seed=21)]
    with open(root / "sft.jsonl", "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    return root / "sft.jsonl"


def _cfg(data, out, **kw):
    base = {"objective": "sft", "model": "tiny-omni", "data": str(data), "output_dir": str(out), "seed": 0,
            "media": {"max_frames": 4}, "lora": {"r": 4, "alpha": 8},
            "train": {"batch_size": 2, "max_steps": 2, "lr": 5e-3, "max_completion_length": 16}}
    base.update(kw)
    return config_from_dict(base)


def test_row_without_response_is_a_counted_skip_or_an_error(sft_file, tmp_path):
    good = sft_file.read_text().splitlines()
    bad = tmp_path / "bad.jsonl"
    first = json.loads(good[0])
    rows = [dict(first, id="no-response", response=None), dict(first, id="blank", response="  "),
            {k: v for k, v in first.items() if k != "response"} | {"id": "absent"}, json.loads(good[1])]
    bad.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    kept, report = load_sft_rows(bad, sft_file.parent)
    assert [r.id for r in kept] == [json.loads(good[1])["id"]]
    assert sum(report.skipped.values()) == 3
    assert all("response" in reason for reason in report.skipped)
    with pytest.raises(DataError, match="response"):
        load_sft_rows(bad, sft_file.parent, strict=True)
    only_bad = tmp_path / "only_bad.jsonl"
    only_bad.write_text(json.dumps(rows[0]) + "\n")
    with pytest.raises(DataError, match="no usable SFT rows"):
        load_sft_rows(only_bad, sft_file.parent)


def test_sft_loss_equals_the_models_own_cross_entropy(sft_file):
    """Our token-mean NLL through the training forward pass (prefix reuse, media scattered once)
    equals the thinker's own ``labels=`` loss on the same tokens built by emorealm.model_adapters.inputs."""
    from emorealm.model_adapters.inputs import append_continuation
    from emorealm.model_adapters.tiny_models.omni import ensure_tiny_omni
    from emorealm.training.forward import sequence_logps
    from emorealm.training.policy import load_thinker

    thinker, proc, _ = load_thinker(str(ensure_tiny_omni()))
    rows, _ = load_sft_rows(sft_file)
    col = SFTCollator(proc, MediaSpec(max_frames=4), max_completion_length=16)
    batch = col(rows[:2])
    with torch.no_grad():
        ours, _ = sft_loss(sequence_logps(thinker, batch), batch)
        nll, n = 0.0, 0
        for ctx, seq in zip(batch.contexts, batch.sequences, strict=True):
            full = append_continuation(ctx, seq.completion)
            labels = full.features["input_ids"].clone()
            labels[:, : ctx.prompt_length] = -100
            out = thinker(**full.model_kwargs(), labels=labels)
            nll += out.loss.item() * len(seq.completion)
            n += len(seq.completion)
    assert ours.item() == pytest.approx(nll / n, rel=1e-5)


def test_sft_lora_trains_and_saves_a_loadable_adapter(sft_file, tmp_path):
    from emorealm.model_adapters.hf import load_model, resolve_checkpoint

    out = tmp_path / "lora"
    tr = Trainer(_cfg(sft_file, out, train={"batch_size": 4, "max_steps": 4, "lr": 2e-2, "max_completion_length": 16}))
    assert tr.ref_model is None
    enc = tr._thinker().model.audio_tower.conv1.weight.clone()
    res = tr.run()
    losses = [m["loss"] for m in res.metrics]
    assert res.steps == 4 and losses[-1] < losses[0]  # the same 4 rows every step: the NLL falls
    assert torch.equal(enc, tr._thinker().model.audio_tower.conv1.weight)  # encoders frozen by default
    assert (out / "adapter_config.json").exists() and (out / "emorealm_tiny_omni.json").exists()
    record = json.loads((out / "emorealm_train.json").read_text())
    assert record["config"]["objective"] == "sft" and record["steps"] == 4
    model, _ = load_model(*resolve_checkpoint(str(out), None))
    assert type(model).__name__ == "PeftModel"


@pytest.mark.parametrize("finetune", ["lora", "full"])
def test_sft_trains_the_encoders_when_asked(sft_file, tmp_path, finetune):
    from emorealm.model_adapters.hf import load_model, resolve_checkpoint

    out = tmp_path / finetune
    tr = Trainer(_cfg(sft_file, out, finetune=finetune, freeze_encoders=False,
                      train={"batch_size": 2, "max_steps": 1, "lr": 1e-2, "max_completion_length": 16}))
    assert tr.ref_model is None  # SFT keeps no reference copy
    before = tr._thinker().model.audio_tower.state_dict()
    before = {k: v.clone() for k, v in before.items()}
    tr.run()
    model, _ = load_model(*resolve_checkpoint(str(out), None))
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    after = base.thinker.model.audio_tower.state_dict() if hasattr(base, "thinker") else base.model.audio_tower.state_dict()
    changed = [k for k in before if k in after and not torch.equal(before[k], after[k])]
    assert changed, "the saved checkpoint's audio encoder did not change"


def test_objective_validation():
    with pytest.raises(ConfigError, match="objective"):
        config_from_dict({"objective": "ppo"})
    with pytest.raises(ConfigError, match="lora keeps the encoders frozen"):
        config_from_dict({"objective": "avem_dpo", "freeze_encoders": False})
    dpo = config_from_dict({"objective": "dpo", "loss": {"beta": 0.3}}).loss
    assert (dpo.beta, dpo.w_vr, dpo.modality, dpo.debias) == (0.3, 1.0, False, False)
