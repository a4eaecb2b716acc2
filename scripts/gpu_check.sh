#!/usr/bin/env bash
# GPU check (needs one CUDA GPU with >= 40 GiB; no weights, no network): a randomly initialised
# model of the real Qwen2.5-Omni-7B thinker configuration runs bf16 HF generation and prefix-cached
# log-likelihood on synthetic sample clips and prints throughput.
#   bash scripts/gpu_check.sh                      # on the GPU machine
#   bash scripts/gpu_check.sh --preset tiny --device cpu --dtype float32   # CPU dry run
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
[ -x .venv/bin/python ] && PY=.venv/bin/python
export TOKENIZERS_PARALLELISM=false
export EMOREALM_CACHE="${EMOREALM_CACHE:-$(mktemp -d)}"
exec "$PY" scripts/gpu_check.py "$@"
