"""process_results and the aggregations, against hand-computed values."""

from __future__ import annotations

import importlib.util
import math

import pytest

from emorealm.errors import SampleError, clear_sample_errors, error_response
from emorealm.evaluation.runner import tasks_dir
from emorealm.scoring.aggregations import f1_yes_no, mean_defined


@pytest.fixture(scope="module")
def utils():
    spec = importlib.util.spec_from_file_location("emorealm_task_utils", tasks_dir() / "emorealm" / "utils.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _doc(i, answer, choices=("(A) Yes", "(B) No")):
    return {"id": f"d{i}", "_task": "modality_agreement", "choices": list(choices), "answer": answer}


def test_yes_no_metrics_match_hand_computation(utils):
    clear_sample_errors()
    # gold, response
    data = [("A", "Yes"), ("A", "(B) No"), ("A", "A"), ("B", "No"), ("B", "B"), ("B", "yes"),
            ("B", "hmm"), ("A", error_response(SampleError("MediaError", "clip missing")))]
    per = [utils.process_results(_doc(i, g), [r]) for i, (g, r) in enumerate(data)]
    # released rule: "Yes" has no letter → wrong; "(B) No" wrong for A; "A" right; "No" wrong (no letter);
    # "B" right; "yes" wrong; "hmm" wrong; error wrong
    acc = [p["acc"] for p in per]
    assert acc == [0, 0, 1, 0, 1, 0, 0, 0]
    # strict: Yes→A ✓, (B) No→B ✗, A ✓, No→B ✓, B ✓, yes→A ✗, hmm invalid, error invalid
    assert [p["acc_strict"] for p in per] == [1, 0, 1, 1, 1, 0, 0, 0]
    assert [p["invalid_rate"] for p in per] == [0, 0, 0, 0, 0, 0, 1, 1]
    assert [p["n_errors"] for p in per] == [0, 0, 0, 0, 0, 0, 0, 1]
    acc_yes = mean_defined([p["acc_yes"] for p in per])
    acc_no = mean_defined([p["acc_no"] for p in per])
    assert acc_yes == pytest.approx(1 / 4)  # gold-Yes docs 0,1,2,7 → only doc 2 right
    assert acc_no == pytest.approx(1 / 4)   # gold-No docs 3,4,5,6 → only doc 4 right
    assert f1_yes_no([p["f1_yes_no"] for p in per]) == pytest.approx(2 * 0.25 * 0.25 / 0.5)
    # yes_rate over parsed answers: A, B, A, B, B, A → 3/6
    assert mean_defined([p["yes_rate"] for p in per]) == pytest.approx(0.5)
    assert per[-1]["n_errors"] == 1


def test_four_option_metrics_have_no_yes_no_keys(utils):
    doc = _doc(0, "C", ["(A) x", "(B) y", "(C) z", "(D) w"])
    doc["_task"] = "reasoning_basic_audio"
    out = utils.process_results(doc, ["Answer: C"])
    assert out == {"acc": 1.0, "acc_strict": 1.0, "invalid_rate": 0.0, "n_errors": 0.0}


def test_loglikelihood_results_pick_the_best_option(utils):
    doc = _doc(0, "B")
    assert utils.process_results_ll(doc, [(-3.0, False), (-1.0, True)])["acc"] == 1.0
    assert utils.process_results_ll(doc, [(-0.5, False), (-1.0, True)])["acc"] == 0.0
    err = utils.process_results_ll(_doc(1, "A"), [(math.nan, False), (math.nan, False)])
    assert err["n_errors"] == 1 and err["acc"] == 0.0


def test_error_reason_is_marked_on_the_doc(utils):
    doc = _doc(3, "A")
    utils.process_results(doc, [error_response(SampleError("MediaError", "cannot open x.mp4"))])
    assert doc["_error"] == {"kind": "MediaError", "message": "cannot open x.mp4"}
