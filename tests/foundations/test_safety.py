"""Safe defaults: no remote code unless asked, no pickle checkpoints or caches, no API key in outputs."""

from __future__ import annotations

import json
import re
import secrets
import shutil
from pathlib import Path

import numpy as np
import pytest

from emorealm.errors import ModelError

from support.runs import run_cli

REPO = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("emorealm", "model_adapters", "tasks", "training", "leaderboard", "scripts", "bench")


def _marker_module(folder: Path, marker: Path) -> None:
    """A config class module that leaves ``marker`` behind if anything imports it."""
    (folder / "evil_config.py").write_text(
        "from pathlib import Path\n"
        f"Path({str(marker)!r}).write_text('remote code ran')\n"
        "from transformers import PretrainedConfig\n"
        "class EvilConfig(PretrainedConfig):\n    model_type = 'evil_omni'\n")


def test_remote_code_is_not_run_by_default(tmp_path, tiny_omni_dir):
    from emorealm.model_adapters.hf import HFAdapter

    marker = tmp_path / "ran.txt"
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    _marker_module(ckpt, marker)
    (ckpt / "config.json").write_text(json.dumps(
        {"model_type": "evil_omni", "auto_map": {"AutoConfig": "evil_config.EvilConfig"}}))
    with pytest.raises(ModelError, match="trust_remote_code|cannot load a model config"):
        HFAdapter(pretrained=str(ckpt))
    assert not marker.exists()

    # a known architecture whose config also names remote code: the library's own class is used
    known = tmp_path / "known"
    shutil.copytree(tiny_omni_dir, known)
    _marker_module(known, marker)
    cfg = json.loads((known / "config.json").read_text())
    cfg["auto_map"] = {"AutoConfig": "evil_config.EvilConfig"}
    (known / "config.json").write_text(json.dumps(cfg))
    adapter = HFAdapter(pretrained=str(known))
    assert not marker.exists() and type(adapter.model).__module__.startswith("transformers.")


class _Boom:
    """Unpickling this leaves a marker file: proof that a pickle was loaded."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "pickle ran"))


def test_pickle_checkpoints_are_never_loaded(tmp_path, tiny_omni_dir):
    import torch

    from emorealm.model_adapters.hf import HFAdapter

    marker = tmp_path / "unpickled.txt"
    ckpt = tmp_path / "pickled"
    shutil.copytree(tiny_omni_dir, ckpt)
    for f in ckpt.glob("*.safetensors*"):
        f.unlink()
    torch.save({"payload": _Boom(str(marker))}, ckpt / "pytorch_model.bin")
    with pytest.raises((ModelError, OSError)) as exc:
        HFAdapter(pretrained=str(ckpt))
    assert "safetensors" in str(exc.value)
    assert not marker.exists()


_PICKLE_CALLS = [
    re.compile(r"\bpickle\.loads?\("),
    re.compile(r"\bcloudpickle\b|\bdill\.load"),
    re.compile(r"allow_pickle\s*=\s*True"),
    re.compile(r"weights_only\s*=\s*False"),
    re.compile(r"trust_remote_code\s*=\s*True"),
    re.compile(r"(?<![.\w])(?:eval|exec)\("),
]


# The prefetch worker talks to its own child process over inherited anonymous pipes, as
# multiprocessing does; only bytes read from such a pipe (or a pickle round trip in memory) may be
# unpickled there (the spool file carries only raw out-of-band tensor bytes, never a pickle stream).
_PIPE_UNPICKLE = re.compile(r"\bpickle\.loads\((?:\w+\.recv_bytes\(\)\)|pickle\.dumps\(|main, buffers=buffers\))")
_PIPE_MODULES = {"model_adapters/prefetch_process.py", "model_adapters/prefetch_transport.py"}


def test_source_has_no_pickle_loads_or_remote_code_defaults():
    offenders = []
    for d in SOURCE_DIRS:
        for f in (REPO / d).rglob("*.py") if (REPO / d).is_dir() else []:
            text = f.read_text(encoding="utf-8")
            if f.relative_to(REPO).as_posix() in _PIPE_MODULES:
                text = _PIPE_UNPICKLE.sub("<pipe>", text)
            for pat in _PICKLE_CALLS:
                offenders += [f"{f.relative_to(REPO)}: {m.group(0)}" for m in pat.finditer(text)]
            offenders += [f"{f.relative_to(REPO)}: torch.load without weights_only=True"
                          for m in re.finditer(r"torch\.load\(([^)]*)\)", text) if "weights_only=True" not in m.group(1)]
    assert not offenders, offenders


def _is_pickle(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(2)
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def test_cache_holds_no_pickles(tiny_omni_dir, sample_root):
    from emorealm.paths import cache_root

    bad = []
    # what emorealm writes there; the vLLM tier's venv (venv-*) holds third-party packages whose
    # own test data includes pickled object arrays, and is not ours to police
    ours = [p for p in cache_root().iterdir() if not p.name.startswith("venv")]
    assert any(p.name == "models" for p in ours), ours
    files = [f for p in ours for f in ([p] if p.is_file() else p.rglob("*"))]
    for f in files:
        if not f.is_file() or f.is_symlink():
            continue
        if f.suffix in (".pkl", ".pickle", ".pt", ".pth", ".bin") or _is_pickle(f):
            bad.append(str(f))
        elif f.suffix == ".npz":
            with np.load(f, allow_pickle=False) as z:  # raises on object arrays
                for name in z.files:
                    z[name]
    assert not bad, bad


@pytest.mark.slow
def test_api_keys_never_reach_outputs_or_logs(tmp_path, tiny_omni_dir, sample_root):
    key = "sk-emorealm-test-" + secrets.token_hex(16)
    env = {"OPENAI_API_KEY": key, "EMOREALM_OPENAI_API_KEY": key, "EMOREALM_CALL_LOG": str(tmp_path / "calls.log")}
    out = tmp_path / "out"
    proc = run_cli("run", "--model", "tiny-omni", "--tasks", "modality_agreement", "--limit", "2",
               "--gen-kwargs", "max_gen_toks=2", "--output", str(out), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    files = [f for f in out.rglob("*") if f.is_file()] + [tmp_path / "calls.log"]
    names = {f.name.split("_")[0] for f in files}
    assert {"results", "samples", "journal.jsonl"} <= names
    leaks = [str(f) for f in files if key.encode() in f.read_bytes()]
    assert key not in proc.stdout and key not in proc.stderr
    assert not leaks, leaks
