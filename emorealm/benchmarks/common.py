"""Shared pieces of the dataset loaders: option parsing, folder lookup, CSV reading, fingerprints."""

from __future__ import annotations

import csv
import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emorealm.doc import Doc
from emorealm.errors import DataError
from emorealm.paths import resolve_data_root as _resolve_data_root
from emorealm.paths import safe_join  # noqa: F401  (re-exported for the loaders)
from emorealm.run_state import record_fingerprint, record_load_report
from emorealm.sample_data.builtin import ensure_sample_data

log = logging.getLogger("emorealm.benchmarks")

VIDEO_EXTS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".flv")


@dataclass
class LoadResult:
    """Docs of one task, problems found while loading (also logged), and a data fingerprint."""

    docs: list[Doc]
    problems: list[str] = field(default_factory=list)
    fingerprint: str = ""
    source: dict[str, str] = field(default_factory=dict)  # what was read, for the results file

    def problem(self, msg: str) -> None:
        self.problems.append(msg)
        log.warning(msg)


def resolve_data_root(options: dict | None = None) -> Path:
    """The data root of the task options, ``$EMOREALM_DATA_ROOT``, or else the built-in sample data."""
    return _resolve_data_root(options, default=ensure_sample_data)


def find_benchmark_dir(root: Path, option: Any, names: Sequence[str], what: str) -> Path:
    """The benchmark folder: the option (relative to the data root or absolute) or the first of ``names``."""
    if option:
        p = Path(str(option)).expanduser()
        p = p if p.is_absolute() else safe_join(root, p)
        if not p.is_dir():
            raise DataError(f"{what} folder {p} does not exist (task option); point it at your copy of {what}")
        return p
    for n in names:
        if (root / n).is_dir():
            return root / n
    tried = ", ".join(str(root / n) for n in names)
    raise DataError(f"no {what} folder under the data root {root} (looked for {tried}); "
                    f"pass --data-root, or the task option for the {what} folder")


def under(base: Path, option: Any) -> Path:
    """An option path: absolute as given, otherwise relative to ``base`` (refusing escapes)."""
    p = Path(str(option)).expanduser()
    return p if p.is_absolute() else safe_join(base, p)


def read_csv(path: Path, required: Iterable[str], what: str) -> list[dict[str, str]]:
    """Rows of a CSV as dicts; raises :class:`DataError` when the file or a required column is missing."""
    if not path.is_file():
        raise DataError(f"{what} {path} not found")
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            cols = [c.strip() for c in (reader.fieldnames or [])]
            missing = [c for c in required if c not in cols]
            if missing:
                raise DataError(f"{what} {path} has columns {cols}; expected {list(required)} "
                                f"(missing {missing}). Is this the file as distributed?")
            return [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]
    except UnicodeDecodeError as exc:
        raise DataError(f"{what} {path} is not UTF-8 text ({exc}); re-save it as UTF-8") from exc


def fingerprint(*paths: Path) -> str:
    """``sha256:`` of the concatenated bytes of ``paths`` (the files that define the task)."""
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return "sha256:" + h.hexdigest()


def load_error(kind: str, message: str) -> dict[str, str]:
    return {"kind": kind, "message": message}


def to_hf_dataset(docs: list[dict[str, Any]]):
    """``{"test": datasets.Dataset}`` of ``docs``; every doc gets every top-level key (``None`` if absent).

    ``Dataset.from_list`` keeps only the first row's keys, which would silently drop
    ``_load_error`` from later rows.
    """
    import datasets

    keys: list[str] = []
    for d in docs:
        keys.extend(k for k in d if k not in keys)
    return {"test": datasets.Dataset.from_list([{k: d.get(k) for k in keys} for d in docs])}


def task_dataset(task: str, result: LoadResult):
    """What a task's lm-eval ``custom_dataset`` hook returns: records the data fingerprint and the
    load report in the current run's state (``announce``), then ``to_hf_dataset`` of the docs."""
    record_fingerprint(task, result.fingerprint)
    announce(task, result)
    return to_hf_dataset(result.docs)


def announce(task: str, result: LoadResult) -> None:
    """Record the load report (in the current run's state) and warn once per task with problems."""
    record_load_report(task, {**result.source, "n_docs": len(result.docs), "n_problems": len(result.problems),
                              "problems": result.problems[:50]})
    if result.problems:
        first = result.problems[0]
        more = f" (and {len(result.problems) - 1} more)" if len(result.problems) > 1 else ""
        log.warning("%s: %d problem(s) in the data: %s%s; affected samples are counted in n_errors",
                    task, len(result.problems), first, more)
