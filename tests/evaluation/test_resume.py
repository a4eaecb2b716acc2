"""Resume: the journal, its refusals, and a run SIGKILLed at a random point then resumed."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import pytest

from emorealm.errors import ConfigError
from emorealm.journal import JOURNAL_NAME, Journal

from support.runs import (
    make_emorealm_root,
    normalized_results,
    popen_cli,
    results_file,
    run_cli,
    samples_by_task,
    stamp_of,
)


def _identity(**over):
    ident = {"model": {"adapter": "hf", "model_sha256": "sha256:aa"}, "media": {"fps": 2.0}, "seed": 0,
             "task_options": {}, "tasks": {"t1": {"version": 1.0, "data_fingerprint": "sha256:d1"}}}
    ident.update(over)
    return ident


def _write_journal(folder: Path, identity: dict, n: int = 3) -> Journal:
    j = Journal.open(folder, identity_fn=lambda: identity)
    j.ready()
    for i in range(n):
        j.append(j.key("t1", i, f"req{i}"), request_type="generate_until", doc={"id": f"d{i}"}, resp=f"answer {i}")
    j.close()
    return j


def test_existing_journal_needs_resume_or_overwrite(tmp_path):
    _write_journal(tmp_path, _identity())
    with pytest.raises(ConfigError) as exc:
        Journal.open(tmp_path)
    assert "--resume" in str(exc.value) and "--overwrite" in str(exc.value)
    with pytest.raises(ConfigError, match="exclude each other"):
        Journal.open(tmp_path, resume=True, overwrite=True)
    j = Journal.open(tmp_path, overwrite=True)
    assert not (tmp_path / JOURNAL_NAME).exists() and not j.entries
    j.close()


def test_resume_reads_entries_and_drops_a_torn_line(tmp_path):
    _write_journal(tmp_path, _identity(), n=3)
    path = tmp_path / JOURNAL_NAME
    with open(path, "a") as fh:  # a process killed mid-write
        fh.write('{"kind": "sample", "task": "t1", "vers')
    j = Journal.open(tmp_path, resume=True, identity_fn=_identity)
    assert j.dropped_lines == 1 and path.read_text().endswith("\n")
    j.ready()
    assert j.get(j.key("t1", 1, "req1"))["resp"] == "answer 1"
    assert j.get(j.key("t1", 3, "req3")) is None
    assert j.get(j.key("t1", 1, "other-request")) is None
    j.append(j.key("t1", 3, "req3"), request_type="generate_until", doc={"id": "d3"}, resp="answer 3")
    j.close()
    lines = [json.loads(x) for x in path.read_text().splitlines()]  # every line parses again
    assert [x["kind"] for x in lines] == ["run", "sample", "sample", "sample", "run", "sample"]


@pytest.mark.parametrize(("change", "what"), [
    ({"model": {"adapter": "hf", "model_sha256": "sha256:bb"}}, "different model"),
    ({"media": {"fps": 1.0}}, "different media spec"),
    ({"seed": 1}, "different seed"),
    ({"tasks": {"t1": {"version": 2.0, "data_fingerprint": "sha256:d1"}}}, "different task version of t1"),
    ({"tasks": {"t1": {"version": 1.0, "data_fingerprint": "sha256:d2"}}}, "different data fingerprint of t1"),
])
def test_journal_of_another_run_is_refused(tmp_path, change, what):
    _write_journal(tmp_path, _identity())
    j = Journal.open(tmp_path, resume=True, identity_fn=lambda: _identity(**change))
    with pytest.raises(ConfigError, match=what) as exc:
        j.ready()
    assert "--overwrite" in str(exc.value)
    j.close()
    # a new task next to the old ones is fine: only shared tasks must agree
    j = Journal.open(tmp_path, resume=True, identity_fn=lambda: _identity(
        tasks={"t1": {"version": 1.0, "data_fingerprint": "sha256:d1"}, "t2": {"version": 1.0}}))
    j.ready()
    j.close()


def test_second_writer_is_refused(tmp_path):
    j = Journal.open(tmp_path)
    with pytest.raises(ConfigError, match="another emorealm run"):
        Journal.open(tmp_path, resume=True)
    j.close()


def _requests(docs, request_type="generate_until"):
    from lm_eval.api.instance import Instance

    from emorealm.benchmarks.emorealm import build_prompt

    reqs = []
    for i, d in enumerate(docs):
        if request_type == "generate_until":
            reqs.append(Instance(request_type, d, (build_prompt(d), {"until": [], "max_gen_toks": 3}), 0,
                                 (d["_task"], i, 1)))
        else:
            for k, letter in enumerate("AB"):
                reqs.append(Instance(request_type, d, (build_prompt(d), f" {letter}"), k, (d["_task"], i, 1)))
    return reqs


@pytest.fixture(scope="module")
def own_adapter(tiny_omni_dir):
    """An adapter of this module's own: the tests set its journal and clear its counts."""
    from emorealm.model_adapters.hf import HFAdapter

    return HFAdapter(pretrained=str(tiny_omni_dir))


