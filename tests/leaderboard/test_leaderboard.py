"""Leaderboard: schema, submission rules, bad input, ranking and the rich table (signatures: test_leaderboard_signing.py)."""

from __future__ import annotations

import json
import math
import warnings

import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score

from emorealm.errors import DataError
from emorealm.leaderboard.entry import build_entry
from emorealm.leaderboard.schema import (
    known_tasks,
    load_schema,
    normalise_version,
    validate_entry,
    validate_leaderboard,
)
from emorealm.leaderboard.store import new_leaderboard, read_leaderboard
from emorealm.leaderboard.submit import SubmitOptions, check_file, submit
from emorealm.leaderboard.views import ranked_rows, unofficial_tasks

from support.leaderboard import OPTS, call_main, edit_json, run_fixture, samples, wide_console_fixture  # noqa: F401 (fixtures)
from support.results_fixtures import EMOREALM_TASKS, FP, LL_TASKS, make_run

# --- schema ------------------------------------------------------------------------------------


def test_schema_is_a_valid_draft_2020_12_schema_and_accepts_a_built_entry(run):
    assert load_schema()["$schema"].endswith("2020-12/schema")
    entry, _ = build_entry(run, submitter="x")
    validate_entry(entry)
    board = new_leaderboard()
    board["entries"].append(entry)
    validate_leaderboard(board)


@pytest.mark.parametrize("mutate, needle", [
    (lambda e: e.pop("samples_digest"), "samples_digest"),
    (lambda e: e["model"].update(sha256="not-a-hash"), "sha256"),
    (lambda e: e.update(extra=1), "Additional properties"),
    (lambda e: e["tasks"]["dfew"]["metrics"]["uar"].update(value="high"), "not of type 'number'"),
    (lambda e: e.update(average_accuracy=1.5), "maximum"),
])
def test_schema_rejects_malformed_entries(run, mutate, needle):
    entry, _ = build_entry(run, submitter="x")
    mutate(entry)
    with pytest.raises(DataError, match=needle):
        validate_entry(entry)


def test_leaderboard_schema_version_is_checked():
    board = new_leaderboard()
    board["schema_version"] = 3
    with pytest.raises(DataError, match="schema version 3 is not supported"):
        validate_leaderboard(board)
    with pytest.raises(DataError, match="not an emorealm leaderboard"):
        validate_leaderboard({"entries": []})


def test_known_task_table_covers_every_benchmark():
    table = known_tasks()
    assert set(table.tasks) == {*EMOREALM_TASKS, *LL_TASKS, "dfew", "ravdess", "dfew_ll", "ravdess_ll", "emer"}
    assert table.groups["emorealm"].tasks == tuple(EMOREALM_TASKS)
    assert normalise_version(1) == normalise_version(1.0) == normalise_version("1.0") == "1.0"


# --- the entry: every number recomputed independently ---------------------------------------


def test_entry_values_match_an_independent_computation(run):
    entry, _ = build_entry(run, submitter="x")
    dfew = samples(run, "dfew")
    gold = [s["uar"][0] for s in dfew]
    pred = [str(s["uar"][1]) for s in dfew]
    with warnings.catch_warnings():  # "y_pred contains classes not in y_true": invalid answers
        warnings.simplefilter("ignore", UserWarning)
        uar = balanced_accuracy_score(gold, pred)
    assert math.isclose(entry["tasks"]["dfew"]["metrics"]["uar"]["value"], uar)
    # macro-F1 over the classes seen in gold or valid predictions (emorealm.scoring.classification)
    labels = sorted(set(gold) | {p for p in pred if p != "None"})
    assert math.isclose(entry["tasks"]["dfew"]["metrics"]["macro_f1"]["value"],
                        f1_score(gold, pred, labels=labels, average="macro", zero_division=0))
    assert entry["tasks"]["dfew"]["metrics"]["war"]["value"] == sum(g == p for g, p in zip(gold, pred, strict=True)) / len(dfew)
    ma = samples(run, "modality_agreement")
    yes = [s["acc"] for s in ma if s["doc"]["answer"] == "A"]
    no = [s["acc"] for s in ma if s["doc"]["answer"] == "B"]
    a, b = sum(yes) / len(yes), sum(no) / len(no)
    assert math.isclose(entry["tasks"]["modality_agreement"]["metrics"]["f1_yes_no"]["value"], 2 * a * b / (a + b))
    accs = [sum(s["acc"] for s in samples(run, t)) / 12 for t in EMOREALM_TASKS]
    assert math.isclose(entry["average_accuracy"], sum(accs) / 5)
    assert entry["n_errors"] == sum(s["n_errors"] for t in entry["tasks"] for s in samples(run, t))
    assert entry["model"]["smoke_test"] is True and entry["partial"] is False
    assert entry["tasks"]["dfew"]["data_fingerprint"] == FP["dfew"]
    assert set(entry["tasks"]["dfew"]["recomputed"]) == set(entry["tasks"]["dfew"]["metrics"])


