"""8 separate processes × 25 submissions against one leaderboard file: nothing lost, never a broken file."""

from __future__ import annotations

import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

import pytest

from emorealm.leaderboard.store import read_leaderboard
from emorealm.leaderboard.submit import check_file

from support.results_fixtures import make_run

N_PROC, PER_PROC = 8, 25


def _submitter(worker: int, runs: list[str], board: str, barrier, tests_dir: str) -> None:
    sys.path.insert(0, tests_dir)
    from emorealm.leaderboard.submit import SubmitOptions, submit

    opts = SubmitOptions(submitter=f"worker-{worker}", allow_smoke=True, lock_timeout=300)
    barrier.wait()
    for r in runs:
        submit(Path(r), Path(board), opts)


@pytest.mark.slow
def test_concurrent_submitters_never_lose_an_entry(tmp_path):
    runs = [make_run(tmp_path / f"r{i:03d}", model=f"model-{i:03d}", model_sha=f"{i:064x}", tasks=["dfew"], n=6, seed=i)
            for i in range(N_PROC * PER_PROC)]
    board = tmp_path / "lb.json"
    ctx = mp.get_context("spawn")  # fresh interpreters: no shared state with this process
    barrier = ctx.Barrier(N_PROC)
    procs = [ctx.Process(target=_submitter,
                         args=(w, [str(r) for r in runs[w * PER_PROC:(w + 1) * PER_PROC]], str(board), barrier,
                               str(Path(__file__).parent)))
             for w in range(N_PROC)]
    for p in procs:
        p.start()
    # meanwhile, every read of the file must see a complete, valid leaderboard
    reads = 0
    while any(p.is_alive() for p in procs):
        if board.exists():
            read_leaderboard(board)
            reads += 1
        time.sleep(0.2)
    for p in procs:
        p.join(timeout=600)
        assert p.exitcode == 0
    final = read_leaderboard(board)
    assert len(final["entries"]) == N_PROC * PER_PROC
    assert {e["model"]["name"] for e in final["entries"]} == {f"model-{i:03d}" for i in range(N_PROC * PER_PROC)}
    assert {e["submitter"] for e in final["entries"]} == {f"worker-{w}" for w in range(N_PROC)}
    check_file(final)
    json.loads(board.read_text())
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["lb.json", "lb.json.lock"]  # no temp files left
    assert reads > 0