@pytest.mark.parametrize("batch_size", [1, 3])
def test_adapter_reuses_journal_without_model_calls(tmp_path, own_adapter, sample_root, monkeypatch, batch_size):
    """Batched generation journals each request with its own count notes, like one at a time."""
    from emorealm.benchmarks.emorealm import load_docs

    monkeypatch.setattr(own_adapter, "batch_size", batch_size)

    docs = load_docs("modality_agreement", data_root=str(sample_root))[:3]
    calls = tmp_path / "calls.log"
    monkeypatch.setenv("EMOREALM_CALL_LOG", str(calls))
    ident = _identity(tasks={"modality_agreement": {"version": 1.0, "data_fingerprint": "x"}})
    outputs = {}
    for request_type, method in (("generate_until", "generate_until"), ("loglikelihood", "loglikelihood")):
        own_adapter.audio_sources.clear()
        folder = tmp_path / request_type
        own_adapter.journal = Journal.open(folder, identity_fn=lambda: ident)
        first = getattr(own_adapter, method)(_requests(docs, request_type))
        own_adapter.journal.close()
        sources = json.loads(json.dumps(own_adapter.audio_sources))
        n_calls = len(calls.read_text().splitlines())
        own_adapter.audio_sources.clear()
        own_adapter.journal = Journal.open(folder, resume=True, identity_fn=lambda: ident)
        again = getattr(own_adapter, method)(_requests(docs, request_type))
        stats = own_adapter.journal.stats()
        own_adapter.journal.close()
        own_adapter.journal = None
        assert again == first
        assert len(calls.read_text().splitlines()) == n_calls  # nothing recomputed
        assert stats["reused"] == 3 and stats["computed"] == 0
        assert own_adapter.audio_sources == sources  # the audio-source counts of the results are replayed
        assert sum(sources["modality_agreement"].values()) == 3
        outputs[request_type] = first
    assert len(calls.read_text().splitlines()) == 6  # 3 generations + 3 scored groups (2 options each)
    assert all(isinstance(x, str) for x in outputs["generate_until"])
    assert all(isinstance(a, float) and isinstance(b, bool) for a, b in outputs["loglikelihood"])


@pytest.mark.slow
def test_sigkill_at_random_point_then_resume(tmp_path, tiny_omni_dir):
    """200 samples, killed at a random point, resumed: same results, at most one batch recomputed."""
    root = make_emorealm_root(tmp_path / "data", n_questions=200)
    calls = tmp_path / "calls.log"
    # audio-only keeps 600 tiny-omni calls affordable on 2 CPU cores; the journal does not care
    common = ["run", "--model", "tiny-omni", "--model-args", "video=false", "--tasks", "emorealm",
              "--data-root", str(root), "--gen-kwargs", "max_gen_toks=2", "--seed", "5"]
    env = {"EMOREALM_CALL_LOG": str(calls), "TOKENIZERS_PARALLELISM": "false"}
    out = tmp_path / "out"
    journal = out / "tiny-omni" / JOURNAL_NAME
    rng = random.Random()
    kill_after = rng.randint(5, 150)
    proc = popen_cli(*common, "--output", str(out), env=env, log=tmp_path / "killed.log")
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if journal.exists() and journal.read_text().count('"kind": "sample"') >= kill_after:
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"run ended before the kill: {(tmp_path / 'killed.log').read_text()[-2000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_calls = len(calls.read_text().splitlines())
    held = journal.read_text().count('"kind": "sample"')
    assert not list((out / "tiny-omni").glob("results_*.json"))

    again = run_cli(*common, "--output", str(out), env=env)
    assert again.returncode == 2 and "--resume" in again.stderr and "--overwrite" in again.stderr
    resumed = run_cli(*common, "--output", str(out), "--resume", env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    total_calls = len(calls.read_text().splitlines())
    resumed_calls = total_calls - killed_calls
    assert resumed_calls == 200 - held, (held, resumed_calls)  # nothing the journal holds is recomputed
    assert total_calls - 200 <= 1, f"recomputed {total_calls - 200} samples (batch size 1; kill after {kill_after})"
    res_resumed = results_file(out / "tiny-omni")
    meta = json.loads(res_resumed.read_text())["emorealm"]["journal"]
    assert meta["reused"] == held and meta["computed"] == 200 - held

    ref_out = tmp_path / "ref"
    ref = run_cli(*common, "--output", str(ref_out), env={"TOKENIZERS_PARALLELISM": "false"})
    assert ref.returncode == 0, ref.stderr[-3000:]
    res_ref = results_file(ref_out / "tiny-omni")
    assert normalized_results(res_resumed) == normalized_results(res_ref)
    a = samples_by_task(out / "tiny-omni", stamp_of(res_resumed))
    b = samples_by_task(ref_out / "tiny-omni", stamp_of(res_ref))
    assert sum(len(v) for v in a.values()) == 200 and a == b

    # a journal from another media spec is refused before anything is computed
    n = len(calls.read_text().splitlines())
    other = run_cli("run", "--model", "tiny-omni", "--model-args", "video=false,fps=1", "--tasks", "emorealm",
                "--data-root", str(root), "--gen-kwargs", "max_gen_toks=2", "--seed", "5", "--output", str(out),
                "--resume", env=env)
    assert other.returncode == 2 and "different media spec" in other.stderr and "fps" in other.stderr
    assert len(calls.read_text().splitlines()) == n


def test_any_generated_text_round_trips(tmp_path):
    odd = "\ud800 lone surrogate, \x00 nul, \u001d gs, \ufffd, emoji \U0001f600, newline\n"
    j = Journal.open(tmp_path, identity_fn=_identity)
    j.ready()
    j.append(j.key("t1", 0, "r"), request_type="generate_until", doc={"id": "d0"}, resp=odd)
    j.close()
    j = Journal.open(tmp_path, resume=True, identity_fn=_identity)
    j.ready()
    assert j.get(j.key("t1", 0, "r"))["resp"] == odd
    j.close()
