"""Where things live: the cache root, the data root, and safe joins inside a root."""

from __future__ import annotations

import os
from pathlib import Path

from emorealm.errors import DataError


def cache_root() -> Path:
    """``$EMOREALM_CACHE`` or ``~/.cache/emorealm`` (tiny-omni, sample data, decode cache)."""
    return Path(os.environ.get("EMOREALM_CACHE") or Path.home() / ".cache" / "emorealm").expanduser()


def tiny_omni_dir() -> Path:
    return cache_root() / "models" / "tiny-omni"


def sample_data_dir() -> Path:
    return cache_root() / "sample-data"


def safe_join(root: str | Path, relative: str | Path) -> Path:
    """Join ``relative`` under ``root`` and refuse anything that resolves outside it.

    Symlinks are resolved, so a link pointing out of the data root is refused as well.
    """
    root_r = Path(root).resolve()
    rel = Path(relative)
    if rel.is_absolute():
        raise DataError(f"path {relative!r} is absolute; paths in data files must be relative to {root_r}")
    full = (root_r / rel).resolve()
    if full != root_r and root_r not in full.parents:
        raise DataError(f"path {relative!r} resolves to {full}, outside the data root {root_r}; refusing it")
    return full
