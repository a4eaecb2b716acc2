"""``emorealm train``: AVEm-DPO preference training from a YAML config (docs/avem-dpo.md)."""

from __future__ import annotations

import os


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="AVEm-DPO preference training (LoRA or full) from a YAML config",
                       description=__doc__)
    p.add_argument("--config", required=True, help="YAML config, e.g. examples/avem_dpo_tiny.yaml")
    p.add_argument("--output-dir", help="where the checkpoint goes (overrides output_dir)")
    p.add_argument("--resume-from-checkpoint", help="a checkpoints/checkpoint-N folder, or 'latest'")
    p.add_argument("--max-steps", type=int, help="override train.max_steps")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the training run already in the output folder (its log, plot and checkpoints)")
    p.add_argument("--report-to", help="override train.report_to: none, all, tensorboard, wandb (comma-separated)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from pathlib import Path

    from emorealm.training.config import load_config
    from emorealm.training.reporting import check_output_dir, parse_report_to
    from emorealm.training.trainer import train

    cfg = load_config(args.config, {"output_dir": args.output_dir,
                                    "resume_from_checkpoint": args.resume_from_checkpoint})
    if args.max_steps is not None:
        cfg.train.max_steps = args.max_steps
    if args.report_to is not None:
        cfg.train.report_to = args.report_to
    parse_report_to(cfg.train.report_to)  # a typo fails now, not after the model loaded
    if os.environ.get("RANK", "0") == "0":  # under torchrun rank 0 alone clears the folder
        check_output_dir(Path(cfg.output_dir), overwrite=args.overwrite, resuming=bool(cfg.resume_from_checkpoint))
    train(cfg)
    return 0
