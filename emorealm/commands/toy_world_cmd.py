"""``emorealm toy-world DIR``: generate the toy world (clips, captions, toy EmoReAlM, SFT and
preference rows) from a seed as a data root (docs/toy-world.md)."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("toy-world", help="generate the toy world (a data root with learnable emotion cues)",
                       description=__doc__)
    p.add_argument("dir", help="output folder (the data root)")
    p.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
    p.add_argument("--train-clips", type=int, default=200, help="training clips (default 200)")
    p.add_argument("--test-clips", type=int, default=200,
                   help="held-out clips; one toy EmoReAlM question per task key each (default 200)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from emorealm.toyworld import ToyWorldConfig, write_toy_world

    cfg = ToyWorldConfig(seed=args.seed, n_train=args.train_clips, n_test=args.test_clips)
    console = Console(stderr=True)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("clips", total=cfg.n_train + cfg.n_test)
        manifest = write_toy_world(args.dir, cfg, progress=lambda done, total: progress.update(task, completed=done))
    c = manifest["counts"]
    console.print(f"toy world (seed {cfg.seed}): {c['train_clips']} training + {c['test_clips']} held-out clips, "
                  f"{c['benchmark_questions']} toy EmoReAlM questions, {c['sft_rows']} SFT rows, "
                  f"{c['preference_rows']} preference rows")
    print(args.dir)
    return 0
