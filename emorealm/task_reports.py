"""Per-task reports beyond lm-eval's scalar metrics: confusion matrices, per-class recall, judge info.

Called by the runner after ``simple_evaluate`` (samples still attached): the figures go into the
results file's ``emorealm.classification`` / ``emorealm.judge`` blocks, and one confusion-matrix
PNG per classification task is written next to the results file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emorealm.classification import ClassificationReport, plot_confusion_matrix
from emorealm.classification_task import report_from_items

CLASSIFICATION_PREFIXES = ("dfew", "ravdess")


def _labels(samples: list[dict[str, Any]]) -> list[str]:
    for s in samples:
        labels = (s.get("doc") or {}).get("labels")
        if labels:
            return list(labels)
    return []


def classification_reports(results: dict[str, Any]) -> dict[str, dict[str, ClassificationReport]]:
    """``{task: {"released"|"strict"|"loglikelihood": report}}`` from the logged samples."""
    out: dict[str, dict[str, ClassificationReport]] = {}
    for task, samples in (results.get("samples") or {}).items():
        if not task.startswith(CLASSIFICATION_PREFIXES) or not samples or "uar" not in samples[0]:
            continue
        labels = _labels(samples)
        reps = {}
        kind = "loglikelihood" if task.endswith("_ll") else "released"
        reps[kind] = report_from_items([s["uar"] for s in samples], labels)
        if "uar_strict" in samples[0]:
            reps["strict"] = report_from_items([s["uar_strict"] for s in samples], labels)
        out[task] = reps
    return out


def judge_block(results: dict[str, Any]) -> dict[str, Any] | None:
    """The judge settings, rubric versions and backend of the ``emer`` task, if it ran."""
    from emorealm.emer_task import judge_backend
    from emorealm.judge import rubric_manifest

    samples = (results.get("samples") or {}).get("emer")
    if not samples:
        return None
    settings = samples[0]["doc"].get("_judge") or {}
    backend = judge_backend(settings) if settings else None
    return {
        "judge": settings.get("spec", "none"),
        "skipped": backend is None,
        "backend": backend.describe() if backend is not None and hasattr(backend, "describe") else None,
        "retries": settings.get("retries"), "timeout_s": settings.get("timeout"),
        "rubrics": rubric_manifest(settings.get("rubrics")) if backend is not None else {},
    }


def add_task_reports(results: dict[str, Any]) -> dict[str, dict[str, ClassificationReport]]:
    """Put the reports into ``results["emorealm"]`` (created if absent); returns the reports."""
    reports = classification_reports(results)
    block = results.setdefault("emorealm", {})
    if reports:
        block["classification"] = {t: {k: r.as_dict() for k, r in reps.items()} for t, reps in reports.items()}
    from emorealm.evaluation.state import current

    state = current()
    loaded = {t: rep for t in results.get("configs", {}) if (rep := state.load_report(t)) is not None}
    if loaded:
        block["load_reports"] = loaded
    judge = judge_block(results)
    if judge is not None:
        block["judge"] = judge
    return reports


def write_task_figures(reports: dict[str, dict[str, ClassificationReport]], results_file: Path) -> list[Path]:
    """One ``confusion_<task>_<timestamp>.png`` per classification task, next to ``results_file``."""
    stamp = results_file.stem.removeprefix("results_")
    paths = []
    for task, reps in reports.items():
        rep = reps.get("released") or reps.get("loglikelihood")
        title = f"{task}: UAR {rep.uar:.1%}  WAR {rep.war:.1%}  n={rep.n}"
        paths.append(plot_confusion_matrix(rep, results_file.parent / f"confusion_{task}_{stamp}.png", title))
    return paths
