"""Run a whole study: the world, every (arm, seed) cell (resumable, optionally in several
processes), then ``study.json``, the tables and the plots."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from emorealm.errors import ConfigError
from emorealm.toyworld.study.cells import METRICS, Cell, all_cells, base_model_path, run_cell
from emorealm.toyworld.study.config import StudyConfig, study_from_dict

STUDY_VERSION = 1
CONFIG_FILE = "study_config.json"
CI_METHOD = "95% Student t-interval over seeds: mean ± t(0.975, n-1) · sd / sqrt(n), n = number of seeds"


def prepare_folder(cfg: StudyConfig, out: Path, overwrite: bool) -> None:
    """Record the config in ``out``; a folder holding another config is refused (or cleared with ``overwrite``)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / CONFIG_FILE
    if path.exists() and not overwrite:
        old = json.loads(path.read_text())
        if old != json.loads(json.dumps(cfg.as_dict())):
            raise ConfigError(f"{out} holds a study with a different config ({path}); use another --out folder, or "
                              "--overwrite to discard it")
    if overwrite:
        for name in ("cells", "study.json"):
            p = out / name
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    path.write_text(json.dumps(cfg.as_dict(), indent=2))


def read_folder_config(out: Path) -> StudyConfig:
    path = out / CONFIG_FILE
    if not path.exists():
        raise ConfigError(f"{out} holds no study ({CONFIG_FILE} missing); start it with a config file")
    return study_from_dict(json.loads(path.read_text()))


