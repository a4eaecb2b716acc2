"""Drive an evaluation: resolve model and tasks, run lm-eval's ``simple_evaluate``, write results.

``run`` and ``diagnose`` share one path (:func:`open_run`): the run-owned state is opened
(``emorealm.run_state``), tasks load and are checked, the journal is prechecked and the
media spec validated before the model loads; :meth:`Run.simple_evaluate` calls lm-eval and
:meth:`Run.finish` attaches every ``emorealm`` block and writes the files.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emorealm import log_filters
from emorealm.benchmarks import registry
from emorealm.benchmarks.common import resolve_data_root
from emorealm.errors import ConfigError, EmorealmError
from emorealm.model_adapters.registry import get_adapter_class
from emorealm.options import parse_kv  # noqa: F401  (re-exported: emorealm.evaluation.runner.parse_kv)

TASKS_DIR = Path(__file__).resolve().parent.parent / "tasks"
# Default (generation) task of every registered benchmark: what ``--tasks all`` means.
DEFAULT_TASKS: list[str] = registry.default_tasks()
PRESETS = {"tiny-omni": "hf"}
log = logging.getLogger("emorealm.evaluation.runner")


def tasks_dir() -> Path:
    """lm-eval include_path of our task configs (the installed emorealm.tasks package)."""
    import emorealm.tasks

    return Path(next(iter(emorealm.tasks.__path__)))


def task_manager(metadata: dict[str, Any] | None = None):
    """A TaskManager over our tasks only (skips lm-eval's ~11 s index of its built-in tasks).

    It remembers what it loaded last (``.loaded``) so the resume journal can read task versions.
    """
    from lm_eval.tasks import TaskManager

    class _RecordingTaskManager(TaskManager):
        loaded: dict[str, Any] | None = None

        def load(self, task_list):
            self.loaded = super().load(task_list)
            return self.loaded

    return _RecordingTaskManager(include_path=str(tasks_dir()), include_defaults=False, metadata=metadata)


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
        from emorealm.suggest import unknown_names_message

        visible = sorted(k for k in known if not k.startswith("_"))
        raise ConfigError(unknown_names_message("task(s)", unknown, visible + ["all"]))
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
    batch_size: int | None = None  # None: the adapter's own (or --model-args batch_size); 1 for hf
    device: str | None = None  # None: the adapter's own (or --model-args device); cpu for hf
    gen_kwargs: str | None = None
    log_samples: bool = True
    resume: bool = False  # reuse the finished samples of <output>/<model name>/journal.jsonl
    overwrite: bool = False  # discard that journal and start again
    journal: bool = True  # keep a resume journal at all
    max_error_rate: float = 0.5  # a task with a larger share of failed samples fails the command (files kept)


def model_args(cfg: RunConfig) -> tuple[str, dict[str, Any]]:
    """(adapter name, adapter kwargs) for ``cfg.model`` (an adapter name or a preset such as tiny-omni)."""
    from emorealm.model_adapters.registry import adapter_targets
    from emorealm.options_check import check_model_name

    check_model_name(cfg.model, PRESETS, adapter_targets())
    args = parse_kv(cfg.model_args, "--model-args")
    for key, flag, value in (("batch_size", "--batch-size", cfg.batch_size), ("device", "--device", cfg.device)):
        if key in args and value is not None:
            raise ConfigError(f"{key} given twice: {flag} {value} and --model-args {key}={args[key]}; give it "
                              f"once ({flag} is the usual place)")
    adapter = cfg.model.removeprefix("emorealm-")
    check_local_paths(args)
    if cfg.model in PRESETS:
        adapter = PRESETS[cfg.model]
        if cfg.model == "tiny-omni" and "pretrained" not in args:
            from emorealm.model_adapters.tiny_models.omni import ensure_tiny_omni

            args["pretrained"] = str(ensure_tiny_omni())
    return adapter, args


def check_local_paths(args: dict[str, Any]) -> None:
    """A ``pretrained``/``peft`` that looks like a path (not a hub id) must exist: say so plainly
    rather than let Hugging Face answer "Repo id must be in the form 'repo_name'..."."""
    for key in ("pretrained", "peft"):
        ref = args.get(key)
        if not isinstance(ref, str) or not ref or Path(ref).exists():
            continue
        looks_local = (ref.startswith((".", "/", "~")) or "\\" in ref or ref.count("/") > 1
                       or Path(ref).suffix in (".safetensors", ".bin"))
        if looks_local:
            raise ConfigError(f"{key}={ref}: no such checkpoint folder ({Path(ref).expanduser().resolve()} does "
                              "not exist); give an existing folder, or a hub id such as Qwen/Qwen2.5-Omni-7B")


def build_model(cfg: RunConfig):
    """Instantiate the adapter for ``cfg.model`` (an adapter name or a preset such as tiny-omni)."""
    adapter, args = model_args(cfg)
    cls = get_adapter_class(adapter)
    # the flags when given, else what --model-args says, else the adapter's defaults (one value each:
    # model_args refuses a key given both ways)
    extra = {"batch_size": 1 if cfg.batch_size is None and "batch_size" not in args else cfg.batch_size,
             "device": "cpu" if cfg.device is None and "device" not in args else cfg.device}
    return cls(**args, **{k: v for k, v in extra.items() if v is not None}), adapter, args


def check_media_args(args: dict[str, Any]) -> None:
    """Refuse a bad ``media=`` preset or media option (fps, max_frames, ...) before the model loads;
    the adapter builds the same spec again, with its family's defaults, once it loads."""
    from emorealm.media.spec import spec_from_args

    spec_from_args(dict(args))


def model_display_name(cfg: RunConfig, args: dict[str, Any]) -> str:
    if cfg.model in PRESETS:
        return cfg.model
    ref = str(args.get("pretrained") or args.get("model") or cfg.model)
    return Path(ref).name if Path(ref).exists() else ref


def output_folder(cfg: RunConfig, args: dict[str, Any]) -> Path:
    """``<output>/<model name sanitised as lm-eval does>/``: results, samples and the journal."""
    from lm_eval.utils import sanitize_model_name

    return Path(cfg.output) / sanitize_model_name(model_display_name(cfg, args))


def _task_identity(tm) -> dict[str, Any]:
    from emorealm.run_state import current

    state = current()
    return {name: {"version": getattr(task, "VERSION", None), "data_fingerprint": state.fingerprint(name, registry.data_key(name))}
            for name, task in ((tm.loaded or {}).get("tasks") or {}).items()}


def pre_identity(tm, cfg: RunConfig, task_options: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """What the journal can check before the model loads: seed, task options, task versions and
    data fingerprints, and the hash of the local weight files named by the model arguments."""
    from emorealm.fingerprint import weights_hash

    return {"seed": cfg.seed, "task_options": {k: v for k, v in task_options.items() if k != "data_root"},
            "tasks": _task_identity(tm), "weights": weights_hash(args.get("pretrained"), args.get("peft"))}


def run_identity(lm, tm, cfg: RunConfig, task_options: dict[str, Any]) -> dict[str, Any]:
    """What must not change between a run and its resumption (checked by the journal)."""
    from emorealm.journal import model_identity

    meta = lm.emorealm_metadata()
    return {"model": model_identity(meta), "media": meta.get("media"), "seed": cfg.seed,
            "task_options": {k: v for k, v in task_options.items() if k != "data_root"}, "tasks": _task_identity(tm)}


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def strip_addresses(obj: Any) -> Any:
    """Remove memory addresses from reprs (``<function f at 0x7f...>``) so that the same run gives the
    same results file (lm-eval writes task configs holding function reprs)."""
    if isinstance(obj, str):
        return _ADDRESS.sub("", obj)
    if isinstance(obj, dict):
        return {k: strip_addresses(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [strip_addresses(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float)):
        return obj
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return obj.item()
    return _ADDRESS.sub("", str(obj))  # what lm-eval's JSON writer would do (functions, classes, ...)


def prepare_tasks(cfg: RunConfig) -> tuple[dict[str, Any], Any, list[str]]:
    """Task options (with the resolved data root), our TaskManager, and the checked task names."""
    import os

    metadata = parse_kv(cfg.task_args, "--task-args")
    if cfg.data_root:
        metadata["data_root"] = cfg.data_root
    sample_data = not (metadata.get("data_root") or os.environ.get("EMOREALM_DATA_ROOT"))
    metadata["data_root"] = str(resolve_data_root(metadata))
    if sample_data:
        log.info("no data root given; using the built-in sample data at %s", metadata["data_root"])
    log_filters.install_for_run()
    log_filters.quiet_git()
    tm = task_manager(metadata)
    names = resolve_tasks(cfg.tasks, tm)
    check_options(cfg, metadata, tm, names)
    return metadata, tm, names


def check_options(cfg: RunConfig, metadata: dict[str, Any], tm, names: list[str]) -> None:
    """Typos in --task-args / --gen-kwargs / --model are errors before any model loads (the tasks'
    data is loaded here: it is needed anyway, and a refused data root costs no model loading)."""
    from emorealm.options_check import check_gen_kwargs, check_task_options

    adapter, _ = model_args(cfg)
    check_gen_kwargs(parse_kv(cfg.gen_kwargs, "--gen-kwargs"), get_adapter_class(adapter), adapter)
    loaded = tm.load(names)
    check_task_options({k: v for k, v in parse_kv(cfg.task_args, "--task-args").items()},
                       loaded.get("tasks") or {}, "tasks " + ",".join(names))


@dataclass
class Run:
    """One run with its model loaded: what :func:`open_run` yields."""

    cfg: RunConfig
    state: Any  # emorealm.run_state.RunState
    metadata: dict[str, Any]
    tm: Any
    task_names: list[str]
    tasks: list[Any]
    journal: Any
    lm: Any
    adapter: str
    args: dict[str, Any]

    def simple_evaluate(self, bootstrap_iters: int = 1000) -> dict[str, Any] | None:
        """lm-eval's ``simple_evaluate`` over this run's tasks (None on a non-zero data-parallel rank)."""
        from lm_eval import simple_evaluate

        cfg = self.cfg
        self.state.sample_errors.clear()  # a second call (diagnose's conditions) starts clean
        random.seed(cfg.seed)
        if log_filters.VERBOSE:  # the CLI's quiet console captures lm-eval's records for the log file instead
            logging.getLogger("lm_eval").setLevel(logging.ERROR)
        return simple_evaluate(
            model=self.lm, tasks=self.tasks, task_manager=self.tm, limit=cfg.limit, log_samples=True,
            gen_kwargs=cfg.gen_kwargs, random_seed=cfg.seed, numpy_random_seed=cfg.seed,
            torch_random_seed=cfg.seed, fewshot_random_seed=cfg.seed, metadata=self.metadata,
            bootstrap_iters=bootstrap_iters,
        )

    def finish(self, results: dict[str, Any] | None) -> Path | None:
        """Attach every ``emorealm`` block (metadata, clustered SEs, classification and load reports,
        judge, errors, journal) and write the files; the results file path (None on a rank > 0)."""
        from emorealm.evaluation.clustered_stderr import add_clustered_stderr
        from emorealm.evaluation.error_rate import add_error_summary
        from emorealm.evaluation.reports import add_task_reports, write_task_figures
        from emorealm.evaluation.results import add_metadata, write_results
        from emorealm.model_adapters import distributed

        cfg, journal, lm = self.cfg, self.journal, self.lm
        stats = None
        if journal is not None and distributed.from_env().enabled and hasattr(lm, "gather_object"):
            # a collective call: every rank takes part, rank 0 reports the sums
            gathered = lm.gather_object(journal.stats())  # a list on rank 0 only
            stats = _sum_stats(gathered) if gathered else None
        elif journal is not None:
            stats = journal.stats()
        if results is None:
            if getattr(lm, "rank", 0) != 0:  # data parallel: rank 0 gathers and writes the results
                return None
            raise ConfigError("lm-eval returned no results")
        add_metadata(results, lm, self.adapter, cfg, self.metadata)
        add_clustered_stderr(results, seed=cfg.seed)  # clip-clustered SEs next to lm-eval's (emorealm.evaluation.clustered_stderr)
        results["configs"] = strip_addresses(results.get("configs", {}))
        reports = add_task_reports(results)  # confusion matrices, per-class recall, load reports, judge
        add_error_summary(results, cfg.max_error_rate)  # per-task error counts and the commonest error
        # how this results file was produced (None: no journal); differs between a resumed and an
        # uninterrupted run
        results["emorealm"]["journal"] = stats
        if journal is not None and cfg.resume:
            st = journal.stats()
            log.info("resumed run: %s sample(s) reused from the journal, %s computed", st["reused"], st["computed"])
        path = write_results(results, Path(cfg.output), model_display_name(cfg, self.args), self.adapter,
                             log_samples=cfg.log_samples)
        write_task_figures(reports, path)
        return path


@contextmanager
def open_run(cfg: RunConfig, before_model: Callable[[dict[str, Any], Any, list[str]], None] | None = None
             ) -> Iterator[Run]:
    """Everything up to a loaded model, inside the run's own state: tasks loaded and options checked,
    the log file attached, the journal opened and prechecked, the media options validated — all before
    the model loads. Ctrl-C inside the body ends as :class:`~emorealm.journal.RunInterrupted`; an
    exception that is not an emorealm error (a bug) is logged with where the finished samples are.
    ``before_model(metadata, task manager, task names)`` runs the caller's own checks before loading."""
    from emorealm.journal import Journal, RunInterrupted
    from emorealm.model_adapters import distributed
    from emorealm.run_state import run_scope

    with run_scope() as state:
        metadata, tm, task_names = prepare_tasks(cfg)
        random.seed(cfg.seed)
        _, args = model_args(cfg)
        # under data parallel every rank journals its own samples and reads all ranks' (emorealm.journal)
        dist = distributed.from_env()
        # third-party logs and warnings of this run, beside its results (shown on the console with -v)
        log_filters.attach_log_file(output_folder(cfg, args) / ("emorealm.log" if dist.rank == 0 else
                                                                f"emorealm.rank{dist.rank}.log"))
        journal = (Journal.open(output_folder(cfg, args), resume=cfg.resume, overwrite=cfg.overwrite,
                                rank=dist.rank, world_size=dist.world_size) if cfg.journal else None)
        try:
            loaded = tm.loaded or tm.load(task_names)  # loaded by prepare_tasks, before the model
            if journal is not None:
                # the journal is checked before the model loads: a forgotten --resume costs nothing
                journal.precheck(pre_identity(tm, cfg, metadata, args))
                journal.resume_plan(_docs_per_task(loaded, cfg.limit))
            check_media_args(args)
            if before_model is not None:
                before_model(metadata, tm, task_names)
            found = [loaded["groups"].get(n) or loaded["tasks"].get(n) for n in task_names]
            tasks: list[Any] = found if all(x is not None for x in found) else task_names
            lm, adapter, args = build_model(cfg)
            log_filters.quiet_console(log_filters.VERBOSE)  # transformers added its own handler at import
            lm.sample_seed = cfg.seed
            if journal is not None:
                lm.journal = journal
                journal.identity_fn = lambda: run_identity(lm, tm, cfg, metadata)
            yield Run(cfg, state, metadata, tm, task_names, tasks, journal, lm, adapter, args)
        except KeyboardInterrupt:
            if journal is None:
                raise
            journal.close()  # flushed and synced before the message claims the samples are saved
            raise RunInterrupted(journal.path, journal.saved()) from None
        except EmorealmError:
            raise
        except Exception as exc:
            # a programming bug is never a per-sample failure (docs/reliability.md): stop, say so, keep the journal
            saved = f"; the {journal.saved()} finished sample(s) in {journal.path} are kept for --resume" \
                if journal is not None else ""
            log.error("the run stopped on an unexpected %s (a bug, not a per-sample failure: only emorealm "
                      "errors are recorded per sample)%s; the traceback follows", type(exc).__name__, saved)
            raise
        finally:
            if journal is not None:
                journal.close()


def evaluate(cfg: RunConfig) -> tuple[dict[str, Any], Path | None]:
    """Run the evaluation; returns (results dict, results file path); ``({}, None)`` on a non-zero
    data-parallel rank. Check the error rate with :func:`emorealm.evaluation.error_rate.check_error_rate`."""
    with open_run(cfg) as run:
        results = run.simple_evaluate()
        path = run.finish(results)
    return (results or {}, path) if path is not None else ({}, None)


def _docs_per_task(loaded: dict[str, Any], limit: int | float | None) -> dict[str, int]:
    """How many docs of each loaded task this run evaluates (lm-eval's rule for ``--limit``)."""
    import math

    out = {}
    for name, task in (loaded.get("tasks") or {}).items():
        n = len(task.eval_docs)
        if limit is not None:
            n = min(n, int(math.ceil(n * limit)) if limit < 1.0 else int(limit))
        out[name] = n
    return out


def _sum_stats(per_rank: list[dict[str, Any]]) -> dict[str, Any]:
    """One journal summary from every rank's (counts summed, files listed)."""
    return {"path": per_rank[0]["path"], "ranks": len(per_rank),
            **{k: sum(int(s[k]) for s in per_rank) for k in ("reused", "computed", "dropped_lines")}}
