"""Data parallel HF evaluation: 2 gloo processes under torchrun give exactly one process's results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TASK = "reasoning_basic_audio_ll"


def _run(cmd_prefix: list[str], out: Path, tiny_omni_dir: Path, *extra: str,
         logs: list[str] | None = None) -> tuple[dict, dict]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [*cmd_prefix, "run", "--model", "hf", "--model-args", f"pretrained={tiny_omni_dir}",
           "--tasks", TASK, "--device", "cpu", "--output", str(out), *extra]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    if logs is not None:
        logs.append(proc.stderr)
    results = json.loads(sorted(out.rglob("results_*.json"))[-1].read_text())
    samples = {}
    for line in sorted(out.rglob(f"samples_{TASK}_*.jsonl"))[-1].read_text().splitlines():
        rec = json.loads(line)
        samples[rec["doc_id"]] = rec["resps"]
    return results, samples


@pytest.mark.slow
def test_two_gloo_processes_equal_one(tmp_path, tiny_omni_dir, sample_root):
    one, one_samples = _run([sys.executable, "-m", "emorealm"], tmp_path / "one", tiny_omni_dir)
    logs: list[str] = []
    two, two_samples = _run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                             "--master_port", "29517", "-m", "emorealm"], tmp_path / "two", tiny_omni_dir, logs=logs)
    # only rank 0 says its emorealm: info lines (both ranks load the data and would say the same)
    assert logs[0].count("no data root given; using the built-in sample data") == 1, logs[0][-3000:]
    assert "emorealm[rank 1]: no data root" not in logs[0]
    assert len(one_samples) >= 4 and sorted(one_samples) == sorted(two_samples)
    # every doc scored once, by one of the ranks, with the same log-likelihoods
    for doc_id, resps in one_samples.items():
        got = two_samples[doc_id]
        flat_a = [r[0] for r in resps]
        flat_b = [r[0] for r in got]
        assert [x[1] for x in flat_a] == [x[1] for x in flat_b]
        assert [x[0] for x in flat_a] == pytest.approx([x[0] for x in flat_b], abs=1e-5)
    assert one["results"][TASK] == two["results"][TASK]
    assert two["emorealm"]["world_size"] == 2 and one["emorealm"]["world_size"] == 1


def _torchrun(port: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
            "-m", "emorealm"]


def _sample_lines(path: Path) -> int:
    return sum(json.loads(line)["kind"] == "sample" for line in path.read_text().splitlines())


@pytest.mark.slow
def test_data_parallel_runs_journal_per_rank_and_resume_with_any_process_count(tmp_path, tiny_omni_dir,
                                                                               sample_root):
    out = tmp_path / "dp"
    first, first_samples = _run(_torchrun(29519), out, tiny_omni_dir)
    folder = next(out.rglob("journal.jsonl")).parent
    rank0, rank1 = folder / "journal.jsonl", folder / "journal.rank1.jsonl"
    n0, n1 = _sample_lines(rank0), _sample_lines(rank1)
    assert n0 > 0 and n1 > 0 and n0 + n1 == len(first_samples)  # one journaled question per doc
    assert first["emorealm"]["journal"] == {"path": str(rank0), "ranks": 2, "reused": 0, "computed": n0 + n1,
                                            "dropped_lines": 0}
    # rank 1's journal is lost: a single process resumes, recomputing exactly rank 1's questions
    rank1.unlink()
    again, again_samples = _run([sys.executable, "-m", "emorealm"], out, tiny_omni_dir, "--resume")
    assert again["emorealm"]["journal"]["reused"] == n0 and again["emorealm"]["journal"]["computed"] == n1
    assert again["results"][TASK] == first["results"][TASK] and again_samples == first_samples
    # and two processes resume from the single process's journal without computing anything
    third, third_samples = _run(_torchrun(29521), out, tiny_omni_dir, "--resume")
    assert third["emorealm"]["journal"]["computed"] == 0 and third["emorealm"]["journal"]["reused"] == n0 + n1
    assert third["results"][TASK] == first["results"][TASK] and third_samples == first_samples
