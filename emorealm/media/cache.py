"""On-disk cache of decoded, sampled media: ``<cache root>/media/<digest>.npz`` + ``<digest>.json``.

The key is the identity of every file a doc names (real path, size, mtime in ns) plus the sampling
spec, so an edited or replaced clip is decoded again and a different fps/frame cap gets its own
entry. Arrays go into an uncompressed ``.npz`` (read back with ``allow_pickle=False``), everything
else into JSON: no pickle anywhere. Entries are written to a temporary name and renamed into place
(the JSON last, it marks the entry complete), so concurrent evaluation processes never read half an
entry. ``EMOREALM_MEDIA_CACHE=0`` turns the cache off; deleting the folder is always safe.

The module knows nothing about media types: it stores a dict of arrays (``None`` allowed) and
JSON-able scalars/lists.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from emorealm.options import parse_bool

# 2: frames resized once from the source (media specs with names, emorealm.media.spec)
FORMAT_VERSION = 2
ENV = "EMOREALM_MEDIA_CACHE"


def enabled() -> bool:
    """False when ``EMOREALM_MEDIA_CACHE`` is 0/false/off/no (unset or empty: on; a typo: ConfigError)."""
    return parse_bool(os.environ.get(ENV) or "1", f"environment variable {ENV}")


def cache_dir() -> Path:
    from emorealm.paths import cache_root

    return cache_root() / "media"


def file_identity(path: str | None) -> list[Any] | str | None:
    """``[real path, size, mtime_ns]`` of an existing file; the path itself otherwise."""
    if path and os.path.exists(path):
        st = os.stat(path)
        return [os.path.realpath(path), st.st_size, st.st_mtime_ns]
    return path


def digest(key: dict[str, Any]) -> str:
    """Stable hex digest of a JSON-able key (with the format version folded in)."""
    blob = json.dumps({"v": FORMAT_VERSION, **key}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:40]


def _paths(d: str, root: Path) -> tuple[Path, Path]:
    return root / f"{d}.npz", root / f"{d}.json"


def load(key: dict[str, Any], root: Path | None = None) -> dict[str, Any] | None:
    """The stored fields for ``key`` (arrays and metadata merged), or None on a miss or a bad entry."""
    root = root or cache_dir()
    npz_path, meta_path = _paths(digest(key), root)
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("version") != FORMAT_VERSION:
            return None
        fields = dict(meta["fields"])
        arrays = read_npz(npz_path)
        for name in meta["arrays"]:
            fields[name] = arrays.get(name)
        return fields
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, struct.error):  # truncated/foreign: decode again
        return None


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Arrays of an uncompressed ``.npz`` (as ``np.savez`` writes), never unpickling.

    Each member is read straight from the file at its data offset (``np.lib.format.read_array`` on a
    real file uses one ``fromfile``), which is several times faster than going through ``zipfile``'s
    CRC-checked stream; compressed members fall back to ``np.load``.
    """
    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as zf, open(path, "rb") as fh:
        for info in zf.infolist():
            name = info.filename.removesuffix(".npy")
            if info.compress_type != zipfile.ZIP_STORED:
                with np.load(path, allow_pickle=False) as arrays:
                    return {k: arrays[k] for k in arrays.files}
            fh.seek(info.header_offset)
            header = fh.read(30)
            if header[:4] != b"PK\x03\x04":
                raise ValueError(f"{path}: bad zip member header")
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            fh.seek(info.header_offset + 30 + name_len + extra_len)
            arr = np.lib.format.read_array(fh, allow_pickle=False)
            if arr.nbytes > info.file_size:
                raise ValueError(f"{path}: member {name} is truncated")
            out[name] = arr
    return out


def _atomic_write(path: Path, write: Callable[[Any], None], mode: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def store(key: dict[str, Any], fields: dict[str, Any], root: Path | None = None) -> None:
    """Write ``fields``: numpy arrays (or None) to the npz, the rest to the JSON."""
    root = root or cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    npz_path, meta_path = _paths(digest(key), root)
    arrays = {k: v for k, v in fields.items() if isinstance(v, np.ndarray)}
    array_names = [k for k, v in fields.items() if isinstance(v, np.ndarray) or v is None]
    meta = {"version": FORMAT_VERSION, "key": key, "arrays": array_names,
            "fields": {k: v for k, v in fields.items() if k not in array_names}}
    _atomic_write(npz_path, lambda fh: np.savez(fh, **arrays), "wb")
    _atomic_write(meta_path, lambda fh: fh.write(json.dumps(meta, default=float)), "w")


def get_or_decode(key: dict[str, Any], decode: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Stored fields for ``key``, or ``decode()``'s fields (stored for next time).

    Decode errors propagate and are never cached; a cache folder that cannot be written only costs
    the speed-up.
    """
    if not enabled():
        return decode()
    hit = load(key)
    if hit is not None:
        return hit
    fields = decode()
    try:
        store(key, fields)
    except OSError:
        pass  # read-only or full cache folder: the decoded media are still correct
    return fields
