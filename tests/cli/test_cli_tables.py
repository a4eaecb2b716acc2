"""Issue 19: run and diagnose tables fit 80 columns, task names are never cropped, --tasks all is
grouped per benchmark, --wide shows every column, --limit / LoRA runs say so in the title."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from emorealm.cli import main
from emorealm.evaluation.summary_table import build_tables, print_summary

EMOREALM_TASKS = ["reasoning_basic_audio", "reasoning_basic_video", "modality_agreement",
                  "reasoning_stress_audio", "reasoning_stress_video"]


def _fake_results(**meta) -> dict:
    res = {t: {"alias": t, "acc,none": 0.25, "acc_stderr,none": 0.125, "acc_strict,none": 0.5,
               "acc_strict_stderr,none": 0.1, "invalid_rate,none": 1.0, "invalid_rate_stderr,none": 0.0,
               "n_errors,none": 0, "acc_yes,none": 0.5, "acc_no,none": 0.5, "f1_yes_no,none": 0.5,
               "yes_rate,none": 0.5} for t in EMOREALM_TASKS}
    res["dfew"] = {"acc,none": 0.1, "uar,none": 0.2, "war,none": 0.3, "macro_f1,none": 0.4, "n_errors,none": 2}
    return {"results": res, "groups": {"emorealm": {"acc,none": 0.25, "acc_stderr,none": 0.05}},
            "group_subtasks": {"emorealm": EMOREALM_TASKS},
            "n-samples": {t: {"original": 4, "effective": 4} for t in [*EMOREALM_TASKS, "dfew"]},
            "emorealm": {"model": "/ckpts/base", "smoke_test": False, "protocol": {"limit": None}, **meta}}


def _render(results, wide=False, width=80) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    print_summary(results, None, wide=wide, console=console)
    return console.export_text()


def test_tables_fit_80_columns_and_never_crop_task_names():
    text = _render(_fake_results())
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    for t in EMOREALM_TASKS:
        assert f"  {t} " in text
    # the values, ± stderr, as percentages: 0.25 ± 0.125 -> 25.00 ±12.50
    assert "25.00 ±12.50" in text
    # what did not fit is named, not silently dropped
    assert "not shown (--wide): invalid_rate, acc_yes, acc_no, f1_yes_no, yes_rate" in text
    assert "n_errors ┃" in text.split("dfew\n")[0]  # error counts are kept in the matrix
    # one block per benchmark: emorealm's matrix, then dfew's metric rows
    assert text.index("emorealm (%)") < text.index("dfew\n")
    assert "│ macro_f1 │     40.00 │" in text and "│ n_errors │         2 │" in text.split("dfew\n")[1]


def test_wide_shows_every_metric():
    text = _render(_fake_results(), wide=True)
    assert "not shown" not in text and "f1_yes_no" in text and "yes_rate" in text and "…" not in text
    (name, table, hidden), _ = build_tables(_fake_results(), width=80)
    assert name == "emorealm (%)" and hidden == ["invalid_rate", "acc_yes", "acc_no", "f1_yes_no", "yes_rate"]


def test_title_flags_limit_partial_and_names_the_lora_adapter():
    r = _fake_results(peft="/runs/avem-dpo", protocol={"limit": 2}, smoke_test=True)
    r["n-samples"]["dfew"]["effective"] = 2
    text = _render(r)
    lines = text.splitlines()
    assert lines[0] == "emorealm results — avem-dpo (LoRA on /ckpts/base)"
    assert "(--limit 2)" in lines[1:4] and "(partial: 2 of 4 docs)" in lines[1:4]
    assert "(smoke-test model: numbers are meaningless)" in lines[1:4]
    assert "limit" not in _render(_fake_results())


@pytest.mark.slow
def test_run_all_prints_grouped_tables_within_80_columns(tmp_path, capsys):
    assert main(["run", "--model", "tiny-omni", "--tasks", "all", "--limit", "1", "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80 and "…" not in out
    assert "(--limit 1)" in out and "(partial:" in out
    for block in ("emorealm (%)", "dfew", "ravdess", "emer"):
        assert any(line.strip() == block for line in out.splitlines()), block
    (res,) = tmp_path.rglob("results_*.json")
    assert json.loads(res.read_text())["emorealm"]["protocol"]["limit"] == 1


@pytest.mark.slow
def test_diagnose_table_keeps_task_names_apart(tmp_path, capsys):
    assert main(["diagnose", "--model", "tiny-omni", "--tasks", "reasoning_basic_audio,reasoning_basic_video",
                 "--limit", "1", "--conditions", "intact,no_audio", "--bootstrap-iters", "10", "--no-attention",
                 "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    table = out[out.index("modality reliance"):]
    assert max(len(line) for line in table.splitlines()) <= 80
    assert "reasoning_basic_audio" in table and "reasoning_basic_video" in table and "…" not in table
