"""The leaderboard's versioned JSON schema, the known-task table, and canonical hashing.

The schema (``schemas/leaderboard-v2.schema.json``) describes the leaderboard file and, under
``$defs/entry``, one entry; it is checked with ``jsonschema`` (Draft 2020-12). The known-task table
(``tasks.json``) is data: adding a task to the leaderboard is one line there.

Version 2 added each headline metric's 95 % interval (``ci95``, entry field ``ci``). A version-1
file still loads: it is checked against the version-1 schema and read as version 2 (its entries
keep ``schema_version: 1``, which their ids and signatures cover); the next write stores it as 2.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

from emorealm.errors import DataError

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)  # files of these versions load; entries of both stay valid
SCHEMA_NAME = "emorealm-leaderboard"
_HERE = Path(__file__).resolve().parent
SCHEMA_FILE = _HERE / "schemas" / f"leaderboard-v{SCHEMA_VERSION}.schema.json"
TASKS_FILE = _HERE / "tasks.json"


def canonical_json(obj: Any) -> bytes:
    """The one byte serialisation every hash and signature is computed over."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def sha256_tag(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@lru_cache(maxsize=2)
def load_schema(version: int = SCHEMA_VERSION) -> dict[str, Any]:
    """The leaderboard JSON schema (of ``version``) as a dict."""
    with open(_HERE / "schemas" / f"leaderboard-v{version}.schema.json", encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


@lru_cache(maxsize=8)
def _validator(ref: str | None, version: int = SCHEMA_VERSION) -> jsonschema.Draft202012Validator:
    schema = load_schema(version)
    if ref == "board":
        # the file without its entries, which are checked one by one (and remembered) below
        schema = {**schema, "properties": {**schema["properties"], "entries": {"type": "array"}}}
    elif ref is not None:
        # a sub-schema that still resolves "#/$defs/..." against the full document
        schema = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": f"#/$defs/{ref}"}
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


# canonical hashes of entries already found valid in this process: a leaderboard with thousands of
# entries is re-read on every submission, and each entry is checked against the schema once
_valid_entries: set[str] = set()


def _schema_errors(obj: Any, ref: str | None, prefix: str = "", version: int = SCHEMA_VERSION) -> list[str]:
    errors = sorted(_validator(ref, version).iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path])
    out = []
    for e in errors[:10]:
        where = prefix + "/".join(str(p) for p in e.absolute_path) or "(top level)"
        out.append(f"{where}: {e.message}")
    if len(errors) > 10:
        out.append(f"... and {len(errors) - 10} more")
    return out


def validate_leaderboard(obj: Any, source: str = "leaderboard", known_valid: set[int] | None = None) -> None:
    """Raise DataError unless ``obj`` is a valid leaderboard file of the supported schema version.

    ``known_valid``: ``id()`` of entry objects this caller has just validated (and not changed since).
    """
    if not isinstance(obj, dict):
        raise DataError(f"{source}: a leaderboard file must hold a JSON object, found {type(obj).__name__}")
    if obj.get("schema") != SCHEMA_NAME:
        raise DataError(f"{source}: not an emorealm leaderboard file (missing \"schema\": \"{SCHEMA_NAME}\")")
    version = obj.get("schema_version")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        raise DataError(
            f"{source}: leaderboard schema version {version!r} is not supported "
            f"(this emorealm reads versions {', '.join(map(str, READABLE_VERSIONS))}); upgrade emorealm or convert the file"
        )
    errs = _schema_errors(obj, "board", version=version)
    for i, entry in enumerate(obj.get("entries") or []):
        if len(errs) >= 10:
            break
        if known_valid is None or id(entry) not in known_valid:
            errs += _entry_errors(entry, f"entries/{i}/")
    if errs:
        raise DataError(f"{source} does not match the leaderboard schema:\n  " + "\n  ".join(errs))


