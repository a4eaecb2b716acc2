"""One cell of the study: train an (arm, seed) from the base model, then measure it.

A cell is done when ``metrics.json`` exists in its folder; it records the cell's fingerprint
(its training config, the base model's marker, the world's manifest and the evaluation settings),
so a study folder is never silently reused for another config. A killed cell restarts from
scratch on the next run (a trained but unmeasured checkpoint is kept and only measured). Two
processes may work on one study folder: each cell is claimed with a lock file.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from emorealm.errors import ConfigError
from emorealm.toyworld.study.config import StudyConfig, build_arm_configs, fingerprint

BASE_ARM = "base"  # the untrained base model, measured once (a reference row, not an arm)
METRICS = "metrics.json"


@dataclass(frozen=True)
class Cell:
    arm: str
    seed: int | None  # None: the base model's reference row

    @property
    def name(self) -> str:
        return f"{self.arm}/seed{self.seed}" if self.seed is not None else self.arm

    def folder(self, out: Path) -> Path:
        return out / "cells" / (self.arm if self.seed is None else f"{self.arm}/seed{self.seed}")


def all_cells(cfg: StudyConfig) -> list[Cell]:
    """Seed-major order: a study stopped early has whole seeds."""
    cells = [Cell(BASE_ARM, None)] if cfg.reference_base else []
    return cells + [Cell(arm, s) for s in cfg.seeds for arm in cfg.arms]


def base_model_path(cfg: StudyConfig, console=None) -> Path:
    if cfg.base_model == "toy-omni":
        from emorealm.toyworld.omni import ensure_toy_omni

        return ensure_toy_omni(console=console)
    p = Path(cfg.base_model).expanduser()
    if not p.is_dir():
        raise ConfigError(f"study base_model {cfg.base_model!r}: no such folder (or use 'toy-omni')")
    return p.resolve()


def base_identity(base: Path) -> Any:
    from emorealm.toyworld.omni import TOY_MARKER

    marker = base / TOY_MARKER
    return json.loads(marker.read_text()) if marker.exists() else str(base)


def cell_fingerprint(cfg: StudyConfig, cell: Cell, base: Path, world: dict[str, Any], train: Any) -> str:
    return fingerprint({"cell": asdict(cell), "base": base_identity(base), "world": world,
                        "eval": asdict(cfg.eval), "train": None if train is None else
                        {k: v for k, v in train.as_dict().items() if k != "output_dir"}})


def done_metrics(folder: Path, fp: str) -> dict[str, Any] | None:
    """The cell's recorded metrics if it finished with this fingerprint; a different one is an error."""
    path = folder / METRICS
    if not path.exists():
        return None
    rec = json.loads(path.read_text())
    if rec.get("fingerprint") != fp:
        raise ConfigError(f"{path} was written by a different study config (or base model, or world); use "
                          "another --out folder, or --overwrite to discard the old results")
    return rec


def model_args(base: Path, adapter: Path | None, frames: int) -> str:
    peft = f",peft={adapter}" if adapter is not None else ""
    return f"pretrained={base}{peft},min_frames={frames},max_frames={frames}"


def run_cell(cfg: StudyConfig, cell: Cell, out: Path, base: Path, world_root: Path, world: dict[str, Any],
             console) -> dict[str, Any]:
    """Train (unless already trained) and measure one cell; writes and returns its metrics record."""
    from emorealm.toyworld.study.measure import measure

    folder = cell.folder(out)
    train = None
    if cell.seed is not None:
        train = build_arm_configs(cfg, cell.seed, str(base), str(world_root / "prefs.jsonl"),
                                  folder)[cell.arm]
        train.output_dir = str(folder / "model")
    fp = cell_fingerprint(cfg, cell, base, world, train)
    if (rec := done_metrics(folder, fp)) is not None:
        return rec
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    record: dict[str, Any] = {"arm": cell.arm, "seed": cell.seed, "fingerprint": fp}
    adapter = None
    if train is not None:
        model_dir = folder / "model"
        from emorealm.training.trainer import TRAIN_RECORD

        if not (model_dir / TRAIN_RECORD).exists():  # killed during training: start the cell again
            shutil.rmtree(model_dir, ignore_errors=True)
            from emorealm.training.trainer import Trainer

            console.print(f"[bold]{cell.name}[/]: training ({train.objective}, {train.train.max_steps} steps)")
            Trainer(train, console=console).run()
        tr = json.loads((model_dir / TRAIN_RECORD).read_text())
        record["train"] = {"steps": tr["steps"], "rows": tr["rows"], "skipped_at_load": tr["skipped_at_load"],
                           "skipped_in_training": tr["skipped_in_training"], "final_metrics": tr["final_metrics"],
                           "loss": tr["config"]["loss"], "objective": tr["config"]["objective"]}
        adapter = model_dir
    record["train_seconds"] = round(time.time() - t0, 1)
    t1 = time.time()
    console.print(f"[bold]{cell.name}[/]: measuring through emorealm run / diagnose")
    shutil.rmtree(folder / "eval", ignore_errors=True)
    record["metrics"] = measure(model_args(base, adapter, cfg.eval.frames), world_root, folder / "eval", cfg.eval,
                                console)
    record["eval_seconds"] = round(time.time() - t1, 1)
    tmp = folder / (METRICS + ".tmp")
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(folder / METRICS)  # written last and atomically: its presence means the cell is done
    console.print(f"[bold]{cell.name}[/]: done (train {record['train_seconds']} s, eval {record['eval_seconds']} s)")
    return record
