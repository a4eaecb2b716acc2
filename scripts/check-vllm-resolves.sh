#!/usr/bin/env bash
# CI check (no GPU): `pip install 'emorealm[vllm]'` resolves against the package index to the newest
# vLLM, with no backtracking to an old release. A resolver dry run; nothing is installed.
# Usage: bash scripts/check-vllm-resolves.sh [expected minimum vllm version, default 0.33.0]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MIN_VLLM="${1:-0.33.0}"
PYTHON="${PYTHON:-python3}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
# wheels where they exist: the resolve needs metadata, not builds (sqlitedict, an lm-eval dependency, is sdist-only)
"$PYTHON" -m pip install --dry-run --ignore-installed --prefer-binary --disable-pip-version-check -q \
    --report "$tmp/report.json" "$ROOT[vllm]" 2> >(grep -v "^WARNING: Location" >&2)
"$PYTHON" - "$tmp/report.json" "$MIN_VLLM" <<'PY'
import json, sys
from packaging.version import Version

report, minimum = json.load(open(sys.argv[1])), Version(sys.argv[2])
got = {i["metadata"]["name"].lower().replace("_", "-"): i["metadata"]["version"] for i in report["install"]}
vllm = got.get("vllm")
if vllm is None or Version(vllm) < minimum:
    sys.exit(f"check-vllm-resolves: emorealm[vllm] resolved to vllm {vllm}, expected >= {minimum}")
print(f"check-vllm-resolves: emorealm[vllm] resolves: vllm {vllm}, torch {got.get('torch')}, "
      f"transformers {got.get('transformers')}, lm-eval {got.get('lm-eval')}")
PY
echo "check-vllm-resolves: $(( $(date +%s) - start )) s"
