"""The resume journal: every finished sample, appended as one flushed JSON line.

A run writes ``<output>/<model name>/journal.jsonl`` (under data parallel, rank ``r > 0`` writes
``journal.rank<r>.jsonl`` next to it; every rank reads all of them, so a run resumes with any number
of processes). Its lines are of two kinds:

* ``{"kind": "run", "format": 1, "started": ..., "identity": {...}}`` — appended each time a run
  starts writing (after its identity was checked against the earlier ones): model fingerprint,
  media spec, seed, task options, and per task its version and data fingerprint;
* ``{"kind": "sample", "task", "version", "doc_id", "id", "req", "model", "type", "resp", "notes"}``
  — one finished request (a generation, or the scored options of one question), keyed by task,
  task version, lm-eval doc id, a hash of the request and the model fingerprint.

Failed samples (the per-sample error channel) are *not* journaled: a resumed run tries them
again, so a transient failure (an out-of-memory, a server hiccup) is not frozen into the results.
A process killed mid-write leaves at most a torn last line, which is dropped on the next open.
See docs/reliability.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from emorealm.errors import ConfigError

log = logging.getLogger("emorealm.journal")

JOURNAL_NAME = "journal.jsonl"
JOURNAL_GLOB = "journal*.jsonl"
FORMAT = 1
# metadata keys that describe what happened during a run rather than which model ran
_VOLATILE_MODEL_KEYS = {"audio_source", "media", "smoke_test", "modalities", "world_size"}
# keys that locate a model on disk; ignored when a weights hash identifies it (so a moved cache still resumes)
_LOCATION_KEYS = {"model", "peft", "model_class"}


def stable_hash(obj: Any, n: int = 16) -> str:
    """Short sha256 of the canonical JSON of ``obj``."""
    text = json.dumps(obj, sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def model_identity(meta: dict[str, Any]) -> dict[str, Any]:
    """The part of an adapter's ``emorealm_metadata()`` that says which model answers."""
    drop = set(_VOLATILE_MODEL_KEYS)
    if meta.get("model_sha256"):
        drop |= _LOCATION_KEYS
    return {k: v for k, v in meta.items() if k not in drop}


