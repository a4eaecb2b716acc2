"""Emotion recognition (DFEW, RAVDESS): the lm-eval hooks both benchmarks share, and their record.

Per-sample values carry what the aggregations need, so every figure is computed once over the
whole task by :mod:`emorealm.scoring.classification` (UAR and macro-F1 are not means of per-sample values):

* generation: ``[gold, released_label, dropped]`` for ``acc``/``war``/``uar``/``macro_f1`` (the
  released mapping) and ``[gold, strict_label]`` for the ``*_strict`` metrics;
* log-likelihood: ``[gold, argmax label]``.

A failed sample (adapter error or a row that could not be loaded) has prediction ``None``: it
scores wrong. A row without a usable gold label (label outside 1–7, unparseable RAVDESS name) is
counted in ``n_errors`` and cannot enter a per-class metric. ``released_dropped`` counts answers
the released code crashed on and silently left out of its denominator; the released metrics leave
them out too (documented quirk), the strict ones keep them as invalid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from emorealm.benchmarks.benchmark import Benchmark
from emorealm.errors import SampleError, sample_error
from emorealm.scoring.classification import classification_report
from emorealm.scoring.emotion_map import released_map, strict_map

# the lm-eval hooks DFEW and RAVDESS share (their modules re-export them to the task YAML)
HOOKS = ("agg_acc", "agg_macro_f1", "agg_uar", "doc_to_choice", "doc_to_target_index", "doc_to_text",
         "process_results", "process_results_ll")
# the released zero-shot prompt (ihp-lab/AVERE evaluate_emotion_dfew.py / _ravdess_video.py)
PROMPT = "Describe the emotion of the person in the video in one word."
# what the log-likelihood variant scores as the assistant's one-word reply, per label
LABEL_WORDS = {"happiness": "Happiness", "sadness": "Sadness", "neutral": "Neutral", "anger": "Anger",
               "surprise": "Surprise", "disgust": "Disgust", "fear": "Fear", "calm": "Calm"}


def doc_to_text(doc: dict[str, Any]) -> str:
    return PROMPT


def doc_to_choice(doc: dict[str, Any]) -> list[str]:
    return [LABEL_WORDS[label] for label in doc["labels"]]


def doc_to_target_index(doc: dict[str, Any]) -> int:
    # rows without a gold label still need an int for lm-eval; they are scored as errors
    return doc["labels"].index(doc["answer"]) if doc.get("answer") in doc["labels"] else 0


def load_error(doc: dict[str, Any], results: list[Any]) -> SampleError | None:
    """The sample's error: a load-time problem of its row, else the adapter's (error channel)."""
    err = sample_error(doc, results)
    le = doc.get("_load_error")
    if le:
        err = SampleError(le["kind"], le["message"])
        doc["_error"] = err.as_dict()
    return err


def process_results(doc: dict[str, Any], results: list[Any]) -> dict[str, Any]:
    """Generation: map the answer both ways; see the module doc for the per-sample values."""
    err = load_error(doc, results)
    gold = doc.get("answer") if doc.get("answer") in doc["labels"] else None
    if err is not None:
        rel, dropped, fallback, strict = None, False, False, None
    else:
        text = str(results[0])
        m = released_map(text)
        rel, dropped, fallback = m.label, m.dropped, m.fallback
        strict = strict_map(text, doc["labels"]).label
    released = [gold, rel, dropped]
    strict_item = [gold, strict]
    return {
        "acc": released, "war": released, "uar": released, "macro_f1": released,
        "uar_strict": strict_item, "war_strict": strict_item, "macro_f1_strict": strict_item,
        "invalid_rate": float(err is None and strict is None),
        "fallback_rate": float(fallback),
        "released_dropped": float(dropped),
        "n_errors": float(err is not None),
    }


def process_results_ll(doc: dict[str, Any], results: list[Any]) -> dict[str, Any]:
    """Log-likelihood: the label word with the highest summed log-likelihood is the answer."""
    err = load_error(doc, results)
    gold = doc.get("answer") if doc.get("answer") in doc["labels"] else None
    pred = None
    if err is None:
        lls = [r[0] for r in results]
        if not any(math.isnan(x) for x in lls):
            pred = doc["labels"][max(range(len(lls)), key=lls.__getitem__)]
    item = [gold, pred]
    return {"acc": item, "war": item, "uar": item, "macro_f1": item, "n_errors": float(err is not None)}


def _pairs(items: Sequence[Sequence[Any]], drop_released: bool = True) -> tuple[list[str], list[str | None], list[str]]:
    labels: list[str] = []
    gold, pred = [], []
    for it in items:
        if it[0] is None or (drop_released and len(it) > 2 and it[2]):
            continue
        gold.append(it[0])
        pred.append(it[1])
    for g in gold:
        if g not in labels:
            labels.append(g)
    for p in pred:
        if p is not None and p not in labels:
            labels.append(p)
    return gold, pred, labels


def _metric(items: Sequence[Sequence[Any]], name: str) -> float:
    gold, pred, labels = _pairs(items)
    if not gold:
        return math.nan
    return float(getattr(classification_report(gold, pred, labels), name))


def agg_acc(items):
    return _metric(items, "acc")


def agg_uar(items):
    return _metric(items, "uar")


def agg_macro_f1(items):
    return _metric(items, "macro_f1")


def report_from_items(items: Sequence[Sequence[Any]], labels: Sequence[str]):
    """The full :class:`~emorealm.scoring.classification.ClassificationReport` of one metric's items."""
    gold, pred, _ = _pairs(items)
    return classification_report(gold, pred, list(labels))


def _labels(samples: list[dict[str, Any]]) -> list[str]:
    for s in samples:
        labels = (s.get("doc") or {}).get("labels")
        if labels:
            return list(labels)
    return []


def classification_reports(samples: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    """``{kind: report}`` (+ ``"strict"`` for generation) of one task's logged samples."""
    if "uar" not in samples[0]:
        return None
    labels = _labels(samples)
    reps = {kind: report_from_items([s["uar"] for s in samples], labels)}
    if "uar_strict" in samples[0]:
        reps["strict"] = report_from_items([s["uar_strict"] for s in samples], labels)
    return reps


def benchmark(name: str) -> Benchmark:
    """The record of a recognition benchmark: generation task ``name``, log-likelihood ``name_ll``."""
    ll = f"{name}_ll"

    def reports(task: str, samples: list[dict[str, Any]]) -> dict[str, Any] | None:
        return classification_reports(samples, "loglikelihood" if task == ll else "released")

    return Benchmark(name=name, tasks=(name, ll), data_key=lambda task: name,
                     count_metrics=frozenset({"released_dropped"}), classification=reports)


__all__ = list(HOOKS)  # what ``from recognition import *`` gives a benchmark module
