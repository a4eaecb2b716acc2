"""Running the CLI and reading what a run wrote (results files, samples files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

# keys of a results file that say when/how long, not what (everything else must match between runs)
VOLATILE_TOP = ("date", "start_time", "end_time", "total_evaluation_time_seconds")


def make_emorealm_root(root: Path, n_questions: int = 200, n_clips: int = 4, seconds: float = 0.5) -> Path:
    """An EmoReAlM data root with ``n_questions`` rows over a few short clips (see emorealm.sample_data.synthetic)."""
    from emorealm.sample_data.synthetic import write_emorealm_root

    return write_emorealm_root(root, n_questions, n_clips, seconds)


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 900, check: bool = False,
            cwd: Path | None = None, unset: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """``python -m emorealm ARGS`` in a fresh interpreter (``env`` added to, ``unset`` removed from ours)."""
    full = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in unset}
    return subprocess.run([sys.executable, "-m", "emorealm", *args], capture_output=True, text=True,
                          env=full, timeout=timeout, check=check, cwd=cwd)


def popen_cli(*args: str, env: dict[str, str] | None = None, log: Path) -> subprocess.Popen:
    fh = open(log, "w")  # noqa: SIM115  (closed with the process)
    return subprocess.Popen([sys.executable, "-m", "emorealm", *args], stdout=fh, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})})


def results_file(folder: Path) -> Path:
    files = sorted(folder.glob("results_*.json"))
    assert files, f"no results file in {folder}"
    return files[-1]


def normalized_results(path: Path, resumed: bool = True) -> str:
    """A results file without its timestamps and durations; without the journal's accounting (how many
    samples were reused) when comparing a resumed run, else without only the journal's path."""
    res = json.loads(path.read_text())
    for key in VOLATILE_TOP:
        res.pop(key, None)
    journal = res.get("emorealm", {}).get("journal")
    if journal is not None:
        if resumed:
            res["emorealm"].pop("journal")
        else:
            journal.pop("path")
    return json.dumps(res, sort_keys=True, indent=1)  # as text, so that NaN equals NaN


def samples_by_task(folder: Path, stamp: str) -> dict[str, list[dict[str, Any]]]:
    """The samples files of one results timestamp, per task, sorted by doc id."""
    out = {}
    for f in folder.glob(f"samples_*_{stamp}.jsonl"):
        task = f.name[len("samples_"):-len(f"_{stamp}.jsonl")]
        rows = [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
        out[task] = sorted(rows, key=lambda r: r["doc_id"])
    return out


def stamp_of(results_path: Path) -> str:
    return results_path.stem[len("results_"):]

