"""Plain DPO of emorealm vs TRL 1.16's DPOTrainer, at a policy that differs from its reference,
on rows that carry video and audio.

    python bench/trl_compare.py [--rows 2] [--repeats 2] [--tiny]

At LoRA initialisation the policy equals the reference and every DPO loss is ``log 2``: a
comparison there cannot fail. Here the LoRA ``B`` matrices are drawn from a seeded normal *after*
the adapters are attached, so the policy differs from the reference (adapters disabled) and the
per-row margins are far from 0. Three comparisons, each with the loss and the gradient of every
LoRA weight:

1. **log-prob level** — our multimodal summed log-probs (policy and reference) go into TRL's own
   ``DPOTrainer._compute_loss`` through a stand-in model that returns them as its per-token
   log-probs; TRL's loss and its gradients (back through the same log-probs) equal ours.
2. **TRL's whole compute path** — TRL runs its own forwards (full sequences, no prefix cache) on
   the same rows, with the media handed in by a collator that builds the very inputs of
   ``emorealm.model_adapters.inputs.build_inputs``; a spy asserts that ``pixel_values_videos`` and
   ``input_features`` reach the model's forward inside TRL.
3. **TRL's own data path is text-only** — the same rows given to DPOTrainer as a dataset with
   ``video`` / ``audio`` columns come out of its collator with no media key at all: TRL's trainer
   would silently train on the text (docs/avem-dpo.md).

``compare_at(..., trl_beta=..., swap=True)`` runs the same comparison with TRL given a different
beta or chosen/rejected swapped; the tests check that it then reports a mismatch.
Last line: ``trl_compare: <our plain-DPO step time / TRL's on the same batch> (target <= 1.1)``
(P4). Imported by bench/dpo_step.py (``--trl``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import torch

LOSS_TOL = 1e-4  # float32, different forward plans (prefix cache vs full rows)
GRAD_TOL = 1e-3  # max |g_ours - g_trl| / max |g_ours|


class TRLCollator:
    """Rows → TRL's batch layout: [chosen rows; rejected rows], completion_mask, media repeated."""

    def __init__(self, batch, swap: bool = False) -> None:
        self.batch = batch  # an emorealm PrefBatch with plain-DPO sequences (chosen, rejected_vr)
        self.swap = swap  # chosen and rejected exchanged (a deliberately wrong input, for the tests)

    def __call__(self, examples):
        b = self.batch
        seqs = {n: [s for s in b.sequences if s.name == n] for n in ("chosen", "rejected_vr")}
        order = seqs["rejected_vr"] + seqs["chosen"] if self.swap else seqs["chosen"] + seqs["rejected_vr"]
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


