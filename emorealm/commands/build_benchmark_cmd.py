"""``emorealm build-benchmark``: build an EmoReAlM-style benchmark from labelled clips (docs/benchmark-builder.md)."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    from emorealm.builder import STAGES

    p = sub.add_parser("build-benchmark", help="build an EmoReAlM-style benchmark from your own labelled clips",
                       description=__doc__)
    p.add_argument("--clips", required=True, help="clip manifest jsonl: id, video, [audio], emotion (paths relative)")
    p.add_argument("--output", required=True, help="data root to write (EmoReAlM/emorealm_v1.json, clips, build/)")
    p.add_argument("--backend", choices=["template", "adapter"], default=None,
                   help="template: offline deterministic backend for every role")
    p.add_argument("--captioner", help="emorealm adapter for captioning (hf, vllm, openai)")
    p.add_argument("--captioner-args", default="", help="captioner model args, e.g. pretrained=<folder>")
    p.add_argument("--generator", help="emorealm adapter for cues, verification and questions")
    p.add_argument("--generator-args", default="", help="generator model args")
    p.add_argument("--audio-captions", help="your own audio captions (jsonl of id, caption) instead of a captioner")
    p.add_argument("--video-captions", help="your own video captions (jsonl of id, caption)")
    p.add_argument("--stages", default=",".join(STAGES), help=f"stages to run (default all: {','.join(STAGES)})")
    p.add_argument("--agreement", default="1/1", help="k/n: a cue is relevant when k of n text-only predictions "
                   "name the clip's label (default 1/1)")
    p.add_argument("--max-gen-toks", type=int, default=64)
    p.add_argument("--temperature", type=float, default=0.0, help="sampling temperature of model backends")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--import-review", help="reviewed CSV (verdict, reviewer, edits) to finish the build")
    p.add_argument("--accept-unreviewed", action="store_true", help="write the benchmark without a review")
    p.add_argument("--force", action="store_true", help="rerun selected stages even when their output exists")
    p.set_defaults(func=_run)


def _backend(name, args, opts):
    from emorealm.builder.backends import AdapterBackend
    from emorealm.options import parse_kv

    return AdapterBackend(name, parse_kv(args, f"--{opts['role']}-args"), seed=opts["seed"],
                          max_gen_toks=opts["max_gen_toks"], temperature=opts["temperature"])


def _run(args) -> int:
    from rich.console import Console

    from emorealm.builder.backends import TemplateBackend
    from emorealm.builder.pipeline import BuildConfig, run_build
    from emorealm.builder.verify import AgreementRule
    from emorealm.errors import ConfigError

    try:
        k, n = (int(x) for x in args.agreement.split("/"))
    except ValueError as exc:
        raise ConfigError(f"--agreement {args.agreement!r}: expected k/n, e.g. 2/3") from exc
    opts = {"seed": args.seed, "max_gen_toks": args.max_gen_toks, "temperature": args.temperature}
    template = TemplateBackend(args.seed)
    if args.backend == "template" and (args.captioner or args.generator):
        raise ConfigError("--backend template runs offline; drop --captioner/--generator or the --backend flag")
    if args.backend != "template" and not (args.captioner or args.audio_captions or args.video_captions):
        raise ConfigError("give --backend template, or --captioner ADAPTER (or caption files) and --generator ADAPTER")
    captioner = _backend(args.captioner, args.captioner_args, {**opts, "role": "captioner"}) if args.captioner \
        else template
    if args.generator and args.captioner == args.generator and args.captioner_args == args.generator_args:
        generator = captioner  # one model loaded once for both roles
    else:
        generator = _backend(args.generator, args.generator_args, {**opts, "role": "generator"}) \
            if args.generator else template
    files = {m: Path(p) for m, p in (("audio", args.audio_captions), ("video", args.video_captions)) if p}
    cfg = BuildConfig(Path(args.clips), Path(args.output), captioner, generator,
                      stages=tuple(s.strip() for s in args.stages.split(",") if s.strip()), seed=args.seed,
                      rule=AgreementRule(k, n), caption_files=files,
                      import_review=Path(args.import_review) if args.import_review else None,
                      accept_unreviewed=args.accept_unreviewed, force=args.force)
    result = run_build(cfg)
    con = Console(stderr=True, soft_wrap=True)
    for name, rep in result.reports.items():
        d = rep.as_dict()
        con.print(f"[bold]{name}[/]{' (existing output reused)' if rep.skipped else ''}: "
                  f"{d['counts']}" + (f"  dropped: {d['dropped']}" if d["dropped"] else ""), markup=True,
                  highlight=False)
    print(result.message)
    return 0
