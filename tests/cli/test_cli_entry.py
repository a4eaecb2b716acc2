"""Issue 19: ``python -m emorealm`` works from any folder, also from the one holding a clone named
``emorealm`` (whose root then imports as a namespace package, emorealm/_import_guard.py); an output
folder there cannot pass for one of our modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import emorealm

REPO = Path(__file__).resolve().parents[2]


def _py(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["clone_named_emorealm", "plain_folder"])
def test_python_m_emorealm_from_any_folder(tmp_path, layout):
    if layout == "clone_named_emorealm":
        clone = tmp_path / "emorealm"
        clone.mkdir()
        for item in REPO.iterdir():  # a clone: the repository's entries (linked, not copied)
            if item.name not in (".git", "results"):
                (clone / item.name).symlink_to(item, target_is_directory=item.is_dir())
        (clone / "results" / "tiny-omni").mkdir(parents=True)  # what `run` inside the clone writes
    (tmp_path / "results" / "tiny-omni").mkdir(parents=True)  # an output folder next to the script
    got = _py(tmp_path, "-m", "emorealm", "--version")
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == f"emorealm {emorealm.__version__}"
    script = tmp_path / "check.py"
    script.write_text("from emorealm.cli import main\nimport emorealm.evaluation.results, emorealm.evaluation.runner, emorealm.tasks\n"
                      "print(emorealm.evaluation.results.__file__)\nprint(callable(emorealm.evaluation.results.write_results))\n"
                      "print(len(list(emorealm.evaluation.runner.tasks_dir().glob('*/utils.py'))))\n")
    got = _py(tmp_path, str(script))
    assert got.returncode == 0, got.stderr
    file, has_fn, n_tasks = got.stdout.split()
    assert file.endswith("emorealm/evaluation/results.py") and has_fn == "True" and int(n_tasks) >= 4
    got = _py(tmp_path, "-m", "emorealm", "run", "--model", "tiny-omni", "--tasks", "reasoning_basic_audio",
              "--limit", "1", "--output", str(tmp_path / "out"))
    assert got.returncode == 0, got.stderr
    assert len(list((tmp_path / "out").rglob("results_*.json"))) == 1
