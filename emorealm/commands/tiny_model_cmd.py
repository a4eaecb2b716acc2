"""``emorealm tiny-model --arch <model_type> DIR [--seed S]``: write a seeded random checkpoint of a
model family (small config, in-process tokenizer, the family's processor and chat template) that
loads with ``from_pretrained``. ``--list`` prints the known architectures."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("tiny-model", help="write a tiny random checkpoint of a model family", description=__doc__)
    p.add_argument("--arch", help="checkpoint model_type, e.g. gemma3n (see --list)")
    p.add_argument("dir", nargs="?", help="output folder (replaced if it exists)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    p.add_argument("--list", action="store_true", help="list the architectures and exit")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from emorealm.errors import ConfigError
    from emorealm.model_adapters.tiny_models import BUILDERS, build

    if args.list:
        print("\n".join(sorted(BUILDERS)))
        return 0
    if not args.arch or not args.dir:
        raise ConfigError("tiny-model needs --arch <model_type> and an output folder (or --list)")
    print(build(args.arch, args.dir, args.seed))
    return 0
