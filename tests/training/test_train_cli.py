"""The issue's 'done when': train the tiny example from the CLI, then evaluate the checkpoint
through ``emorealm run`` with the HF adapter, no extra code."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from emorealm.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "avem_dpo_tiny.yaml"


@pytest.mark.slow
def test_train_example_then_run_evaluates_the_checkpoint(tmp_path):
    out = tmp_path / "ckpt"
    assert main(["train", "--config", str(EXAMPLE), "--output-dir", str(out), "--max-steps", "2"]) == 0
    rec = json.loads((out / "emorealm_train.json").read_text())
    assert rec["steps"] == 2 and rec["rows"] == 8 and rec["skipped_in_training"] == {}
    # 2 steps x 2 rows; sample rows alternate given audio_l and seeded noise
    assert sum(rec["rejected_inputs_used"].values()) == 4
    assert set(rec["rejected_inputs_used"]) <= {"audio:audio_l", "audio:noise"}
    assert (out / "adapter_config.json").exists()
    res = tmp_path / "results"
    assert main(["run", "--model", "hf", "--model-args", f"pretrained={out},max_frames=8", "--tasks",
                 "reasoning_basic_audio", "--limit", "2", "--output", str(res)]) == 0
    files = list(res.rglob("results_*.json"))
    assert len(files) == 1
    r = json.loads(files[0].read_text())
    assert r["emorealm"]["peft"] == str(out) and r["emorealm"]["smoke_test"] is True
    assert r["emorealm"]["n_errors"]["reasoning_basic_audio"] == 0
    assert "acc,none" in r["results"]["reasoning_basic_audio"]
    # merge from the CLI gives a full checkpoint the adapter loads as pretrained=<folder>
    merged = tmp_path / "merged"
    assert main(["merge", str(out), str(merged)]) == 0
    assert (merged / "model.safetensors").exists() and not (merged / "adapter_config.json").exists()
    from emorealm.model_adapters.hf import load_model

    model, _ = load_model(str(merged))
    assert type(model).__name__ == "Qwen2_5OmniThinkerForConditionalGeneration"


def test_train_cli_reports_bad_config(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("loss: {beta: -1}\n")
    assert main(["train", "--config", str(bad)]) == 2
    assert "loss.beta must be > 0" in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2


# -- typed config (issue 19) -------------------------------------------------------------------------
def _write(tmp_path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_numbers_written_as_yaml_strings_are_accepted(tmp_path):
    from emorealm.training.config import load_config

    # PyYAML reads 1e-3 and 2e1 as strings (YAML 1.1 floats need a dot)
    cfg = load_config(_write(tmp_path, "train: {lr: 1e-3, max_steps: 2e1, max_grad_norm: 1}\nmedia: {fps: 1}\n"))
    assert cfg.train.lr == 0.001 and isinstance(cfg.train.lr, float)
    assert cfg.train.max_steps == 20 and isinstance(cfg.train.max_steps, int)
    assert cfg.train.max_grad_norm == 1.0 and isinstance(cfg.train.max_grad_norm, float)
    assert cfg.media.fps == 1.0 and cfg.media.max_frames == 16


@pytest.mark.parametrize("text, message", [
    ("train: {lr: fast}", "train.lr: expected a number, got 'fast' (str)"),
    ("train: {batch_size: 2.5}", "train.batch_size: expected an integer, got 2.5 (float)"),
    ("train: {gradient_checkpointing: 'yes'}", "train.gradient_checkpointing: expected true or false, got 'yes' (str)"),
    ("lora: {target_modules: q_proj}", "lora.target_modules: expected a list of a string, got 'q_proj' (str)"),
    ("seed: true", "seed: expected an integer, got True (bool)"),
    ("data_root: 3", "data_root: expected a string or None, got 3 (int)"),
    ("media: {fps: [1]}", "media.fps: expected a number, got [1] (list)"),
    ("train: 3", "train must be a mapping, got 3 (int)"),
    ("train: {lrr: 0.1}", "unknown key(s) in train: 'lrr' (did you mean 'lr'?); known: batch_size"),
])
def test_wrong_types_name_key_value_and_expected_type(tmp_path, capsys, text, message):
    assert main(["train", "--config", str(_write(tmp_path, text + "\n"))]) == 2
    err = capsys.readouterr().err.replace("\n", "")
    assert message in err, err


@dataclass
class Inner:
    debias_weight: float = 0.2
    form: str = "margin"


@dataclass
class Outer:
    warmup_ratio: float = 0.0
    scheduler: str | None = None
    loss: Inner = field(default_factory=Inner)


def test_type_check_covers_fields_added_later():
    """The check reads the annotations: a new field of any config dataclass is covered with no edits."""
    from emorealm.errors import ConfigError
    from emorealm.training.config_types import build_dataclass

    got = build_dataclass(Outer, {"warmup_ratio": "1e-1", "loss": {"debias_weight": "5e-1"}}, "")
    assert got.warmup_ratio == 0.1 and got.loss.debias_weight == 0.5 and got.loss.form == "margin"
    with pytest.raises(ConfigError, match=r"loss.form: expected a string, got 1 \(int\)"):
        build_dataclass(Outer, {"loss": {"form": 1}}, "")
    with pytest.raises(ConfigError, match=r"scheduler: expected a string or None, got \[\] \(list\)"):
        build_dataclass(Outer, {"scheduler": []}, "")


# -- output folder guard, per-step lines, TensorBoard / W&B, curves plot (issue 19) ------------------
@pytest.mark.slow
def test_train_reports_and_refuses_an_existing_output_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "ckpt"
    argv = ["train", "--config", str(EXAMPLE), "--output-dir", str(out), "--max-steps", "2", "--report-to", "all"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2]
    # one console line per logged step, with the logged loss
    for r in log:
        assert f"step {r['step']}/2  loss {r['loss']:.4f}" in err
    # TensorBoard: the same scalars, read back with tensorboard's own reader
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(out / "runs"))
    acc.Reload()
    tb_loss = [(e.step, e.value) for e in acc.Scalars("loss")]
    assert [s for s, _ in tb_loss] == [1, 2]
    assert [v for _, v in tb_loss] == pytest.approx([r["loss"] for r in log], rel=1e-6)
    # W&B offline: a run folder with the history
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
    # the curves plot: a real PNG with two panels' worth of pixels
    import matplotlib.image as mpimg

    img = mpimg.imread(out / "training_curves.png")
    assert img.shape[0] > 300 and img.shape[1] > 900
    # a second run into the same folder is refused; --overwrite starts a fresh log
    assert main(argv) == 2
    assert "already holds a training run" in " ".join(capsys.readouterr().err.split())
    assert main([*argv[:-2], "--overwrite"]) == 0
    log2 = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log2] == [1, 2] and not (out / "runs").exists()


def test_report_to_values_are_checked(tmp_path, capsys):
    from emorealm.errors import ConfigError
    from emorealm.training.reporting import parse_report_to

    assert parse_report_to("none") == [] and parse_report_to("all") == ["tensorboard", "wandb"]
    assert parse_report_to(["wandb"]) == ["wandb"] and parse_report_to("tensorboard,wandb") == ["tensorboard", "wandb"]
    with pytest.raises(ConfigError, match=r"'tensorbord' \(did you mean 'tensorboard'\?\)"):
        parse_report_to("tensorbord")
    assert main(["train", "--config", str(EXAMPLE), "--output-dir", str(tmp_path / "o"), "--report-to", "wandbb"]) == 2
