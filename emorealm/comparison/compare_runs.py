"""Pair two or more ``emorealm run`` results by task and document and compare them metric by metric.

The first run is the baseline. Documents are paired by lm-eval's ``doc_id`` within a task (the same
data fingerprint guarantees the same documents; ``doc_hash`` is checked where both runs wrote it).
How each metric is compared follows its aggregation: per-sample means get the paired clustered
estimator, anything else a paired cluster bootstrap (:mod:`emorealm.evaluation.paired`). The aggregation of a
task the leaderboard knows comes from ``leaderboard/tasks.json``; of any other task from its
config's ``metric_list`` (``emorealm.evaluation.clustered_stderr``'s rules).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emorealm.errors import DataError
from emorealm.evaluation.clustered_stderr import _aggregation_kind, _group_weights, cluster_key
from emorealm.evaluation.confusion_bootstrap import paired_bootstrap_se
from emorealm.evaluation.paired import PairedEstimate, holm, paired_bootstrap, paired_mean
from emorealm.leaderboard.entry import load_json, samples_path
from emorealm.leaderboard.intervals import CONFUSION
from emorealm.leaderboard.recompute import read_samples, recompute_metric
from emorealm.leaderboard.schema import known_tasks

FILTER = "none"
BOOTSTRAP_SEED = 0
BOOTSTRAP_ITERS = 1000


@dataclass
class Run:
    """One results file with its samples logs (records of filter ``none`` keyed by doc_id)."""

    path: Path
    results: dict[str, Any]
    samples: dict[str, dict[str, dict[str, Any]]]

    @property
    def meta(self) -> dict[str, Any]:
        return self.results.get("emorealm") or {}

    @property
    def name(self) -> str:
        m = self.meta
        base = str(m.get("peft") or m.get("model") or self.results.get("model_name") or self.path.parent.name)
        return Path(base.rstrip("/")).name if base.startswith(("/", "~", ".")) else base

    @property
    def seed(self) -> Any:
        return (self.meta.get("protocol") or {}).get("seed", (self.results.get("config") or {}).get("random_seed"))

    def limited(self, task: str) -> tuple[int, int] | None:
        c = (self.results.get("n-samples") or {}).get(task) or {}
        eff, orig = c.get("effective"), c.get("original")
        return (eff, orig) if isinstance(eff, int) and isinstance(orig, int) and eff != orig else None


def load_run(path: Path) -> Run:
    """Read a results file and every samples log beside it (DataError naming what is missing)."""
    path = Path(path)
    results = load_json(path, "results file")
    if not isinstance(results, dict) or not isinstance(results.get("results"), dict):
        raise DataError(f"{path} is not an lm-eval results file (no \"results\" object)")
    groups = set(results.get("groups") or {}) | {g for g, s in (results.get("group_subtasks") or {}).items() if s}
    samples = {}
    for task in results["results"]:
        if task in groups:
            continue
        spath = samples_path(path, task)
        if not spath.is_file():
            raise DataError(f"{path.name}: the samples log {spath.name} of task {task} is missing; compare needs the "
                            "per-sample records (`emorealm run` writes them beside the results file)")
        by_doc: dict[str, dict[str, Any]] = {}
        for r in read_samples(spath):
            if str(r.get("filter", "none")) != FILTER:
                continue
            key = json.dumps(r["doc_id"], sort_keys=True)
            if key in by_doc:
                raise DataError(f"{spath.name}: doc_id {r['doc_id']!r} appears twice")
            by_doc[key] = r
        samples[task] = by_doc
    return Run(path, results, samples)


@dataclass
class MetricPlan:
    """How one metric of one task is compared."""

    name: str
    kind: str  # "mean" | "bootstrap"
    agg: Callable[[list[dict[str, Any]]], float] | None = None  # records -> statistic (bootstrap)
    confusion: str | None = None  # a confusion-matrix statistic: the fast, identical bootstrap


def metric_plans(task: str, run: Run) -> list[MetricPlan]:
    """The comparable metrics of ``task`` (counts such as ``n_errors`` are left out)."""
    reported = {k.split(",")[0] for k in run.results["results"].get(task, {}) if k.endswith(f",{FILTER}")
                and "_stderr" not in k}
    table = known_tasks()
    plans = []
    if task in table.tasks:
        for m, spec in table.tasks[task].metrics.items():
            if m not in reported or spec.aggregation == "sum" or spec.higher_is_better is None:
                continue
            if spec.aggregation == "mean" and spec.scale != "score":
                plans.append(MetricPlan(m, "mean"))
            else:  # judge scores too: bounded ordinal scores on few samples, so no normal approximation
                plans.append(MetricPlan(m, "bootstrap", lambda recs, s=spec: recompute_metric(s, recs, task),
                                        CONFUSION.get(spec.aggregation)))
        return plans
    for entry in (run.results.get("configs", {}).get(task, {}).get("metric_list") or []):
        m = entry.get("metric")
        kind, fn = _aggregation_kind(entry.get("aggregation", "mean"))
        if m not in reported or kind == "none":
            continue
        if kind == "mean":
            plans.append(MetricPlan(m, "mean"))
        elif fn is not None:
            plans.append(MetricPlan(m, "bootstrap",
                                    lambda recs, f=fn, name=m: f([r[name] for r in recs if r.get(name) is not None])))
    return plans


@dataclass
class Comparison:
    """Run ``other`` against the baseline: per ``(task, metric)`` estimates, plus what was left out."""

    baseline: Run
    other: Run
    estimates: dict[tuple[str, str], PairedEstimate] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    left_out: dict[str, dict[str, int]] = field(default_factory=dict)  # task -> {"only_baseline", "only_other"}


def check_compatible(a: Run, b: Run) -> list[str]:
    """Refuse runs on different data or task versions; notes on model identity, seeds and --limit."""
    notes = []
    fa, fb = a.meta.get("data_fingerprint") or {}, b.meta.get("data_fingerprint") or {}
    va, vb = a.results.get("versions") or {}, b.results.get("versions") or {}
    for task in sorted(set(a.samples) & set(b.samples)):
        if fa.get(task) != fb.get(task):
            raise DataError(f"{task}: {a.path.name} and {b.path.name} ran on different data (fingerprints "
                            f"{str(fa.get(task))[:19]}… vs {str(fb.get(task))[:19]}…); paired comparison needs the same "
                            "documents, so evaluate both on the same benchmark file")
        if str(va.get(task)) != str(vb.get(task)):
            raise DataError(f"{task}: task version {va.get(task)} in {a.path.name} but {vb.get(task)} in {b.path.name}; "
                            "scores of different task versions are not comparable")
    ha, hb = a.meta.get("model_sha256"), b.meta.get("model_sha256")
    if ha and ha == hb:
        if a.name != b.name:
            notes.append(f"{a.name} and {b.name} have the same checkpoint hash ({str(ha)[:19]}…): they are the same "
                         "weights, so any difference comes from the evaluation settings, not the model")
        if a.seed != b.seed:
            notes.append(f"same model, seeds {a.seed} and {b.seed}: this comparison measures seed variance")
        elif a.name == b.name:
            notes.append("same model and seed: differences come only from settings (decoding, prompts, options)")
    for run in (a, b):
        lim = [f"{t} {run.limited(t)[0]}/{run.limited(t)[1]}" for t in sorted(run.samples) if run.limited(t)]
        if lim:
            notes.append(f"{run.path.name} is a --limit run ({', '.join(lim)} documents): only those are compared, "
                         "which does not estimate the difference on the whole benchmark")
    return notes


def _mean_values(recs: list[dict[str, Any]], metric: str, source: str) -> list[float | None]:
    out = []
    for r in recs:
        v = r.get(metric)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
        elif isinstance(v, (bool, int, float)):
            out.append(float(v))
        else:
            raise DataError(f"{source}: per-sample value of {metric!r} is {v!r}, not a number")
    return out


def compare(a: Run, b: Run, *, seed: int = BOOTSTRAP_SEED, iters: int = BOOTSTRAP_ITERS) -> Comparison:
    """Compare run ``b`` with baseline ``a`` on every common task (groups included)."""
    comp = Comparison(a, b, notes=check_compatible(a, b))
    only = sorted(set(a.samples) ^ set(b.samples))
    if only:
        comp.notes.append(f"task(s) in one run only, not compared: {', '.join(only)}")
    mean_parts: dict[tuple[str, str], tuple[list[float], list[float], list[str]]] = {}
    for task in sorted(set(a.samples) & set(b.samples)):
        ka, kb = set(a.samples[task]), set(b.samples[task])
        common = sorted(ka & kb)
        if len(ka - kb) or len(kb - ka):
            comp.left_out[task] = {"only_baseline": len(ka - kb), "only_other": len(kb - ka)}
            comp.notes.append(f"{task}: {len(common)} documents in both runs compared; left out {len(ka - kb)} only in "
                              f"{a.path.name} and {len(kb - ka)} only in {b.path.name}")
        if not common:
            continue
        ra = [a.samples[task][k] for k in common]
        rb = [b.samples[task][k] for k in common]
        for x, y in zip(ra, rb, strict=True):
            if x.get("doc_hash") and y.get("doc_hash") and x["doc_hash"] != y["doc_hash"]:
                raise DataError(f"{task}: doc_id {x['doc_id']} holds different documents in the two runs "
                                "(doc_hash differs) although the data fingerprints agree")
        clusters = [cluster_key(r) for r in ra]
        for plan in metric_plans(task, a):
            if plan.kind == "mean":
                va = _mean_values(ra, plan.name, f"{a.path.name} [{task}]")
                vb = _mean_values(rb, plan.name, f"{b.path.name} [{task}]")
                keep = [i for i in range(len(va)) if va[i] is not None and vb[i] is not None]
                if not keep:
                    continue
                part = ([va[i] for i in keep], [vb[i] for i in keep], [clusters[i] for i in keep])
                mean_parts[(task, plan.name)] = part
                comp.estimates[(task, plan.name)] = _accuracy_only(paired_mean([(1.0, *part)]), plan.name)
            elif plan.agg is not None:
                # a statistic that is NaN (no applicable sample) on either run is not compared
                base = plan.agg(ra)
                if isinstance(base, float) and math.isnan(base):
                    continue
                pairs = list(zip(ra, rb, strict=True))
                se = None
                if plan.confusion:
                    se = paired_bootstrap_se([(x[plan.name], y[plan.name]) for x, y in pairs], clusters,
                                             plan.confusion, iters=iters, seed=seed)
                comp.estimates[(task, plan.name)] = paired_bootstrap(pairs, clusters, plan.agg, iters=iters,
                                                                     seed=seed, se=se)
    _groups(comp, mean_parts)
    return comp


def _accuracy_only(est: PairedEstimate, metric: str) -> PairedEstimate:
    """McNemar is reported for accuracies (acc, acc_strict, acc_yes, ...), not for other 0/1 rates."""
    if not metric.startswith("acc"):
        est.mcnemar_p, est.discordant = None, None
    return est


def _groups(comp: Comparison, mean_parts: dict[tuple[str, str], tuple[list[float], list[float], list[str]]]) -> None:
    """Group averages (e.g. EmoReAlM's): the same weights lm-eval used, clusters shared across tasks."""
    res = comp.baseline.results
    for group, subtasks in (res.get("group_subtasks") or {}).items():
        block = (res.get("groups") or {}).get(group) or res["results"].get(group) or {}
        for key, value in block.items():
            if not key.endswith(f",{FILTER}") or "_stderr" in key or not isinstance(value, (int, float)):
                continue
            metric = key.split(",")[0]
            if not subtasks or not all((t, metric) in mean_parts for t in subtasks):
                continue
            weights = _group_weights(res, subtasks, key, float(value))
            if weights is None:
                continue
            est = paired_mean([(w, *mean_parts[(t, metric)]) for w, t in zip(weights, subtasks, strict=True)])
            comp.estimates[(group, metric)] = _accuracy_only(est, metric)


def compare_all(paths: list[Path], *, seed: int = BOOTSTRAP_SEED, iters: int = BOOTSTRAP_ITERS) -> list[Comparison]:
    """Each run after the first against the first; Holm-adjusted p-values across runs per metric."""
    if len(paths) < 2:
        raise DataError("compare needs at least two results files: the baseline first, then the run(s) to compare")
    runs = [load_run(p) for p in paths]
    comps = [compare(runs[0], r, seed=seed, iters=iters) for r in runs[1:]]
    keys = {k for c in comps for k in c.estimates}
    for key in keys:
        ests = [c.estimates.get(key) for c in comps]
        adj = holm([e.p_value if e is not None else None for e in ests])
        for e, p in zip(ests, adj, strict=True):
            if e is not None:
                e.p_holm = p
    return comps