def perturb_lora(policy, seed: int, std: float) -> None:
    """Draw the trained adapter's LoRA ``B`` from N(0, std²) (seeded): the policy now differs from the
    reference."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_B" in name and ".default." in name:
                p.copy_(torch.randn(p.shape, generator=g) * std)


def trl_loss_from_logps(pol_w, pol_l, ref_w, ref_l, beta: float) -> torch.Tensor:
    """TRL 1.16's ``DPOTrainer._compute_loss`` (its sigmoid DPO) on given summed log-probs.

    The stand-in model returns per-token log-probs whose row sums are the given policy log-probs
    (gradients flow back through them); the reference log-probs go in as precomputed (TRL's
    ``precompute_ref_logps`` path)."""
    from trl import DPOTrainer

    b, seq = pol_w.shape[0], 4
    first = torch.cat([pol_w, pol_l])[:, None]
    per_token = torch.cat([first, torch.zeros(2 * b, seq - 2, dtype=first.dtype)], dim=1)
    outputs = SimpleNamespace(log_probs=per_token, entropy=torch.zeros_like(per_token),
                              mean_logits=torch.zeros_like(per_token),
                              is_top1=torch.zeros_like(per_token, dtype=torch.bool), aux_loss=None)

    class Acc:
        device = torch.device("cpu")

        @staticmethod
        def gather_for_metrics(x):
            return x

        @staticmethod
        def gather(x):
            return x

    fake = SimpleNamespace(
        model=SimpleNamespace(training=True), accelerator=Acc(), aux_loss_enabled=False, ld_alpha=None,
        precompute_ref_logps=True, f_divergence_type="reverse_kl", loss_types=["sigmoid"], loss_weights=[1.0],
        beta=beta, use_weighting=False, _metrics={"train": defaultdict(list)}, _total_train_tokens=0, _tp_size=1,
        label_smoothing=0.0,
    )
    inputs = {"input_ids": torch.ones(2 * b, seq, dtype=torch.long),
              "attention_mask": torch.ones(2 * b, seq, dtype=torch.long),
              "completion_mask": torch.ones(2 * b, seq, dtype=torch.long),
              "ref_chosen_logps": ref_w, "ref_rejected_logps": ref_l}
    return DPOTrainer._compute_loss(fake, lambda **kw: outputs, inputs, return_outputs=False)


class Setup:
    """A LoRA policy on ``model``, TRL's DPOTrainer on it, then the policy perturbed away from the
    reference, and one plain-DPO batch.

    TRL takes its reference when the trainer is built: for a PEFT model it copies the current
    adapter into a frozen ``ref`` adapter. The trainer is therefore built at LoRA initialisation
    (``B = 0``: ``ref`` = the base model = our reference, adapters disabled) and only then are the
    trained (``default``) adapter's ``B`` matrices drawn from N(0, std²) with ``seed``.
    """

    def __init__(self, model, proc, batch, lora_regex: str, seed: int = 0, std: float = 0.05,
                 beta: float = 0.1) -> None:
        from datasets import Dataset
        from peft import LoraConfig, get_peft_model
        from trl import DPOConfig, DPOTrainer

        from emorealm.training.loss import LossConfig

        self.cfg = LossConfig(beta=beta, w_vr=1.0, debias_weight=0.0, debias=False, modality=False)
        self.batch, self.proc = batch, proc
        torch.manual_seed(seed)  # LoRA A's initialisation
        self.policy = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=lora_regex))
        rows = [{"prompt": "x", "chosen": "a", "rejected": "b", "images": []} for _ in range(batch.n_rows)]
        args = DPOConfig(output_dir=tempfile.mkdtemp(prefix="trl-bench-"), per_device_train_batch_size=batch.n_rows,
                         max_steps=1, remove_unused_columns=False, report_to=[], beta=beta, loss_type=["sigmoid"],
                         use_cpu=not torch.cuda.is_available(), logging_steps=1000, save_strategy="no",
                         gradient_checkpointing=False, max_length=None)
        self.trainer = DPOTrainer(model=self.policy, ref_model=None, args=args, train_dataset=Dataset.from_list(rows),
                                  processing_class=proc, data_collator=TRLCollator(batch))
        perturb_lora(self.policy, seed, std)
        self.thinker = self.policy.get_base_model()
        self.params = {n: p for n, p in self.policy.named_parameters() if p.requires_grad and ".default." in n}
        self.seen: dict[str, bool] = {}

    def _grads(self, loss: torch.Tensor) -> tuple[float, dict[str, torch.Tensor]]:
        for p in self.params.values():
            p.grad = None
        loss.backward()
        grads = {n: p.grad.detach().clone() for n, p in self.params.items() if p.grad is not None}
        for p in self.params.values():
            p.grad = None
        return float(loss.detach()), grads

    def our_logps(self, with_grad: bool = True) -> tuple[dict, dict]:
        """(policy, reference) summed completion log-probs by sequence name: our multimodal forward."""
        from emorealm.training.forward import encode_media, sequence_logps, split_logps

        self.batch.cache.clear()
        self.policy.train()
        with torch.no_grad():
            shared = encode_media(self.thinker, self.batch, torch.device("cpu"))
        with torch.set_grad_enabled(with_grad):
            pol = sequence_logps(self.thinker, self.batch, shared)
        with torch.no_grad(), self.policy.disable_adapter():
            ref = sequence_logps(self.thinker, self.batch, shared)
        return split_logps(self.batch, pol), split_logps(self.batch, ref)

    def ours(self) -> tuple[float, dict[str, torch.Tensor]]:
        from emorealm.training.loss import avem_dpo_loss

        pol, ref = self.our_logps()
        return self._grads(avem_dpo_loss(pol, ref, self.cfg)[0])

    def trl_on_our_logps(self, beta: float | None = None, swap: bool = False) -> tuple[float, dict]:
        pol, ref = self.our_logps()
        w, lo = ("rejected_vr", "chosen") if swap else ("chosen", "rejected_vr")
        return self._grads(trl_loss_from_logps(pol[w], pol[lo], ref[w], ref[lo], self.cfg.beta if beta is None else beta))

    def trl(self, beta: float | None = None, swap: bool = False) -> tuple[float, dict]:
        """TRL's own compute path (its forwards, its reference adapter) on the batch, media included."""
        trainer = self.trainer
        orig_forward, orig_beta = self.thinker.model.forward, trainer.beta

        def spy(*a, **kw):  # record what TRL hands the language model
            for k in ("pixel_values_videos", "input_features"):
                self.seen[k] = self.seen.get(k, False) or kw.get(k) is not None
            return orig_forward(*a, **kw)

        inputs = TRLCollator(self.batch, swap)([])
        self.thinker.model.forward = spy
        trainer.beta = orig_beta if beta is None else beta
        try:
            trainer.model.train()
            loss = trainer.compute_loss(trainer.model, dict(inputs))
        finally:
            self.thinker.model.forward, trainer.beta = orig_forward, orig_beta
        return self._grads(loss)