def test_samples_digest_ignores_line_order_and_whitespace(run, tmp_path):
    f = run.parent / f"samples_dfew_{run.stem.removeprefix('results_')}.jsonl"
    recs = [json.loads(x) for x in f.read_text().splitlines()]
    recs[0]["resps"] = [[[float("nan"), False]]]  # a failed log-likelihood sample, as lm-eval writes it
    f.write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert "NaN" in f.read_text()
    before, _ = build_entry(run, submitter="x")
    lines = f.read_text().splitlines()
    f.write_text("\n".join(json.dumps(json.loads(x), indent=1).replace("\n", " ") for x in reversed(lines)) + "\n")
    after, _ = build_entry(run, submitter="x")
    assert after["tasks"]["dfew"]["samples_digest"] == before["tasks"]["dfew"]["samples_digest"]


# --- submission rules ------------------------------------------------------------------------


def test_submit_creates_the_board_and_rejects_duplicates_unless_replace(run, tmp_path):
    lb = tmp_path / "lb.json"
    first = submit(run, lb, OPTS)
    # a board created on the fly declares no reference data: every task is unofficial, and the result says why
    assert first.unofficial == first.no_reference == sorted(first.entry["tasks"])
    before = lb.read_bytes()
    with pytest.raises(DataError, match="already has tiny-omni.*--replace"):
        submit(run, lb, OPTS)
    assert lb.read_bytes() == before
    res = submit(run, lb, SubmitOptions(submitter="second", allow_smoke=True, replace=True))
    board = read_leaderboard(lb)
    assert len(board["entries"]) == 1 and board["entries"][0]["submitter"] == "second"
    assert res.replaced["submitter"] == "tester"
    # the same model on another task set is not a duplicate
    other = make_run(tmp_path / "v2", n=12, seed=1, version=1.0, tasks=["dfew"])
    submit(other, lb, OPTS)
    assert len(read_leaderboard(lb)["entries"]) == 2
    check_file(read_leaderboard(lb))


def test_smoke_test_results_need_allow_smoke(run, tmp_path):
    lb = tmp_path / "lb.json"
    with pytest.raises(DataError, match="smoke-test model.*--allow-smoke"):
        submit(run, lb, SubmitOptions(submitter="x"))
    assert not lb.exists()
    real = make_run(tmp_path / "real", model="org/real-model", n=12, smoke=False)
    submit(real, lb, SubmitOptions(submitter="x"))
    # a local checkpoint path is shown by its folder name
    assert read_leaderboard(lb)["entries"][0]["model"]["name"] == "real-model"


def _bad_cases():
    def tamper_score(p):
        edit_json(p, lambda d: d["results"]["reasoning_basic_audio"].update({"acc,none": 0.99}))

    def tamper_sample(p):
        f = p.parent / f"samples_dfew_{p.stem.removeprefix('results_')}.jsonl"
        recs = [json.loads(x) for x in f.read_text().splitlines()]
        recs[0]["acc"] = [recs[0]["acc"][0], "disgust" if recs[0]["acc"][1] != "disgust" else "fear", False]
        f.write_text("".join(json.dumps(r) + "\n" for r in recs))

    def drop_samples(p):
        (p.parent / f"samples_emer_{p.stem.removeprefix('results_')}.jsonl").unlink()

    def unknown_task(p):
        edit_json(p, lambda d: d["results"].update(mystery_task=d["results"]["dfew"]))

    def bad_version(p):
        edit_json(p, lambda d: d["versions"].update(dfew=7.0))

    def group_weighted(p):
        edit_json(p, lambda d: d["groups"]["emorealm"].update({"acc,none": d["groups"]["emorealm"]["acc,none"] + 0.01}))

    def no_meta(p):
        edit_json(p, lambda d: d.pop("emorealm"))

    def no_hash(p):
        edit_json(p, lambda d: d["emorealm"].update(model_sha256=None))

    def malformed(p):
        p.write_text(p.read_text()[:-40])

    return [
        (tamper_score, "(?s)metrics disagree with the samples log.*acc: reported 0.99"),
        (tamper_sample, "metrics disagree with the samples log"),
        (drop_samples, "samples log .*samples_emer_.* is missing"),
        (unknown_task, "unknown task.*mystery_task"),
        (bad_version, "task version 7.0 is not accepted"),
        (group_weighted, "group emorealm acc is reported"),
        (no_meta, "no top-level \"emorealm\" block"),
        (no_hash, "no checkpoint hash"),
        (malformed, "is not valid JSON"),
    ]


