"""lm-eval hooks of the EmoReAlM tasks (loaders, prompt, scoring). Logic lives in emorealm.*."""

from __future__ import annotations

from functools import partial
from typing import Any

import datasets

from emorealm.benchmarks.emorealm import build_prompt, load_docs
from emorealm.errors import sample_error
from emorealm.scoring.aggregations import f1_yes_no, mean_defined, total  # noqa: F401  (used by the YAML)
from emorealm.scoring.choice import is_yes_no, parse_choice, released_match, split_choices

# the task options load_docs reads (checked by emorealm.options_check; docs/contracts.md §2)
TASK_OPTIONS = ("benchmark_file", "clip_dir", "audio_dir")


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
