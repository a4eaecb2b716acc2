"""The layout's rules (docs/architecture.md), checked on the source: shims import only their benchmark,
core code names no benchmark, every package is installed, no module grows past 400 lines."""

from __future__ import annotations

import ast
import configparser
from pathlib import Path

import pytest

from emorealm.benchmarks import registry

REPO = Path(__file__).resolve().parents[2]
# code that must not name a benchmark: it asks emorealm.benchmarks.registry
CORE = ["emorealm/evaluation", "emorealm/comparison", "emorealm/diagnostics", "emorealm/commands", "model_adapters",
        "training", "leaderboard"]


def _strings(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docstrings}


@pytest.mark.parametrize("folder", CORE)
def test_core_names_no_benchmark(folder):
    # "emorealm" is also the project's own name (results block, logger), so it is not a benchmark name here
    names = ({b.name for b in registry.BENCHMARKS} | {t for b in registry.BENCHMARKS for t in b.tasks} | {"_ll"}) - {"emorealm"}
    hits = {str(p.relative_to(REPO)): sorted(_strings(p) & names) for p in (REPO / folder).rglob("*.py")}
    assert {k: v for k, v in hits.items() if v} == {}


def test_task_utils_are_shims_over_their_benchmark_module():
    folders = sorted(p.parent for p in (REPO / "tasks").glob("*/utils.py"))
    assert [f.name for f in folders] == sorted(b.name for b in registry.BENCHMARKS)
    for folder in folders:
        tree = ast.parse((folder / "utils.py").read_text())
        imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert imported == [f"emorealm.benchmarks.{folder.name}"], folder


def test_every_task_belongs_to_one_registered_benchmark():
    tasks = [t for b in registry.BENCHMARKS for t in b.tasks]
    assert len(tasks) == len(set(tasks))
    assert registry.default_tasks() == ["emorealm", "dfew", "ravdess", "emer"]
    assert registry.data_key("reasoning_stress_video_ll") == "reasoning_stress_video"
    assert registry.data_key("dfew_ll") == registry.data_key("dfew") == "dfew"
    assert registry.data_key("another_package_task_ll") == "another_package_task_ll"  # unknown: its own name


def test_setup_cfg_lists_every_package():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    listed = set(cfg.get("options", "packages").split())
    mapping = dict(line.split(" = ") for line in cfg.get("options", "package_dir").strip().splitlines())
    found = set()
    for name, folder in mapping.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            found.add(".".join([name, *rel.parts]))
    found = {p for p in found if not p.startswith("emorealm.tasks.")}  # task folders are data, not packages
    assert found - listed == set()


def test_no_module_over_400_lines():
    sizes = {str(p.relative_to(REPO)): len(p.read_text(encoding="utf-8").splitlines())
             for folder in ("emorealm", "model_adapters", "training", "leaderboard", "tasks", "tests", "bench")
             for p in (REPO / folder).rglob("*.py")}
    assert {k: n for k, n in sizes.items() if n > 400} == {}
