"""Run the diagnostics: every condition through lm-eval with one loaded model, then the analyses.

The model is built once. For each condition its :class:`~emorealm.diagnostics.ablations.Ablation`
is set as the adapter's ``media_transform`` and lm-eval's ``simple_evaluate`` reruns the tasks'
own scoring. The intact run is written as a normal results file (with clustered standard errors);
the diagnostics report goes next to it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emorealm.diagnostics.ablations import Ablation, clip_media_map, derangement, parse_conditions
from emorealm.diagnostics.attention import AttentionUnsupported, EagerAttention, answer_attention_share
from emorealm.diagnostics.likelihood import logp_from_record, probe_logps, probe_of
from emorealm.errors import ConfigError, EmorealmError, clear_sample_errors
from emorealm.evaluation.clustered_stderr import cluster_key
from emorealm.evaluation.runner import RunConfig, model_display_name, open_run


@dataclass
class DiagnoseConfig:
    run: RunConfig
    conditions: list[str] = field(default_factory=lambda: parse_conditions(None))
    removal: str = "zero"
    bootstrap_iters: int = 1000
    likelihood: bool = True
    attention: bool = True
    attention_docs: int | None = None  # at most this many docs per task for attention (None: all)
    metric: str = "acc"


@dataclass
class ConditionRun:
    """Per-task samples records of one condition's lm-eval run."""

    condition: str
    samples: dict[str, list[dict[str, Any]]]
    results: dict[str, Any]


@dataclass
class Collected:
    """Everything the analyses need."""

    cfg: DiagnoseConfig
    lm: Any
    adapter: str
    model_name: str
    tasks: list[str]  # leaf tasks, in run order
    output_types: dict[str, str]
    runs: dict[str, ConditionRun]
    swap_map: dict[str, str] | None
    logp: dict[str, dict[str, dict[int, float]]]  # task -> condition -> doc_id -> log p(correct)
    clusters: dict[str, dict[int, str]]  # task -> doc_id -> cluster
    attention: dict[str, dict[str, Any]]
    results_path: Path | None = None


def _leaf_tasks(task_dict: dict) -> list[Any]:
    out = []
    for value in task_dict.values():
        out.extend(_leaf_tasks(value) if isinstance(value, dict) else [value])
    return out


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _all_docs(task_names: list[str], tm) -> list[dict[str, Any]]:
    from lm_eval.tasks import get_task_dict

    docs: list[dict[str, Any]] = []
    for task in _leaf_tasks(get_task_dict(task_names, tm)):
        docs.extend(dict(d) for d in task.eval_docs)
    return docs


def run_conditions(cfg: DiagnoseConfig) -> Collected:
    """Build the model once, run every condition, probe likelihoods and attention.

    Everything goes through the runner's own path (:func:`emorealm.evaluation.runner.open_run`): the intact
    condition's results file has the same blocks as ``emorealm run``'s."""
    if cfg.run.resume:
        raise ConfigError("diagnose keeps no resume journal (an ablated condition's answers must never be "
                          "reused as intact ones); run it again without --resume")
    rc = dataclasses.replace(cfg.run, journal=False)
    cfg.conditions = parse_conditions(cfg.conditions)  # intact first, known names only
    console = _console()
    swaps: dict[str, Any] = {"map": None, "media": None}

    def swap_pool(metadata, tm, task_names) -> None:  # before the model loads: a refusal costs nothing
        if any(c.startswith("swap_") for c in cfg.conditions):
            pool = _all_docs(task_names, tm)
            if any(d.get("clip_id") is None for d in pool):
                raise ConfigError("swap conditions need docs with a clip_id; these tasks do not set one")
            swaps["media"] = clip_media_map(pool)
            swaps["map"] = derangement(swaps["media"], seed=rc.seed)

    with open_run(rc, before_model=swap_pool) as run:
        return _run_all(cfg, run, swaps["map"], swaps["media"], console)


def _run_all(cfg: DiagnoseConfig, run, swap_map, clip_media, console) -> Collected:
    rc, lm, adapter = run.cfg, run.lm, run.adapter
    if not hasattr(type(lm), "media_transform"):
        raise ConfigError(f"adapter {adapter!r} has no media_transform hook, so inputs cannot be ablated; "
                          "use the hf adapter")
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    runs: dict[str, ConditionRun] = {}
    intact_results: dict[str, Any] | None = None
    results_path: Path | None = None
    for i, cond in enumerate(cfg.conditions, 1):
        console.rule(f"condition {i}/{len(cfg.conditions)}: {cond}")
        lm.media_transform = None if cond == "intact" else Ablation(cond, lm.spec, cfg.removal, swap_map, clip_media)
        try:
            res = run.simple_evaluate(bootstrap_iters=1000 if cond == "intact" else 0)
        finally:
            lm.media_transform = None
        if res is None:
            raise ConfigError("lm-eval returned no results (is this a non-zero rank?)")
        runs[cond] = ConditionRun(cond, dict(res.get("samples", {})), res)
        if cond == "intact":
            # written now, by the run's own path: a normal results file even if a later condition
            # fails; its metadata (audio-source counts) must not include the ablated runs
            intact_results = res
            results_path = run.finish(res)
    assert intact_results is not None
    tasks = [t for t in intact_results["configs"] if t in runs["intact"].samples]
    output_types = {t: intact_results["configs"][t].get("output_type", "") for t in tasks}
    clusters = {t: {int(r["doc_id"]): cluster_key(r) for r in runs["intact"].samples[t]} for t in tasks}
    name = model_display_name(rc, run.args)
    collected = Collected(cfg, lm, adapter, name, tasks, output_types, runs, swap_map, {}, clusters, {})
    if cfg.likelihood:
        collected.logp = _likelihoods(collected, clip_media, console)
    if cfg.attention:
        collected.attention = _attention(collected, console)
    collected.results_path = results_path
    return collected


