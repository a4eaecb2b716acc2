"""EMER: loading the OV-MERD release, the description prompt, and judge-free + judge scoring.

Loading. Files under ``<data root>/EMER`` (all names overridable by task options):

* ``track3_train_ovmerd.csv`` — columns ``name``, ``reason``: the reference description of each
  clip (what the judge compares with). Option ``emer_description_file``.
* ``track2_train_ovmerd.csv`` — columns ``name``, ``openset``: the reference open-vocabulary
  emotion words, a list written like ``['happy', 'relaxed']`` (option ``emer_openset_file``). A single
  CSV with all three columns works as well (give it as ``emer_description_file``).
* clips ``video/<name>.mp4`` (the release) or ``video_24fps/<name>.mp4`` (the released AVERE code),
  audio sidecars from ``video_16khz/<name>.wav`` or ``audio/<name>.wav`` when present.

Scoring. Judge-free (always): the emotion words of the prediction and of the reference set are mapped
through the synonym table (:mod:`emorealm.scoring.emotion_map`); per sample precision = |P∩R|/|P| (0 when
the prediction names no emotion) and recall = |P∩R|/|R|; ``emotion_f1`` is the harmonic mean of
the mean precision and mean recall (the MER open-vocabulary convention). Samples without reference
emotions are left out of these three and counted in ``n_no_reference``.

Judge (task option ``judge``, or ``$EMOREALM_JUDGE``): each rubric of ``judge_rubrics`` (default
``avere,emotion_llama``) scores every sample; a sample whose judge failed after the bounded retries
is left out of that rubric's means and counted in ``judge_failures``. Without a judge the task
reports ``judge_skipped`` = 1 and only the judge-free scores.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from emorealm.benchmarks.benchmark import Benchmark
from emorealm.benchmarks.common import (
    VIDEO_EXTS,
    LoadResult,
    find_benchmark_dir,
    fingerprint,
    load_error,
    read_csv,
    resolve_data_root,
    task_dataset,
    under,
)
from emorealm.benchmarks.recognition import load_error as sample_load_error
from emorealm.doc import media_dict
from emorealm.errors import ConfigError, DataError
from emorealm.scoring.aggregations import harmonic_mean, mean_defined, total  # noqa: F401  (total: the task YAML)
from emorealm.scoring.emotion_map import extract_emotions, normalise_reference
from emorealm.scoring.judge import RUBRICS, JudgeBackend, judge_from_spec, judge_sample, rubric_manifest

VIDEO_DIRS = ("video_24fps", "video")
AUDIO_DIRS = ("video_16khz", "audio")


def parse_openset(value: str) -> list[str]:
    """Reference emotion words from an ``openset`` cell: ``['a', 'b']``, ``["a","b"]`` or ``a, b``."""
    s = (value or "").strip()
    if not s or s.lower() in {"nan", "none", "[]"}:
        return []
    if s[0] == "[":
        try:
            items = json.loads(s)
        except json.JSONDecodeError:
            try:
                items = ast.literal_eval(s)
            except (ValueError, SyntaxError):
                items = [x.strip(" '\"") for x in s[1:-1].split(",")]
        if not isinstance(items, (list, tuple)):
            items = [str(items)]
    else:
        items = re.split(r"[,;/]", s)
    return [str(x).strip() for x in items if str(x).strip()]


def _find(base: Path, names: tuple[str, ...], stem: str) -> Path | None:
    for d in names:
        folder = base / d
        if not folder.is_dir():
            continue
        for ext in VIDEO_EXTS if d.startswith("video") and "khz" not in d else (".wav",):
            p = folder / f"{stem}{ext}"
            if p.is_file():
                return p
    return None


def load_emer(**options: Any) -> LoadResult:
    """Docs of EMER/OV-MERD: one per row of the description CSV (unknown options ignored)."""
    root = resolve_data_root(options)
    base = find_benchmark_dir(root, options.get("emer_dir"), ("EMER", "emer", "OV-MERD"), "EMER")
    desc_file = under(base, options.get("emer_description_file") or "track3_train_ovmerd.csv")
    rows = read_csv(desc_file, ("name", "reason"), "EMER description file")
    files = [desc_file]
    openset: dict[str, str] = {}
    has_inline = rows and "openset" in rows[0]
    if has_inline:
        openset = {r["name"]: r["openset"] for r in rows}
    else:
        os_file = under(base, options.get("emer_openset_file") or "track2_train_ovmerd.csv")
        if not os_file.is_file():
            raise DataError(f"EMER reference emotions {os_file} not found: it ships with the description file "
                            "in the OV-MERD release (columns name, openset); pass emer_openset_file=... if it lives elsewhere")
        openset = {r["name"]: r["openset"] for r in read_csv(os_file, ("name", "openset"), "EMER openset file")}
        files.append(os_file)
    video_dirs = (options["emer_video_dir"],) if options.get("emer_video_dir") else VIDEO_DIRS
    audio_dirs = (options["emer_audio_dir"],) if options.get("emer_audio_dir") else AUDIO_DIRS

    result = LoadResult(docs=[], fingerprint=fingerprint(*files), source={"description_file": str(desc_file),
                        "openset_file": str(files[-1]) if len(files) > 1 else str(desc_file)})
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        name, reason = row["name"], row["reason"]
        if not name or name in seen:
            result.problem(f"{desc_file}:{line}: {'empty' if not name else 'repeated'} name {name!r}; row skipped")
            continue
        seen.add(name)
        refs = parse_openset(openset.get(name, ""))
        doc: dict[str, Any] = {"id": name, "clip_id": name, "_task": "emer", "choices": [], "answer": reason,
                               "reference_emotions": refs, "meta": {"row": line}}
        if not reason:
            msg = f"{desc_file}:{line}: clip {name} has no reference description"
            doc["_load_error"] = load_error("DataError", msg)
            result.problem(msg)
        if not refs:
            # the judge can still score it; only the judge-free emotion F1 cannot (counted there)
            result.problem(f"clip {name}: no reference emotions (openset) — excluded from emotion_f1, counted in n_no_reference")
        video = _find(base, tuple(video_dirs), name)
        if video is None:
            msg = f"clip {name} not found under {', '.join(str(base / d) for d in video_dirs)}"
            doc.setdefault("_load_error", load_error("MediaError", msg))
            result.problem(msg)
            doc["media"] = media_dict(base / video_dirs[0] / f"{name}.mp4", None)
        else:
            doc["media"] = media_dict(video, _find(base, tuple(audio_dirs), name))
        result.docs.append(doc)
    return result


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
    from emorealm.run_state import current_or_none

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
    err = sample_load_error(doc, results)
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


# the task options load_emer and judge_settings read (checked by emorealm.options_check; contracts §2)
TASK_OPTIONS = ("emer_dir", "emer_description_file", "emer_openset_file", "emer_video_dir", "emer_audio_dir",
                "judge", "judge_rubrics", "judge_timeout", "judge_retries")


def load(**metadata: Any):
    """lm-eval ``custom_dataset``: task options arrive as keyword arguments (unknown ones ignored)."""
    settings = judge_settings(metadata)
    result = load_emer(**metadata)
    for doc in result.docs:
        doc["_judge"] = settings
    dataset = task_dataset("emer", result)
    if settings["spec"] == "none":
        logging.getLogger("emorealm.tasks").info(
            "emer: no judge configured (task option judge=openai:<model> or $EMOREALM_JUDGE); judge scores "
            "skipped, judge-free emotion scores only")
    return dataset


def judge_report(task: str, samples: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The results file's judge block: settings, rubric versions and the backend that scored."""
    settings = samples[0]["doc"].get("_judge") or {}
    backend = judge_backend(settings) if settings else None
    return {
        "judge": settings.get("spec", "none"),
        "skipped": backend is None,
        "backend": backend.describe() if backend is not None and hasattr(backend, "describe") else None,
        "retries": settings.get("retries"), "timeout_s": settings.get("timeout"),
        "rubrics": rubric_manifest(settings.get("rubrics")) if backend is not None else {},
    }


BENCHMARK = Benchmark(
    name="emer", tasks=("emer",),
    count_metrics=frozenset({"n_no_reference", "judge_failures", "judge_skipped"}),
    # judge scores stay on their rubric's scale (1-10 / 0-10), not fractions
    raw_scale_metrics=frozenset(k for r in RUBRICS.values() for k in r.keys),
    judge=judge_report,
)

# what tasks/emer/utils.py hands to lm-eval
__all__ = ["TASK_OPTIONS", "agg_emotion_f1", "doc_to_text", "judge_settings", "load", "mean_defined", "process_results", "total"]
