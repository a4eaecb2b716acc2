"""The leaderboard file on disk: create, read, and update it safely under concurrency.

Every update takes an exclusive lock (``filelock``, a ``<file>.lock`` beside the leaderboard), reads
and validates the current file, applies the change, validates the result, and replaces the file
atomically (temp file in the same folder + fsync + rename + fsync of the folder). A failed
validation or a crash leaves the previous file untouched; two submitters never lose each other's entry.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from emorealm.errors import ConfigError
from emorealm.leaderboard.entry import load_json, now_iso
from emorealm.leaderboard.schema import SCHEMA_NAME, SCHEMA_VERSION, KnownTasks, known_tasks, validate_leaderboard

LOCK_TIMEOUT_S = 120.0


def new_leaderboard(title: str = "EmoReAlM leaderboard", table: KnownTasks | None = None) -> dict[str, Any]:
    """An empty leaderboard declaring every known task, with no reference data yet."""
    table = table or known_tasks()
    stamp = now_iso()
    return {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "title": title,
        "created_at": stamp,
        "updated_at": stamp,
        "tasks": {t: {"data_fingerprint": None, "size": None} for t in table.tasks},
        "trusted_keys": [],
        "entries": [],
    }


def read_leaderboard(path: Path) -> dict[str, Any]:
    """Read and validate a leaderboard file (DataError when missing, malformed, or of an unknown schema version)."""
    board = load_json(path, "leaderboard")
    validate_leaderboard(board, str(path))
    board["schema_version"] = SCHEMA_VERSION  # an older version is read as the current one (written so next time)
    return board


def _lock(path: Path, timeout: float) -> FileLock:
    return FileLock(str(path) + ".lock", timeout=timeout)


def dumps_board(board: dict[str, Any]) -> str:
    """The file's text: header fields one per line, then one entry per line (diff-friendly, and fast:
    Python's C JSON encoder only runs without ``indent``)."""
    def enc(v: Any) -> str:
        return json.dumps(v, ensure_ascii=False, allow_nan=False)

    head = [f" {enc(k)}: {enc(v)}," for k, v in board.items() if k != "entries"]
    entries = ",\n".join(f"  {enc(e)}" for e in board["entries"])
    return "{\n" + "\n".join(head) + '\n "entries": [' + (f"\n{entries}\n ]" if entries else "]") + "\n}\n"


def _atomic_write(path: Path, board: dict[str, Any]) -> None:
    data = dumps_board(board).encode()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def update_leaderboard(
    path: Path,
    change: Callable[[dict[str, Any]], None],
    *,
    create: bool = True,
    title: str = "EmoReAlM leaderboard",
    timeout: float = LOCK_TIMEOUT_S,
) -> dict[str, Any]:
    """Apply ``change`` (mutates the board, raises to reject) under the lock; returns the written board.

    When ``change`` raises, nothing is written and the existing file stays as it was. ``change`` may
    add, drop or replace entries but must not edit an existing entry object in place.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise ConfigError(f"cannot write leaderboard {path}: folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(f"cannot write leaderboard {path}: permission denied (choose a writable --leaderboard path)")
    try:  # probe: filelock would turn an uncreatable lock file into a silent wait until the timeout
        os.close(os.open(str(path) + ".lock", os.O_WRONLY | os.O_CREAT, 0o644))
    except OSError as exc:
        raise ConfigError(f"cannot write leaderboard {path}: cannot create {path}.lock ({exc.strerror}); "
                          "choose a writable --leaderboard path") from None
    try:
        with _lock(path, timeout):
            if path.exists():
                board = read_leaderboard(path)
            elif create:
                board = new_leaderboard(title)
            else:
                raise ConfigError(f"leaderboard {path} does not exist (create it with `emorealm leaderboard init {path}`)")
            # entries just read were validated; a change adds or drops entries, it does not edit them
            unchanged = {id(e) for e in board["entries"]}
            change(board)
            board["updated_at"] = now_iso()
            validate_leaderboard(board, f"{path} (after the change)", known_valid=unchanged)
            _atomic_write(path, board)
            return board
    except Timeout:
        raise ConfigError(f"timed out after {timeout:.0f} s waiting for the lock {path}.lock; "
                          "another submitter holds it (or a stale lock file sits on a network filesystem)") from None
    except OSError as exc:
        raise ConfigError(f"cannot write leaderboard {path}: {exc.strerror} ({exc.filename})") from None
