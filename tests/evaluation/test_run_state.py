"""Issue 12 points 3-4: run-owned state, one evaluation path for run and diagnose, and errors that
cannot hide bugs (only emorealm errors are per-sample; --max-error-rate; a bug stops the run)."""

from __future__ import annotations

import json
import logging
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from emorealm.cli import main
from emorealm.errors import ConfigError, EmorealmError, MediaError, record_sample_error, sample_error
from emorealm.evaluation.error_rate import ErrorRateExceeded, add_error_summary, check_error_rate
from emorealm.run_state import NoActiveRun, current, in_run_context, record_fingerprint, run_scope


def _results(folder: Path) -> dict:
    (path,) = sorted(folder.glob("results_*.json"))
    return json.loads(path.read_text())


# -- the state object --------------------------------------------------------------------------------
def test_state_is_per_run_and_an_error_outside_a_run():
    with pytest.raises(NoActiveRun, match="no emorealm run is active"):
        current()
    record_fingerprint("t", "sha256:ignored")  # a loader outside a run: nothing to report to, no error
    doc = {"_task": "t", "id": "1"}
    with run_scope() as a:
        record_fingerprint("t", "sha256:a")
        record_sample_error(doc, MediaError("clip a"))
        with run_scope() as b:  # a second run (a notebook, a test) sees nothing of the first
            assert b.data_fingerprints == {} and sample_error(dict(doc), []) is None
            record_fingerprint("t_ll", "sha256:b")
        assert current() is a and a.fingerprint("t_ll", "t") == "sha256:a"  # an _ll task shares its base's data key
        assert sample_error(dict(doc), []).message == "clip a"
    assert b.fingerprint("t_ll") == "sha256:b" and b.fingerprint("t") is None
    with pytest.raises(NoActiveRun):
        current()


def test_worker_threads_record_into_their_run():
    doc = {"_task": "t", "id": "w"}
    with run_scope() as state, ThreadPoolExecutor(2) as pool:
        list(pool.map(in_run_context(lambda d: record_sample_error(d, MediaError("in a worker"))), [doc]))
        assert state.sample_errors.get("t::w").message == "in a worker"
        seen = []
        t = threading.Thread(target=lambda: seen.append(sample_error(dict(doc), [])))  # no context: not this run's
        t.start()
        t.join()
        assert seen == [None]


# -- the error-rate rule ------------------------------------------------------------------------------
def _rec(err=None):
    return {"doc": {"_error": err} if err else {}, "n_errors": float(err is not None)}


def test_error_summary_and_threshold():
    miss = {"kind": "MediaError", "message": "video file not found: a.mp4"}
    other = {"kind": "ModelError", "message": "ran out of memory"}
    results = {"samples": {"a": [_rec(miss), _rec(miss), _rec(other), _rec()], "b": [_rec(), _rec()]}}
    block = add_error_summary(results, 0.5)
    a = block["tasks"]["a"]
    assert (a["n"], a["n_errors"], a["rate"], a["kinds"]) == (4, 3, 0.75, {"MediaError": 2, "ModelError": 1})
    assert a["commonest"] == {"kind": "MediaError", "count": 2, "example": "video file not found: a.mp4"}
    assert block["tasks"]["b"] == {"n": 2, "n_errors": 0, "rate": 0.0, "kinds": {}}
    with pytest.raises(ErrorRateExceeded, match=r"a: 3 of 4 samples failed \(75%\), commonest MediaError ×2: "
                                                r"video file not found: a.mp4"):
        check_error_rate(results)
    results["emorealm"]["errors"]["max_error_rate"] = 0.75  # "more than": exactly at the limit passes
    check_error_rate(results)
    assert issubclass(ErrorRateExceeded, EmorealmError)


# -- the exception tree -------------------------------------------------------------------------------
def test_every_project_exception_is_an_emorealm_error():
    from emorealm.diagnostics.attention import AttentionUnsupported
    from emorealm.http import ServerError
    from emorealm.run_state import NoActiveRun as NoRun
    from emorealm.scoring.judge import JudgeParseError, JudgeUnavailable

    for cls in (JudgeParseError, JudgeUnavailable, AttentionUnsupported, NoRun, ServerError):
        assert issubclass(cls, EmorealmError), cls
    from emorealm.model_adapters.base import PER_SAMPLE_ERRORS

    assert PER_SAMPLE_ERRORS == (EmorealmError,)


