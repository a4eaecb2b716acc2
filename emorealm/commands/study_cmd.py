"""``emorealm study CONFIG --out DIR``: the controlled study of plain DPO against AVEm-DPO and its
ablations in the toy world (docs/avem-dpo-study.md). Resumable: rerun the same command after an
interruption and finished (arm, seed) cells are kept."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("study", help="controlled study: plain DPO vs AVEm-DPO arms from toy-omni (resumable)",
                       description=__doc__)
    p.add_argument("config", nargs="?", help="study YAML, e.g. examples/toy_grounding/study.yaml")
    p.add_argument("--out", required=True, help="study folder (cells, study.json, study.md, plots)")
    p.add_argument("--jobs", type=int, default=1, help="processes working on the cells at once (default 1)")
    p.add_argument("--seeds", help="override the config's seeds, e.g. 0,1,2")
    p.add_argument("--overwrite", action="store_true", help="discard a study already in --out")
    p.add_argument("--report-finished", action="store_true",
                   help="write study.json and the plots of an unfinished study from its whole seeds (marked partial)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=_run)


def _run(args) -> int:
    from pathlib import Path

    from emorealm.errors import ConfigError
    from emorealm.toyworld.study import load_study_config, run_study

    out = Path(args.out)
    if args.report_finished:
        from emorealm.toyworld.study.driver import report_finished

        report_finished(out)
        return 0
    if args.worker:
        run_study(None, out, worker=True)
        return 0
    if not args.config:
        raise ConfigError("emorealm study: give the study config (e.g. examples/toy_grounding/study.yaml)")
    cfg = load_study_config(args.config)
    if args.seeds:
        try:
            cfg.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        except ValueError:
            raise ConfigError(f"--seeds must be comma-separated integers, got {args.seeds!r}") from None
        if not cfg.seeds or len(set(cfg.seeds)) != len(cfg.seeds):
            raise ConfigError(f"--seeds must name distinct integers, got {args.seeds!r}")
    run_study(cfg, out, jobs=args.jobs, overwrite=args.overwrite)
    return 0
