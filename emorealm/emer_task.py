"""lm-eval hooks of the ``emer`` task: description generation scored judge-free and by a judge.

Judge-free (always): the emotion words of the prediction and of the reference set are mapped
through the synonym table (:mod:`emorealm.emotion_map`); per sample precision = |P∩R|/|P| (0 when
the prediction names no emotion) and recall = |P∩R|/|R|; ``emotion_f1`` is the harmonic mean of
the mean precision and mean recall (the MER open-vocabulary convention). Samples without reference
emotions are left out of these three and counted in ``n_no_reference``.

Judge (task option ``judge``, or ``$EMOREALM_JUDGE``): each rubric of ``judge_rubrics`` (default
``avere,emotion_llama``) scores every sample; a sample whose judge failed after the bounded retries
is left out of that rubric's means and counted in ``judge_failures``. Without a judge the task
reports ``judge_skipped`` = 1 and only the judge-free scores.
"""

from __future__ import annotations

import os
from typing import Any

from emorealm.classification_task import load_error
from emorealm.emotion_map import extract_emotions, normalise_reference
from emorealm.errors import ConfigError
from emorealm.judge import RUBRICS, JudgeBackend, judge_from_spec, judge_sample
from emorealm.metrics import harmonic_mean, mean_defined

# the released description prompt (ihp-lab/AVERE evaluate_emotion_mer2025_ovmerd.py)
PROMPT = "Describe the emotion of the person in the video in detail."
JUDGE_OPTIONS = ("judge", "judge_rubrics", "judge_timeout", "judge_retries")


def judge_settings(options: dict[str, Any]) -> dict[str, Any]:
    """Normalised judge options for the docs (no secrets: the key stays in the environment)."""
    spec = str(options.get("judge") or os.environ.get("EMOREALM_JUDGE") or "none")
    rubrics = options.get("judge_rubrics") or "avere,emotion_llama"
    names = [r.strip() for r in str(rubrics).replace("+", ",").replace(";", ",").split(",") if r.strip()]
    unknown = [r for r in names if r not in RUBRICS]
    if unknown:
        raise ConfigError(f"unknown judge rubric(s) {unknown}; known: {', '.join(RUBRICS)}")
    try:
        timeout = float(options.get("judge_timeout", 60))
        retries = int(options.get("judge_retries", 3))
    except (TypeError, ValueError) as exc:
        raise ConfigError("judge_timeout must be seconds and judge_retries an integer") from exc
    return {"spec": spec, "rubrics": names, "timeout": timeout, "retries": max(1, retries)}


def judge_backend(settings: dict[str, Any]) -> JudgeBackend | None:
    """The judge backend for ``settings``: one per run (kept in the run's state), a fresh one outside a run."""
    from emorealm.evaluation.state import current_or_none

    # the endpoint is part of the key: the environment may point elsewhere later in the process
    key = (settings["spec"], settings["timeout"],
           os.environ.get("EMOREALM_JUDGE_BASE_URL") or os.environ.get("OPENAI_BASE_URL"))
    state = current_or_none()
    if state is None:
        return judge_from_spec(settings["spec"], timeout=settings["timeout"])
    if key not in state.judge_backends:
        state.judge_backends[key] = judge_from_spec(settings["spec"], timeout=settings["timeout"])
    return state.judge_backends[key]


def doc_to_text(doc: dict[str, Any]) -> str:
    return PROMPT


def emotion_overlap(prediction: str, reference: list[str]) -> tuple[float, float, list[str], list[str]]:
    """(precision, recall, predicted groups, reference groups) through the synonym table."""
    pred = extract_emotions(prediction)
    ref = normalise_reference(reference)
    hit = len(set(pred) & set(ref))
    precision = hit / len(pred) if pred else 0.0
    recall = hit / len(ref) if ref else 0.0
    return precision, recall, pred, ref


def process_results(doc: dict[str, Any], results: list[Any]) -> dict[str, Any]:
    err = load_error(doc, results)
    text = "" if err else str(results[0])
    refs = list(doc.get("reference_emotions") or [])
    out: dict[str, Any] = {"n_errors": float(err is not None), "n_no_reference": float(not refs)}
    if refs:
        p, r, pred_groups, ref_groups = emotion_overlap(text, refs)
        doc["_emotions"] = {"predicted": pred_groups, "reference": ref_groups}
        out.update(emotion_precision=p, emotion_recall=r, emotion_f1=[p, r])
    else:
        out.update(emotion_precision=None, emotion_recall=None, emotion_f1=None)
    settings = doc.get("_judge") or judge_settings({})
    backend = judge_backend(settings)
    if backend is None:
        out["judge_skipped"] = 1.0
        return out
    out["judge_skipped"] = 0.0
    failures = 0
    judged: dict[str, Any] = {}
    for name in settings["rubrics"]:
        rubric = RUBRICS[name]
        if err is not None or not doc.get("answer"):
            scores = None  # a failed sample or a row without reference text: nothing to judge
            judged[name] = {"rubric": name, "version": rubric.version, "scores": None,
                            "failure": "sample_error" if err else "no_reference"}
        else:
            outcome = judge_sample(backend, rubric, str(doc["answer"]), text, max_attempts=settings["retries"])
            scores = outcome.scores
            judged[name] = outcome.as_dict()
            failures += outcome.scores is None
        for key in rubric.keys:
            out[key] = None if scores is None else float(scores[key])
    doc["_judge_outcomes"] = judged
    out["judge_failures"] = float(failures)
    return out


def agg_emotion_f1(items) -> float:
    """Harmonic mean of mean precision and mean recall over samples with references."""
    pairs = [it for it in items if it is not None]
    p = mean_defined([it[0] for it in pairs])
    r = mean_defined([it[1] for it in pairs])
    return harmonic_mean(p, r)
