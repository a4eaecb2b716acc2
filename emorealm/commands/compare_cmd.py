"""``emorealm compare A B [C ...]``: paired comparison of runs against a baseline (docs/compare.md)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "compare", help="did it really improve? paired comparison of runs with clustered CIs",
        description="Compare results files of `emorealm run` document by document: the first is the baseline, each "
                    "other run is compared with it. Per-sample means get the paired clip-clustered estimator (Δ, "
                    "relative gain, 95 % CI, p-value; exact McNemar for accuracies); other metrics a seeded paired "
                    "cluster bootstrap. Several runs: Holm-adjusted p-values. Writes compare_<ts>.json and a PNG. "
                    "See docs/compare.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("results", type=Path, nargs="+", metavar="RESULTS",
                   help="results_<ts>.json files (samples logs beside them); the first is the baseline")
    p.add_argument("--output", type=Path, default=Path("."), help="folder for compare_<ts>.json and compare_<ts>.png")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (recorded)")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap replicates (recorded)")
    p.add_argument("--all-metrics", action="store_true", help="show every metric, not only the headline ones")
    p.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    p.set_defaults(func=_compare)


def _compare(args) -> int:
    from rich.console import Console
    from rich.text import Text

    from emorealm.comparison.compare_report import plot, print_report, write_json
    from emorealm.comparison.compare_runs import compare_all
    from emorealm.errors import ConfigError

    if args.bootstrap < 2:
        raise ConfigError(f"--bootstrap {args.bootstrap}: need at least 2 replicates (1000 is a good default)")
    comps = compare_all(args.results, seed=args.seed, iters=args.bootstrap)
    console = Console()
    print_report(comps, console, args.all_metrics)
    path = write_json(comps, args.output, seed=args.seed, iters=args.bootstrap)
    msg = f"wrote {path}"
    if not args.no_plot:
        png = plot(comps, path.with_suffix(".png"), args.all_metrics)
        msg += f" and {png.name}"
    Console(stderr=True).print(Text(msg))
    return 0
