"""Plain-DPO step of emorealm vs TRL 1.16's DPOTrainer on the same model and batch.

TRL only carries media when rows look like vision rows: each row gets ``"images": []``,
``remove_unused_columns=False`` and a custom collator that builds the very same inputs with
``emorealm.model_adapters.inputs.build_inputs``. The bench asserts that ``pixel_values_videos`` and
``input_features`` reach the model's forward inside TRL, and that both compute the same loss.
Imported by bench/dpo_step.py (``--trl``); runnable alone.
"""

from __future__ import annotations

import statistics
import tempfile
import time

import torch


class TRLCollator:
    """Rows → TRL's batch layout: [chosen rows; rejected rows], completion_mask, media repeated."""

    def __init__(self, batch) -> None:
        self.batch = batch  # an emorealm PrefBatch with plain-DPO sequences (chosen, rejected_vr)

    def __call__(self, examples):
        b = self.batch
        seqs = {n: [s for s in b.sequences if s.name == n] for n in ("chosen", "rejected_vr")}
        order = seqs["chosen"] + seqs["rejected_vr"]
        rows = [b.contexts[s.context].features["input_ids"][0].tolist() + s.completion for s in order]
        length = max(map(len, rows))
        ids = torch.zeros(len(rows), length, dtype=torch.long)
        attn = torch.zeros_like(ids)
        comp = torch.zeros_like(ids)
        for i, (s, r) in enumerate(zip(order, rows, strict=True)):
            ids[i, : len(r)] = torch.tensor(r)
            attn[i, : len(r)] = 1
            comp[i, len(r) - len(s.completion): len(r)] = 1
        feats = [b.contexts[s.context].features for s in order]
        return {"input_ids": ids, "attention_mask": attn, "completion_mask": comp,
                "pixel_values_videos": torch.cat([f["pixel_values_videos"] for f in feats]),
                "video_grid_thw": torch.cat([f["video_grid_thw"] for f in feats]),
                "video_second_per_grid": torch.cat([f["video_second_per_grid"] for f in feats]),
                "input_features": torch.cat([f["input_features"] for f in feats]),
                "feature_attention_mask": torch.cat([f["feature_attention_mask"] for f in feats]),
                "use_audio_in_video": True}


def compare(model, proc, batch, lora_regex: str, repeats: int = 2) -> float:
    """Median step time ours / TRL for plain DPO (LoRA policy, reference = adapters disabled)."""
    from datasets import Dataset
    from emorealm.training.forward import encode_media, sequence_logps, split_logps
    from emorealm.training.loss import LossConfig, avem_dpo_loss
    from peft import LoraConfig, get_peft_model
    from trl import DPOConfig, DPOTrainer

    cfg = LossConfig(w_vr=1.0, debias_weight=0.0, debias=False, modality=False)
    policy = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=lora_regex))
    thinker = policy.get_base_model()
    seen: dict[str, bool] = {}
    orig_forward = thinker.model.forward

    def spy(*a, **kw):  # record what TRL hands the model
        for k in ("pixel_values_videos", "input_features"):
            seen[k] = seen.get(k, False) or kw.get(k) is not None
        return orig_forward(*a, **kw)

    rows = [{"prompt": "x", "chosen": "a", "rejected": "b", "images": []} for _ in range(batch.n_rows)]
    args = DPOConfig(output_dir=tempfile.mkdtemp(prefix="trl-bench-"), per_device_train_batch_size=batch.n_rows,
                     max_steps=1, remove_unused_columns=False, report_to=[], beta=cfg.beta, loss_type=["sigmoid"],
                     use_cpu=not torch.cuda.is_available(), logging_steps=1000, save_strategy="no",
                     gradient_checkpointing=False, max_length=None)
    trainer = DPOTrainer(model=policy, ref_model=None, args=args, train_dataset=Dataset.from_list(rows),
                         processing_class=proc, data_collator=TRLCollator(batch))
    inputs = TRLCollator(batch)([])
    opt = torch.optim.SGD([p for p in policy.parameters() if p.requires_grad], lr=0.0)

    def trl_step() -> float:
        thinker.model.forward = spy
        try:
            trainer.model.train()
            loss = trainer.compute_loss(trainer.model, dict(inputs))
            loss.backward()
        finally:
            thinker.model.forward = orig_forward
        opt.zero_grad()
        return float(loss.detach())

    def ours() -> float:
        batch.cache.clear()
        policy.train()
        with torch.no_grad():
            shared = encode_media(thinker, batch, torch.device("cpu"))
        pol = sequence_logps(thinker, batch, shared)
        with torch.no_grad(), policy.disable_adapter():
            ref = sequence_logps(thinker, batch, shared)
        loss, _ = avem_dpo_loss(split_logps(batch, pol), split_logps(batch, ref), cfg)
        loss.backward()
        opt.zero_grad()
        return float(loss.detach())

    lt, lo = trl_step(), ours()
    assert seen.get("pixel_values_videos") and seen.get("input_features"), f"media did not reach the model: {seen}"
    assert abs(lt - lo) < 1e-3, (lt, lo)
    t = {"ours": [], "trl": []}
    for _ in range(repeats):
        for name, fn in (("ours", ours), ("trl", trl_step)):
            t0 = time.perf_counter()
            fn()
            t[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in t.items()}
    print(f"plain DPO: loss ours {lo:.6f} TRL {lt:.6f}; media reached TRL's forward: {seen}")
    print(f"plain DPO step seconds: ours {med['ours']:.3f}  TRL DPOTrainer {med['trl']:.3f}")
    return med["ours"] / med["trl"]
