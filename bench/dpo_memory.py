"""Benchmark: peak memory of one AVEm-DPO training step (all terms, forward + backward) with gradient
checkpointing ÷ without, on the ~100M-parameter random Qwen2.5-Omni thinker of bench/dpo_step.py
(full fine-tuning of the language model, towers frozen, shared-prefix forward in both).

    python bench/dpo_memory.py [--rows 2] [--frames 16] [--completion 64]

Each variant runs in its own process. On a GPU the measure is ``torch.cuda.max_memory_allocated``
above the memory held before the step; on CPU it is the peak resident set (``VmHWM``, reset after
the model is built) above the resident set before the step. Both count what the step adds:
activations, gradients, temporaries. Last line: ``dpo_memory: <with/without> (target <= 0.7)``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure(checkpointing: bool, rows: int, frames: int, completion: int) -> dict:
    """Peak bytes one step adds, in this process."""
    import torch
    from dpo_step import bench_model  # bench/ is on sys.path when run as a script

    from emorealm.media.decode import MediaSpec
    from emorealm.model_adapters.architectures import architecture_of
    from emorealm.training.collate import PreferenceCollator
    from emorealm.training.data import load_preferences
    from emorealm.training.forward import encode_media, sequence_logps, split_logps
    from emorealm.training.loss import LossConfig, avem_dpo_loss
    from emorealm.training.prefix_cache import enable_gradient_checkpointing
    from emorealm.training.sample_prefs import toy_rows

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    model, proc = bench_model()
    arch = architecture_of(model)
    for t in arch.towers(model):
        t.requires_grad_(False)
    model.to(device).train()
    if checkpointing:
        enable_gradient_checkpointing(model, arch.decoder_layers(model))
    tmp = Path(tempfile.mkdtemp(prefix="dpo-mem-"))
    with open(tmp / "prefs.jsonl", "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in toy_rows(tmp, rows, seed=5, seconds=4.0))
    data, _ = load_preferences(tmp / "prefs.jsonl")
    loss_cfg = LossConfig()
    batch = PreferenceCollator(proc, MediaSpec(max_frames=frames), loss_cfg, max_completion_length=completion,
                               end_of_turn_id=arch.end_of_turn_id(proc.tokenizer))(data)
    with torch.no_grad():
        media = encode_media(model, batch, device, arch)
        ref = split_logps(batch, sequence_logps(model, batch, media))
    n_tokens = sum(b.features["input_ids"].shape[1] for b in batch.contexts)
    if cuda:
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        base = _rss_kb("VmRSS") * 1024
    pol = sequence_logps(model, batch, media)
    loss, _ = avem_dpo_loss(split_logps(batch, pol), ref, loss_cfg)
    loss.backward()
    if cuda:
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = _rss_kb("VmHWM") * 1024
    grad_norm = float(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in model.parameters() if p.grad is not None)))
    return {"added_bytes": peak - base, "loss": float(loss), "grad_norm": grad_norm, "context_tokens": n_tokens,
            "sequences": len(batch.sequences), "device": str(device)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=2)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--completion", type=int, default=64)
    ap.add_argument("--child", choices=["with", "without"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.child == "with", args.rows, args.frames, args.completion)))
        return
    res = {}
    for variant in ("without", "with"):
        out = subprocess.run([sys.executable, __file__, "--child", variant, "--rows", str(args.rows),
                              "--frames", str(args.frames), "--completion", str(args.completion)],
                             capture_output=True, text=True, check=True)
        res[variant] = json.loads(out.stdout.strip().splitlines()[-1])
        r = res[variant]
        print(f"{variant:>7} checkpointing: step adds {r['added_bytes'] / 2**20:8.1f} MiB on {r['device']} "
              f"(loss {r['loss']:.6f}, grad norm {r['grad_norm']:.6f}, {r['sequences']} sequences, "
              f"{r['context_tokens']} context tokens)", flush=True)
    same = abs(res["with"]["loss"] - res["without"]["loss"]) < 1e-5
    print(f"same loss and gradient norm with and without: {same and abs(res['with']['grad_norm'] - res['without']['grad_norm']) < 1e-4 * max(1.0, res['without']['grad_norm'])}")
    print(f"dpo_memory: {res['with']['added_bytes'] / res['without']['added_bytes']:.3f} (target <= 0.7)")


if __name__ == "__main__":
    main()
