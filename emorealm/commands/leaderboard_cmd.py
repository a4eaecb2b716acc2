"""``emorealm leaderboard``: show, publish (HTML), create and administer a leaderboard JSON."""

from __future__ import annotations

import argparse
from pathlib import Path

_DEFAULT = Path("leaderboard.json")


def add_parser(sub) -> None:
    p = sub.add_parser("leaderboard", help="show, publish and administer a leaderboard",
                       description="Show a leaderboard as a table, write it as a static web page, or set it up "
                                   "(reference data, trusted signing keys). See docs/leaderboard.md.")
    lsub = p.add_subparsers(dest="leaderboard_command", metavar="ACTION", required=True)
    fmt = argparse.ArgumentDefaultsHelpFormatter

    s = lsub.add_parser("show", help="print the leaderboard as a table", formatter_class=fmt)
    s.add_argument("--leaderboard", type=Path, default=_DEFAULT)
    s.add_argument("--sort", default="average_accuracy",
                   help="metric to rank by: average_accuracy, invalid_rate, n_errors or <task>.<metric> (e.g. dfew.uar)")
    s.add_argument("--ascending", action="store_true", help="lowest first (default: best first)")
    s.add_argument("--wide", action="store_true",
                   help="show every column (default: fit the terminal, leaving out the least important columns)")
    s.set_defaults(func=_show)

    h = lsub.add_parser("html", help="write a self-contained static web page", formatter_class=fmt)
    h.add_argument("--leaderboard", type=Path, default=_DEFAULT)
    h.add_argument("--out", type=Path, required=True, help="folder for index.html (and a copy of the JSON)")
    h.add_argument("--sort", default="average_accuracy", help="initial ranking metric")
    h.set_defaults(func=_html)

    i = lsub.add_parser("init", help="create a leaderboard file", formatter_class=fmt)
    i.add_argument("path", type=Path)
    i.add_argument("--title", default="EmoReAlM leaderboard")
    i.add_argument("--reference", type=Path, default=None,
                   help="a results file whose data fingerprints and split sizes become the reference data")
    i.add_argument("--trust", action="append", default=[], metavar="PUBKEY",
                   help="trusted Ed25519 public key (PEM file, ssh-ed25519 line or base64); repeatable. "
                        "With any trusted key the leaderboard accepts only entries signed by one")
    i.set_defaults(func=_init)

    r = lsub.add_parser("reference", help="declare the reference data of tasks", formatter_class=fmt)
    r.add_argument("--leaderboard", type=Path, default=_DEFAULT)
    r.add_argument("--from", dest="results", type=Path, default=None, help="take fingerprints and sizes from a results file")
    r.add_argument("--task", default=None, help="set one task explicitly (with --fingerprint and --size)")
    r.add_argument("--fingerprint", default=None, help="sha256:<hex> of the task's benchmark/split file")
    r.add_argument("--size", type=int, default=None, help="number of documents of the reference split")
    r.set_defaults(func=_reference)

    t = lsub.add_parser("trust", help="add a trusted public key", formatter_class=fmt)
    t.add_argument("pubkey", help="Ed25519 public key: PEM file, ssh-ed25519 line or base64")
    t.add_argument("--name", required=True, help="whose key it is (shown next to signed entries)")
    t.add_argument("--leaderboard", type=Path, default=_DEFAULT)
    t.set_defaults(func=_trust)

    k = lsub.add_parser("keygen", help="make an Ed25519 key pair for signed submissions", formatter_class=fmt)
    k.add_argument("key", type=Path, help="private key file to create (the public key goes to KEY.pub)")
    k.set_defaults(func=_keygen)

    v = lsub.add_parser("validate", help="check a leaderboard file (schema, signatures, duplicates)", formatter_class=fmt)
    v.add_argument("--leaderboard", type=Path, default=_DEFAULT)
    v.set_defaults(func=_validate)


def _show(args) -> int:
    from emorealm.leaderboard.render import print_table
    from emorealm.leaderboard.store import read_leaderboard
    from emorealm.leaderboard.views import sort_column

    sort_column(args.sort)  # a bad key fails before the file is read
    print_table(read_leaderboard(args.leaderboard), args.sort, True if args.ascending else None, wide=args.wide)
    return 0


