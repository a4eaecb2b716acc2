"""Where things live: the cache root, the data root, and safe joins inside a root."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def resolve_data_root(options: dict | None = None, default: Callable[[], Path] | None = None) -> Path:
    """The data root: task option ``data_root``, else ``$EMOREALM_DATA_ROOT``, else ``default()``.

    ``default`` is the caller's fallback (the loaders pass the built-in sample data, see
    :func:`emorealm.benchmarks.common.resolve_data_root`; the runner says on the console when a run
    uses it). Without one, a missing data root is an error.
    """
    options = options or {}
    root = options.get("data_root") or os.environ.get("EMOREALM_DATA_ROOT")
    if root:
        path = Path(root).expanduser()
        if not path.is_dir():
            raise DataError(
                f"data root {path} does not exist; pass --data-root or set EMOREALM_DATA_ROOT to the folder "
                "that holds EmoReAlM/, dfew/, RAVDESS/ ... (docs/getting-started.md)"
            )
        return path
    if default is None:
        raise DataError("no data root given; pass --data-root or set EMOREALM_DATA_ROOT to the folder that holds "
                        "EmoReAlM/, dfew/, RAVDESS/ ... (docs/getting-started.md)")
    return default()


def ensure_versioned_dir(out: Path, marker: str, version: int, write: Callable[[Path], Any],
                         prefix: str = ".build-") -> Path:
    """Return ``out`` when its ``marker`` JSON names ``version``; else build it with ``write(tmp)`` in a
    temporary sibling folder and rename that into place, so readers never see a half-written folder."""
    import json
    import shutil
    import tempfile

    path = out / marker
    if path.exists() and json.loads(path.read_text()).get("version") == version:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=out.parent))
    try:
        write(tmp)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
