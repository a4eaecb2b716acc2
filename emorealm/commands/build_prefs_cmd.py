"""``emorealm build-prefs``: build AVEm-DPO preference rows from labelled clips and cue captions."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("build-prefs", help="build preference data (chosen / rejected responses and inputs)",
                       description=__doc__)
    p.add_argument("--clips", required=True, help="clip manifest jsonl: id, video, [audio], emotion")
    p.add_argument("--audio-captions", help="jsonl of {id, caption} describing each clip's audio cues")
    p.add_argument("--video-captions", help="jsonl of {id, caption} describing each clip's visual cues")
    p.add_argument("--analysis", help="cue analysis of a build-benchmark run (DATA_ROOT/build/verification.jsonl) "
                   "instead of verifying the caption files' cues here")
    p.add_argument("--output", required=True, help="folder for prefs.jsonl and rejected/ media")
    p.add_argument("--modalities", default="audio,video", help="prompts to build per clip: audio,video,both")
    p.add_argument("--corruption", default="swap", help="swap | noise | silence | shuffle | mixed")
    p.add_argument("--generator", default="template",
                   help="template (built in, no model) or an emorealm adapter name, e.g. hf")
    p.add_argument("--generator-args", default="", help="adapter model args, e.g. pretrained=<folder>")
    p.add_argument("--temperature", type=float, default=0.0, help="generator sampling temperature (0: greedy)")
    p.add_argument("--max-gen-toks", type=int, default=96)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_run)


def _run(args) -> int:
    from emorealm.options import parse_kv
    from emorealm.training.builder import AdapterGenerator, TemplateGenerator, build_preferences

    gen = TemplateGenerator() if args.generator == "template" else AdapterGenerator(
        args.generator, parse_kv(args.generator_args, "--generator-args"), max_gen_toks=args.max_gen_toks,
        temperature=args.temperature, seed=args.seed)
    path, report = build_preferences(
        args.clips, args.output, audio_captions=args.audio_captions, video_captions=args.video_captions,
        analysis=args.analysis,
        modalities=tuple(m.strip() for m in args.modalities.split(",") if m.strip()),
        corruption=args.corruption, generator=gen, seed=args.seed)
    print(f"{report.rows} rows -> {path}" + (f"; skipped: {dict(report.skipped)}" if report.skipped else ""))
    return 0
