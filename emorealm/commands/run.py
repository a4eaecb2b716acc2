"""``emorealm run``: evaluate a model on tasks and write lm-eval-compatible results."""

from __future__ import annotations

import argparse
import os


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="evaluate a model on tasks", description=__doc__,
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
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
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--gen-kwargs", default=None, help="generation overrides, e.g. temperature=0.1 (the released sampling)")
    p.add_argument("--wide", action="store_true", help="show every metric column, however wide the table gets")
    p.add_argument("--no-log-samples", action="store_true", help="do not write samples_<task>_<ts>.jsonl")
    p.add_argument("--resume", action="store_true",
                   help="continue the run whose journal is in <output>/<model name>/: finished samples are reused")
    p.add_argument("--overwrite", action="store_true",
                   help="discard the journal in <output>/<model name>/ and start again")
    p.add_argument("--no-journal", action="store_true",
                   help="keep no resume journal (a killed run then starts from scratch)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from emorealm.evaluation.runner import RunConfig, evaluate
    from emorealm.evaluation.summary_table import print_summary

    limit = args.limit
    if limit is not None and limit >= 1:
        limit = int(limit)
    cfg = RunConfig(
        model=args.model, model_args=args.model_args,
        tasks=[t.strip() for t in args.tasks.split(",") if t.strip()], task_args=args.task_args,
        data_root=args.data_root, output=args.output, limit=limit, seed=args.seed,
        batch_size=args.batch_size, device=args.device, gen_kwargs=args.gen_kwargs,
        log_samples=not args.no_log_samples, resume=args.resume, overwrite=args.overwrite,
        journal=not args.no_journal,
    )
    results, path = evaluate(cfg)
    if path is not None:  # None on non-zero data-parallel ranks
        print_summary(results, path, wide=args.wide)
    return 0
