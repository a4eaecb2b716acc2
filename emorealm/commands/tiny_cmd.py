"""``emorealm tiny-omni``: build the embedded smoke-test model if needed and print its folder."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("tiny-omni", help="build the embedded tiny Qwen2.5-Omni and print its folder",
                       description=__doc__)
    p.add_argument("--rebuild", action="store_true", help="rebuild even if it exists")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from emorealm.model_adapters.tiny_models.omni import build_tiny_omni, ensure_tiny_omni
    from emorealm.paths import tiny_omni_dir

    path = build_tiny_omni(tiny_omni_dir()) if args.rebuild else ensure_tiny_omni()
    print(path)
    return 0
