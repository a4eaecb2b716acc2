"""What ``emorealm train`` reports besides the checkpoint: the output-folder guard, a per-step line
every ``logging_steps``, TensorBoard / Weights & Biases logging (``report_to``, as transformers'
TrainingArguments), and a loss and reward-margin plot (``training_curves.png``) at the end.

The trainer calls :class:`Reporter` through three hooks (``start``, ``log``, ``finish``) and only
on the main process; everything here is optional to the training itself.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from emorealm.errors import ConfigError

REPORTERS = ("tensorboard", "wandb")
PLOT_NAME = "training_curves.png"
# files a previous training run leaves in output_dir
_TRAIN_OUTPUTS = ("train_log.jsonl", "emorealm_train.json", "adapter_config.json", "model.safetensors",
                  "checkpoints", "runs", PLOT_NAME)


def parse_report_to(value: str | list[str] | None) -> list[str]:
    """``"none"`` / ``"all"`` / ``"tensorboard"`` / ``"tensorboard,wandb"`` / a list → reporter names."""
    if value is None:
        return []
    names = [v.strip() for v in (value.split(",") if isinstance(value, str) else value) if str(v).strip()]
    if names in (["none"], []):
        return []
    if names == ["all"]:
        return list(REPORTERS)
    unknown = [n for n in names if n not in REPORTERS]
    if unknown:
        from emorealm.suggest import unknown_names_message

        raise ConfigError(unknown_names_message("report_to value(s)", unknown, [*REPORTERS, "all", "none"]))
    return names


def check_output_dir(out: Path, *, overwrite: bool, resuming: bool) -> None:
    """Refuse to train into a folder that holds an earlier run, unless told to overwrite or resume.

    ``overwrite`` removes the earlier run's log, plot and checkpoints (so steps do not restart in
    the middle of an old ``train_log.jsonl``).
    """
    found = [n for n in _TRAIN_OUTPUTS if (out / n).exists()]
    if not found or resuming:
        return
    if not overwrite:
        raise ConfigError(f"{out} already holds a training run ({', '.join(found)}); pass --overwrite to replace it, "
                          "--resume-from-checkpoint latest to continue it, or choose another --output-dir")
    for name in found:
        path = out / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def step_line(rec: dict[str, Any], total: int) -> str:
    """``step 3/10  loss 0.6931  margin 0.0123  acc 0.50  lr 5.00e-05`` for the console."""
    parts = [f"step {rec['step']}/{total}", f"loss {rec['loss']:.4f}" if "loss" in rec else ""]
    margins = [v for k, v in rec.items() if "margin" in k]
    if margins:
        parts.append(f"margin {sum(margins) / len(margins):+.4f}")
    accs = [v for k, v in rec.items() if k.endswith("/acc") or "/acc_" in k]
    if accs:
        parts.append(f"acc {sum(accs) / len(accs):.2f}")
    if "lr" in rec:
        parts.append(f"lr {rec['lr']:.2e}")
    return "  ".join(p for p in parts if p)


class Reporter:
    """Per-step logging to the console, TensorBoard and W&B; the curves plot at the end."""

    def __init__(self, out: Path, report_to: list[str], logging_steps: int, config: dict[str, Any],
                 console=None) -> None:
        self.out = out
        self.logging_steps = max(1, logging_steps)
        self.console = console
        self.history: list[dict[str, Any]] = []
        self.tb = None
        self.wandb = None
        if "tensorboard" in report_to:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:  # torch's writer needs the tensorboard package
                raise ConfigError("report_to: tensorboard needs the tensorboard package: pip install tensorboard") from exc
            self.tb = SummaryWriter(log_dir=str(out / "runs"))
        if "wandb" in report_to:
            try:
                import wandb
            except ImportError as exc:
                raise ConfigError("report_to: wandb needs the wandb package: pip install wandb "
                                  "(WANDB_MODE=offline logs without an account)") from exc
            self.wandb = wandb.init(project=os.environ.get("WANDB_PROJECT", "emorealm"), config=config,
                                    dir=str(out), reinit=True)

    def log(self, rec: dict[str, Any], total: int, progress=None) -> None:
        """Record one optimizer step; every ``logging_steps`` print a line and send the scalars."""
        self.history.append(rec)
        if rec["step"] % self.logging_steps and rec["step"] != total:
            return
        line = step_line(rec, total)
        if progress is not None:
            progress.console.print(line)  # above the bar, never inside it
        elif self.console is not None:
            self.console.print(line)
        scalars = {k: v for k, v in rec.items() if isinstance(v, (int, float)) and k not in ("step", "epoch")}
        if self.tb is not None:
            for k, v in scalars.items():
                self.tb.add_scalar(k, v, rec["step"])
        if self.wandb is not None:
            self.wandb.log({f"train/{k}": v for k, v in scalars.items()}, step=rec["step"])

    def finish(self) -> Path | None:
        """Close the loggers and write the curves plot; returns the plot's path (None: no steps)."""
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()
        return plot_curves(self.history, self.out / PLOT_NAME) if self.history else None


def plot_curves(history: list[dict[str, Any]], path: Path) -> Path:
    """Loss (left) and every reward margin (right) against the optimizer step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in history]
    fig, (ax_loss, ax_margin) = plt.subplots(1, 2, figsize=(10, 3.6))
    for key in sorted(k for k in history[-1] if k == "loss" or k.endswith("/loss")):
        ax_loss.plot(steps, [r.get(key, float("nan")) for r in history], marker=".", label=key)
    ax_loss.set(xlabel="optimizer step", ylabel="loss", title="loss")
    ax_loss.legend(fontsize=8)
    margins = sorted({k for r in history for k in r if "margin" in k})
    for key in margins:
        ax_margin.plot(steps, [r.get(key, float("nan")) for r in history], marker=".", label=key)
    ax_margin.axhline(0.0, color="grey", lw=0.8)
    ax_margin.set(xlabel="optimizer step", ylabel="reward margin (chosen − rejected)", title="reward margins")
    if margins:
        ax_margin.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
