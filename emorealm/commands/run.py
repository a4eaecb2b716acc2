"""``emorealm run``: evaluate a model on tasks and write lm-eval-compatible results."""

from __future__ import annotations

import argparse
import os


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The evaluation arguments ``run`` and ``diagnose`` share (one set, one meaning)."""
    p.add_argument("--model", required=True,
                   help="adapter name (hf) or preset (tiny-omni: the embedded smoke-test model)")
    p.add_argument("--model-args", default="", help="adapter options, e.g. pretrained=<folder or hub id>,dtype=bfloat16")
    p.add_argument("--tasks", default="emorealm",
                   help="comma-separated task or group names, or 'all' (the default task of every benchmark)")
    p.add_argument("--task-args", default="", help="task options key=value,... (see docs/contracts.md §2)")
    p.add_argument("--data-root", default=os.environ.get("EMOREALM_DATA_ROOT"),
                   help="folder holding the benchmarks (default $EMOREALM_DATA_ROOT, else the built-in sample data)")
    p.add_argument("--output", default="results", help="results folder; files go to <output>/<model name>/")
    p.add_argument("--limit", type=float, default=None, help="at most this many docs per task (or a fraction < 1)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (diagnose: also the swap derangement and "
                                                       "the bootstrap)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="requests per model call (default 1; or batch_size in --model-args, not both)")
    p.add_argument("--device", default=None, help="device (default cpu; or device in --model-args, not both)")
    p.add_argument("--gen-kwargs", default=None, help="generation overrides, e.g. temperature=0.1 (the released sampling)")
    p.add_argument("--max-error-rate", type=float, default=0.5,
                   help="exit non-zero (files still written) when more than this share of a task's samples fail")
    p.add_argument("--no-log-samples", action="store_true", help="do not write samples_<task>_<ts>.jsonl")
    p.add_argument("--resume", action="store_true",
                   help="continue the run whose journal is in <output>/<model name>/: finished samples are reused")
    p.add_argument("--overwrite", action="store_true",
                   help="discard the journal in <output>/<model name>/ and start again")
    p.add_argument("--no-journal", action="store_true",
                   help="keep no resume journal (a killed run then starts from scratch)")


def run_config(args):
    """The :class:`~emorealm.evaluation.runner.RunConfig` of parsed :func:`add_run_arguments` arguments."""
    from emorealm.errors import ConfigError
    from emorealm.evaluation.runner import RunConfig

    limit = args.limit
    if limit is not None and limit >= 1:
        limit = int(limit)
    if not 0.0 <= args.max_error_rate <= 1.0:
        raise ConfigError(f"--max-error-rate {args.max_error_rate} is not a share between 0 and 1")
    return RunConfig(
        model=args.model, model_args=args.model_args,
        tasks=[t.strip() for t in args.tasks.split(",") if t.strip()], task_args=args.task_args,
        data_root=args.data_root, output=args.output, limit=limit, seed=args.seed,
        batch_size=args.batch_size, device=args.device, gen_kwargs=args.gen_kwargs,
        log_samples=not args.no_log_samples, resume=args.resume, overwrite=args.overwrite,
        journal=not args.no_journal, max_error_rate=args.max_error_rate,
    )


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="evaluate a model on tasks", description=__doc__,
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_run_arguments(p)
    p.add_argument("--wide", action="store_true", help="show every metric column, however wide the table gets")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from emorealm.evaluation.error_rate import check_error_rate
    from emorealm.evaluation.runner import evaluate
    from emorealm.evaluation.summary_table import print_summary

    results, path = evaluate(run_config(args))
    if path is not None:  # None on non-zero data-parallel ranks
        print_summary(results, path, wide=args.wide)
        check_error_rate(results)  # after the files and the table: they show what failed
    return 0
