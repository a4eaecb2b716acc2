"""``emorealm power RESULTS``: the smallest accuracy difference a comparison could detect (docs/compare.md)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "power", help="minimum detectable effect of a comparison, from a run's per-clip variance",
        description="From one run's clip-clustered standard errors, the difference in accuracy a comparison of two "
                    "runs on this benchmark would detect with the given power (two-sided test). See docs/compare.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("results", type=Path, help="results_<ts>.json of `emorealm run` (samples logs beside it)")
    p.add_argument("--power", type=float, default=0.8, help="probability of detecting the effect")
    p.add_argument("--alpha", type=float, default=0.05, help="two-sided significance level")
    p.add_argument("--correlation", type=float, default=0.0,
                   help="assumed per-clip correlation of the two runs' scores (0 = independent, conservative)")
    p.add_argument("--metric", action="append", default=None, help="per-sample-mean metric(s) (default: acc)")
    p.set_defaults(func=_power)


def _power(args) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from emorealm.comparison.compare_report import short_name
    from emorealm.comparison.compare_runs import load_run
    from emorealm.comparison.power import power_rows
    from emorealm.errors import ConfigError

    if not (0 < args.power < 1 and 0 < args.alpha < 1 and -1 <= args.correlation < 1):
        raise ConfigError("--power and --alpha must lie in (0, 1) and --correlation in [-1, 1)")
    run = load_run(args.results)
    rows = power_rows(run, tuple(args.metric or ["acc"]), level=1 - args.alpha, power=args.power,
                      correlation=args.correlation)
    if not rows:
        raise ConfigError(f"{args.results}: no per-sample-mean metric {', '.join(args.metric or ['acc'])} to size")
    t = Table(title=f"minimum detectable effect — {run.name}", header_style="bold",
              caption=f"two-sided α={args.alpha:g}, power {args.power:.0%}, ρ={args.correlation:g}; points (%)")
    for name in ("task", "metric", "value", "SE (clustered)", "docs", "clips", "MDE"):
        t.add_column(name, justify="left" if name in ("task", "metric") else "right")
    for r in rows:
        t.add_row(short_name(r.task), r.metric, f"{100 * r.value:.1f}", f"{100 * r.stderr:.1f}", str(r.n), str(r.n_clusters),
                  "—" if r.mde is None else f"{100 * r.mde:.1f}")
    console = Console()
    console.print(t)
    console.print(Text("MDE = (z_{1-α/2} + z_power) · sqrt(2(1-ρ)) · SE: a true difference this large is found "
                       f"{args.power:.0%} of the time; smaller ones are usually missed", style="dim"))
    return 0
