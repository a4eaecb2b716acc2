"""Helpers and fixtures shared by the leaderboard test files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emorealm.cli import main
from emorealm.leaderboard.submit import SubmitOptions

from support.results_fixtures import make_run

OPTS = SubmitOptions(submitter="tester", allow_smoke=True)


def samples(results: Path, task: str) -> list[dict]:
    ts = results.stem.removeprefix("results_")
    return [json.loads(x) for x in (results.parent / f"samples_{task}_{ts}.jsonl").read_text().splitlines()]


def edit_json(path: Path, fn) -> None:
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


def call_main(*argv: str) -> int:
    """The emorealm CLI in this process (``emorealm.cli.main``); its exit code."""
    return main([str(a) for a in argv])


# fixtures are registered under their ``name``; the test modules import these functions, which
# keeps the imported names apart from the test parameters
@pytest.fixture(autouse=True, name="wide_console")
def wide_console_fixture(monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # rich wraps at 80 columns when captured; keep messages on one line


@pytest.fixture(name="run")
def run_fixture(tmp_path):
    return make_run(tmp_path / "out", n=12, seed=1)