@pytest.mark.parametrize("breaker, message", _bad_cases(), ids=lambda x: getattr(x, "__name__", "msg"))
def test_bad_input_is_rejected_and_the_board_is_untouched(tmp_path, breaker, message, capsys):
    lb = tmp_path / "lb.json"
    submit(make_run(tmp_path / "first", model="first", n=12, seed=7), lb, OPTS)
    before = lb.read_bytes()
    run = make_run(tmp_path / "out", n=12, seed=1)
    breaker(run)
    with pytest.raises(DataError, match=message):
        submit(run, lb, OPTS)
    assert lb.read_bytes() == before
    capsys.readouterr()
    assert call_main("submit", run, "--leaderboard", lb, "--allow-smoke") == 2
    err = capsys.readouterr().err
    assert "error:" in err
    assert lb.read_bytes() == before


def test_sample_count_rules_partial_and_reference_size(tmp_path):
    lb = tmp_path / "lb.json"
    limited = make_run(tmp_path / "lim", n=10, original=40)
    with pytest.raises(DataError, match="10 of 40 samples.*--partial"):
        submit(limited, lb, OPTS)
    res = submit(limited, lb, SubmitOptions(submitter="x", allow_smoke=True, partial=True))
    assert res.entry["partial"] is True and res.entry["tasks"]["dfew"]["partial"] is True
    rows = ranked_rows(read_leaderboard(lb))
    assert rows[0].partial

    # a board whose reference DFEW split has 50 documents: results claiming that data with 12 are inconsistent
    lb2 = tmp_path / "lb2.json"
    assert call_main("leaderboard", "init", lb2) == 0
    assert call_main("leaderboard", "reference", "--leaderboard", lb2, "--task", "dfew", "--fingerprint", FP["dfew"],
               "--size", "50") == 0
    with pytest.raises(DataError, match="claim the reference data.*reference has 50"):
        submit(make_run(tmp_path / "b", n=12, tasks=["dfew"]), lb2, OPTS)


def test_unofficial_data_is_accepted_and_marked(tmp_path):
    lb = tmp_path / "lb.json"
    ref = make_run(tmp_path / "ref", model="ref", n=12)
    assert call_main("leaderboard", "init", lb, "--reference", ref) == 0
    board = read_leaderboard(lb)
    assert board["tasks"]["dfew"] == {"data_fingerprint": FP["dfew"], "size": 12}
    submit(ref, lb, OPTS)
    other = make_run(tmp_path / "other", model="other", n=12, seed=3)
    edit_json(other, lambda d: d["emorealm"]["data_fingerprint"].update(dfew="sha256:" + "0" * 64))
    res = submit(other, lb, OPTS)
    assert res.unofficial == ["dfew"] and res.no_reference == []
    board = read_leaderboard(lb)
    marks = {r.entry["model"]["name"]: r.unofficial for r in ranked_rows(board)}
    assert marks == {"ref": [], "other": ["dfew"]}
    assert unofficial_tasks(board["entries"][1], board) == ["dfew"]


def test_unwritable_or_missing_leaderboard_location(run, tmp_path, capsys):
    assert call_main("submit", run, "--leaderboard", tmp_path / "no" / "such" / "lb.json", "--allow-smoke") == 2
    assert "folder" in capsys.readouterr().err
    assert call_main("submit", run, "--leaderboard", "/proc/emorealm-lb.json", "--allow-smoke") == 2
    assert "cannot write leaderboard" in capsys.readouterr().err


