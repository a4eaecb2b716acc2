"""``emorealm diagnose``: how much do a model's answers depend on the audio and on the video?

Reruns the tasks with ablated inputs (audio silenced, video blacked out, audio/video swapped with
another clip's), reports accuracy under each condition with clip-clustered bootstrap intervals, the
shift of log p(correct answer), and the attention share of video/audio/text tokens (HF models).
"""

from __future__ import annotations

import argparse
import os


def add_parser(sub) -> None:
    from emorealm.diagnostics.ablations import CONDITIONS, REMOVALS

    p = sub.add_parser("diagnose", help="modality-reliance diagnostics (ablations, likelihood shift, attention)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="adapter name (hf) or preset (tiny-omni)")
    p.add_argument("--model-args", default="", help="adapter options, e.g. pretrained=<folder or hub id>")
    p.add_argument("--tasks", default="emorealm", help="comma-separated task or group names (default: emorealm)")
    p.add_argument("--task-args", default="", help="task options key=value,... (see docs/contracts.md §2)")
    p.add_argument("--data-root", default=os.environ.get("EMOREALM_DATA_ROOT"),
                   help="folder holding the benchmarks (default $EMOREALM_DATA_ROOT, else the sample data)")
    p.add_argument("--output", default="results",
                   help="results folder (default: results); files go to <output>/<model name>/")
    p.add_argument("--limit", type=float, default=None, help="at most this many docs per task (or a fraction < 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the swap derangement and the bootstrap (default 0)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--gen-kwargs", default=None, help="generation overrides, e.g. temperature=0.1")
    p.add_argument("--conditions", default=",".join(CONDITIONS),
                   help=f"comma-separated conditions (default: all of {', '.join(CONDITIONS)})")
    p.add_argument("--removal", choices=REMOVALS, default="zero",
                   help="no_audio/no_video: zero = silence / black frames (default), drop = leave the modality out")
    p.add_argument("--metric", default="acc", help="per-sample metric to compare across conditions (default acc)")
    p.add_argument("--bootstrap-iters", type=int, default=1000, help="cluster-bootstrap resamples (default 1000)")
    p.add_argument("--no-likelihood", action="store_true", help="skip the likelihood-shift analysis")
    p.add_argument("--no-attention", action="store_true", help="skip the attention-share analysis")
    p.add_argument("--attention-docs", type=int, default=None,
                   help="at most this many docs per task for the attention share (default: all evaluated)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from emorealm.diagnostics import DiagnoseConfig, diagnose
    from emorealm.diagnostics.ablations import parse_conditions
    from emorealm.diagnostics.report import print_report
    from emorealm.errors import ConfigError
    from emorealm.evaluation.runner import RunConfig

    limit = args.limit
    if limit is not None and limit >= 1:
        limit = int(limit)
    if args.bootstrap_iters < 1:
        raise ConfigError("--bootstrap-iters must be at least 1")
    run = RunConfig(model=args.model, model_args=args.model_args,
                    tasks=[t.strip() for t in args.tasks.split(",") if t.strip()], task_args=args.task_args,
                    data_root=args.data_root, output=args.output, limit=limit, seed=args.seed,
                    device=args.device, gen_kwargs=args.gen_kwargs)
    cfg = DiagnoseConfig(run=run, conditions=parse_conditions(args.conditions), removal=args.removal,
                         bootstrap_iters=args.bootstrap_iters, likelihood=not args.no_likelihood,
                         attention=not args.no_attention, attention_docs=args.attention_docs, metric=args.metric)
    report, written = diagnose(cfg)
    print_report(report, written["report"].parent)
    return 0