def grad_gap(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """max |a - b| over every weight, relative to max |a| (inf when the weight sets differ)."""
    if a.keys() != b.keys() or not a:
        return float("inf")
    scale = max(float(v.abs().max()) for v in a.values())
    return max(float((a[k] - b[k]).abs().max()) for k in a) / max(scale, 1e-30)


def compare_at(setup: Setup, trl_beta: float | None = None, swap: bool = False) -> dict:
    """Our plain-DPO loss and LoRA gradients vs TRL's (log-prob level and its whole compute path);
    ``match`` is true only when both agree within the tolerances."""
    lo, go = setup.ours()
    ll, gl = setup.trl_on_our_logps(trl_beta, swap)
    lt, gt = setup.trl(trl_beta, swap)
    pol, ref = setup.our_logps(with_grad=False)
    margins = ((pol["chosen"] - ref["chosen"]) - (pol["rejected_vr"] - ref["rejected_vr"])).tolist()
    out = {"loss_ours": lo, "loss_trl_logps": ll, "loss_trl": lt, "grad_gap_logps": grad_gap(go, gl),
           "grad_gap_trl": grad_gap(go, gt), "margins": margins, "media_reached_trl": dict(setup.seen)}
    out["match"] = (abs(lo - ll) < LOSS_TOL and abs(lo - lt) < LOSS_TOL and out["grad_gap_logps"] < GRAD_TOL
                    and out["grad_gap_trl"] < GRAD_TOL)
    return out


def trl_default_batch_keys(proc, rows: list[dict], root: Path) -> set[str]:
    """Keys of the batch TRL's own DPOTrainer data path (dataset → tokenisation → its collator) makes
    from preference rows that name a video and an audio file."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    ds = Dataset.from_list([{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"],
                             "video": str(root / r["video"]), "audio": str(root / r.get("audio_l", r["video"]))}
                            for r in rows])
    args = DPOConfig(output_dir=tempfile.mkdtemp(prefix="trl-keys-"), per_device_train_batch_size=len(rows),
                     report_to=[], use_cpu=True, save_strategy="no", max_steps=1)
    from peft import LoraConfig

    trainer = DPOTrainer(model=_tiny_text_model(proc), args=args, train_dataset=ds, processing_class=proc.tokenizer,
                         peft_config=LoraConfig(r=2, target_modules=["q_proj"]))
    return set(next(iter(trainer.get_train_dataloader())))


def _tiny_text_model(proc):
    """The tiny Qwen2.5-Omni thinker's language model as a causal LM (what TRL's text path trains)."""
    from emorealm.model_adapters.tiny_models.omni import ensure_tiny_omni
    from emorealm.training.policy import load_thinker

    return load_thinker(str(ensure_tiny_omni()))[0]


def timing(setup: Setup, repeats: int) -> float:
    """Median step time (forward + backward) ours / TRL's compute path on the same batch (P4)."""
    setup.ours(), setup.trl()  # warm-up
    t = {"ours": [], "trl": []}
    for _ in range(repeats):
        for name, fn in (("ours", setup.ours), ("trl", setup.trl)):
            t0 = time.perf_counter()
            fn()
            t[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in t.items()}
    print(f"plain DPO step seconds (median of {repeats}): ours {med['ours']:.3f}  TRL DPOTrainer {med['trl']:.3f}")
    return med["ours"] / med["trl"]