def _likelihoods(c: Collected, clip_media, console) -> dict[str, dict[str, dict[int, float]]]:
    out: dict[str, dict[str, dict[int, float]]] = {}
    generation = [t for t in c.tasks if c.output_types[t] != "multiple_choice"]
    for task in c.tasks:
        if c.output_types[task] == "multiple_choice":
            out[task] = {cond: {int(r["doc_id"]): logp_from_record(r) for r in run.samples.get(task, [])}
                         for cond, run in c.runs.items()}
    if not generation:
        return out
    probes = {t: [probe_of(r, False) for r in c.runs["intact"].samples[t]] for t in generation}
    for cond in c.cfg.conditions:
        console.rule(f"likelihood probe: {cond}")
        c.lm.media_transform = None if cond == "intact" else Ablation(cond, c.lm.spec, c.cfg.removal,
                                                                        c.swap_map, clip_media)
        clear_sample_errors()
        try:
            for task in generation:
                values = probe_logps(c.lm, probes[task])
                out.setdefault(task, {})[cond] = {p.doc_id: v for p, v in zip(probes[task], values, strict=True)}
        finally:
            c.lm.media_transform = None
    return out


def _attention(c: Collected, console) -> dict[str, dict[str, Any]]:
    import numpy as np

    from emorealm.diagnostics.attention import TYPES
    from emorealm.model_adapters.base import progress

    if not (hasattr(c.lm, "model") and hasattr(c.lm, "_inputs")):
        reason = f"adapter {c.adapter!r} exposes no transformers model, so attentions are not available"
        return {t: {"supported": False, "reason": reason} for t in c.tasks}
    out: dict[str, dict[str, Any]] = {}
    console.rule("attention share (intact inputs)")
    try:
        with EagerAttention(c.lm.model):
            for task in c.tasks:
                records = c.runs["intact"].samples[task][: c.cfg.attention_docs]
                mc = c.output_types[task] == "multiple_choice"
                per_doc, counts, failed = [], [], 0
                for r in progress(records, len(records), f"attention: {task}"):
                    p = probe_of(r, mc)
                    try:
                        share = answer_attention_share(c.lm, p.doc, p.context, p.continuation)
                    except AttentionUnsupported:
                        raise
                    except EmorealmError as exc:  # one bad clip costs one doc; a bug stops the run
                        failed += 1
                        logging.getLogger(__name__).warning("attention failed for %s: %s", p.doc.get("id"), exc)
                        continue
                    per_doc.append(share.per_layer)
                    counts.append([share.token_counts[k] for k in TYPES])
                if not per_doc:
                    out[task] = {"supported": True, "n_docs": 0, "n_failed": failed}
                    continue
                stack = np.stack(per_doc)  # [docs, layers, 3]
                layer_mean = stack.mean(axis=0)
                out[task] = {
                    "supported": True, "n_docs": len(per_doc), "n_failed": failed,
                    "share": dict(zip(TYPES, map(float, layer_mean.mean(axis=0)), strict=True)),
                    "per_layer": [dict(zip(TYPES, map(float, row), strict=True)) for row in layer_mean],
                    "per_doc_share": [dict(zip(TYPES, map(float, d.mean(axis=0)), strict=True)) for d in stack],
                    "mean_token_counts": dict(zip(TYPES, map(float, np.mean(counts, axis=0)), strict=True)),
                }
    except AttentionUnsupported as exc:
        return {t: {"supported": False, "reason": str(exc)} for t in c.tasks}
    return out


def metric_values(run: ConditionRun, task: str, metric: str) -> dict[int, float]:
    """doc_id -> per-sample value of ``metric`` (docs where it is undefined left out)."""
    out = {}
    for r in run.samples.get(task, []):
        v = r.get(metric)
        if isinstance(v, (int, float, bool)) and not (isinstance(v, float) and math.isnan(v)):
            out[int(r["doc_id"])] = float(v)
    return out
