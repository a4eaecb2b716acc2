"""Every classification figure equals scikit-learn's on random data (never-predicted classes,
absent classes, invalid predictions included)."""

from __future__ import annotations

import random
import warnings

import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    recall_score,
)

from emorealm.scoring.classification import INVALID, classification_report, plot_confusion_matrix

LABELS = ["happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear"]


def _sk(gold, pred, labels):
    pred_s = [p if p is not None else INVALID for p in pred]
    seen = [c for c in labels if c in set(gold) | set(pred_s)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "acc": accuracy_score(gold, pred_s),
            "war": recall_score(gold, pred_s, labels=sorted(set(gold)), average="weighted", zero_division=0),
            "uar": balanced_accuracy_score(gold, pred_s),
            "macro_f1": f1_score(gold, pred_s, labels=seen, average="macro", zero_division=0),
            "cm": confusion_matrix(gold, pred_s, labels=labels + [INVALID])[: len(labels)].tolist(),
            "recall": recall_score(gold, pred_s, labels=labels, average=None, zero_division=0).tolist(),
        }


@pytest.mark.parametrize("seed", range(12))
def test_random_predictions_match_sklearn(seed):
    rng = random.Random(seed)
    n = rng.randint(5, 60)
    gold_pool = rng.sample(LABELS, rng.randint(2, 7))  # some classes absent from gold
    pred_pool = rng.sample(LABELS, rng.randint(1, 4))  # several never predicted
    gold = [rng.choice(gold_pool) for _ in range(n)]
    pred = [rng.choice(pred_pool) if rng.random() > 0.15 * (seed % 3) else None for _ in range(n)]
    rep = classification_report(gold, pred, LABELS)
    sk = _sk(gold, pred, LABELS)
    assert rep.acc == pytest.approx(sk["acc"], abs=1e-12)
    assert rep.war == pytest.approx(sk["war"], abs=1e-12)
    assert rep.uar == pytest.approx(sk["uar"], abs=1e-12)
    assert rep.macro_f1 == pytest.approx(sk["macro_f1"], abs=1e-12)
    assert rep.confusion_matrix == sk["cm"]
    for i, c in enumerate(LABELS):
        if rep.support[c]:
            assert rep.per_class_recall[c] == pytest.approx(sk["recall"][i], abs=1e-12)
        else:
            assert rep.per_class_recall[c] is None
    assert rep.invalid_rate == pytest.approx(sum(p is None for p in pred) / n)


@pytest.mark.parametrize("seed", range(6))
def test_no_invalid_matches_sklearn_defaults(seed):
    """Without invalid answers (the released mapping) the defaults of sklearn apply unchanged."""
    rng = random.Random(100 + seed)
    gold = [rng.choice(LABELS) for _ in range(40)]
    pred = [rng.choice(LABELS[:3]) for _ in range(40)]  # 4 classes never predicted
    rep = classification_report(gold, pred, LABELS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert rep.macro_f1 == pytest.approx(f1_score(gold, pred, average="macro"), abs=1e-12)
        assert rep.uar == pytest.approx(recall_score(gold, pred, average="macro"), abs=1e-12)
        assert rep.uar == pytest.approx(balanced_accuracy_score(gold, pred), abs=1e-12)
        assert rep.war == pytest.approx(recall_score(gold, pred, average="weighted"), abs=1e-12)
        assert rep.acc == pytest.approx(accuracy_score(gold, pred), abs=1e-12)


def test_hand_computed_example():
    gold = ["a", "a", "a", "b", "b", "c"]
    pred = ["a", "b", None, "b", "b", "a"]
    rep = classification_report(gold, pred, ["a", "b", "c"])
    assert rep.acc == pytest.approx(3 / 6)
    assert rep.uar == pytest.approx((1 / 3 + 1 + 0) / 3)
    # F1: a = 2*1/(3+2) = 0.4; b = 2*2/(2+3) = 0.8; c = 0
    assert rep.macro_f1 == pytest.approx((0.4 + 0.8 + 0) / 3)
    assert rep.confusion_matrix == [[1, 1, 0, 1], [0, 2, 0, 0], [1, 0, 0, 0]]
    assert rep.invalid_rate == pytest.approx(1 / 6)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="not one of"):
        classification_report(["x"], ["a"], ["a"])
    with pytest.raises(ValueError, match="predictions"):
        classification_report(["a"], [], ["a"])


def test_png(tmp_path):
    rep = classification_report(["a", "b", "b"], ["a", "a", None], ["a", "b"])
    out = plot_confusion_matrix(rep, tmp_path / "cm.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