def compare(model, proc, batch, lora_regex: str, repeats: int = 2) -> float:
    """Assert that ours equals TRL at a perturbed policy, then return P4 (ours / TRL step time)."""
    setup = Setup(model, proc, batch, lora_regex)
    res = compare_at(setup)
    print("plain DPO vs TRL at a perturbed policy: " + json.dumps(res))
    assert res["match"], res
    assert res["media_reached_trl"] == {"pixel_values_videos": True, "input_features": True}, res
    return timing(setup, repeats)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--std", type=float, default=0.05, help="std of the seeded LoRA B draw (the policy's distance)")
    ap.add_argument("--tiny", action="store_true", help="the tiny-omni twin instead of the ~100M bench model")
    args = ap.parse_args()
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from dpo_step import bench_model

    from emorealm.media.decode import MediaSpec
    from emorealm.model_adapters.architectures.qwen_omni import Qwen25Omni
    from emorealm.training.collate import PreferenceCollator
    from emorealm.training.config import LoraSettings
    from emorealm.training.data import load_preferences
    from emorealm.training.loss import LossConfig
    from emorealm.training.policy import freeze_encoders
    from emorealm.training.sample_prefs import toy_rows

    if args.tiny:
        from emorealm.model_adapters.tiny_models.omni import ensure_tiny_omni
        from emorealm.training.policy import load_thinker

        model, proc, _ = load_thinker(str(ensure_tiny_omni()))
    else:
        model, proc = bench_model()
    freeze_encoders(model)
    tmp = Path(tempfile.mkdtemp(prefix="trl-compare-"))
    raw = toy_rows(tmp, args.rows, seed=5, seconds=2.0)
    with open(tmp / "prefs.jsonl", "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in raw)
    rows, _ = load_preferences(tmp / "prefs.jsonl")
    plain = PreferenceCollator(proc, MediaSpec(max_frames=8),
                               LossConfig(w_vr=1.0, debias_weight=0.0, debias=False, modality=False))(rows)
    keys = trl_default_batch_keys(proc, raw, tmp)
    print(f"TRL's own data path on video+audio rows gives the keys {sorted(keys)}: text only")
    setup = Setup(model, proc, plain, LoraSettings().target_regex(Qwen25Omni.lora_scope), std=args.std)
    res = compare_at(setup)
    print("plain DPO vs TRL at a perturbed policy: " + json.dumps(res))
    for what, kw in (("beta 0.1 -> 0.12", {"trl_beta": 0.12}), ("chosen/rejected swapped", {"swap": True})):
        bad = compare_at(setup, **kw)
        print(f"  TRL given {what}: loss {bad['loss_trl']:.6f} vs ours {bad['loss_ours']:.6f}, match={bad['match']}")
    assert res["match"] and not any(k in keys for k in ("pixel_values_videos", "input_features")), res
    print(f"trl_compare: {timing(setup, args.repeats):.3f} (target <= 1.1)")


if __name__ == "__main__":
    main()
