"""Submission rules: turn a results file (or a pre-built entry) into an accepted leaderboard entry.

Checks, in order: schema; known tasks and versions; sample counts (equal to the declared size unless
the submission is marked partial); every metric recomputed from the samples logs; smoke-test models
(only with ``allow_smoke``); signature against the leaderboard's trusted keys; duplicates (same model
hash + task versions, unless ``replace``). The write happens under the file lock, atomically.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emorealm.errors import DataError
from emorealm.leaderboard.entry import (
    BuildReport,
    build_entry,
    entry_key,
    load_json,
    signed_body,
    verify_entry_against_samples,
)
from emorealm.leaderboard.schema import canonical_json, known_tasks, sha256_tag, validate_entry
from emorealm.leaderboard.signing import load_private_key, sign_entry, verify_signature
from emorealm.leaderboard.store import LOCK_TIMEOUT_S, update_leaderboard


@dataclass
class SubmitOptions:
    submitter: str
    model_name: str | None = None
    replace: bool = False
    allow_smoke: bool = False
    partial: bool = False
    sign_key: Path | None = None
    lock_timeout: float = LOCK_TIMEOUT_S


@dataclass
class SubmitResult:
    entry: dict[str, Any]
    replaced: dict[str, Any] | None = None
    unofficial: list[str] = field(default_factory=list)
    no_reference: list[str] = field(default_factory=list)  # unofficial because the board declares no reference
    signer: str | None = None
    report: BuildReport = field(default_factory=BuildReport)


def is_entry_file(obj: Any) -> bool:
    return isinstance(obj, dict) and "entry_id" in obj and "samples_digest" in obj and "results" not in obj


def prepare_entry(path: Path, opts: SubmitOptions) -> tuple[dict[str, Any], BuildReport]:
    """Build (from a results file) or re-verify (a pre-built entry file) an entry, and sign it if asked.

    Everything here happens before the lock is taken; it reads only the submission.
    """
    path = Path(path)
    obj = load_json(path, "submission")
    if is_entry_file(obj):
        validate_entry(obj, str(path))
        verify_entry_against_samples(obj, path.parent)
        for task, d in obj["tasks"].items():
            if d["version"] not in known_tasks().tasks[task].versions:
                raise DataError(f"{path} [{task}]: task version {d['version']} is not accepted by the leaderboard")
        entry, report = obj, BuildReport()
        if opts.sign_key is not None:
            if "signature" in entry:
                raise DataError(f"{path} is already signed; submit it as is")
            sign_entry(entry, load_private_key(opts.sign_key))
        elif "signature" in entry:
            verify_signature(entry, [])
    else:
        entry, report = build_entry(path, submitter=opts.submitter, model_name=opts.model_name)
        if opts.sign_key is not None:
            sign_entry(entry, load_private_key(opts.sign_key))
        validate_entry(entry, f"entry built from {path}")
    if entry["model"]["smoke_test"] and not opts.allow_smoke:
        raise DataError(f"{path}: these results come from a smoke-test model ({entry['model']['name']}); "
                        "leaderboards are for real models. Pass --allow-smoke to submit it anyway (tests, demos)")
    return entry, report


def check_against_board(entry: dict[str, Any], board: dict[str, Any], opts: SubmitOptions) -> list[str]:
    """The rules that need the leaderboard's declarations; returns the tasks on unofficial data."""
    unofficial = []
    for task, d in entry["tasks"].items():
        # a task the table knows but the board predates is declared on first use, with no reference yet
        ref = board["tasks"].setdefault(task, {"data_fingerprint": None, "size": None})
        official = ref["data_fingerprint"] is not None and ref["data_fingerprint"] == d["data_fingerprint"]
        if not official:
            unofficial.append(task)
        if official and ref["size"] is not None and d["n_samples_original"] != ref["size"]:
            raise DataError(f"[{task}] the results claim the reference data ({ref['data_fingerprint'][:19]}...) but "
                            f"report {d['n_samples_original']} documents; the reference has {ref['size']}")
        expected = ref["size"] if official and ref["size"] is not None else d["n_samples_original"]
        if d["n_samples"] != expected and not opts.partial:
            raise DataError(f"[{task}] {d['n_samples']} of {expected} samples were evaluated; submit a complete run, "
                            "or pass --partial to mark the entry as partial")
    return unofficial


def submit(results_or_entry: Path, leaderboard: Path, opts: SubmitOptions) -> SubmitResult:
    """Validate a submission and add it to ``leaderboard`` (created when missing). Raises on rejection."""
    entry, report = prepare_entry(results_or_entry, opts)
    result = SubmitResult(entry=entry, report=report)

    def change(board: dict[str, Any]) -> None:
        result.unofficial = check_against_board(entry, board, opts)
        result.no_reference = [t for t in result.unofficial if board["tasks"][t]["data_fingerprint"] is None]
        result.signer = verify_signature(entry, board["trusted_keys"])
        key = entry_key(entry)
        same = [i for i, e in enumerate(board["entries"]) if entry_key(e) == key]
        if same and not opts.replace:
            old = board["entries"][same[0]]
            raise DataError(f"the leaderboard already has {old['model']['name']} (model hash {key[0][:12]}..., same task "
                            f"versions), submitted {old['submitted_at']} by {old['submitter']}; pass --replace to replace it")
        if same:
            result.replaced = board["entries"][same[0]]
            board["entries"] = [e for i, e in enumerate(board["entries"]) if i not in same]
        board["entries"].append(entry)

    update_leaderboard(leaderboard, change, timeout=opts.lock_timeout)
    return result


def check_file(board: dict[str, Any]) -> None:
    """Whole-file checks beyond the schema: entry ids, signatures, duplicates (DataError on the first problem)."""
    seen: dict[tuple[str, str], str] = {}
    for i, e in enumerate(board["entries"]):
        where = f"entry {i + 1} ({e['model']['name']})"
        if e["entry_id"] != sha256_tag(canonical_json(signed_body(e))):
            raise DataError(f"{where}: entry_id does not match its content (edited after submission)")
        try:
            verify_signature(e, board["trusted_keys"])
        except DataError as exc:
            raise DataError(f"{where}: {exc}") from None
        key = entry_key(e)
        if key in seen:
            raise DataError(f"{where}: duplicate of {seen[key]} (same model hash and task versions)")
        seen[key] = where
