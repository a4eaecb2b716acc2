"""``emorealm train``: AVEm-DPO preference training from a YAML config (docs/avem-dpo.md)."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="AVEm-DPO preference training (LoRA or full) from a YAML config",
                       description=__doc__)
    p.add_argument("--config", required=True, help="YAML config, e.g. examples/avem_dpo_tiny.yaml")
    p.add_argument("--output-dir", help="where the checkpoint goes (overrides output_dir)")
    p.add_argument("--resume-from-checkpoint", help="a checkpoints/checkpoint-N folder, or 'latest'")
    p.add_argument("--max-steps", type=int, help="override train.max_steps")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from emorealm.training.config import load_config
    from emorealm.training.trainer import train

    cfg = load_config(args.config, {"output_dir": args.output_dir,
                                    "resume_from_checkpoint": args.resume_from_checkpoint})
    if args.max_steps is not None:
        cfg.train.max_steps = args.max_steps
    train(cfg)
    return 0
