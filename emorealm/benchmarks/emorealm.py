"""EmoReAlM: loading the released benchmark file into docs (docs/contracts.md §3), its prompt and scoring.

Generation answers are scored by the released letter rule (``acc``) and a strict parse (``acc_strict``,
``invalid_rate``); log-likelihood (``_ll``) tasks take the option with the highest log-likelihood.
"""

from __future__ import annotations

import json
import logging
from functools import partial
from pathlib import Path
from typing import Any

import datasets

from emorealm.benchmarks.benchmark import Benchmark
from emorealm.benchmarks.common import resolve_data_root
from emorealm.doc import media_dict
from emorealm.errors import DataError, sample_error
from emorealm.fingerprint import file_fingerprint
from emorealm.paths import safe_join
from emorealm.run_state import record_fingerprint
from emorealm.scoring.aggregations import f1_yes_no, mean_defined, total  # noqa: F401  (named by the task YAML)
from emorealm.scoring.choice import is_yes_no, parse_choice, released_match, split_choices

TASK_KEYS = (
    "reasoning_basic_audio",
    "reasoning_basic_video",
    "modality_agreement",
    "reasoning_stress_audio",
    "reasoning_stress_video",
)
DEFAULTS = {
    "benchmark_file": "EmoReAlM/emorealm_v1.json",
    "clip_dir": "dfew/dfew_original_clips_24fps",
    "audio_dir": "dfew/dfew_original_clips_16khz",
}
log = logging.getLogger("emorealm.benchmarks")
# the task options load_docs reads (checked by emorealm.options_check; docs/contracts.md §2)
TASK_OPTIONS = ("benchmark_file", "clip_dir", "audio_dir")
_REQUIRED = ("id", "video", "task", "question", "choices", "answer")


def read_benchmark(path: Path) -> list[dict[str, Any]]:
    """Parse the benchmark JSON (a list of rows) with clear errors."""
    if not path.is_file():
        raise DataError(f"benchmark file not found: {path}; pass --data-root (or --task-args benchmark_file=...) "
                        "pointing at the folder that holds EmoReAlM/emorealm_v1.json")
    if path.stat().st_size == 0:
        raise DataError(f"benchmark file {path} is empty (0 bytes); re-download it")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text ({exc}); re-download the benchmark file") from exc
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from exc
    if not isinstance(rows, list) or not rows:
        raise DataError(f"{path} must hold a non-empty JSON list of question rows")
    return rows


def validate_row(i: int, row: Any) -> str | None:
    """Why row ``i`` is malformed, or None."""
    if not isinstance(row, dict):
        return f"row {i} is not an object"
    missing = [k for k in _REQUIRED if k not in row]
    if missing:
        return f"row {i} (id={row.get('id')!r}) lacks {missing}"
    if not isinstance(row["choices"], list) or len(row["choices"]) < 2:
        return f"row {i} (id={row['id']!r}) has no list of choices"
    if row["task"] not in TASK_KEYS:
        return f"row {i} (id={row['id']!r}) has unknown task {row['task']!r} (known: {', '.join(TASK_KEYS)})"
    if not isinstance(row["video"], str) or not row["video"]:
        return f"row {i} (id={row['id']!r}) has no clip path in 'video'"
    letters = [letter for letter, _ in split_choices(row["choices"])]
    if str(row["answer"]).strip().upper() not in letters:
        return f"row {i} (id={row['id']!r}) answer {row['answer']!r} is not one of the options {letters}"
    return None


def load_docs(task: str, **options: Any) -> list[dict[str, Any]]:
    """Docs of one EmoReAlM task key, with media resolved inside the data root."""
    if task not in TASK_KEYS:
        raise DataError(f"unknown EmoReAlM task {task!r}; known: {', '.join(TASK_KEYS)}")
    opts = {**DEFAULTS, **{k: v for k, v in options.items() if k in DEFAULTS and v}}
    root = resolve_data_root(options)
    bench = safe_join(root, opts["benchmark_file"])
    rows = read_benchmark(bench)
    record_fingerprint(task, file_fingerprint(bench))
    problems = [p for i, r in enumerate(rows) if (p := validate_row(i, r))]
    ids = [r.get("id") for r in rows if isinstance(r, dict)]
    dupes = sorted({str(x) for x in ids if ids.count(x) > 1})
    if dupes:
        problems.append(f"duplicate ids {dupes[:5]}")
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise DataError(f"{bench} has malformed rows: {'; '.join(problems[:5])}{more}; fix or remove them")
    clip_root = safe_join(root, opts["clip_dir"])
    audio_root = safe_join(root, opts["audio_dir"])
    docs, missing, unsafe = [], 0, []
    for row in rows:
        if row["task"] != task:
            continue
        try:
            video = safe_join(clip_root, row["video"])
            sidecar = safe_join(audio_root, str(Path(row["video"]).with_suffix(".wav")))
        except DataError as exc:  # a path out of the data root is refused for the whole file, never read
            unsafe.append(f"id={row['id']!r}: {exc}")
            continue
        has_sidecar = sidecar.is_file()
        missing += not video.is_file()
        docs.append({
            "id": str(row["id"]),
            "clip_id": str(row["video"]),
            "_task": task,
            "task": task,
            "question": row["question"],
            "choices": list(row["choices"]),
            "answer": str(row["answer"]).strip().upper(),
            "media": media_dict(video, sidecar if has_sidecar else None),
        })
    if unsafe:
        more = f" (and {len(unsafe) - 3} more)" if len(unsafe) > 3 else ""
        raise DataError(f"{bench} names media outside the data root: {'; '.join(unsafe[:3])}{more}")
    if not docs:
        raise DataError(f"{bench} holds no rows of task {task!r}")
    if missing:
        log.warning("%s: %d of %d clips are missing under %s; those samples will be counted as errors",
                    task, missing, len(docs), clip_root)
    return docs


