"""``emorealm merge ADAPTER OUT``: merge a LoRA adapter folder into its base and save full weights."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("merge", help="merge a LoRA adapter folder into its base model (HF format)",
                       description=__doc__)
    p.add_argument("adapter", help="LoRA adapter folder (has adapter_config.json)")
    p.add_argument("out", help="output folder for the merged checkpoint")
    p.add_argument("--base", help="base checkpoint (default: the adapter's base_model_name_or_path)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from emorealm.training.merge import merge_adapter

    print(merge_adapter(args.adapter, args.out, base=args.base))
    return 0
