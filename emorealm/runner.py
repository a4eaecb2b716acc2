"""Drive an evaluation: resolve model and tasks, run lm-eval's ``simple_evaluate``, write results."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emorealm.errors import ConfigError, clear_sample_errors
from emorealm.lm_eval_bridge import get_adapter_class
from emorealm.paths import resolve_data_root

TASKS_DIR = Path(__file__).resolve().parent.parent / "tasks"
# Default (generation) task of every registered benchmark: what ``--tasks all`` means.
DEFAULT_TASKS: list[str] = ["emorealm"]
PRESETS = {"tiny-omni": "hf"}


def tasks_dir() -> Path:
    """lm-eval include_path of our task configs (the installed emorealm.tasks package)."""
    import emorealm.tasks

    return Path(next(iter(emorealm.tasks.__path__)))


def task_manager(metadata: dict[str, Any] | None = None):
    """A TaskManager over our tasks only (skips lm-eval's ~11 s index of its built-in tasks)."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(tasks_dir()), include_defaults=False, metadata=metadata)


def parse_kv(text: str | None, what: str) -> dict[str, Any]:
    """``"a=1,b=x"`` → ``{"a": 1, "b": "x"}`` (numbers and booleans converted as lm-eval does)."""
    if not text:
        return {}
    from lm_eval.utils import simple_parse_args_string

    try:
        return simple_parse_args_string(text)
    except ValueError as exc:
        raise ConfigError(f"cannot parse {what} {text!r}: expected key=value,key=value") from exc


def resolve_tasks(names: list[str], tm) -> list[str]:
    """Expand ``all`` and check every name against the task index, listing known ones on error."""
    out: list[str] = []
    for name in names:
        for n in (DEFAULT_TASKS if name == "all" else [name]):
            if n not in out:
                out.append(n)
    known = set(tm.all_tasks)
    unknown = [n for n in out if n not in known]
    if unknown:
        visible = sorted(k for k in known if not k.startswith("_"))
        raise ConfigError(f"unknown task(s) {unknown}; known tasks and groups: {', '.join(visible)}")
    return out


@dataclass
class RunConfig:
    model: str
    model_args: str = ""
    tasks: list[str] = field(default_factory=lambda: ["emorealm"])
    task_args: str = ""
    data_root: str | None = None
    output: str = "results"
    limit: int | float | None = None
    seed: int = 0
    batch_size: int = 1
    device: str = "cpu"
    gen_kwargs: str | None = None
    log_samples: bool = True


def build_model(cfg: RunConfig):
    """Instantiate the adapter for ``cfg.model`` (an adapter name or a preset such as tiny-omni)."""
    args = parse_kv(cfg.model_args, "--model-args")
    adapter = cfg.model
    if cfg.model in PRESETS:
        adapter = PRESETS[cfg.model]
        if cfg.model == "tiny-omni" and "pretrained" not in args:
            from emorealm.tiny import ensure_tiny_omni

            args["pretrained"] = str(ensure_tiny_omni())
    cls = get_adapter_class(adapter)
    return cls(**args, batch_size=cfg.batch_size, device=cfg.device), adapter, args


def model_display_name(cfg: RunConfig, args: dict[str, Any]) -> str:
    if cfg.model in PRESETS:
        return cfg.model
    ref = str(args.get("pretrained") or args.get("model") or cfg.model)
    return Path(ref).name if Path(ref).exists() else ref


def evaluate(cfg: RunConfig) -> tuple[dict[str, Any], Path]:
    """Run the evaluation; returns (results dict, results file path)."""
    from lm_eval import simple_evaluate

    from emorealm.clustered import add_clustered_stderr
    from emorealm.results import add_metadata, write_results

    metadata = parse_kv(cfg.task_args, "--task-args")
    if cfg.data_root:
        metadata["data_root"] = cfg.data_root
    metadata["data_root"] = str(resolve_data_root(metadata))
    tm = task_manager(metadata)
    task_names = resolve_tasks(cfg.tasks, tm)
    clear_sample_errors()
    random.seed(cfg.seed)
    lm, adapter, args = build_model(cfg)
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    results = simple_evaluate(
        model=lm, tasks=task_names, task_manager=tm, limit=cfg.limit, log_samples=True,
        gen_kwargs=cfg.gen_kwargs, random_seed=cfg.seed, numpy_random_seed=cfg.seed,
        torch_random_seed=cfg.seed, fewshot_random_seed=cfg.seed, metadata=metadata,
        bootstrap_iters=1000,
    )
    if results is None:
        raise ConfigError("lm-eval returned no results (is this a non-zero rank?)")
    add_metadata(results, lm, adapter, cfg, metadata)
    add_clustered_stderr(results, seed=cfg.seed)  # clip-clustered SEs next to lm-eval's (emorealm.clustered)
    name = model_display_name(cfg, args)
    path = write_results(results, Path(cfg.output), name, adapter, log_samples=cfg.log_samples)
    return results, path
