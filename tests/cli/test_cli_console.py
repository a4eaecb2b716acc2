"""Issue 19: one quiet console. Third-party bars, warnings and log lines stay out of the console
(and are kept in emorealm.log beside the results); -v shows them; lm-eval's passthrough noise and
git's "fatal: not a git repository" are gone."""

from __future__ import annotations

import logging
import subprocess
import warnings

import pytest

from support.runs import run_cli

NOISE = ("Loading weights", "%|", "fatal: not a git repository", "Custom kwargs", "it/s]")


def _run(tmp_path, *extra: str) -> subprocess.CompletedProcess:
    # progress bars on, as a user's terminal has them: the test is that the console stays quiet anyway
    return run_cli(*extra, cwd=tmp_path, unset=("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS"), timeout=300)


@pytest.mark.slow
def test_quick_start_console_is_quiet_and_the_log_keeps_the_rest(tmp_path):
    # tmp_path is no git checkout: lm-eval's git lookup used to print "fatal: ..."
    got = _run(tmp_path, "run", "--model", "tiny-omni", "--tasks", "emorealm", "--limit", "1")
    assert got.returncode == 0, got.stderr
    console = got.stdout + got.stderr
    for noise in NOISE:
        assert noise not in console, noise
    assert "hf: generating" in console  # our one labelled progress display
    log = (tmp_path / "results" / "tiny-omni" / "emorealm.log").read_text()
    assert "lm_eval.evaluator" in log and "Using gen_kwargs" in log
    verbose = _run(tmp_path, "-v", "run", "--model", "tiny-omni", "--tasks", "reasoning_basic_audio", "--limit", "1",
                   "--output", "verbose")
    assert verbose.returncode == 0, verbose.stderr
    assert "Loading weights" in verbose.stderr  # -v: the libraries speak as usual


def test_warnings_and_library_records_are_captured_not_printed(tmp_path, capsys):
    from emorealm import log_filters

    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).propagate, logging.getLogger(n).level)
             for n in log_filters.THIRD_PARTY}
    if log_filters.CAPTURE.file is not None:  # an earlier in-process run attached its own log file
        log_filters.CAPTURE.file.close()
        log_filters.CAPTURE.file = None
    log_filters.CAPTURE.buffer.clear()
    try:
        log_filters.quiet_console(verbose=False)
        logging.getLogger("peft").warning("a peft deprecation")
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("old API", FutureWarning, stacklevel=1)
        assert "a peft deprecation" not in capsys.readouterr().err
        log = tmp_path / "emorealm.log"
        log_filters.attach_log_file(log)
        logging.getLogger("transformers").warning("after attach")
        text = log.read_text()
        assert "WARNING peft: a peft deprecation" in text and "FutureWarning: old API" in text
        assert "WARNING transformers: after attach" in text
    finally:
        logging.captureWarnings(False)
        for n, (handlers, prop, level) in saved.items():
            lg = logging.getLogger(n)
            lg.handlers[:] = handlers
            lg.propagate, lg.level = prop, level
        log_filters.VERBOSE = True
        if log_filters.CAPTURE.file is not None:
            log_filters.CAPTURE.file.close()
            log_filters.CAPTURE.file = None


@pytest.mark.slow
def test_lm_eval_passthrough_is_quiet(tmp_path, tiny_omni_dir):
    got = _run(tmp_path, "lm-eval", "run", "--model", "emorealm-hf", "--model_args", f"pretrained={tiny_omni_dir}",
               "--tasks", "reasoning_basic_audio", "--limit", "1")
    assert got.returncode == 0, got.stderr[-2000:]
    console = got.stdout + got.stderr
    assert "Custom kwargs" not in console and "fatal: not a git repository" not in console
