"""Per-task reports beyond lm-eval's scalar metrics: confusion matrices, per-class recall, judge info.

Called by the runner after ``simple_evaluate`` (samples still attached): the figures go into the
results file's ``emorealm.classification`` / ``emorealm.judge`` blocks, and one confusion-matrix
PNG per classification task is written next to the results file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emorealm.benchmarks import registry
from emorealm.scoring.classification import ClassificationReport, plot_confusion_matrix


def classification_reports(results: dict[str, Any]) -> dict[str, dict[str, ClassificationReport]]:
    """``{task: {"released"|"strict"|"loglikelihood": report}}`` from the logged samples."""
    return registry.classification_reports(results.get("samples") or {})


def judge_block(results: dict[str, Any]) -> dict[str, Any] | None:
    """The judge settings, rubric versions and backend of the judged task, if one ran."""
    return registry.judge_block(results.get("samples") or {})


def add_task_reports(results: dict[str, Any]) -> dict[str, dict[str, ClassificationReport]]:
    """Put the reports into ``results["emorealm"]`` (created if absent); returns the reports."""
    reports = classification_reports(results)
    block = results.setdefault("emorealm", {})
    if reports:
        block["classification"] = {t: {k: r.as_dict() for k, r in reps.items()} for t, reps in reports.items()}
    from emorealm.run_state import current

    state = current()
    loaded = {t: rep for t in results.get("configs", {})
              if (rep := state.load_report(t, registry.data_key(t))) is not None}
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
