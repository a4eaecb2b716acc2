"""Benchmark: one AVEm-DPO step (all terms) ÷ a naive implementation that re-encodes the media
for every sequence, on a ~100M-parameter random Qwen2.5-Omni thinker (LoRA policy, reference =
adapters disabled, forward + backward).

    python bench/dpo_step.py [--rows 2] [--repeats 3]

Then (unless ``--no-trl``) the plain-DPO step against TRL's DPOTrainer on the same model and
batch (bench/trl_compare.py): ``dpo_step_plain_vs_trl: <ours/TRL> (target <= 1.1)``.
Last line: ``dpo_step: <ours/naive> (target <= 0.6)``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch


def bench_model(hidden: int = 1024, layers: int = 12):
    """A random thinker of ~100M parameters with the tiny-omni tokenizer/processor."""
    from transformers import AutoProcessor, Qwen2_5OmniThinkerForConditionalGeneration

    from emorealm.model_adapters.tiny_models.omni import ensure_tiny_omni, tiny_config

    proc = AutoProcessor.from_pretrained(ensure_tiny_omni())
    cfg = tiny_config(proc.tokenizer, hidden=hidden, layers=layers).thinker_config
    # encoders scaled with the language model (the released 7B pairs ~1.3B of encoders with the LM)
    cfg.vision_config.hidden_size, cfg.vision_config.intermediate_size, cfg.vision_config.depth = 256, 1024, 4
    cfg.vision_config.num_heads = 4
    cfg.vision_config.fullatt_block_indexes = [3]
    cfg.audio_config.d_model, cfg.audio_config.encoder_ffn_dim, cfg.audio_config.encoder_layers = 256, 1024, 4
    cfg.audio_config.encoder_attention_heads = 4
    torch.manual_seed(0)
    model = Qwen2_5OmniThinkerForConditionalGeneration(cfg).eval()
    return model, proc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=1024, help="LM hidden size (1024 x 12 layers: ~100M params)")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--no-trl", action="store_true", help="skip the plain-DPO comparison with TRL's DPOTrainer")
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))

    from peft import LoraConfig, get_peft_model

    from emorealm.media.decode import MediaSpec
    from emorealm.model_adapters.architectures.qwen_omni import Qwen25Omni
    from emorealm.model_adapters.inputs import append_continuation
    from emorealm.training.collate import PreferenceCollator
    from emorealm.training.config import LoraSettings
    from emorealm.training.data import load_preferences
    from emorealm.training.forward import encode_media, sequence_logps, split_logps
    from emorealm.training.loss import LossConfig, avem_dpo_loss
    from emorealm.training.policy import freeze_encoders
    from emorealm.training.sample_prefs import toy_rows

    model, proc = bench_model(args.hidden, args.layers)
    print(f"building done: {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params", flush=True)
    n_params = sum(p.numel() for p in model.parameters())
    freeze_encoders(model)
    policy = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=LoraSettings().target_regex(Qwen25Omni.lora_scope)))
    thinker = policy.get_base_model()
    tmp = Path(tempfile.mkdtemp(prefix="dpo-bench-"))
    with open(tmp / "prefs.jsonl", "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in toy_rows(tmp, args.rows, seed=5, seconds=2.0))
    rows, _ = load_preferences(tmp / "prefs.jsonl")
    loss_cfg = LossConfig()
    batch = PreferenceCollator(proc, MediaSpec(max_frames=8), loss_cfg)(rows)
    opt = torch.optim.SGD([p for p in policy.parameters() if p.requires_grad], lr=1e-4)

    def ours() -> float:
        batch.cache.clear()
        with torch.no_grad():
            shared = encode_media(thinker, batch, torch.device("cpu"))
        pol = sequence_logps(thinker, batch, shared)
        with torch.no_grad(), policy.disable_adapter():
            ref = sequence_logps(thinker, batch, shared)
        loss, _ = avem_dpo_loss(split_logps(batch, pol), split_logps(batch, ref), loss_cfg)
        loss.backward()
        opt.zero_grad()
        return float(loss.detach())

    def seq_logp(s) -> torch.Tensor:
        ctx = batch.contexts[s.context]
        logits = thinker(**append_continuation(ctx, s.completion).model_kwargs()).logits[0]
        p, n = ctx.prompt_length, len(s.completion)
        lp = torch.log_softmax(logits[p - 1:p - 1 + n].float(), -1)
        return lp.gather(1, torch.tensor(s.completion)[:, None]).sum()

    def naive() -> float:
        # every sequence is its own full forward: media re-encoded per term, policy and reference
        pol = torch.stack([seq_logp(s) for s in batch.sequences])
        with torch.no_grad(), policy.disable_adapter():
            ref = torch.stack([seq_logp(s) for s in batch.sequences])
        loss, _ = avem_dpo_loss(split_logps(batch, pol), split_logps(batch, ref), loss_cfg)
        loss.backward()
        opt.zero_grad()
        return float(loss.detach())

    la, lb = ours(), naive()  # warm-up, and the two must agree
    print(f"warm-up done: loss ours {la:.6f} naive {lb:.6f}", flush=True)
    assert abs(la - lb) < 1e-3, (la, lb)
    times = {"ours": [], "naive": []}
    for _ in range(args.repeats):
        for name, fn in (("ours", ours), ("naive", naive)):
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"model: {n_params / 1e6:.1f}M params; rows {batch.n_rows}, contexts {len(batch.contexts)}, "
          f"sequences {len(batch.sequences)}; loss ours {la:.6f} naive {lb:.6f}")
    print(f"step seconds (median of {args.repeats}): ours {med['ours']:.3f}  naive {med['naive']:.3f}")
    ratio = med["ours"] / med["naive"]
    if not args.no_trl:
        import sys

        sys.path.insert(0, str(Path(__file__).parent))
        from trl_compare import compare

        del policy, thinker, model, opt
        model2, _ = bench_model(args.hidden, args.layers)
        freeze_encoders(model2)
        plain = PreferenceCollator(proc, MediaSpec(max_frames=8),
                                   LossConfig(w_vr=1.0, debias_weight=0.0, debias=False, modality=False))(rows)
        vs_trl = compare(model2, proc, plain, LoraSettings().target_regex(Qwen25Omni.lora_scope), repeats=args.repeats)
        print(f"dpo_step_plain_vs_trl: {vs_trl:.3f} (target <= 1.1)")
    print(f"dpo_step: {ratio:.3f} (target <= 0.6)")


if __name__ == "__main__":
    main()
