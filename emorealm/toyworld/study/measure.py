"""Measure one checkpoint through the harness: ``emorealm run`` (runner.evaluate) on the basic video,
agreement and stress tasks and the cue-contradicts-audio probe, ``emorealm diagnose`` on the basic
audio task (intact and swapped audio: accuracy, likelihood shift of the correct answer, attention
share per modality).

Every number comes from the files those commands write (results, samples, diagnostics report),
so it is the number a user running them would see.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from emorealm.errors import ConfigError
from emorealm.toyworld.study.world import PROBE_FILE, benchmark_index

# the audio question goes through diagnose (intact and swapped audio, attention); the other four
# task keys through run (one diagnose condition costs as much as a run of its tasks)
RUN_TASKS = ("reasoning_basic_video", "modality_agreement", "reasoning_stress_audio", "reasoning_stress_video")
DIAGNOSE_TASKS = ("reasoning_basic_audio",)
TASK_KEYS = DIAGNOSE_TASKS + RUN_TASKS
LL = "_ll"  # letters scored by log-likelihood (toy-omni answers with the letter)


def _samples(results_path: Path, task: str) -> list[dict[str, Any]]:
    stamp = results_path.stem.removeprefix("results_")
    path = results_path.parent / f"samples_{task}_{stamp}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else math.nan


def _run(model_args: str, tasks: list[str], root: Path, out: Path, limit: int | None, seed: int,
         task_args: str = "") -> Path:
    from emorealm.evaluation.runner import RunConfig, evaluate

    _, path = evaluate(RunConfig(model="hf", model_args=model_args, tasks=tasks, task_args=task_args,
                                 data_root=str(root), output=str(out), limit=limit, seed=seed, overwrite=True))
    if path is None:
        raise ConfigError("emorealm run wrote no results file")
    return path


def stress_rates(samples: list[dict[str, Any]], index: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Yes-rate per stress question kind (hallucinated = Yes to an absent cue)."""
    by: dict[str, list[float]] = {}
    for r in samples:
        kind = index.get(r["doc"]["id"], {}).get("kind")
        if kind and r.get("yes_rate") is not None and not r.get("n_errors"):
            by.setdefault(kind, []).append(float(r["yes_rate"]))
    return {f"yes_rate_{k}": _mean(v) for k, v in sorted(by.items())} | {f"n_{k}": len(v) for k, v in by.items()}


def measure(model_args: str, root: Path, out: Path, ev, console=None) -> dict[str, Any]:
    """All per-checkpoint metrics of the study (a flat mapping of floats plus counts)."""
    from emorealm.diagnostics import DiagnoseConfig, diagnose
    from emorealm.evaluation.runner import RunConfig

    index = benchmark_index(root)
    m: dict[str, Any] = {}
    errors = 0
    # emorealm run: agreement and stress tasks
    res_path = _run(model_args, [t + LL for t in RUN_TASKS], root, out / "run", ev.limit, ev.eval_seed)
    res = json.loads(res_path.read_text())["results"]
    stress: dict[str, list[dict[str, Any]]] = {}
    for t in RUN_TASKS:
        m[f"acc/{t}"] = float(res[t + LL]["acc,none"])
        errors += int(res[t + LL].get("n_errors,none") or 0)
        if t.startswith("reasoning_stress"):
            stress[t] = _samples(res_path, t + LL)
            for k, v in stress_rates(stress[t], index).items():
                m[f"stress/{t.removeprefix('reasoning_stress_')}/{k}"] = v
    pooled = stress_rates([r for s in stress.values() for r in s], index)
    m["hallucination_rate"] = pooled.get("yes_rate_hallucinated", math.nan)
    m["irrelevant_yes_rate"] = pooled.get("yes_rate_irrelevant", math.nan)
    m["supporting_yes_rate"] = pooled.get("yes_rate_supporting", math.nan)
    # emorealm run: the probe (same task, the probe's benchmark file)
    if ev.probe:
        p_path = _run(model_args, [PROBE_TASK_LL], root, out / "probe", ev.limit, ev.eval_seed,
                      task_args=f"benchmark_file={PROBE_FILE}")
        p = json.loads(p_path.read_text())["results"][PROBE_TASK_LL]
        m["probe_acc"] = float(p["acc,none"])
        errors += int(p.get("n_errors,none") or 0)
    # emorealm diagnose: basic tasks, intact vs the audio swapped for another clip's
    run = RunConfig(model="hf", model_args=model_args, tasks=[t + LL for t in DIAGNOSE_TASKS], data_root=str(root),
                    output=str(out / "diagnose"), limit=ev.limit, seed=ev.eval_seed, overwrite=True)
    report, _ = diagnose(DiagnoseConfig(run=run, conditions=["intact", "swap_audio"],
                                        bootstrap_iters=ev.bootstrap_iters, attention_docs=ev.attention_docs))
    for t in DIAGNOSE_TASKS:
        acc = report["accuracy"][t + LL]
        m[f"acc/{t}"] = float(acc["intact"]["value"])
        m[f"acc_swap_audio/{t}"] = float(acc["swap_audio"]["value"])
        errors += int(acc["intact"]["n_errors"]) + int(acc["swap_audio"]["n_errors"])
        shift = report["likelihood_shift"][t + LL]["conditions"]["swap_audio"]
        m[f"logp_shift_swap_audio/{t}"] = float(shift["mean"])
        att = report["attention"][t + LL]
        for kind, v in (att.get("share") or {}).items():
            m[f"attention/{t}/{kind}"] = float(v)
    m["acc/basic_mean"] = _mean([m["acc/reasoning_basic_audio"], m["acc/reasoning_basic_video"]])
    m["n_errors"] = errors
    m["n_questions"] = {t: _count(report, res, t) for t in TASK_KEYS}
    return m


PROBE_TASK_LL = "reasoning_basic_audio" + LL


def _count(report: dict[str, Any], res: dict[str, Any], task: str) -> int:
    if task in DIAGNOSE_TASKS:
        return int(report["accuracy"][task + LL]["intact"]["n"])
    return int(res[task + LL].get("sample_len") or 0)