def request_hash(request_type: str, args: Any, doc: dict[str, Any] | None, occurrence: int = 0) -> str:
    """Identity of one request: its type and arguments, the doc's own id and clip, its repeat index."""
    doc = doc or {}
    return stable_hash([request_type, list(args), doc.get("id"), doc.get("clip_id"), occurrence], 24)


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a journaled run: what is saved and where (the CLI prints the resume command)."""

    def __init__(self, path: Path, saved: int) -> None:
        super().__init__(f"{saved} finished sample(s) saved in {path}")
        self.path = path
        self.saved = saved


class Journal:
    """An append-only jsonl of finished samples, locked for the duration of one run."""

    def __init__(self, path: Path, identity_fn: Callable[[], dict[str, Any]] | None = None) -> None:
        self.path = path
        self.identity_fn = identity_fn
        self.identity: dict[str, Any] | None = None
        self.pre: dict[str, Any] | None = None  # what precheck() saw, written into the run header
        self.model_fp = ""
        self.headers: list[dict[str, Any]] = []
        self.entries: dict[tuple, dict[str, Any]] = {}
        self.reused = 0
        self.written = 0
        self.dropped_lines = 0
        self._fh = None
        self._lock = None

    # -- opening ------------------------------------------------------------------------------
    @classmethod
    def open(cls, folder: str | Path, *, resume: bool = False, overwrite: bool = False,
             identity_fn: Callable[[], dict[str, Any]] | None = None, rank: int = 0,
             world_size: int = 1) -> Journal:
        """Open the journal of ``folder`` for a new run, following the --resume/--overwrite rules.

        Under data parallel each rank writes its own file and reads every rank's (of this run and
        of earlier runs with any number of ranks): samples are keyed by content, not by rank.
        """
        if resume and overwrite:
            raise ConfigError("--resume and --overwrite exclude each other: resume keeps the journal, overwrite discards it")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (JOURNAL_NAME if rank == 0 else f"journal.rank{rank}.jsonl")
        journal = cls(path, identity_fn)
        journal._acquire_lock()
        try:
            existing = [p for p in sorted(folder.glob(JOURNAL_GLOB)) if p.stat().st_size > 0]
            if existing and not (resume or overwrite):
                raise ConfigError(
                    f"{folder} already holds a resume journal from an earlier run ({existing[0]}); pass --resume to "
                    "continue it (finished samples are reused, nothing else is recomputed) or --overwrite to "
                    "discard it and start again (or choose another --output)")
            if overwrite:
                # each rank removes its own file; rank 0 also those of ranks this run does not have.
                # Nothing is read: another rank's old file may not be removed yet
                stale = [path] + ([p for p in folder.glob(JOURNAL_GLOB) if _rank_of(p) >= world_size]
                                  if rank == 0 else [])
                for p in stale:
                    p.unlink(missing_ok=True)
            else:
                for p in sorted(folder.glob(JOURNAL_GLOB)):
                    journal._read(p, own=p == path)
        except BaseException:
            journal.close()
            raise
        return journal

    def _acquire_lock(self) -> None:
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.path.parent / f".{self.path.name}.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout as exc:
            raise ConfigError(f"another emorealm run is writing {self.path} (lock {lock.lock_file} is held); "
                              "wait for it to finish or choose another --output") from exc
        self._lock = lock

    def _read(self, path: Path, own: bool = True) -> None:
        with open(path, "rb") as fh:
            data = fh.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            # a run killed mid-write leaves a torn last line: drop it so appends start on a fresh line
            # (another rank's file is only read: it may be growing right now)
            if own:
                with open(path, "r+b") as fh:
                    fh.truncate(end)
            self.dropped_lines += 1
        for lineno, raw in enumerate(data[:end].splitlines(), 1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                self.dropped_lines += 1
                log.warning("%s:%d is not valid JSON; ignoring that line", path, lineno)
                continue
            if rec.get("kind") == "run":
                if rec.get("format") != FORMAT:
                    raise ConfigError(f"{path} has journal format {rec.get('format')!r}, this emorealm writes "
                                      f"{FORMAT}; pass --overwrite to start again")
                self.headers.append(rec)
            elif rec.get("kind") == "sample":
                self.entries[self._key(rec["task"], rec["version"], rec["doc_id"], rec["req"], rec["model"])] = rec

    # -- identity -----------------------------------------------------------------------------
    def ready(self) -> None:
        """Compute this run's identity (once), check it against the journal and start writing."""
        if self.identity is not None:
            return
        if self.identity_fn is None:
            raise ConfigError("journal opened without an identity function")
        identity = self.identity_fn()
        self.check(identity)
        self.identity = identity
        self.model_fp = stable_hash(identity["model"])
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115  (kept open for the run)
        header = {"kind": "run", "format": FORMAT, "started": datetime.now(UTC).isoformat(), "identity": identity}
        if self.pre is not None:
            header["precheck"] = self.pre
        self._write(header)

    def precheck(self, pre: dict[str, Any]) -> None:
        """Refuse, before the model loads, a journal whose seed, task options, task versions, data
        fingerprints or weight files differ from this run's (the full identity is checked again later)."""
        self.pre = pre
        for head in self.headers:
            old = head.get("identity", {})
            for field, what in (("seed", "seed"), ("task_options", "task options")):
                if field in old and old.get(field) != pre.get(field):
                    self._refuse(what, _diff(old.get(field), pre.get(field)))
            self._check_tasks(old, pre)
            was = (head.get("precheck") or {}).get("weights")
            if was and pre.get("weights") and was != pre["weights"]:
                self._refuse("model (weight files)", f"journal {was}, this run {pre['weights']}")

    def resume_plan(self, docs_per_task: dict[str, int]) -> tuple[int, int]:
        """(reusable, remaining) samples of a run over the first ``docs_per_task[task]`` docs of each
        task, said on the console up front when the journal holds any."""
        have = {(str(e["task"]), int(e["doc_id"])) for e in self.entries.values() if e.get("doc_id") is not None}
        total = sum(docs_per_task.values())
        reusable = sum(1 for task, n in docs_per_task.items() for i in range(n) if (task, i) in have)
        if self.entries:
            log.info("resuming %s: %d finished sample(s) found; %d of this run's %d sample(s) are reused, "
                     "%d remain to compute", self.path, len(self.entries), reusable, total, total - reusable)
        return reusable, total - reusable

    def check(self, identity: dict[str, Any]) -> None:
        """Refuse a journal written under a different model, media spec, seed, task version or data."""
        for head in self.headers:
            old = head.get("identity", {})
            for field, what in (("model", "model"), ("media", "media spec"), ("seed", "seed"),
                                ("task_options", "task options")):
                if old.get(field) != identity.get(field):
                    self._refuse(what, _diff(old.get(field), identity.get(field)))
            self._check_tasks(old, identity)

    def _check_tasks(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        for task, info in new.get("tasks", {}).items():
            prev = old.get("tasks", {}).get(task)
            if prev is None:
                continue
            for field, what in (("version", "task version"), ("data_fingerprint", "data fingerprint")):
                if prev.get(field) != info.get(field):
                    self._refuse(f"{what} of {task}", f"journal has {prev.get(field)!r}, this run has "
                                                      f"{info.get(field)!r}")

    def _refuse(self, what: str, detail: str) -> None:
        raise ConfigError(f"the journal {self.path} was written with a different {what} ({detail}); its samples "
                          "cannot be reused for this run. Pass --overwrite to discard it, or choose another --output")

    # -- samples ------------------------------------------------------------------------------
    @staticmethod
    def _key(task: str, version: Any, doc_id: Any, req: str, model: str) -> tuple:
        return (str(task), str(version), int(doc_id) if doc_id is not None else -1, req, model)

    def version_of(self, task: str) -> Any:
        return (self.identity or {}).get("tasks", {}).get(task, {}).get("version")

    def key(self, task: str, doc_id: Any, req: str) -> tuple:
        return self._key(task, self.version_of(task), doc_id, req, self.model_fp)

    def get(self, key: tuple) -> dict[str, Any] | None:
        rec = self.entries.get(key)
        if rec is not None:
            self.reused += 1
        return rec

    def append(self, key: tuple, *, request_type: str, doc: dict[str, Any], resp: Any,
               notes: dict[str, Any] | None = None) -> None:
        """Record one finished request (flushed before returning)."""
        task, version, doc_id, req, model = key
        rec = {"kind": "sample", "task": task, "version": version, "doc_id": doc_id, "id": doc.get("id"),
               "req": req, "model": model, "type": request_type, "resp": resp, "notes": notes or {}}
        self._write(rec)  # not kept in memory: only what an earlier run wrote is looked up
        self.written += 1

    def _write(self, rec: dict[str, Any]) -> None:
        assert self._fh is not None
        # allow_nan=False: a NaN is an error and errors are never journaled; ASCII: any generated text
        # (lone surrogates included) round-trips
        self._fh.write(json.dumps(rec, ensure_ascii=True, allow_nan=False) + "\n")
        self._fh.flush()

    def saved(self) -> int:
        """How many finished samples the journal files hold now (earlier runs' and this run's)."""
        return len(self.entries) + self.written

    def stats(self) -> dict[str, Any]:
        return {"path": str(self.path), "reused": self.reused, "computed": self.written,
                "dropped_lines": self.dropped_lines}

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def _rank_of(path: Path) -> int:
    """The rank that writes journal file ``path`` (0 for ``journal.jsonl``)."""
    stem = path.name.removesuffix(".jsonl").removeprefix("journal")
    return int(stem.removeprefix(".rank")) if stem.startswith(".rank") and stem[5:].isdigit() else 0


def _diff(old: Any, new: Any) -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        return "; ".join(f"{k}: journal {old.get(k)!r}, this run {new.get(k)!r}" for k in keys[:4])
    return f"journal {old!r}, this run {new!r}"