def build_prompt(doc: dict[str, Any]) -> str:
    """Released prompt: question + ' ' + ' '.join(choices)."""
    return doc["question"] + " " + " ".join(doc["choices"])


def _dataset(task: str, **metadata: Any) -> dict[str, datasets.Dataset]:
    return {"test": datasets.Dataset.from_list(load_docs(task, **metadata))}


load_reasoning_basic_audio = partial(_dataset, "reasoning_basic_audio")
load_reasoning_basic_video = partial(_dataset, "reasoning_basic_video")
load_modality_agreement = partial(_dataset, "modality_agreement")
load_reasoning_stress_audio = partial(_dataset, "reasoning_stress_audio")
load_reasoning_stress_video = partial(_dataset, "reasoning_stress_video")


def doc_to_text(doc: dict[str, Any]) -> str:
    return build_prompt(doc)


def doc_to_choice(doc: dict[str, Any]) -> list[str]:
    return [letter for letter, _ in split_choices(doc["choices"])]


def doc_to_target_index(doc: dict[str, Any]) -> int:
    return doc_to_choice(doc).index(doc["answer"])


def _yes_no_metrics(doc: dict[str, Any], correct: bool, parsed: str | None) -> dict[str, Any]:
    gold_yes = doc["answer"] == "A"
    return {
        "acc_yes": float(correct) if gold_yes else None,
        "acc_no": float(correct) if not gold_yes else None,
        "f1_yes_no": [gold_yes, float(correct)],
        "yes_rate": None if parsed is None else float(parsed == "A"),
    }


def process_results(doc: dict[str, Any], results: list[Any]) -> dict[str, Any]:
    """Generation: released letter rule (``acc``), strict parse (``acc_strict``, ``invalid_rate``)."""
    err = sample_error(doc, results)
    response = "" if err else str(results[0])
    correct = bool(not err and released_match(response, doc["answer"]))
    parsed = None if err else parse_choice(response, doc["choices"]).letter
    out: dict[str, Any] = {
        "acc": float(correct),
        "acc_strict": float(parsed == doc["answer"]),
        "invalid_rate": float(parsed is None),
        "n_errors": float(err is not None),
    }
    if is_yes_no(doc["choices"]):
        out.update(_yes_no_metrics(doc, correct, parsed))
    return out


def process_results_ll(doc: dict[str, Any], results: list[Any]) -> dict[str, Any]:
    """Log-likelihood: the option with the highest log-likelihood is the answer."""
    err = sample_error(doc, results)
    letters = doc_to_choice(doc)
    if err:
        pred = None
    else:
        lls = [r[0] for r in results]
        pred = letters[max(range(len(lls)), key=lls.__getitem__)]
    correct = pred == doc["answer"]
    out: dict[str, Any] = {"acc": float(correct), "n_errors": float(err is not None)}
    if is_yes_no(doc["choices"]):
        out.update(_yes_no_metrics(doc, correct, pred))
    return out


BENCHMARK = Benchmark(
    name="emorealm", tasks=(*TASK_KEYS, *(f"{t}_ll" for t in TASK_KEYS)),
    data_key=lambda task: task.removesuffix("_ll"),  # a task and its _ll variant read the same rows
)

# what tasks/emorealm/utils.py hands to lm-eval
__all__ = ["TASK_OPTIONS", "doc_to_choice", "doc_to_target_index", "doc_to_text", "f1_yes_no", "load_modality_agreement",
           "load_reasoning_basic_audio", "load_reasoning_basic_video", "load_reasoning_stress_audio",
           "load_reasoning_stress_video", "mean_defined", "process_results", "process_results_ll", "total"]
