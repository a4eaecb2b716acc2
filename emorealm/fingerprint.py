"""Content hashes: model weights and benchmark files (recorded in results metadata)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from emorealm.paths import cache_root

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _cached_file_hash(path: Path) -> str:
    """sha256 of a file, memoised on disk by (path, size, mtime): big checkpoints hash once."""
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    store = cache_root() / "hashes.json"
    try:
        memo = json.loads(store.read_text())
    except (OSError, ValueError):
        memo = {}
    if key not in memo:
        memo[key] = sha256_file(path)
        store.parent.mkdir(parents=True, exist_ok=True)
        tmp = store.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(memo))
        os.replace(tmp, store)
    return memo[key]


def local_checkpoint(name: str | Path | None) -> Path | None:
    """The folder holding checkpoint ``name``: the folder itself, or for a hub id the snapshot the
    Hugging Face cache holds (looked up offline, never downloaded); None when neither exists."""
    if not name:
        return None
    if Path(name).is_dir():
        return Path(name)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id=str(name), local_files_only=True))
    except Exception:  # not a hub id, or not in the cache: nothing local to hash
        return None


def weights_hash(*folders: str | Path | None) -> str | None:
    """One sha256 over the weight files of the given checkpoints (name + content hash, sorted).

    Each entry is a folder or a hub id whose snapshot is in the Hugging Face cache.
    """
    h = hashlib.sha256()
    found = False
    for name in folders:
        folder = local_checkpoint(name)
        if folder is None:
            continue
        for p in sorted(Path(folder).iterdir()):
            if p.suffix in _WEIGHT_SUFFIXES and p.is_file():
                found = True
                h.update(p.name.encode())
                h.update(_cached_file_hash(p).encode())
    return f"sha256:{h.hexdigest()}" if found else None


def file_fingerprint(path: str | Path) -> str:
    return f"sha256:{sha256_file(path)}"
