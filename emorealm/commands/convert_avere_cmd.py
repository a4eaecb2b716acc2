"""``emorealm convert-avere SRC DST``: a released-layout AVERE checkpoint (``config.json`` with
``model_type: avere``, ``pytorch_model.bin``, ``backbones/``) -> one folder holding its towers
(safetensors, the backbone configs inside ``config.json``) that ``--model hf`` loads as it is.
See docs/avere.md."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("convert-avere", help="convert a released AVERE checkpoint into one folder with its towers",
                       description=__doc__)
    p.add_argument("src", help="released-layout AVERE folder (e.g. checkpoint/AVERE-7B)")
    p.add_argument("dst", help="output folder (must not exist or be empty)")
    p.add_argument("--backbones", default=None,
                   help="folder holding the released backbones (default SRC/backbones)")
    p.add_argument("--dtype", default="auto", choices=("auto", "float16", "bfloat16", "float32"),
                   help="weights dtype (auto: float16, the released inference dtype)")
    p.add_argument("--no-verify", action="store_true",
                   help="skip reloading the output to check every tensor (saves memory on a 7B model)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from emorealm.model_adapters.avere.convert import convert_avere

    convert_avere(args.src, args.dst, backbones=args.backbones, dtype=args.dtype, verify=not args.no_verify)
    return 0
