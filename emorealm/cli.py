"""Command-line entry point: ``python -m emorealm <command>`` / ``emorealm <command>``.

Each command lives in its own module exposing ``add_parser(subparsers)``, which registers the
command and sets ``func`` (called with the parsed args, returns an exit code). Modules are imported
only when listed here, so adding a command is one line in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from emorealm import _import_guard  # noqa: F401  (first: a clone named emorealm in the cwd, see the module)
from emorealm.errors import EmorealmError

# command modules, in the order ``--help`` lists them
COMMANDS = [
    "emorealm.commands.run",
    "emorealm.commands.adapters_cmd",
    "emorealm.commands.lm_eval_cmd",
    "emorealm.commands.tiny_cmd",
    "emorealm.commands.tiny_model_cmd",
    "emorealm.commands.convert_avere_cmd",
    "emorealm.commands.sample_data_cmd",
    "emorealm.commands.submit_cmd",
    "emorealm.commands.leaderboard_cmd",
    "emorealm.commands.compare_cmd",
    "emorealm.commands.power_cmd",
    "emorealm.commands.diagnose_cmd",
    "emorealm.commands.train_cmd",
    "emorealm.commands.merge_cmd",
    "emorealm.commands.build_prefs_cmd",
    "emorealm.commands.build_benchmark_cmd",
    "emorealm.commands.toy_world_cmd",
    "emorealm.commands.toy_omni_cmd",
    "emorealm.commands.study_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    from emorealm import __version__

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
    # lm-eval's own flags pass through untouched (its "Custom kwargs" hint and git's "fatal: not a
    # git repository" silenced)
    if argv[:1] == ["lm-eval"]:
        from emorealm import log_filters
        from emorealm.commands.lm_eval_cmd import passthrough

        log_filters.install_for_run()
        log_filters.quiet_git()
        return passthrough(argv[1:])
    argv = _console_setup(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt as exc:
        _report_interrupt(exc, argv)
        return 130
    except EmorealmError as exc:
        # Text (not markup): messages hold paths and lists with brackets
        import os

        from rich.console import Console
        from rich.text import Text

        rank = os.environ.get("RANK", "0")
        head = "error: " if rank == "0" else f"error[rank {rank}]: "
        Console(stderr=True, soft_wrap=True).print(Text(head, style="bold red") + Text(str(exc)))
        return 2


def _console_setup(argv: list[str]) -> list[str]:
    """``-v``/``--verbose`` anywhere on the line shows third-party logs, warnings and bars (they
    always go to the log file beside the results); under torchrun ranks other than 0 print no
    progress, tables or ``emorealm:`` info lines (their warnings and errors still show)."""
    import os

    from emorealm import log_filters

    verbose = any(a in ("-v", "--verbose") for a in argv)
    argv = [a for a in argv if a not in ("-v", "--verbose")]
    log_filters.quiet_console(verbose)
    log_filters.emorealm_console()  # our info lines from rank 0 only; warnings from any rank, rank-prefixed
    if os.environ.get("RANK", "0") != "0" and not verbose:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (for the life of the process)
    return argv


def resume_command(argv: list[str]) -> str:
    """The command line that continues an interrupted run: the same arguments, ``--resume`` instead
    of ``--overwrite``."""
    import shlex

    args = [a for a in argv if a != "--overwrite"]
    if "--resume" not in args:
        args.append("--resume")
    return "python -m emorealm " + shlex.join(args)


def _report_interrupt(exc: KeyboardInterrupt, argv: list[str]) -> None:
    """One line instead of a traceback; under torchrun only rank 0 speaks."""
    import os

    if os.environ.get("RANK", "0") != "0":
        return
    from emorealm.journal import RunInterrupted

    if isinstance(exc, RunInterrupted):
        msg = f"interrupted: {exc.saved} finished sample(s) are saved in {exc.path}; resume with: {resume_command(argv)}"
    else:
        msg = "interrupted"
    from rich.console import Console
    from rich.text import Text

    Console(stderr=True, soft_wrap=True, highlight=False).print(Text(msg))
