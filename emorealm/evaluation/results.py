"""Results files (lm-eval layout + the ``emorealm`` metadata block) and the summary table."""

from __future__ import annotations

import math
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from emorealm.benchmarks import registry
from emorealm.run_state import current

_PACKAGES = ("torch", "torchvision", "transformers", "lm_eval", "av", "peft", "trl", "vllm")
COUNT_METRICS = registry.count_metrics()
# e.g. judge scores stay on their rubric's scale (1-10 / 0-10), not fractions: shown as they are
RAW_SCALE_METRICS = registry.raw_scale_metrics()


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = version(name.replace("_", "-"))
        except PackageNotFoundError:
            continue
    return out


def _protocol(cfg, results: dict[str, Any]) -> dict[str, Any]:
    from emorealm.options import parse_generation, parse_kv

    gk = parse_kv(cfg.gen_kwargs, "--gen-kwargs") if cfg.gen_kwargs else {}
    # sampling needs do_sample as well as a positive temperature, as the adapters read it
    sampling = parse_generation(gk, default_max_tokens=1).do_sample
    return {"gen_kwargs": gk, "decoding": "sampling" if sampling else "greedy", "seed": cfg.seed,
            "limit": cfg.limit,
            "reference": "AVERE release: temperature 0.1, at most 5 new tokens" if sampling else
            "greedy (deterministic); pass --gen-kwargs temperature=0.1 with --seed for the released sampling"}


def add_metadata(results: dict[str, Any], lm, adapter: str, cfg, task_options: dict[str, Any]) -> None:
    """Attach the top-level ``emorealm`` block (docs/contracts.md §6)."""
    meta = lm.emorealm_metadata()
    n_errors = {}
    for task, res in results.get("results", {}).items():
        if "n_errors,none" in res:
            n_errors[task] = int(res["n_errors,none"])
    state = current()  # the run's own fingerprints (emorealm.run_state)
    fps = {task: fp for task in results.get("configs", {})
           if (fp := state.fingerprint(task, registry.data_key(task))) is not None}
    from emorealm import __version__

    # the whole block, whatever the adapter returned (a plugin may give only model and hash): the
    # harness that ran is this one, and every key submit and resume read is present
    results["emorealm"] = {
        "model": cfg.model, "model_sha256": None, "media": None,
        **meta,
        "harness_version": __version__,
        "adapter": adapter,
        "smoke_test": bool(meta.get("smoke_test")),
        "data_root": task_options.get("data_root"),
        "task_options": {k: v for k, v in task_options.items() if k != "data_root"},
        "data_fingerprint": fps,
        "protocol": _protocol(cfg, results),
        "packages": package_versions(),
        "n_errors": n_errors,
    }


def write_results(results: dict[str, Any], output: Path, model_name: str, adapter: str,
                  log_samples: bool = True) -> Path:
    """Write results_<ts>.json (+ samples_<task>_<ts>.jsonl) under ``output/<model name>/``."""
    from lm_eval.loggers import EvaluationTracker

    samples = results.pop("samples", None)
    tracker = EvaluationTracker(output_path=str(output))
    tracker.general_config_tracker.log_experiment_args(
        model_source=f"emorealm-{adapter}", model_args=f"pretrained={model_name}",
        system_instruction=None, chat_template=None, fewshot_as_multiturn=False,
    )
    tracker.save_results_aggregated(results=results, samples=samples if log_samples else None)
    if log_samples and samples:
        for task_name in results["configs"]:
            tracker.save_results_samples(task_name=task_name, samples=samples[task_name])
    folder = output / tracker.general_config_tracker.model_name_sanitized
    return folder / f"results_{tracker.date_id}.json"


def fmt_metric(metric: str, value: Any) -> str:
    """A metric as the tables show it: percentage, count, or rubric score; "—" when undefined."""
    if not isinstance(value, (int, float)) or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if metric in COUNT_METRICS:
        return str(int(value))
    if metric in RAW_SCALE_METRICS:
        return f"{value:.2f}"
    return f"{100 * value:.2f}"
