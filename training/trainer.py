"""AVEm-DPO trainer on accelerate + peft: one process or many (DDP / DeepSpeed ZeRO-2 / FSDP).

Every rank runs every pass of every step (clean, corrupted and text-only contexts alike): a rank
that skipped an encoder would leave ZeRO-3/FSDP collectives waiting for it.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import DistributedType

from emorealm.errors import ConfigError
from emorealm.model_adapters.checkpoint_media import media_record, read_checkpoint_media, write_checkpoint_media
from emorealm.training.collate import PrefBatch, PreferenceCollator
from emorealm.training.config import TrainConfig
from emorealm.training.data import load_preferences
from emorealm.training.forward import PreferenceModel, split_logps, thinker_of
from emorealm.training.launch import (
    build_scheduler,
    check_launch,
    enable_cpu_fsdp,
    fix_cpu_deepspeed,
    per_device_batch,
)
from emorealm.training.loss import avem_dpo_loss
from emorealm.training.policy import (  # noqa: F401  (load_thinker, freeze_encoders: re-exported)
    build_policy,
    freeze_encoders,
    load_thinker,
    resolve_data,
    resolve_model,
)
from emorealm.training.prefix_cache import enable_gradient_checkpointing
from emorealm.training.sft import SFTCollator, load_sft_rows, sft_loss

STATE_FILE = "emorealm_train_state.json"
TRAIN_RECORD = "emorealm_train.json"


@dataclass
class TrainResult:
    output_dir: Path
    steps: int
    metrics: list[dict[str, Any]]
    skipped: dict[str, int]


def _mixed_precision(choice: str) -> str:
    if choice != "auto":
        return choice
    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"


def _latest_checkpoint(out: Path) -> Path | None:
    cks = sorted((out / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return cks[-1] if cks else None


class Trainer:
    """Runs the training loop of one :class:`TrainConfig`; ``run()`` returns a :class:`TrainResult`."""

    def __init__(self, cfg: TrainConfig, accelerator=None, console=None) -> None:
        from accelerate import Accelerator
        from accelerate.utils import set_seed
        from rich.console import Console

        self.cfg = cfg
        check_launch(cfg)  # bad launch settings fail here, before any weight is loaded
        # no accelerator at all: say cpu=True so that torchrun / accelerate launch on CPU gets gloo DDP,
        # except under DeepSpeed, which accelerate ignores with cpu=True (DeepSpeed's CPU backend uses gloo)
        no_device = not (hasattr(torch, "accelerator") and torch.accelerator.is_available())
        use_ds = os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() in ("1", "true", "yes")
        self.acc = accelerator or Accelerator(gradient_accumulation_steps=cfg.train.grad_accum,
                                              mixed_precision=_mixed_precision(cfg.train.mixed_precision),
                                              cpu=no_device and not use_ds)
        if no_device and accelerator is None:  # accelerate's CPU gaps (training/launch.py)
            enable_cpu_fsdp(self.acc)
            fix_cpu_deepspeed(self.acc)
        self.console = console or Console(stderr=True)
        set_seed(cfg.seed)
        self.batch_size = per_device_batch(cfg.train, self.acc.num_processes)
        self.out = Path(cfg.output_dir)
        with self.acc.main_process_first():
            self.model_path = resolve_model(cfg.model)
            self.data_path = resolve_data(cfg.data)
        self.sft = cfg.objective == "sft"
        if self.sft:
            self.rows, self.report = load_sft_rows(self.data_path, cfg.data_root, strict=cfg.strict_data)
        else:
            self.rows, self.report = load_preferences(self.data_path, cfg.data_root, strict=cfg.strict_data,
                                                      need_rejected_2=cfg.loss.uses_rejected_er)
        thinker, self.processor, self.arch = load_thinker(self.model_path)
        self._check_base_media()
        if cfg.train.gradient_checkpointing:
            if not self.arch.supports_gradient_checkpointing(thinker):
                raise ConfigError(f"train.gradient_checkpointing: {type(thinker).__name__} does not support gradient "
                                  "checkpointing; set it to false (or use LoRA / a smaller batch to save memory)")
            enable_gradient_checkpointing(thinker, self.arch.decoder_layers(thinker))
        self.policy_model, self.ref_model = build_policy(cfg, thinker, self.arch)
        eot = self.arch.end_of_turn_id(self.processor.tokenizer)
        spec = self.arch.media_spec(cfg.media)  # what the family takes (AVERE: audio as its own item)
        if self.sft:
            self.collator = SFTCollator(self.processor, spec, system_prompt=cfg.system_prompt,
                                        max_completion_length=cfg.train.max_completion_length, end_of_turn_id=eot)
        else:
            self.collator = PreferenceCollator(self.processor, spec, cfg.loss,
                                               max_completion_length=cfg.train.max_completion_length, seed=cfg.seed,
                                               system_prompt=cfg.system_prompt, max_length=cfg.train.max_length,
                                               end_of_turn_id=eot)
        params = [p for p in self.policy_model.parameters() if p.requires_grad]
        if not params:
            raise ConfigError("nothing to train: every parameter is frozen")
        self.n_trainable = sum(p.numel() for p in params)
        self.optimizer = torch.optim.AdamW(params, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
        per_epoch = math.ceil(len(self.rows) / (self.batch_size * self.acc.num_processes))
        steps_epoch = max(1, math.ceil(per_epoch / cfg.train.grad_accum))
        self.total_steps = cfg.train.max_steps if cfg.train.max_steps > 0 else steps_epoch * cfg.train.epochs
        self.epochs = max(cfg.train.epochs, math.ceil(self.total_steps / steps_epoch))
        # Not handed to accelerate.prepare: a prepared scheduler steps once per process per optimizer
        # step, which ends the schedule after 1/N of training on N processes. Stepped by run() once
        # per optimizer step instead, and saved with the accelerate state.
        self.scheduler = build_scheduler(self.optimizer, cfg.train, self.total_steps)
        self.acc.register_for_checkpointing(self.scheduler)
        if self.ref_model is not None:
            self.ref_model.to(self.acc.device)
        self.policy = PreferenceModel(self.policy_model, self.ref_model, with_reference=not self.sft,
                                      share_media=cfg.freeze_encoders)
        _deepspeed_micro_batch(self.acc, self.batch_size)
        self.policy, self.optimizer = self.acc.prepare(self.policy, self.optimizer)
        self.step = 0
        self.skipped: Counter = Counter()
        self.corruptions: Counter = Counter()

    # -- one step ---------------------------------------------------------------------------------
    def _thinker(self):
        return thinker_of(self.acc.unwrap_model(self.policy).model)

    def compute_loss(self, batch: PrefBatch) -> tuple[torch.Tensor, dict[str, float]]:
        """Policy and reference log-probs of every sequence (one wrapped forward), then the objective."""
        pol, ref = self.policy(batch)
        if not batch.sequences:  # every row of this micro-batch was skipped: a zero step keeps ranks in step
            return pol.sum(), {}
        if self.sft:
            return sft_loss(pol, batch)
        return avem_dpo_loss(split_logps(batch, pol), split_logps(batch, ref), self.cfg.loss)

    # -- checkpoints ------------------------------------------------------------------------------
    def save_state(self, epoch: int, batch_in_epoch: int) -> Path:
        ck = self.out / "checkpoints" / f"checkpoint-{self.step}"
        self.acc.save_state(str(ck))
        if self.acc.is_main_process:
            (ck / STATE_FILE).write_text(json.dumps({"step": self.step, "epoch": epoch,
                                                     "batch_in_epoch": batch_in_epoch,
                                                     "skipped": dict(self.skipped)}))
            cks = sorted((self.out / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
            for old in cks[: max(0, len(cks) - self.cfg.train.save_total_limit)]:
                shutil.rmtree(old, ignore_errors=True)
        self.acc.wait_for_everyone()
        return ck

    def _resume(self) -> tuple[int, int]:
        where = self.cfg.resume_from_checkpoint
        if not where:
            return 0, 0
        ck = _latest_checkpoint(self.out) if where == "latest" else Path(where)
        if ck is None or not (ck / STATE_FILE).exists():
            raise ConfigError(f"no checkpoint to resume from at {where!r} (expected {self.out}/checkpoints/checkpoint-N)")
        self.acc.load_state(str(ck))
        st = json.loads((ck / STATE_FILE).read_text())
        self.step = int(st["step"])
        self.skipped.update(st.get("skipped", {}))
        self.console.print(f"resumed from {ck} at step {self.step}")
        return int(st["epoch"]), int(st["batch_in_epoch"])

    def save_model(self, folder: Path) -> Path:
        """Final checkpoint in HF format: LoRA adapter folder or full weights, plus the processor."""
        from emorealm.model_adapters.tiny_models.omni import TINY_MARKER, is_smoke_test_model

        self.acc.wait_for_everyone()
        # every rank takes part: FSDP / ZeRO-3 gather the sharded weights into rank 0's full state dict
        state = self.acc.get_state_dict(self.policy)
        if self.acc.is_main_process:
            folder.mkdir(parents=True, exist_ok=True)
            model = self.acc.unwrap_model(self.policy).model
            state = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
            if hasattr(model, "peft_config") and self.acc.distributed_type == DistributedType.FSDP:
                _save_adapter_from_full_state(model, state, folder)
            else:
                model.save_pretrained(str(folder), state_dict=state, safe_serialization=True)
            self.processor.save_pretrained(str(folder))
            write_checkpoint_media(folder, self.cfg.media)  # evaluation then sees what training saw
            if Path(self.model_path).is_dir() and is_smoke_test_model(self.model_path):
                shutil.copy(Path(self.model_path) / f"{TINY_MARKER}.json", folder / f"{TINY_MARKER}.json")
        self.acc.wait_for_everyone()
        return folder

    def _check_base_media(self) -> None:
        """Warn when the base checkpoint was trained with other media than this run's ``media:``
        (its emorealm_media.json): fine-tuning on inputs it never saw is rarely what was meant."""
        base, path = read_checkpoint_media(self.model_path)
        ours = media_record(self.cfg.media)
        differ = sorted(k for k in {*base, *ours} if base.get(k) != ours.get(k))
        if path is not None and differ and self.acc.is_main_process:
            self.console.print(f"[yellow]warning:[/] the base model was trained with media {base} ({path}); this run "
                               f"trains with {ours or 'the qwen-reference defaults'} (differing: {', '.join(differ)}). "
                               "Set media: in the training config to match unless the change is intended.")

    # -- the loop ---------------------------------------------------------------------------------
    def _loader(self, epoch: int):
        from torch.utils.data import DataLoader

        g = torch.Generator().manual_seed(self.cfg.seed * 1000 + epoch)
        order = torch.randperm(len(self.rows), generator=g).tolist()
        dl = DataLoader([self.rows[i] for i in order], batch_size=self.batch_size, shuffle=False,
                        collate_fn=self.collator)
        return self.acc.prepare_data_loader(dl, device_placement=False)

    def run(self) -> TrainResult:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        cfg = self.cfg
        start_epoch, skip_batches = self._resume()
        history: list[dict[str, Any]] = []
        if self.acc.is_main_process:
            self.out.mkdir(parents=True, exist_ok=True)
            self.console.print(
                f"{cfg.objective}: {len(self.rows)} rows from {self.data_path} ({dict(self.report.skipped) or 'none'} "
                f"skipped at load), {self.cfg.finetune} ({self.n_trainable:,} trainable params), "
                f"{self.total_steps} steps on {self.acc.num_processes} process(es), "
                f"precision {self.acc.mixed_precision}")
        log_path = self.out / "train_log.jsonl"
        reporter = self._reporter()  # console line, TensorBoard / W&B, curves plot (training/reporting.py)
        acc_metrics: dict[str, list[float]] = defaultdict(list)
        progress = Progress(TextColumn("[bold]train"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                            console=self.console, disable=not self.acc.is_main_process)
        t0 = time.time()
        with progress:
            task = progress.add_task("train", total=self.total_steps, completed=self.step, info="")
            for epoch in range(start_epoch, self.epochs):
                loader = self._loader(epoch)
                if skip_batches:
                    loader = self.acc.skip_first_batches(loader, skip_batches)
                for bi, batch in enumerate(loader, start=skip_batches):
                    if self.step >= self.total_steps:
                        break
                    self.policy.train()
                    self.skipped.update(batch.skipped)
                    for rec_c in batch.corruptions:  # what replaced each modality in c~ (noise or *_l)
                        self.corruptions.update(f"{m}:{v.split('(')[0].split(':')[0]}" for m, v in rec_c.items())
                    with self.acc.accumulate(self.policy):
                        loss, metrics = self.compute_loss(batch)
                        self.acc.backward(loss)
                        if self.acc.sync_gradients and cfg.train.max_grad_norm > 0:
                            self.acc.clip_grad_norm_(self.policy.parameters(), cfg.train.max_grad_norm)
                        self.optimizer.step()
                        self.optimizer.zero_grad()
                    for k, v in metrics.items():
                        acc_metrics[k].append(v)
                    if not self.acc.sync_gradients:
                        continue
                    self.step += 1
                    lr = self.scheduler.get_last_lr()[0]  # the LR this optimizer step used
                    if not self.acc.optimizer_step_was_skipped:  # fp16 overflow: no step, no schedule advance
                        self.scheduler.step()
                    rec = self._reduce(acc_metrics)
                    acc_metrics.clear()
                    rec.update(step=self.step, epoch=epoch, lr=lr,
                               elapsed_s=round(time.time() - t0, 2), skipped_rows=sum(self.skipped.values()))
                    history.append(rec)
                    if reporter is not None:
                        reporter.log(rec, self.total_steps, progress)
                    if self.acc.is_main_process and (self.step % max(1, cfg.train.logging_steps) == 0):
                        with open(log_path, "a", encoding="utf-8") as fh:
                            fh.write(json.dumps(rec) + "\n")
                    info = " ".join(f"{k.split('/')[0][:3]}/{k.split('/')[-1]}={rec[k]:.3f}" for k in
                                    ("loss", "response/acc_vr", "modality/acc") if k in rec)
                    progress.update(task, completed=self.step, info=info)
                    if cfg.train.save_steps and self.step % cfg.train.save_steps == 0:
                        self.save_state(epoch, bi + 1)
                skip_batches = 0
                if self.step >= self.total_steps:
                    break
        final = self.save_model(self.out)
        if self.acc.is_main_process:
            (self.out / TRAIN_RECORD).write_text(json.dumps({
                "config": cfg.as_dict(), "base_model": self.model_path, "data": str(self.data_path),
                "steps": self.step, "rows": len(self.rows), "skipped_at_load": dict(self.report.skipped),
                "skipped_in_training": dict(self.skipped),
                "rejected_inputs_used": dict(self.corruptions), "final_metrics": history[-1] if history else {},
                "num_processes": self.acc.num_processes}, indent=2, default=str))
            if self.skipped:
                self.console.print(f"[yellow]rows skipped during training:[/] {dict(self.skipped)}")
            self.console.print(f"checkpoint: {final}")
        if reporter is not None and (plot := reporter.finish()) is not None:
            self.console.print(f"training curves: {plot}")
        return TrainResult(final, self.step, history, dict(self.skipped))

    def _reporter(self):
        if not self.acc.is_main_process:
            return None
        from emorealm.training.reporting import Reporter, parse_report_to

        t = self.cfg.train
        return Reporter(self.out, parse_report_to(getattr(t, "report_to", None)), t.logging_steps,
                        self.cfg.as_dict(), console=self.console)

    def _reduce(self, metrics: dict[str, list[float]]) -> dict[str, float]:
        """Mean of each metric over the accumulated micro-batches and over ranks."""
        keys = sorted(metrics)
        if self.acc.num_processes > 1:
            # every rank must contribute the same keys; missing ones (empty micro-batches) count as NaN
            keys = sorted(set().union(*[set(k) for k in self.acc.gather_for_metrics([keys], use_gather_object=True)]))
        vals = torch.tensor([sum(metrics[k]) / len(metrics[k]) if metrics.get(k) else float("nan") for k in keys],
                            device=self.acc.device, dtype=torch.float64)
        if self.acc.num_processes > 1:
            vals = self.acc.gather(vals[None]).nanmean(0)
        return {k: float(v) for k, v in zip(keys, vals.tolist(), strict=True)}


def _save_adapter_from_full_state(model, state: dict[str, torch.Tensor], folder: Path) -> None:
    """Write a LoRA adapter folder from the gathered full state dict of an FSDP-wrapped PEFT model.

    PEFT 0.21 finds its weights by module name and strips only a *leading* ``_fsdp_wrapped_module.``;
    with decoder layers wrapped as their own FSDP units the prefix sits mid-name, so
    ``save_pretrained(state_dict=...)`` writes an empty adapter. The keys are PEFT's own layout: the
    adapter weights of the full state dict with the adapter name removed.
    """
    from safetensors.torch import save_file

    cfg = model.peft_config["default"]
    if getattr(cfg, "modules_to_save", None):
        raise ConfigError("FSDP with LoRA and trainable towers (modules_to_save) cannot be saved yet; "
                          "use DDP or DeepSpeed ZeRO-2 for that run")
    adapter = {k.replace(".default.", "."): v.contiguous() for k, v in state.items()
               if ".lora_" in k and ".default." in k}
    if not adapter:
        raise RuntimeError("no LoRA weight in the gathered state dict")  # a bug, not a user error
    save_file(adapter, str(folder / "adapter_model.safetensors"), metadata={"format": "pt"})
    cfg.save_pretrained(str(folder))


def _deepspeed_micro_batch(acc, batch_size: int) -> None:
    """DeepSpeed needs its micro-batch size when the engine is built; accelerate reads it from the
    dataloaders handed to ``prepare``, and ours are prepared per epoch, so it is set here."""
    plugin = getattr(acc.state, "deepspeed_plugin", None)
    if plugin is None:
        return
    ds = plugin.deepspeed_config
    if ds.get("train_micro_batch_size_per_gpu", "auto") == "auto":
        ds["train_micro_batch_size_per_gpu"] = batch_size
    if ds.get("train_batch_size", "auto") == "auto":
        ds["train_batch_size"] = batch_size * acc.num_processes * acc.gradient_accumulation_steps


def train(cfg: TrainConfig, console=None) -> TrainResult:
    """Train with ``cfg`` and return the result (checkpoint folder, steps, per-step metrics)."""
    return Trainer(cfg, console=console).run()