def test_corrupt_existing_board_is_reported_not_overwritten(run, tmp_path):
    lb = tmp_path / "lb.json"
    lb.write_text('{"schema": "emorealm-leaderboard", "schema_version": 1, "entries": [')
    before = lb.read_bytes()
    with pytest.raises(DataError, match="not valid JSON"):
        submit(run, lb, OPTS)
    assert lb.read_bytes() == before


# --- views -------------------------------------------------------------------------------------


def test_ranking_default_and_any_metric(tmp_path):
    lb = tmp_path / "lb.json"
    for i, skill in enumerate([0.3, 0.9, 0.6]):
        submit(make_run(tmp_path / f"m{i}", model=f"model-{i}", n=12, seed=i, skill=skill), lb, OPTS)
    submit(make_run(tmp_path / "dfew-only", model="dfew-only", n=12, tasks=["dfew"]), lb, OPTS)
    board = read_leaderboard(lb)
    rows = ranked_rows(board)
    avgs = [r.entry["average_accuracy"] for r in rows]
    assert [r.rank for r in rows][-1] is None and avgs[-1] is None  # no EmoReAlM tasks: unranked, last
    assert avgs[:3] == sorted(avgs[:3], reverse=True)
    by_uar = ranked_rows(board, "dfew.uar")
    uars = [r.values["dfew.uar"] for r in by_uar]
    assert uars == sorted(uars, reverse=True)
    asc = ranked_rows(board, "invalid_rate")  # lower is better: ascending by default
    inv = [r.entry["invalid_rate"] for r in asc]
    assert inv == sorted(inv)


def test_show_prints_percentages_and_user_strings_literally(tmp_path, capsys):
    lb = tmp_path / "lb.json"
    run = make_run(tmp_path / "a", n=12)
    submit(run, lb, SubmitOptions(submitter="x", allow_smoke=True, model_name="[bold]evil[/bold] <script>"))
    assert call_main("leaderboard", "show", "--leaderboard", lb) == 0
    out = capsys.readouterr().out
    assert "[bold]evil[/bold]" in out
    entry = read_leaderboard(lb)["entries"][0]
    assert f"{100 * entry['average_accuracy']:.1f}" in out
    assert call_main("leaderboard", "show", "--leaderboard", lb, "--sort", "nope.metric") == 2
    assert "unknown sort key" in capsys.readouterr().err


def test_log_likelihood_variant_has_its_own_average(tmp_path):
    lb = tmp_path / "lb.json"
    run = make_run(tmp_path / "ll", n=12, tasks=LL_TASKS)
    res = submit(run, lb, OPTS)
    accs = [sum(s["acc"] for s in samples(run, t)) / 12 for t in LL_TASKS]
    assert res.entry["average_accuracy"] is None
    assert math.isclose(res.entry["groups"]["emorealm_ll"]["acc"]["value"], sum(accs) / 5)
    row = ranked_rows(read_leaderboard(lb), "emorealm_ll.acc")[0]
    assert row.rank == 1 and math.isclose(row.values["emorealm_ll.acc"], sum(accs) / 5)


def test_validate_command_finds_a_hand_edited_board_and_show_refuses_other_schema_versions(run, tmp_path, capsys):
    lb = tmp_path / "lb.json"
    submit(run, lb, OPTS)
    assert call_main("leaderboard", "validate", "--leaderboard", lb) == 0
    edit_json(lb, lambda b: b["entries"][0]["tasks"]["dfew"]["metrics"]["uar"].update(value=0.99))
    capsys.readouterr()
    assert call_main("leaderboard", "validate", "--leaderboard", lb) == 2
    assert "entry_id does not match its content" in capsys.readouterr().err
    edit_json(lb, lambda b: b.update(schema_version=3))
    before = lb.read_bytes()
    assert call_main("leaderboard", "show", "--leaderboard", lb) == 2
    assert "schema version 3 is not supported" in capsys.readouterr().err
    assert call_main("submit", make_run(tmp_path / "o", model="o", n=12), "--leaderboard", lb, "--allow-smoke") == 2
    assert lb.read_bytes() == before