def _entry_errors(entry: Any, prefix: str = "") -> list[str]:
    try:
        key = sha256_tag(canonical_json(entry))
    except (TypeError, ValueError):  # NaN or a non-JSON value: let the schema say what is wrong
        key = None
    if key is not None and key in _valid_entries:
        return []
    errs = _schema_errors(entry, "entry", prefix)
    if not errs and key is not None:
        _valid_entries.add(key)
    return errs


def validate_entry(entry: Any, source: str = "entry") -> None:
    """Raise DataError unless ``entry`` is a valid leaderboard entry."""
    if isinstance(entry, dict) and "schema_version" in entry and entry["schema_version"] not in READABLE_VERSIONS:
        raise DataError(
            f"{source}: entry schema version {entry['schema_version']!r} is not supported "
            f"(this emorealm reads versions {', '.join(map(str, READABLE_VERSIONS))})"
        )
    errs = _entry_errors(entry)
    if errs:
        raise DataError(f"{source} does not match the entry schema:\n  " + "\n  ".join(errs))


@dataclass(frozen=True)
class MetricSpec:
    """How one metric is shown and recomputed (see tasks.json and docs/leaderboard.md)."""

    name: str
    aggregation: str  # one of AGGREGATIONS
    scale: str = "fraction"  # fraction | score | count
    higher_is_better: bool | None = True
    recompute: bool = True


@dataclass(frozen=True)
class TaskSpec:
    name: str
    label: str
    versions: tuple[str, ...]
    metrics: dict[str, MetricSpec]
    columns: tuple[str, ...]
    group: str | None = None
    short: str = ""


@dataclass(frozen=True)
class GroupSpec:
    name: str
    label: str
    tasks: tuple[str, ...]
    metric: str
    leaderboard_name: str
    short: str = ""


@dataclass(frozen=True)
class KnownTasks:
    tasks: dict[str, TaskSpec]
    groups: dict[str, GroupSpec] = field(default_factory=dict)


AGGREGATIONS = ("mean", "sum", "f1_yes_no", "recall_macro", "f1_macro", "classification_acc", "classification_uar",
                "classification_macro_f1", "harmonic_pr")


@lru_cache(maxsize=1)
def known_tasks() -> KnownTasks:
    """The known-task table from ``tasks.json``."""
    with open(TASKS_FILE, encoding="utf-8") as f:
        raw = json.load(f)
    sets: dict[str, dict[str, MetricSpec]] = {}
    for set_name, metrics in raw["metric_sets"].items():
        specs = {}
        for m, d in metrics.items():
            if d["aggregation"] not in AGGREGATIONS:
                raise DataError(f"{TASKS_FILE}: metric {set_name}.{m} has unknown aggregation {d['aggregation']!r}")
            specs[m] = MetricSpec(
                name=m,
                aggregation=d["aggregation"],
                scale=d.get("scale", "fraction"),
                higher_is_better=d.get("higher_is_better", True),
                recompute=d.get("recompute", True),
            )
        sets[set_name] = specs
    tasks = {
        name: TaskSpec(
            name=name,
            label=d.get("label", name),
            versions=tuple(normalise_version(v) for v in d["versions"]),
            metrics=sets[d["metrics"]],
            columns=tuple(d.get("columns", ())),
            group=d.get("group"),
            short=d.get("short", name),
        )
        for name, d in raw["tasks"].items()
    }
    groups = {
        name: GroupSpec(name, d.get("label", name), tuple(d["tasks"]), d["metric"], d["leaderboard_name"],
                        d.get("short", name))
        for name, d in raw["groups"].items()
    }
    return KnownTasks(tasks, groups)


def normalise_version(v: Any) -> str:
    """lm-eval writes task versions as numbers or strings; 1, 1.0 and "1.0" are the same version ("1.0")."""
    if isinstance(v, bool) or v is None:
        return str(v)
    try:
        return str(float(v))
    except (TypeError, ValueError):
        return str(v).strip()
