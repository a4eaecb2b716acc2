"""``emorealm sample-data [DIR]``: write the built-in miniature benchmarks (released layouts)."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("sample-data", help="write the built-in sample data", description=__doc__)
    p.add_argument("dir", nargs="?", default=None,
                   help="target folder (default: the cached copy under the cache root)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from emorealm.sample_data.builtin import ensure_sample_data, write_sample_data

    path = write_sample_data(args.dir) if args.dir else ensure_sample_data()
    print(path)
    return 0
