#!/usr/bin/env bash
# Install emorealm with its test dependencies and run every test tier. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
export EMOREALM_CACHE="${EMOREALM_CACHE:-$HOME/.cache/emorealm}"
export TOKENIZERS_PARALLELISM=false
start=$(date +%s)

python -m pip install -q -e ".[dev]"
echo "install: $(( $(date +%s) - start )) s"

# Tier 1: the main suite (tiny-omni and generated media; CPU only).
python -m emorealm tiny-omni >/dev/null
python -m pytest -q -p no:cacheprovider
echo "tests finished after $(( $(date +%s) - start )) s"
