"""Modality-reliance diagnostics: ablate audio/video, measure accuracy, likelihood shift and attention.

``diagnose(cfg)`` runs everything and writes the report; see docs/diagnostics.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emorealm.diagnostics.engine import DiagnoseConfig


def diagnose(cfg: DiagnoseConfig) -> tuple[dict[str, Any], dict[str, Path]]:
    """Run every condition, analyse, and write the report next to the intact results file.

    Returns (report, written files: ``report``, ``summary``, one entry per plot, and ``results``: the
    intact run's results file, written by the same path as ``emorealm run``'s).
    """
    from emorealm.diagnostics.engine import run_conditions
    from emorealm.diagnostics.report import build_report, write_report

    collected = run_conditions(cfg)
    report = build_report(collected)
    assert collected.results_path is not None
    stamp = collected.results_path.stem.removeprefix("results_")
    folder = collected.results_path.parent / f"diagnostics_{stamp}"
    return report, {**write_report(report, folder), "results": collected.results_path}


__all__ = ["DiagnoseConfig", "diagnose"]
