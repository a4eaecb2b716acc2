"""``emorealm lm-eval ...``: lm-eval's own command line with emorealm's adapters registered.

Every argument is handed to lm-eval unchanged; ``--include_path`` defaults to emorealm's tasks.
Example: ``python -m emorealm lm-eval run --model emorealm-hf --model_args pretrained=DIR --tasks emorealm``.
"""

from __future__ import annotations

import sys


def add_parser(sub) -> None:
    p = sub.add_parser("lm-eval", help="lm-eval's CLI with emorealm adapters and tasks registered",
                       description=__doc__, add_help=False)
    p.set_defaults(func=lambda args: passthrough(sys.argv[2:]))


def passthrough(argv: list[str]) -> int:
    from lm_eval.__main__ import cli_evaluate

    from emorealm.evaluation.runner import tasks_dir
    from emorealm.model_adapters.registry import register_all

    register_all()
    argv = list(argv)
    if "--include_path" not in argv and "-h" not in argv and "--help" not in argv:
        argv += ["--include_path", str(tasks_dir())]
    old = sys.argv
    sys.argv = ["lm-eval", *argv]
    try:
        cli_evaluate()
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        sys.argv = old
    return 0
