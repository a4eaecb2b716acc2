"""``emorealm submit``: validate a results file and add it to a leaderboard JSON (locked, atomic)."""

from __future__ import annotations

import argparse
import getpass
import json
import os
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "submit", help="validate results and add them to a leaderboard",
        description="Validate a results_<ts>.json written by `emorealm run` (every metric is recomputed from the "
                    "samples logs beside it) and add it to a leaderboard JSON. Many submitters may run this at "
                    "once on one file: writes are locked and atomic. See docs/leaderboard.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("results", type=Path, help="results_<ts>.json from `emorealm run` (or an entry JSON written by --entry-out)")
    p.add_argument("--leaderboard", type=Path, default=Path("leaderboard.json"),
                   help="leaderboard file (created when missing)")
    p.add_argument("--submitter", default=os.environ.get("EMOREALM_SUBMITTER") or _user(),
                   help="who submits (default $EMOREALM_SUBMITTER or the login name)")
    p.add_argument("--model-name", default=None, help="display name (default: from the results metadata)")
    p.add_argument("--replace", action="store_true", help="replace an entry with the same model hash and task versions")
    p.add_argument("--allow-smoke", action="store_true", help="accept results of a smoke-test model (tiny-omni)")
    p.add_argument("--partial", action="store_true", help="accept a run on fewer samples than the full split (marked partial)")
    p.add_argument("--sign", type=Path, metavar="KEY", default=None,
                   help="sign the entry with this Ed25519 private key (PEM; make one with `emorealm leaderboard keygen`)")
    p.add_argument("--entry-out", type=Path, default=None,
                   help="also write the (signed) entry JSON here; keep it beside the samples logs to submit it later")
    p.add_argument("--dry-run", action="store_true", help="validate (and write --entry-out) without touching the leaderboard")
    p.add_argument("--lock-timeout", type=float, default=120.0, help="seconds to wait for the leaderboard lock")
    p.set_defaults(func=_submit)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "anonymous"


def _submit(args) -> int:
    from rich.console import Console
    from rich.markup import escape

    from emorealm.errors import ConfigError
    from emorealm.leaderboard.submit import SubmitOptions, prepare_entry, submit

    console = Console(stderr=True)
    opts = SubmitOptions(submitter=args.submitter, model_name=args.model_name, replace=args.replace,
                         allow_smoke=args.allow_smoke, partial=args.partial, sign_key=args.sign,
                         lock_timeout=args.lock_timeout)
    if args.dry_run:
        entry, report = prepare_entry(args.results, opts)
    else:
        res = submit(args.results, args.leaderboard, opts)
        entry, report = res.entry, res.report
    if args.entry_out:
        try:
            args.entry_out.write_text(json.dumps(entry, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write {args.entry_out}: {exc.strerror}") from None
    name = escape(entry["model"]["name"])
    avg = entry["average_accuracy"]
    score = (f"EmoReAlM average accuracy {100 * avg:.1f} %" if avg is not None
             else "no EmoReAlM average accuracy (needs all five generation tasks)")
    for task, metrics in report.ignored_metrics.items():
        console.print(f"note: {task}: metrics not on the leaderboard, left out: {', '.join(metrics)}", highlight=False)
    for note in report.notes:
        console.print(f"note: {escape(note)}", highlight=False)
    checked = sum(len(t["recomputed"]) for t in entry["tasks"].values())
    unchecked = sorted({f"{t}.{m}" for t, d in entry["tasks"].items() for m in d["not_recomputed"]})
    console.print(f"{checked} metrics over {len(entry['tasks'])} tasks recomputed from the samples logs and matched"
                  + (f"; not recomputable: {', '.join(unchecked)}" if unchecked else ""), highlight=False)
    if args.dry_run:
        console.print(f"[green]valid[/]: {name} — {score} (dry run: leaderboard not touched)")
        return 0
    other = [t for t in res.unofficial if t not in res.no_reference]
    if other:
        console.print(f"[yellow]unofficial data[/] for {', '.join(other)} (not the leaderboard's reference data)")
    if res.no_reference:
        console.print(f"[yellow]unofficial data[/] for {', '.join(res.no_reference)}: the leaderboard declares no reference "
                      "data for them yet (`emorealm leaderboard reference --from RESULTS`)")
    if entry["partial"]:
        console.print("[yellow]partial[/]: fewer samples than the full split")
    if res.signer:
        console.print(f"signature verified ({escape(res.signer)})")
    verb = "replaced the earlier entry of" if res.replaced else "added"
    console.print(f"[green]{verb}[/] {name} — {score} → {escape(str(args.leaderboard))}")
    return 0