# -- console: one channel, rank 0 speaks ---------------------------------------------------------------
def test_console_lines_and_ranks(capsys):
    from emorealm import log_filters

    logger = logging.getLogger("emorealm")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    try:
        log_filters.emorealm_console(rank=0)
        logging.getLogger("emorealm.evaluation.runner").info("resumed run: 2 reused")
        assert capsys.readouterr().err == "emorealm: resumed run: 2 reused\n"
        log_filters.emorealm_console(rank=1)
        logging.getLogger("emorealm.evaluation.runner").info("resumed run: 2 reused")
        logging.getLogger("emorealm.benchmarks").warning("dfew: 1 problem(s)")
        assert capsys.readouterr().err == "emorealm[rank 1]: dfew: 1 problem(s)\n"
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved


# -- up-front refusals (no model built) ----------------------------------------------------------------
@pytest.fixture
def no_model(monkeypatch):
    import emorealm.evaluation.runner
    from emorealm.cli import build_parser

    build_parser()

    def refuse(*a, **k):
        raise AssertionError("the model was built before the refusal")

    monkeypatch.setattr(emorealm.evaluation.runner, "build_model", refuse)


@pytest.mark.parametrize("extra, message", [
    (["--batch-size", "2", "--model-args", "batch_size=3"],
     "batch_size given twice: --batch-size 2 and --model-args batch_size=3"),
    (["--device", "cpu", "--model-args", "device=cpu"], "device given twice"),
    (["--model-args", "media=nonsense"], "unknown media spec 'nonsense'; known:"),
    (["--model-args", "fps=fast"], "fps='fast' is not a number"),
    (["--max-error-rate", "2"], "--max-error-rate 2.0 is not a share between 0 and 1"),
])
def test_bad_options_are_refused_before_the_model_loads(tmp_path, capsys, no_model, extra, message):
    code = main(["run", "--model", "tiny-omni", "--tasks", "reasoning_basic_audio", "--limit", "1",
                 "--output", str(tmp_path), *extra])
    assert code == 2
    assert message in " ".join(capsys.readouterr().err.split())


def test_batch_size_and_device_reach_the_adapter_once(monkeypatch):
    import emorealm.evaluation.runner as runner

    got = {}

    class Recorder:
        def __init__(self, **kw):
            got.update(kw)

    monkeypatch.setattr(runner, "get_adapter_class", lambda name: Recorder)
    runner.build_model(runner.RunConfig(model="hf", model_args="pretrained=.,batch_size=3"))
    assert got == {"pretrained": ".", "batch_size": 3, "device": "cpu"}  # parse_kv types numbers
    got.clear()
    runner.build_model(runner.RunConfig(model="hf", model_args="pretrained=.", batch_size=4, device="meta"))
    assert got == {"pretrained": ".", "batch_size": 4, "device": "meta"}
    got.clear()
    runner.build_model(runner.RunConfig(model="hf", model_args="pretrained=."))
    assert got == {"pretrained": ".", "batch_size": 1, "device": "cpu"}
    with pytest.raises(ConfigError, match="given twice"):
        runner.build_model(runner.RunConfig(model="hf", model_args="pretrained=.,batch_size=3", batch_size=3))


# -- whole runs (tiny-omni, in one process) -----------------------------------------------------------
def _ravdess_root(tmp_path: Path, sample_root: Path, name: str, drop: int) -> Path:
    root = tmp_path / name
    shutil.copytree(sample_root / "RAVDESS", root / "RAVDESS")
    for clip in sorted((root / "RAVDESS").rglob("*.mp4"))[:drop]:
        clip.unlink()
    return root


@pytest.mark.slow
def test_two_runs_in_one_process_report_their_own_data(tmp_path, sample_root, tiny_omni_dir):
    from emorealm.benchmarks.ravdess import load_ravdess
    from emorealm.evaluation.runner import RunConfig, evaluate

    roots = [_ravdess_root(tmp_path, sample_root, "a", 0), _ravdess_root(tmp_path, sample_root, "b", 4)]
    loaded = [load_ravdess(data_root=str(r)) for r in roots]  # outside a run: nothing recorded anywhere
    n_docs = [len(x.docs) for x in loaded]
    assert n_docs[0] > n_docs[1]
    got = []
    for i, root in enumerate(roots):
        res, _ = evaluate(RunConfig(model="tiny-omni", tasks=["ravdess"], data_root=str(root), limit=1,
                                    output=str(tmp_path / f"out{i}"), gen_kwargs="max_gen_toks=2"))
        got.append(res["emorealm"])
    fps = [g["data_fingerprint"]["ravdess"] for g in got]
    assert fps == [x.fingerprint for x in loaded] and fps[0] != fps[1]
    assert [g["load_reports"]["ravdess"]["n_docs"] for g in got] == n_docs
    assert [g["data_root"] for g in got] == [str(r) for r in roots]
    with pytest.raises(NoActiveRun):  # nothing of either run is left behind
        current()


