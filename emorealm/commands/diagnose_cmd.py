"""``emorealm diagnose``: how much do a model's answers depend on the audio and on the video?

Reruns the tasks with ablated inputs (audio silenced, video blacked out, audio/video swapped with
another clip's), reports accuracy under each condition with clip-clustered bootstrap intervals, the
shift of log p(correct answer), and the attention share of video/audio/text tokens (HF models).
"""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    from emorealm.commands.run import add_run_arguments
    from emorealm.diagnostics.ablations import CONDITIONS, REMOVALS

    p = sub.add_parser("diagnose", help="modality-reliance diagnostics (ablations, likelihood shift, attention)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(p)
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
    from emorealm.commands.run import run_config
    from emorealm.diagnostics import DiagnoseConfig, diagnose
    from emorealm.diagnostics.ablations import parse_conditions
    from emorealm.diagnostics.report import print_report
    from emorealm.errors import ConfigError
    from emorealm.evaluation.error_rate import check_error_rate

    if args.bootstrap_iters < 1:
        raise ConfigError("--bootstrap-iters must be at least 1")
    cfg = DiagnoseConfig(run=run_config(args), conditions=parse_conditions(args.conditions), removal=args.removal,
                         bootstrap_iters=args.bootstrap_iters, likelihood=not args.no_likelihood,
                         attention=not args.no_attention, attention_docs=args.attention_docs, metric=args.metric)
    report, written = diagnose(cfg)
    print_report(report, written["report"].parent)
    # the intact run's error rate, after the files and the report
    check_error_rate(json.loads(written["results"].read_text()))
    return 0