def _work(cfg: StudyConfig, out: Path, cells: list[Cell], base: Path, world: dict[str, Any], console) -> list[str]:
    """Run every cell not done and not claimed by another process; returns the names this one ran."""
    from filelock import FileLock, Timeout

    ran = []
    for k, cell in enumerate(cells, 1):
        folder = cell.folder(out)
        if (folder / METRICS).exists():
            run_cell(cfg, cell, out, base, out / "world", world, console)  # checks its fingerprint, returns it
            continue
        folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(folder / ".lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            continue  # another process works on it
        try:
            if not (folder / METRICS).exists():
                console.rule(f"cell {k}/{len(cells)}: {cell.name}")
                run_cell(cfg, cell, out, base, out / "world", world, console)
                ran.append(cell.name)
        finally:
            lock.release()
    return ran


def _spawn_workers(out: Path, n: int) -> list[subprocess.Popen]:
    cmd = [sys.executable, "-m", "emorealm", "study", "--worker", "--out", str(out)]
    procs = []
    for i in range(n):
        log = open(out / f"worker{i + 1}.log", "a", encoding="utf-8")  # noqa: SIM115 (closed with the process)
        procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
        time.sleep(2)  # let it claim a cell before this process claims the next
    return procs


def run_study(cfg: StudyConfig | None, out: Path, jobs: int = 1, overwrite: bool = False, worker: bool = False,
              console=None) -> dict[str, Any] | None:
    """Run (or resume) the study in ``out``; returns the study record (None in a worker)."""
    from rich.console import Console

    from emorealm.toyworld.study.world import ensure_world

    console = console or Console(stderr=True)
    if worker:
        cfg = read_folder_config(out)
    else:
        assert cfg is not None
        if jobs < 1:
            raise ConfigError(f"--jobs must be >= 1, got {jobs}")
        prepare_folder(cfg, out, overwrite)
    base = base_model_path(cfg, console)
    world = ensure_world(out / "world", cfg.world, console)
    cells = all_cells(cfg)
    t0 = time.time()
    procs = _spawn_workers(out, jobs - 1) if not worker and jobs > 1 else []
    try:
        _work(cfg, out, cells, base, world, console)
    finally:
        for p in procs:
            p.wait()
    if worker:
        return None
    _work(cfg, out, cells, base, world, console)  # anything a worker left (it died): run it here
    missing = [c.name for c in cells if not (c.folder(out) / METRICS).exists()]
    if missing:
        raise ConfigError(f"study cells not finished: {', '.join(missing)} (see {out}/worker*.log); rerun the same "
                          "command to resume")
    return write_outputs(cfg, out, base, world, cells, time.time() - t0, console)


def report_finished(out: Path, console=None) -> dict[str, Any]:
    """The outputs of an unfinished study from its whole seeds (every arm finished), marked partial."""
    from dataclasses import replace

    from rich.console import Console

    console = console or Console(stderr=True)
    cfg = read_folder_config(out)
    done = {(c.arm, c.seed) for c in all_cells(cfg) if (c.folder(out) / METRICS).exists()}
    seeds = [s for s in cfg.seeds if all((a, s) in done for a in cfg.arms)]
    if not seeds:
        raise ConfigError(f"{out}: no seed has every arm finished yet; nothing to report")
    part = replace(cfg, seeds=seeds)
    missing = [c.name for c in all_cells(cfg) if (c.arm, c.seed) not in done]
    base = base_model_path(cfg, console)
    world = json.loads((out / "world" / "toyworld.json").read_text())
    return write_outputs(part, out, base, world, all_cells(part), 0.0, console, partial=missing)


def write_outputs(cfg: StudyConfig, out: Path, base: Path, world: dict[str, Any], cells: list[Cell],
                  seconds: float, console, partial: list[str] | None = None) -> dict[str, Any]:
    from emorealm.diagnostics.report import _nan_to_none
    from emorealm.toyworld.study.aggregate import aggregate, choose_default_form, main_table, paired_table
    from emorealm.toyworld.study.cells import BASE_ARM, base_identity
    from emorealm.toyworld.study.movement import movement
    from emorealm.toyworld.study.plots import accuracy_plot, grounding_plot, paired_plot

    records = [json.loads((c.folder(out) / METRICS).read_text()) for c in cells]
    base_eval = Cell(BASE_ARM, None).folder(out) / "eval"
    if cfg.reference_base:  # how far each checkpoint moved from the base model (same questions)
        for c, rec in zip(cells, records, strict=True):
            if c.seed is not None:
                mv = movement(c.folder(out) / "eval", base_eval)
                rec["metrics"]["movement/flip_rate"] = mv["flip_rate"]
                rec["metrics"]["movement/mean_abs_dlogp"] = mv["mean_abs_dlogp"]
    arms = list(cfg.arms)
    agg = aggregate(records, arms, cfg.seeds)
    rows = {r["train"]["rows"] for r in records if r.get("train")}
    choice = choose_default_form(agg)
    study = {
        "emorealm_study_version": STUDY_VERSION, "smoke_test": True,
        "config": cfg.as_dict(), "base_model": base_identity(base), "world": world,
        "ci_method": CI_METHOD, "seeds": cfg.seeds, "arms": arms,
        "training_rows_per_arm": sorted(rows), "default_debias_form": choice,
        "aggregate": agg, "cells": records, "wall_seconds_this_run": round(seconds, 1),
        "partial": bool(partial), "unfinished_cells": partial or [],
    }
    (out / "study.json").write_text(json.dumps(_nan_to_none(study), indent=2, default=str))
    table, paired = main_table(agg, arms), paired_table(agg, arms)
    (out / "study.md").write_text(f"## Main table\n\n{table}\n\n## Paired differences to plain DPO\n\n{paired}\n\n"
                                  f"Intervals: {CI_METHOD}.\n\nDefault debiasing form by the pre-registered rule: "
                                  f"**{choice['default']}** ({choice['rule']}).\n")
    accuracy_plot(agg, arms, out / "study_accuracy.png")
    grounding_plot(agg, arms, out / "study_grounding.png")
    paired_plot(agg, arms, out / "study_paired.png")
    console.print(table)
    console.print(f"default debiasing form by the study's rule: {choice['default']}")
    console.print(f"study: {out / 'study.json'}, {out / 'study.md'}, {out / 'study_accuracy.png'}, "
                  f"{out / 'study_grounding.png'}")
    return study