@pytest.mark.slow
def test_run_and_diagnose_write_the_same_blocks(tmp_path, tiny_omni_dir):
    common = ["--model", "tiny-omni", "--tasks", "ravdess,reasoning_basic_audio", "--limit", "1",
              "--gen-kwargs", "max_gen_toks=2", "--no-journal"]
    assert main(["run", *common, "--output", str(tmp_path / "run")]) == 0
    assert main(["diagnose", *common, "--output", str(tmp_path / "diag"), "--conditions", "intact",
                 "--no-likelihood", "--no-attention", "--bootstrap-iters", "10"]) == 0
    run, diag = _results(tmp_path / "run" / "tiny-omni"), _results(tmp_path / "diag" / "tiny-omni")
    assert set(run) == set(diag)
    assert set(run["emorealm"]) == set(diag["emorealm"])
    for block in ("classification", "load_reports", "errors", "data_fingerprint"):
        assert diag["emorealm"][block] == run["emorealm"][block], block
    assert " at 0x" not in json.dumps(diag["configs"])  # no memory addresses
    assert diag["results"]["ravdess"]["acc_stderr_clustered,none"] == run["results"]["ravdess"][
        "acc_stderr_clustered,none"]


@pytest.mark.slow
def test_a_bug_in_collation_stops_the_run(tmp_path, tiny_omni_dir, monkeypatch, capsys):
    """A KeyError raised inside collation is a programming bug: the run stops with it, writes no results
    file claiming success, and says the journal keeps what finished."""
    import emorealm.model_adapters.hf as hf

    def broken(items, pad_id):
        raise KeyError("pixel_values_videos")

    monkeypatch.setattr(hf, "collate_inputs", broken)
    with pytest.raises(KeyError, match="pixel_values_videos"):
        main(["run", "--model", "tiny-omni", "--tasks", "reasoning_basic_audio", "--limit", "2", "--batch-size", "2",
              "--output", str(tmp_path), "--gen-kwargs", "max_gen_toks=2"])
    assert not list((tmp_path / "tiny-omni").glob("results_*.json"))
    err = " ".join(capsys.readouterr().err.split())
    assert "the run stopped on an unexpected KeyError (a bug, not a per-sample failure" in err
    assert "finished sample(s) in" in err and "are kept for --resume" in err


@pytest.mark.slow
def test_every_clip_missing_writes_the_files_and_exits_non_zero(tmp_path, sample_root, tiny_omni_dir, capsys):
    root = tmp_path / "no_clips"  # the benchmark file alone: every clip it names is missing
    (root / "EmoReAlM").mkdir(parents=True)
    shutil.copy(sample_root / "EmoReAlM" / "emorealm_v1.json", root / "EmoReAlM")
    code = main(["run", "--model", "tiny-omni", "--tasks", "reasoning_basic_audio", "--data-root", str(root),
                 "--limit", "3", "--output", str(tmp_path / "out"), "--gen-kwargs", "max_gen_toks=2"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2, err
    folder = tmp_path / "out" / "tiny-omni"
    res = _results(folder)
    assert res["emorealm"]["errors"]["tasks"]["reasoning_basic_audio"]["n_errors"] == 3
    assert res["results"]["reasoning_basic_audio"]["n_errors,none"] == 3
    assert len(next(folder.glob("samples_reasoning_basic_audio_*.jsonl")).read_text().splitlines()) == 3
    assert "more than 50% of the samples failed in 1 task(s) (--max-error-rate 0.5)" in err
    assert "reasoning_basic_audio: 3 of 3 samples failed (100%), commonest MediaError ×3: video file not found" in err
    # --max-error-rate 1 accepts the same run
    assert main(["run", "--model", "tiny-omni", "--tasks", "reasoning_basic_audio", "--data-root", str(root),
                 "--limit", "3", "--output", str(tmp_path / "out"), "--gen-kwargs", "max_gen_toks=2", "--overwrite",
                 "--max-error-rate", "1"]) == 0
