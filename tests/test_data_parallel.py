"""Data parallel HF evaluation: 2 gloo processes under torchrun give exactly one process's results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TASK = "reasoning_basic_audio_ll"


def _run(cmd_prefix: list[str], out: Path, tiny_omni_dir: Path) -> tuple[dict, dict]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [*cmd_prefix, "run", "--model", "hf", "--model-args", f"pretrained={tiny_omni_dir}",
           "--tasks", TASK, "--device", "cpu", "--output", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(next(out.rglob("results_*.json")).read_text())
    samples = {}
    for line in next(out.rglob(f"samples_{TASK}_*.jsonl")).read_text().splitlines():
        rec = json.loads(line)
        samples[rec["doc_id"]] = rec["resps"]
    return results, samples


@pytest.mark.slow
def test_two_gloo_processes_equal_one(tmp_path, tiny_omni_dir, sample_root):
    one, one_samples = _run([sys.executable, "-m", "emorealm"], tmp_path / "one", tiny_omni_dir)
    two, two_samples = _run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                             "--master_port", "29517", "-m", "emorealm"], tmp_path / "two", tiny_omni_dir)
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
