"""Issue 19: typos are errors with "did you mean", Ctrl-C leaves one line and a resume command,
and the journal is checked before the model loads."""

from __future__ import annotations

import shlex

import pytest

from emorealm.cli import main, resume_command

TASK = "reasoning_basic_audio"


def _run(tmp_path, *extra: str) -> int:
    return main(["run", "--model", "tiny-omni", "--tasks", TASK, "--limit", "3",
                 "--output", str(tmp_path / "out"), *extra])


def _err(capsys) -> str:
    return " ".join(capsys.readouterr().err.split())  # rich wraps long lines


@pytest.fixture
def no_model(monkeypatch):
    """Any attempt to build a model fails the test: the refusals must come first."""
    import emorealm.evaluation.runner
    from emorealm.cli import build_parser

    build_parser()  # imports every command's modules first: none may bind the patched function

    def refuse(*a, **k):
        raise AssertionError("the model was built before the refusal")

    monkeypatch.setattr(emorealm.evaluation.runner, "build_model", refuse)


@pytest.mark.parametrize("extra, message", [
    (["--task-args", "clip_dri=x"], "unknown --task-args key(s) for tasks reasoning_basic_audio: 'clip_dri' "
                                    "(did you mean 'clip_dir'?); known: audio_dir, benchmark_file, clip_dir, data_root"),
    (["--gen-kwargs", "temprature=0.1"], "unknown --gen-kwargs key(s) for adapter 'hf': 'temprature' (did you "
                                         "mean 'temperature'?); known: do_sample, max_gen_toks, temperature, top_k"),
    (["--tasks", "reasoning_basic_audoi"], "unknown task(s): 'reasoning_basic_audoi' (did you mean "
                                           "'reasoning_basic_audio'"),
    (["--task-args", "fold=2"], "'fold'; known: audio_dir"),  # a DFEW option on an EmoReAlM task
    # values too, before the model loads: a boolean typo is never read as false (emorealm/options.py)
    (["--gen-kwargs", "temperature=0.5,do_sample=ture"], "gen_kwargs do_sample='ture' is not a boolean (did you "
                                                         "mean 'true'?); use true or false"),
    (["--gen-kwargs", "max_gen_toks=lots"], "gen_kwargs max_gen_toks='lots' is not an integer"),
    (["--task-args", "clip_dir=x,clip_dir=y"], "--task-args gives 'clip_dir' twice"),
    (["--model-args", "dtype"], "cannot parse --model-args 'dtype': 'dtype' is not key=value"),
])
def test_typos_are_errors_with_suggestions(tmp_path, capsys, no_model, extra, message):
    assert _run(tmp_path, *extra) == 2
    assert message in _err(capsys)


def test_options_of_any_task_of_the_run_are_accepted(tmp_path, capsys, no_model):
    """One metadata dict serves every task: fold is DFEW's, accepted in a run that has DFEW."""
    with pytest.raises(AssertionError, match="model was built"):
        main(["run", "--model", "tiny-omni", "--tasks", f"{TASK},dfew", "--task-args", "fold=1,dfew_split=test",
              "--limit", "1", "--output", str(tmp_path / "o")])


def test_every_task_declares_the_options_its_loader_reads():
    import importlib.util
    from pathlib import Path

    from emorealm.benchmarks.emorealm import DEFAULTS

    root = Path(__file__).resolve().parents[2] / "tasks"
    declared = {}
    for bench in ("emorealm", "dfew", "ravdess", "emer"):
        spec = importlib.util.spec_from_file_location(f"_t_{bench}", root / bench / "utils.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        declared[bench] = set(mod.TASK_OPTIONS)
    assert declared["emorealm"] == set(DEFAULTS)
    # the options docs/contracts.md §2 lists, benchmark by benchmark
    assert declared["dfew"] == {"dfew_dir", "fold", "dfew_split", "dfew_split_file", "dfew_clip_dir", "dfew_audio_dir"}
    assert {"judge", "judge_rubrics", "judge_timeout", "judge_retries", "emer_dir"} <= declared["emer"]


@pytest.mark.parametrize("model, message", [
    ("tiny_omni", "unknown --model 'tiny_omni' (did you mean 'tiny-omni'?); adapters: hf, openai, vllm; "
                  "presets: tiny-omni"),
    ("hff", "(did you mean 'hf'?)"),
])
def test_unknown_model_suggests_presets_and_adapters(tmp_path, capsys, no_model, model, message):
    assert main(["run", "--model", model, "--output", str(tmp_path)]) == 2
    assert message in _err(capsys)


def test_missing_local_checkpoint_folder_is_said_plainly(tmp_path, capsys, no_model):
    missing = tmp_path / "ckpt" / "final"
    assert main(["run", "--model", "hf", "--model-args", f"pretrained={missing}", "--output", str(tmp_path)]) == 2
    err = _err(capsys)
    assert f"pretrained={missing}: no such checkpoint folder" in err and "Repo id" not in err


def test_resume_command_swaps_overwrite_for_resume():
    assert resume_command(["run", "--model", "tiny-omni", "--overwrite", "--model-args", "a=b c"]) == \
        "python -m emorealm run --model tiny-omni --model-args 'a=b c' --resume"
    assert resume_command(["run", "--resume"]) == "python -m emorealm run --resume"


@pytest.mark.slow
def test_ctrl_c_then_resume(tmp_path, capsys, monkeypatch):
    from emorealm.journal import Journal

    real_append = Journal.append
    calls = {"n": 0}

    def append_then_interrupt(self, *a, **k):
        real_append(self, *a, **k)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(Journal, "append", append_then_interrupt)
    assert _run(tmp_path) == 130
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("interrupted")]
    assert len(lines) == 1 and "Traceback" not in err
    journal = tmp_path / "out" / "tiny-omni" / "journal.jsonl"
    assert f"interrupted: 2 finished sample(s) are saved in {journal}; resume with: python -m emorealm run" in lines[0]
    monkeypatch.setattr(Journal, "append", real_append)
    cmd = shlex.split(lines[0].split("resume with: ")[1])
    assert cmd[:3] == ["python", "-m", "emorealm"] and cmd[-1] == "--resume"
    assert main(cmd[3:]) == 0
    err = _err(capsys)
    assert "2 finished sample(s) found; 2 of this run's 3 sample(s) are reused, 1 remain to compute" in err
    assert "resumed run: 2 sample(s) reused from the journal, 1 computed" in err


def test_resume_with_another_seed_is_refused_before_the_model_loads(tmp_path, capsys, monkeypatch):
    assert _run(tmp_path, "--limit", "1") == 0
    capsys.readouterr()
    import emorealm.evaluation.runner

    monkeypatch.setattr(emorealm.evaluation.runner, "build_model", lambda *a, **k: pytest.fail("model built"))
    assert _run(tmp_path, "--limit", "1", "--resume", "--seed", "1") == 2
    assert "different seed (journal 0, this run 1)" in _err(capsys)
    assert _run(tmp_path, "--limit", "1", "--resume", "--task-args", "clip_dir=elsewhere") == 2
    assert "different task options" in _err(capsys)
