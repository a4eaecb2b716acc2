"""``emorealm toy-omni``: build toy-omni (a few-M-parameter Qwen2.5-Omni trained by SFT in the toy
world, docs/toy-world.md) on first use and print its folder."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("toy-omni", help="build the toy-world-trained smoke-test model if needed and print its folder",
                       description=__doc__)
    p.add_argument("--rebuild", action="store_true", help="rebuild even if it exists")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from rich.console import Console

    from emorealm.toyworld.omni import build_toy_omni, ensure_toy_omni, toy_omni_dir

    console = Console(stderr=True)
    path = build_toy_omni(toy_omni_dir(), console=console) if args.rebuild else ensure_toy_omni(console=console)
    print(path)
    return 0