def _html(args) -> int:
    from rich.console import Console

    from emorealm.leaderboard.render import write_site
    from emorealm.leaderboard.store import read_leaderboard

    board = read_leaderboard(args.leaderboard)
    page = write_site(board, args.out, args.sort)
    Console(stderr=True).print(f"wrote {page} ({len(board['entries'])} entries)", highlight=False, markup=False)
    return 0


def _reference_from(board: dict, results: Path) -> list[str]:
    from emorealm.errors import DataError
    from emorealm.leaderboard.entry import load_json

    doc = load_json(results, "results file")
    meta = doc.get("emorealm") if isinstance(doc, dict) else None
    if not isinstance(meta, dict) or not isinstance(doc.get("n-samples"), dict):
        raise DataError(f"{results} is not a results file of `emorealm run` (no emorealm block / n-samples)")
    done = []
    for task, fp in (meta.get("data_fingerprint") or {}).items():
        counts = doc["n-samples"].get(task) or {}
        if task in board["tasks"] and isinstance(counts.get("original"), int):
            board["tasks"][task] = {"data_fingerprint": fp, "size": counts["original"]}
            done.append(task)
    if not done:
        raise DataError(f"{results} declares no data fingerprint for any task of the leaderboard")
    return done


def _init(args) -> int:
    from rich.console import Console

    from emorealm.errors import ConfigError
    from emorealm.leaderboard.signing import load_public_key
    from emorealm.leaderboard.store import new_leaderboard, update_leaderboard

    if args.path.exists():
        raise ConfigError(f"{args.path} exists; use `emorealm leaderboard reference` / `trust` to change it")
    board = new_leaderboard(args.title)
    keys = [{"name": Path(k).name if Path(k).is_file() else f"key {n + 1}", "public_key": load_public_key(k)}
            for n, k in enumerate(args.trust)]
    refs = _reference_from(board, args.reference) if args.reference else []

    def change(b: dict) -> None:
        b["tasks"] = board["tasks"]
        b["trusted_keys"] = keys

    update_leaderboard(args.path, change, title=args.title)
    Console(stderr=True).print(f"created {args.path}" + (f"; reference data for {', '.join(refs)}" if refs else "")
                               + (f"; {len(keys)} trusted key(s): only signed entries are accepted" if keys else ""),
                               highlight=False, markup=False)
    return 0


def _reference(args) -> int:
    from rich.console import Console

    from emorealm.errors import ConfigError
    from emorealm.leaderboard.store import update_leaderboard

    if (args.results is None) == (args.task is None):
        raise ConfigError("give either --from RESULTS or --task T --fingerprint sha256:... --size N")
    done: list[str] = []

    def change(board: dict) -> None:
        if args.results is not None:
            done.extend(_reference_from(board, args.results))
        else:
            if args.task not in board["tasks"]:
                raise ConfigError(f"task {args.task} is not declared by {args.leaderboard}")
            board["tasks"][args.task] = {"data_fingerprint": args.fingerprint, "size": args.size}
            done.append(args.task)

    update_leaderboard(args.leaderboard, change, create=False)
    Console(stderr=True).print(f"reference data set for {', '.join(done)}", highlight=False, markup=False)
    return 0


def _trust(args) -> int:
    from rich.console import Console

    from emorealm.leaderboard.signing import load_public_key
    from emorealm.leaderboard.store import update_leaderboard

    key = load_public_key(args.pubkey)

    def change(board: dict) -> None:
        board["trusted_keys"] = [k for k in board["trusted_keys"] if k["public_key"] != key]
        board["trusted_keys"].append({"name": args.name, "public_key": key})

    update_leaderboard(args.leaderboard, change, create=False)
    Console(stderr=True).print(f"trusted {args.name} ({key}); the leaderboard now accepts only signed entries",
                               highlight=False, markup=False)
    return 0


def _keygen(args) -> int:
    from rich.console import Console

    from emorealm.leaderboard.signing import generate_keypair

    pub = generate_keypair(args.key)
    Console(stderr=True).print(f"private key: {args.key} (keep it secret)\npublic key:  {args.key}.pub\n"
                               f"base64:      {pub}", highlight=False, markup=False)
    return 0


def _validate(args) -> int:
    from rich.console import Console

    from emorealm.leaderboard.store import read_leaderboard
    from emorealm.leaderboard.submit import check_file

    board = read_leaderboard(args.leaderboard)
    check_file(board)
    Console(stderr=True).print(f"{args.leaderboard}: valid, {len(board['entries'])} entries", highlight=False, markup=False)
    return 0
