"""The issue's 'done when': train the tiny example from the CLI, then evaluate the checkpoint
through ``emorealm run`` with the HF adapter, no extra code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emorealm.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "avem_dpo_tiny.yaml"


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
