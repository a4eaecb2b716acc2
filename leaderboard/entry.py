"""Build a leaderboard entry from an emorealm results file and the samples logs beside it.

The results file follows lm-eval 0.4.13's layout (``results``, ``groups``, ``configs``, ``versions``,
``n-samples``, ...) plus the top-level ``emorealm`` block of docs/contracts.md §6.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emorealm.errors import DataError
from emorealm.leaderboard.intervals import add_intervals, check_intervals
from emorealm.leaderboard.recompute import read_samples, recompute_task, records_for_filter, samples_digest
from emorealm.leaderboard.schema import (
    SCHEMA_VERSION,
    KnownTasks,
    canonical_json,
    known_tasks,
    normalise_version,
    sha256_tag,
)

FILTER = "none"


@dataclass
class BuildReport:
    """What happened while building an entry, for the command to print."""

    ignored_metrics: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def load_json(path: Path, what: str) -> Any:
    """Read a JSON file with a clear error for a missing or malformed one."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise DataError(f"cannot read {what} {path}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{what} {path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def samples_path(results_path: Path, task: str) -> Path:
    """``samples_<task>_<ts>.jsonl`` beside ``results_<ts>.json`` (lm-eval's naming)."""
    m = re.fullmatch(r"results_(.+)\.json", results_path.name)
    if m:
        return results_path.with_name(f"samples_{task}_{m.group(1)}.jsonl")
    found = sorted(results_path.parent.glob(f"samples_{task}_*.jsonl"))
    if len(found) == 1:
        return found[0]
    raise DataError(f"cannot tell which samples log belongs to {results_path.name} for task {task} "
                    f"({len(found)} candidates); keep lm-eval's results_<ts>.json / samples_<task>_<ts>.jsonl names")


def _metric_value(block: dict[str, Any], name: str) -> float | None:
    v = block.get(f"{name},{FILTER}")
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isinf(v):
        raise DataError(f"metric {name} has value {v!r}, not a number")
    return float(v)


def _stderr(block: dict[str, Any], name: str) -> float | None:
    v = block.get(f"{name}_stderr,{FILTER}")
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None  # lm-eval writes "N/A" when it has none


def _model_name(meta: dict[str, Any], results: dict[str, Any]) -> str:
    if meta.get("peft"):
        return f"{_short(str(meta['peft']))} (adapter on {_short(str(meta.get('model', '?')))})"
    name = meta.get("model_name") or meta.get("model") or results.get("model_name") or results.get("config", {}).get("model")
    if not name:
        raise DataError("results file names no model (emorealm.model)")
    return _short(str(name))


def _short(name: str) -> str:
    # a local checkpoint path is shown by its folder name; a hub id stays whole
    name = name.rstrip("/")
    return Path(name).name if name.startswith(("/", "~", ".")) else name


def _parameters(meta: dict[str, Any], results: dict[str, Any]) -> int | None:
    for v in (meta.get("num_parameters"), meta.get("parameters"), results.get("config", {}).get("model_num_parameters")):
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            return v
    return None


def _evaluated_at(results: dict[str, Any]) -> str | None:
    d = results.get("date")
    if isinstance(d, (int, float)) and not isinstance(d, bool):
        return dt.datetime.fromtimestamp(d, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return None


def _jsonable(obj: Any) -> Any:
    """A copy that canonical JSON can encode: NaN/inf become null, unknown objects their str()."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def build_entry(
    results_path: Path,
    *,
    submitter: str,
    model_name: str | None = None,
    table: KnownTasks | None = None,
) -> tuple[dict[str, Any], BuildReport]:
    """Validate a results file against its samples logs and turn it into an (unsigned) entry.

    Every metric the table knows is recomputed from the samples and compared with the reported
    value; any disagreement, unknown task, or missing samples log raises DataError.
    """
    table = table or known_tasks()
    report = BuildReport()
    results = load_json(results_path, "results file")
    if not isinstance(results, dict) or not isinstance(results.get("results"), dict):
        raise DataError(f"{results_path} is not an lm-eval results file (no \"results\" object)")
    meta = results.get("emorealm")
    if not isinstance(meta, dict):
        raise DataError(f"{results_path} has no top-level \"emorealm\" block; only results written by "
                        "`python -m emorealm run` can be submitted (they record the model hash and data fingerprints)")
    for key in ("harness_version", "adapter"):
        if not meta.get(key):
            raise DataError(f"{results_path}: emorealm.{key} is missing")
    if not meta.get("model_sha256"):
        raise DataError(f"{results_path}: the results record no checkpoint hash (emorealm.model_sha256 is empty: the "
                        "adapter found no weight files to hash, e.g. a served API model, or a hub id that was not in the "
                        "local Hugging Face cache when the results were written); entries are keyed by that hash, so "
                        "evaluate a local checkpoint folder or a cached hub id")
    versions = results.get("versions") if isinstance(results.get("versions"), dict) else {}
    configs = results.get("configs") if isinstance(results.get("configs"), dict) else {}
    n_samples = results.get("n-samples", {})
    fingerprints = meta.get("data_fingerprint") or {}
    group_names = (set(table.groups) | set(results.get("groups", {}))
                   | {g for g, subs in results.get("group_subtasks", {}).items() if subs})

    leaf = [t for t in results["results"] if t not in group_names]
    unknown = [t for t in leaf if t not in table.tasks]
    if unknown:
        raise DataError(f"{results_path}: unknown task(s) {', '.join(sorted(unknown))}; the leaderboard knows "
                        f"{', '.join(sorted(table.tasks))} (add a task to leaderboard/tasks.json)")
    if not leaf:
        raise DataError(f"{results_path}: no task results in the file")

    tasks: dict[str, Any] = {}
    records_by_task: dict[str, list[dict[str, Any]]] = {}
    for task in sorted(leaf):
        spec = table.tasks[task]
        source = f"{results_path.name} [{task}]"
        block = results["results"][task]
        if not isinstance(block, dict):
            raise DataError(f"{source}: the results entry is not an object")
        if task not in versions:
            raise DataError(f"{source}: no version recorded under \"versions\"")
        version = normalise_version(versions[task])
        if version not in spec.versions:
            raise DataError(f"{source}: task version {version} is not accepted by the leaderboard "
                            f"(accepted: {', '.join(spec.versions)})")
        if task not in configs:
            raise DataError(f"{source}: no task config recorded under \"configs\"")
        reported: dict[str, float] = {}
        for m in spec.metrics:
            try:
                v = _metric_value(block, m)
            except DataError as exc:
                raise DataError(f"{source}: {exc}") from None
            if v is not None:
                reported[m] = v
        # standard errors (lm-eval's and our own *_stderr_clustered) travel with their metric, not as metrics
        extra = sorted({k.split(",")[0] for k in block if "," in k and "_stderr" not in k} - set(spec.metrics))
        if extra:
            report.ignored_metrics[task] = extra
        if not any(not math.isnan(v) for v in reported.values()):
            raise DataError(f"{source}: none of the leaderboard's metrics ({', '.join(spec.metrics)}) is reported")

        spath = samples_path(results_path, task)
        records = records_for_filter(read_samples(spath), FILTER, spath.name)
        counts = n_samples.get(task) if isinstance(n_samples, dict) else None
        counts = counts if isinstance(counts, dict) else {}
        effective, original = counts.get("effective"), counts.get("original")
        if not isinstance(effective, int) or not isinstance(original, int):
            raise DataError(f"{source}: \"n-samples\" lacks effective/original counts")
        if len(records) != effective:
            raise DataError(f"{source}: the samples log has {len(records)} records for filter {FILTER!r} "
                            f"but n-samples.effective says {effective}")
        recomputed, not_recomputed = recompute_task(spec.metrics, reported, records, spath.name)
        records_by_task[task] = records
        # NaN = no applicable sample (e.g. acc_yes when no answer is Yes): checked above, not stored
        undefined = sorted(m for m, v in reported.items() if math.isnan(v))
        if undefined:
            report.notes.append(f"{task}: {', '.join(undefined)} undefined on these samples (no applicable sample)")
        reported = {m: v for m, v in reported.items() if not math.isnan(v)}
        recomputed = [m for m in recomputed if m in reported]
        tasks[task] = {
            "version": version,
            "config_hash": sha256_tag(canonical_json(_jsonable(configs[task]))),
            "data_fingerprint": fingerprints.get(task),
            "n_samples": effective,
            "n_samples_original": original,
            "partial": effective != original,
            "metrics": {m: {"value": v, "stderr": _stderr(block, m)} for m, v in sorted(reported.items())},
            "recomputed": recomputed,
            "not_recomputed": not_recomputed,
            "samples_digest": samples_digest(records),
            "samples_file": spath.name,
        }
    groups = _groups(results, tasks, table, results_path.name)
    entry = {
        "schema_version": SCHEMA_VERSION,
        "entry_id": "",
        "model": {
            "name": model_name or _model_name(meta, results),
            "adapter": str(meta["adapter"]),
            "sha256": str(meta["model_sha256"]).lower(),
            "parameters": _parameters(meta, results),
            "smoke_test": bool(meta.get("smoke_test", False)),
        },
        "submitter": submitter,
        "submitted_at": now_iso(),
        "evaluated_at": _evaluated_at(results),
        "harness_version": str(meta["harness_version"]),
        "lm_eval_version": results.get("lm_eval_version"),
        "protocol": _jsonable(meta.get("protocol") or {}),
        "partial": any(t["partial"] for t in tasks.values()),
        "tasks": tasks,
        "groups": groups,
        **summary_fields(tasks, groups, table),
    }
    add_intervals(entry, records_by_task, table)
    finalise(entry)
    return entry, report


def summary_fields(tasks: dict[str, Any], groups: dict[str, Any], table: KnownTasks) -> dict[str, Any]:
    """average_accuracy, invalid_rate (sample-weighted over tasks) and n_errors (total)."""
    avg = None
    for g in table.groups.values():
        if g.leaderboard_name == "average_accuracy" and g.metric in groups.get(g.name, {}):
            avg = groups[g.name][g.metric]["value"]
    inv = [(t["metrics"]["invalid_rate"]["value"], t["n_samples"]) for t in tasks.values() if "invalid_rate" in t["metrics"]]
    total = sum(n for _, n in inv)
    invalid_rate = math.fsum(v * n for v, n in inv) / total if total else None
    n_errors = sum(int(round(t["metrics"]["n_errors"]["value"])) for t in tasks.values() if "n_errors" in t["metrics"])
    return {"average_accuracy": avg, "invalid_rate": invalid_rate, "n_errors": n_errors}


def _groups(results: dict[str, Any], tasks: dict[str, Any], table: KnownTasks, source: str) -> dict[str, Any]:
    """Group scores (EmoReAlM average accuracy): recomputed as the unweighted mean over the group's tasks."""
    out: dict[str, Any] = {}
    for g in table.groups.values():
        if not all(t in tasks and g.metric in tasks[t]["metrics"] for t in g.tasks):
            continue
        value = math.fsum(tasks[t]["metrics"][g.metric]["value"] for t in g.tasks) / len(g.tasks)
        block = results.get("groups", {}).get(g.name) or results["results"].get(g.name) or {}
        stderr = _stderr(block, g.metric)
        reported = _metric_value(block, g.metric) if block else None
        if reported is not None and not math.isclose(reported, value, rel_tol=1e-9, abs_tol=1e-9):
            raise DataError(f"{source}: group {g.name} {g.metric} is reported as {reported!r} but the unweighted mean "
                            f"of its tasks is {value!r}")
        out[g.name] = {g.metric: {"value": value, "stderr": stderr}}
    return out


def entry_key(entry: dict[str, Any]) -> tuple[str, str]:
    """Duplicate key: model hash + task versions."""
    sha = entry["model"]["sha256"].removeprefix("sha256:")
    versions = {t: d["version"] for t, d in entry["tasks"].items()}
    return sha, json.dumps(versions, sort_keys=True)


def signed_body(entry: dict[str, Any]) -> dict[str, Any]:
    """The part of an entry that its id and signature cover (everything but those two)."""
    return {k: v for k, v in entry.items() if k not in ("signature", "entry_id")}


def finalise(entry: dict[str, Any]) -> None:
    """Set entry_id, the content hash, and the overall samples digest."""
    entry["samples_digest"] = sha256_tag(canonical_json({t: d["samples_digest"] for t, d in entry["tasks"].items()}))
    entry["entry_id"] = sha256_tag(canonical_json(signed_body(entry)))


def verify_entry_against_samples(entry: dict[str, Any], folder: Path, table: KnownTasks | None = None) -> None:
    """Re-check a pre-built entry against the samples logs named in it (found in ``folder``)."""
    table = table or known_tasks()
    records_by_task: dict[str, list[dict[str, Any]]] = {}
    for task, d in entry["tasks"].items():
        if task not in table.tasks:
            raise DataError(f"entry: unknown task {task}")
        if "/" in d["samples_file"] or "\\" in d["samples_file"] or d["samples_file"].startswith("."):
            raise DataError(f"entry [{task}]: samples_file must be a plain file name")
        spath = folder / d["samples_file"]
        records = records_for_filter(read_samples(spath), FILTER, spath.name)
        if len(records) != d["n_samples"]:
            raise DataError(f"entry [{task}]: {spath.name} has {len(records)} records, the entry says {d['n_samples']}")
        if samples_digest(records) != d["samples_digest"]:
            raise DataError(f"entry [{task}]: {spath.name} does not match the entry's samples digest")
        spec = table.tasks[task]
        unknown = set(d["metrics"]) - set(spec.metrics)
        if unknown:
            raise DataError(f"entry [{task}]: unknown metric(s) {', '.join(sorted(unknown))}")
        reported = {m: v["value"] for m, v in d["metrics"].items()}
        recompute_task(spec.metrics, reported, records, spath.name)
        records_by_task[task] = records
    expect_groups = _groups({"results": {}}, entry["tasks"], table, "entry")
    for name, metrics in expect_groups.items():
        for m, v in metrics.items():
            got = entry["groups"].get(name, {}).get(m, {}).get("value")
            if got is None or not math.isclose(v["value"], got, rel_tol=1e-9, abs_tol=1e-9):
                raise DataError(f"entry: group {name} {m} is {got!r} but the mean of its tasks is {v['value']!r}")
    if set(entry["groups"]) - set(expect_groups):
        raise DataError(f"entry: unexpected group score(s) {', '.join(sorted(set(entry['groups']) - set(expect_groups)))}")
    expect = summary_fields(entry["tasks"], entry["groups"], table)
    for k, v in expect.items():
        if (v is None) != (entry[k] is None) or (v is not None and not math.isclose(v, entry[k], abs_tol=1e-9)):
            raise DataError(f"entry: {k} is {entry[k]!r} but its tasks give {v!r}")
    check_intervals(entry, records_by_task, table)
    if entry["entry_id"] != sha256_tag(canonical_json(signed_body(entry))):
        raise DataError("entry: entry_id does not match its content (the entry was edited after it was built)")
