#!/usr/bin/env bash
# Sharded AVEm-DPO on 2 GPUs: the checks that CPU cannot make (bf16, NCCL, module-state broadcast).
# Prepared, not yet run (no GPU in the development session). Needs `pip install -e ".[dev]"` (deepspeed).
#   bash scripts/gpu_check_sharded.sh [OUT_DIR]
# For each of FSDP and ZeRO-2 (the shipped configs, only num_processes changed), full fine-tuning of
# tiny-omni for 3 steps at global batch 4: 1 GPU vs 2 GPUs, bf16. Prints the per-step losses and
# fails when they differ by more than 2e-2 (bf16) or the LRs differ.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-$(mktemp -d)}
mkdir -p "$OUT"
python - "$OUT" <<'PY'
import json, subprocess, sys, yaml
from pathlib import Path

out = Path(sys.argv[1])
sys.path.insert(0, "tests")
from _train_launch import SCRIPT, write_prefs  # noqa: E402

data = write_prefs(out / "data", 8, seed=4)
(out / "train_script.py").write_text(SCRIPT)
cfg = {"model": "tiny-omni", "data": str(data), "finetune": "full", "media": {"max_frames": 4},
       "train": {"global_batch_size": 4, "max_steps": 3, "lr": 1e-3, "warmup_steps": 1,
                 "max_completion_length": 10, "mixed_precision": "bf16"}}
bad = False
for kind in ("fsdp", "zero2"):
    logs = {}
    for n in (1, 2):
        acc = yaml.safe_load(Path(f"training/configs/{kind}.yaml").read_text())
        acc["num_processes"] = n
        if kind == "zero2":
            acc["deepspeed_config"]["gradient_accumulation_steps"] = 1
        (out / f"{kind}{n}.yaml").write_text(yaml.safe_dump(acc))
        name = f"{kind}-{n}gpu"
        (out / f"{name}.json").write_text(json.dumps({**cfg, "output_dir": str(out / name)}))
        subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(out / f"{kind}{n}.yaml"),
                        "--num_processes", str(n), str(out / "train_script.py"), str(out / f"{name}.json")], check=True)
        logs[n] = [json.loads(x) for x in (out / name / "train_log.jsonl").read_text().splitlines()]
        print(name, json.loads((out / name / "launch.json").read_text()))
    for a, b in zip(logs[1], logs[2], strict=True):
        ok = abs(a["loss"] - b["loss"]) < 2e-2 and a["lr"] == b["lr"]
        bad |= not ok
        print(f"{kind} step {a['step']}: loss 1 GPU {a['loss']:.5f}  2 GPUs {b['loss']:.5f}  lr {a['lr']:.2e} {'ok' if ok else 'MISMATCH'}")
sys.exit(1 if bad else 0)
PY
