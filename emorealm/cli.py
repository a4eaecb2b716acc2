"""Command-line entry point: ``python -m emorealm <command>`` / ``emorealm <command>``.

Each command lives in its own module exposing ``add_parser(subparsers)``, which registers the
command and sets ``func`` (called with the parsed args, returns an exit code). Modules are imported
only when listed here, so adding a command is one line in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from emorealm import __version__
from emorealm.errors import EmorealmError

# command modules, in the order ``--help`` lists them
COMMANDS = [
    "emorealm.commands.run",
    "emorealm.commands.adapters_cmd",
    "emorealm.commands.lm_eval_cmd",
    "emorealm.commands.tiny_cmd",
    "emorealm.commands.tiny_model_cmd",
    "emorealm.commands.sample_data_cmd",
    "emorealm.commands.submit_cmd",
    "emorealm.commands.leaderboard_cmd",
    "emorealm.commands.diagnose_cmd",
    "emorealm.commands.train_cmd",
    "emorealm.commands.merge_cmd",
    "emorealm.commands.build_prefs_cmd",
    "emorealm.commands.build_benchmark_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emorealm", description="Audiovisual emotion reasoning: evaluate, train, and rank multimodal LLMs."
    )
    parser.add_argument("--version", action="version", version=f"emorealm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # lm-eval's own flags pass through untouched
    if argv[:1] == ["lm-eval"]:
        from emorealm.commands.lm_eval_cmd import passthrough

        return passthrough(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except EmorealmError as exc:
        from rich.console import Console
        from rich.text import Text

        # Text (not markup): messages hold paths and lists with brackets
        Console(stderr=True, soft_wrap=True).print(Text("error: ", style="bold red") + Text(str(exc)))
        return 2
