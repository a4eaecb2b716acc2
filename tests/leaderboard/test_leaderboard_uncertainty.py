"""Leaderboard v2: 95 % intervals recomputed at submit, value ± half-width, overlap ranks, old files,
80-column tables, --sort suggestions, EMER without a judge."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
from rich.console import Console
from scipy import stats

from emorealm.benchmarks.recognition import agg_uar
from emorealm.errors import ConfigError, DataError
from emorealm.evaluation.clustered_stderr import cluster_bootstrap_se
from emorealm.leaderboard.entry import build_entry, finalise, verify_entry_against_samples
from emorealm.leaderboard.render import page_data, print_table
from emorealm.leaderboard.store import read_leaderboard
from emorealm.leaderboard.submit import submit
from emorealm.leaderboard.views import ranked_rows

from support.leaderboard import OPTS, call_main, edit_json, run_fixture, samples, wide_console_fixture  # noqa: F401 (fixtures)
from support.results_fixtures import EMOREALM_TASKS, make_run


def _clustered_half(values, clips, weights=None):
    """t_{G-1} · SE of Σ w_t mean_t by the sandwich formula, written out here independently."""
    parts = weights or [(1.0, values, clips)]
    sums: dict[str, float] = {}
    for w, x, c in parts:
        x = np.asarray(x, float)
        for ci, psi in zip(c, w * (x - x.mean()) / len(x), strict=True):
            sums[ci] = sums.get(ci, 0.0) + psi
    g = len(sums)
    se = math.sqrt(g / (g - 1) * sum(s * s for s in sums.values()))
    return stats.t.ppf(0.975, g - 1) * se


def test_intervals_are_recomputed_from_the_samples(run):
    entry, _ = build_entry(run, submitter="x")
    recs = samples(run, "reasoning_basic_audio")
    vals = [float(r["acc"]) for r in recs]
    clips = [r["doc"]["clip_id"] for r in recs]  # two questions per clip in the fixture
    m = entry["tasks"]["reasoning_basic_audio"]["metrics"]["acc"]
    half = _clustered_half(vals, clips)
    assert m["ci95"] == pytest.approx([m["value"] - half, m["value"] + half], rel=1e-9)
    parts = []
    for t in EMOREALM_TASKS:
        rs = samples(run, t)
        parts.append((0.2, [float(r["acc"]) for r in rs], [r["doc"]["clip_id"] for r in rs]))
    g = entry["groups"]["emorealm"]["acc"]
    half = _clustered_half(None, None, parts)
    assert g["ci95"] == pytest.approx([g["value"] - half, g["value"] + half], rel=1e-9)
    dfew = sorted(samples(run, "dfew"), key=lambda r: json.dumps(r["doc_id"]))  # the entry's canonical order
    se = cluster_bootstrap_se([r["uar"] for r in dfew], [f"clip::{r['doc']['clip_id']}" for r in dfew], agg_uar,
                              iters=1000, seed=0)
    u = entry["tasks"]["dfew"]["metrics"]["uar"]
    assert u["ci95"] == pytest.approx([u["value"] - 1.959963984540054 * se, u["value"] + 1.959963984540054 * se])
    assert entry["ci"] == {"level": 0.95, "bootstrap_seed": 0, "bootstrap_replicates": 1000}
    assert entry["schema_version"] == 2
    # an interval edited in a pre-built entry (re-hashed so the id matches) fails the recomputation
    u["ci95"] = [0.0, 1.0]
    finalise(entry)
    with pytest.raises(DataError, match="95 % interval of dfew.uar"):
        verify_entry_against_samples(entry, run.parent)


def _board_with(tmp_path, specs):
    lb = tmp_path / "lb.json"
    for i, skill in enumerate(specs):
        submit(make_run(tmp_path / f"r{i}", model=f"m{i}", n=12, seed=10 + i, skill=skill), lb, OPTS)
    return read_leaderboard(lb)


def test_ranks_are_shared_while_intervals_overlap_the_one_above(tmp_path):
    board = _board_with(tmp_path, [0.9, 0.6, 0.3])
    by_name = {e["model"]["name"]: e for e in board["entries"]}
    for name, value, ci in (("m0", 0.80, [0.70, 0.90]), ("m1", 0.65, [0.60, 0.71]), ("m2", 0.50, [0.45, 0.58])):
        block = by_name[name]["groups"]["emorealm"]["acc"]
        block["value"], block["ci95"] = value, ci
        by_name[name]["average_accuracy"] = value
    rows = ranked_rows(board)
    # m1 overlaps m0 → shares rank 1; m2 overlaps m1 (0.58 ≥ 0.60? no) → its own position
    assert [(r.entry["model"]["name"], r.rank) for r in rows] == [("m0", 1), ("m1", 1), ("m2", 3)]
    by_name["m2"]["groups"]["emorealm"]["acc"]["ci95"] = [0.45, 0.60]  # touching counts as overlapping
    assert [r.rank for r in ranked_rows(board)] == [1, 1, 1]
    for e in board["entries"]:  # no intervals (a version-1 entry): only equal values share a rank
        e["groups"]["emorealm"]["acc"].pop("ci95")
    assert [r.rank for r in ranked_rows(board)] == [1, 2, 3]


def test_version_1_leaderboards_still_load_show_and_take_new_entries(tmp_path, capsys):
    lb = tmp_path / "lb.json"
    submit(make_run(tmp_path / "a", model="old", n=12, seed=1), lb, OPTS)

    def to_v1(b):
        b["schema_version"] = 1
        for e in b["entries"]:
            e["schema_version"] = 1
            e.pop("ci")
            for scope in [*e["tasks"].values(), *({"metrics": m} for m in e["groups"].values())]:
                for v in scope["metrics"].values():
                    v.pop("ci95", None)
            finalise(e)

    edit_json(lb, to_v1)
    assert read_leaderboard(lb)["entries"][0]["schema_version"] == 1
    assert call_main("leaderboard", "show", "--leaderboard", lb) == 0
    assert "old" in capsys.readouterr().out
    submit(make_run(tmp_path / "b", model="new", n=12, seed=2), lb, OPTS)
    doc = json.loads(lb.read_text())
    assert doc["schema_version"] == 2 and [e["schema_version"] for e in doc["entries"]] == [1, 2]
    assert call_main("leaderboard", "validate", "--leaderboard", lb) == 0


def test_show_fits_80_columns_keeps_the_notes_and_wide_shows_everything(tmp_path):
    board = _board_with(tmp_path, [0.9, 0.5])
    buf = io.StringIO()
    print_table(board, console=Console(file=buf, width=80, force_terminal=False))
    text = buf.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "smoke" in text and "…" not in text and "--wide shows all" in text
    assert "91.7±7.9" in text and "EmoReAlM avg = EmoReAlM average accuracy" in " ".join(text.split())
    assert [line.split("│")[1].strip() for line in text.splitlines() if " m0 " in line or " m1 " in line] == ["1", "2"]
    buf = io.StringIO()
    print_table(board, console=Console(file=buf, width=80, force_terminal=False), wide=True)
    wide = buf.getvalue()
    for header in ("Basic A", "Stress V", "DFEW UAR", "DFEW WAR", "halluc."):
        assert header in wide
    assert "hidden" not in wide


def test_bad_sort_key_gives_a_short_suggestion(tmp_path, capsys):
    lb = tmp_path / "lb.json"
    submit(make_run(tmp_path / "a", n=12, seed=1), lb, OPTS)
    assert call_main("leaderboard", "show", "--leaderboard", lb, "--sort", "dfew.uarr") == 2
    err = capsys.readouterr().err
    assert "did you mean dfew.uar" in err and len(err) < 300
    with pytest.raises(ConfigError, match="unknown sort key 'zzz'. Keys are"):
        ranked_rows(read_leaderboard(lb), "zzz")


def test_submit_is_quiet_about_clustered_stderrs_and_emer_without_a_judge_reads_not_judged(tmp_path, capsys):
    path = make_run(tmp_path / "a", n=12, seed=1)
    ts = path.stem.removeprefix("results_")

    def unjudged(d):
        for block in d["results"].values():
            for k in [k for k in block if k.endswith("_stderr,none")]:
                block[k.replace("_stderr,", "_stderr_clustered,")] = 0.01
        for k in [k for k in d["results"]["emer"] if k.split(",")[0] in
                  ("cue_overlap", "emotion_consistency", "emotion_cue_association", "hallucinated_cues")]:
            del d["results"]["emer"][k]
        d["results"]["emer"]["judge_skipped,none"] = 1.0

    edit_json(path, unjudged)
    f = path.parent / f"samples_emer_{ts}.jsonl"
    recs = [json.loads(x) for x in f.read_text().splitlines()]
    for r in recs:
        for k in ("cue_overlap", "emotion_consistency", "emotion_cue_association", "hallucinated_cues"):
            r[k] = None
        r["judge_skipped"] = 1.0
    f.write_text("".join(json.dumps(r) + "\n" for r in recs))
    lb = tmp_path / "lb.json"
    capsys.readouterr()
    assert call_main("submit", path, "--leaderboard", lb, "--allow-smoke") == 0
    err = capsys.readouterr().err
    assert "stderr_clustered" not in err and "left out" not in err
    assert call_main("leaderboard", "show", "--leaderboard", lb, "--wide") == 0
    assert "not judged" in capsys.readouterr().out
    data = page_data(read_leaderboard(lb))
    assert "emer.cue_overlap" in data["rows"][0]["not_judged"]
