"""log p(correct answer | inputs) per doc, and how an ablation shifts it.

* Log-likelihood (``multiple_choice``) tasks already score every option: the correct option's
  log-likelihood is read from the samples record of each condition's run (the very number the task
  scored with).
* Generation tasks are probed: the correct answer (the record's ``target``, e.g. ``"A"``) is scored
  as the assistant's reply after the record's own prompt through the adapter's ``loglikelihood``
  (the lm-eval API, so the same media path and ablation hook apply), exactly as the ``_ll`` variants
  score an option.

The shift of a doc under a condition is ``log p(correct | intact) - log p(correct | ablated)``:
positive when the ablation makes the correct answer less likely (the model used what was removed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Probe:
    """What to score for one doc: the prompt and the correct continuation."""

    doc_id: int
    clip: str
    doc: dict[str, Any]
    context: str
    continuation: str


def _request_args(record: dict[str, Any], i: int) -> tuple[Any, Any]:
    """Arguments of request ``i`` of a samples record: in memory a list of tuples, on disk
    ``{"gen_args_<i>": {"arg_0": ..., "arg_1": ...}}``."""
    args = record["arguments"]
    if isinstance(args, dict):
        a = args[f"gen_args_{i}"]
        return a["arg_0"], a["arg_1"]
    return args[i][0], args[i][1]


def probe_of(record: dict[str, Any], multiple_choice: bool) -> Probe:
    """The (prompt, correct continuation) of one samples record."""
    from emorealm.evaluation.clustered_stderr import cluster_key

    if multiple_choice:
        target = int(record["target"])
        context, continuation = _request_args(record, target)
    else:
        context, continuation = _request_args(record, 0)[0], str(record["target"])
    return Probe(int(record["doc_id"]), cluster_key(record), record["doc"], context, continuation)


def logp_from_record(record: dict[str, Any]) -> float:
    """The correct option's log-likelihood in a ``multiple_choice`` samples record (NaN on error)."""
    resp = record["filtered_resps"][int(record["target"])]
    value = float(resp[0] if isinstance(resp, (list, tuple)) else resp)
    return value


def probe_logps(lm, probes: list[Probe]) -> list[float]:
    """log p(continuation | context) of each probe through ``lm.loglikelihood`` (NaN on a sample error)."""
    from lm_eval.api.instance import Instance

    requests = [Instance(request_type="loglikelihood", doc=p.doc, arguments=(p.context, p.continuation), idx=0)
                for p in probes]
    return [float(r[0]) for r in lm.loglikelihood(requests)] if requests else []


def shifts(intact: dict[int, float], ablated: dict[int, float]) -> dict[int, float]:
    """Per-doc ``intact - ablated`` over docs scored (not NaN) under both."""
    out = {}
    for doc_id, a in intact.items():
        b = ablated.get(doc_id, math.nan)
        if not (math.isnan(a) or math.isnan(b)):
            out[doc_id] = a - b
    return out
