"""Judge-model scoring of free-text emotion descriptions (EMER / OV-MERD).

* **Rubrics** are versioned prompt templates (:data:`RUBRICS`); the version and a hash of each
  template travel into results (:func:`rubric_manifest`) so a number always says which prompt made
  it.
* **Backends** answer a prompt with text: :class:`OpenAICompatibleJudge` (any ``/chat/completions``
  endpoint; base URL and key from the environment, the key never logged) or
  :class:`AdapterJudge` (any emorealm/lm-eval adapter through ``generate_until``).
* :func:`judge_sample` asks, parses robustly (JSON, fenced JSON, ``key: value`` or numbered lines),
  retries a bounded number of times and returns a :class:`JudgeOutcome` that says what failed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from emorealm.doc import media_dict
from emorealm.errors import ConfigError, ModelError
from emorealm.http import InvalidResponse, JSONClient, RetryPolicy, ServerError

# --------------------------------------------------------------------------------------------
# rubrics
# --------------------------------------------------------------------------------------------

# The released AVERE rubric (ihp-lab/AVERE, evaluate/gpt_evaluation.py, get_evaluation_prompt,
# commit 78b8b555), kept word for word so scores compare with the paper's GPT-4o numbers.
_AVERE_TEMPLATE = """
You will be provided with the ground truth description of a video capturing the emotional quotient of the video.
Your task is to evaluate a given model prediction based by comparing it to the ground truth description.

You need to rate the model prediction on a scale of 1 to 10 on the following criteria:
1. Audio-Visual Cue Overlap: Rate how well the mention of audio-visual events in the prediction aligns with those in the ground truth. A higher score indicates a better match.
2. Emotion-label Consistency: Rate how accurately the predicted emotion from the model aligns with the emotion described in the ground truth. A higher score indicates better consistency.
3. Emotion-cue Association: Only focus on the model response and rate how well the audio-visual cues are associated with the predicted emotion. Rate poorly if an emotion- irrelevant cue is mentioned in the response. A higher score indicates a better association of audio-visual cues with emotion.
4. Hallucinated Cues: Rate the extent to which the model prediction contains hallucinated or fabricated audio-visual cues that are not present in the ground truth. A higher score indicates fewer hallucinations and a lower score indicates more hallucinations.

Return your response in the following json format:
{"cue_overlap": int, "cue_overlap_reason": str, "emotion_consistency": int, "emotion_consistency_reason": str, "emotion_cue_association": int, "emotion_cue_association_reason": str, "hallucinated_cues": int, "hallucinated_cues_reason": str}

Ground Truth Description:{reference}
Model Prediction:{prediction}"""

# Emotion-LLaMA reports "clue overlap" and "label overlap" (0-10) from a ChatGPT judge; its exact
# prompt was not available to us, so this is emorealm's wording of that rubric (documented in
# docs/tasks.md). Numbers compare with that line of work in kind, not to the decimal.
_EMOLLAMA_TEMPLATE = """You are evaluating an explanation of the emotion of a person in a video against a reference explanation written by annotators.

Score two aspects on a scale of 0 to 10:
1. clue_overlap: how much the emotion-related clues in the prediction (facial expressions, gestures, tone of voice, speech content, context) overlap with the clues in the reference. 10 = all reference clues present and no contradicting clue; 0 = no overlap.
2. label_overlap: how much the emotion labels expressed or implied by the prediction overlap with those of the reference. 10 = same emotions; 0 = no overlap or contradicting emotions.

Answer with JSON only: {"clue_overlap": <0-10>, "label_overlap": <0-10>}

Reference: {reference}
Prediction: {prediction}"""


@dataclass(frozen=True)
class Rubric:
    """One judge prompt: its score keys, their range and the template."""

    name: str
    version: str
    keys: tuple[str, ...]
    low: int
    high: int
    template: str
    max_tokens: int = 400

    def prompt(self, reference: str, prediction: str) -> str:
        # plain replace: the template holds JSON braces that str.format would trip on
        return self.template.replace("{reference}", reference).replace("{prediction}", prediction)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.template.encode("utf-8")).hexdigest()


RUBRICS: dict[str, Rubric] = {
    "avere": Rubric(
        "avere", "avere-v1",
        ("cue_overlap", "emotion_consistency", "emotion_cue_association", "hallucinated_cues"),
        1, 10, _AVERE_TEMPLATE,
    ),
    "emotion_llama": Rubric(
        "emotion_llama", "emorealm-emollama-v1", ("clue_overlap", "label_overlap"), 0, 10, _EMOLLAMA_TEMPLATE,
    ),
}


def rubric_manifest(names: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Version, hash, keys, range and text of each rubric, for the results file."""
    out = {}
    for name in names or list(RUBRICS):
        r = RUBRICS[name]
        out[name] = {"version": r.version, "sha256": r.sha256, "keys": list(r.keys),
                     "range": [r.low, r.high], "template": r.template}
    return out


# --------------------------------------------------------------------------------------------
# reply parsing
# --------------------------------------------------------------------------------------------


class JudgeParseError(ModelError):
    """A judge reply held no usable scores."""


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S | re.I)
_NUM = r"(-?\d+(?:\.\d+)?)"


def _json_objects(text: str) -> list[str]:
    """Balanced ``{...}`` substrings of ``text`` (outermost first)."""
    out, depth, start, in_str, esc = [], 0, -1, False, False
    for i, ch in enumerate(text):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"' and depth:
            in_str = True
        elif ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                out.append(text[start:i + 1])
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        m = re.match(r"\s*" + _NUM + r"\s*(?:/\s*\d+)?\s*$", value)
        return float(m.group(1)) if m else None
    return None


def _from_json(text: str, keys: tuple[str, ...]) -> dict[str, float] | None:
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for cand in candidates:
        for obj in _json_objects(cand):
            try:
                data = json.loads(obj)
            except json.JSONDecodeError:
                try:  # single-quoted pseudo-JSON is common from small judges
                    data = json.loads(re.sub(r"'", '"', obj))
                except json.JSONDecodeError:
                    continue
            if isinstance(data, dict):
                got = {k: _number(data.get(k)) for k in keys}
                if all(v is not None for v in got.values()):
                    return got  # type: ignore[return-value]
    return None


def _label_pattern(key: str) -> str:
    words = key.split("_")
    return r"[\s_\-]*".join(re.escape(w) for w in words)


def _from_lines(text: str, keys: tuple[str, ...]) -> dict[str, float] | None:
    got: dict[str, float] = {}
    for key in keys:  # "cue_overlap: 7", "Cue overlap - 7/10", "**cue overlap**: 7"
        m = re.search(_label_pattern(key) + r"[\*\"'\s]*[:=\-]\s*\**\s*" + _NUM, text, re.I)
        if m:
            got[key] = float(m.group(1))
    if len(got) == len(keys):
        return got
    # numbered lines in rubric order: "1. ... : 7" / "1) 7"
    numbered: dict[int, float] = {}
    for line in text.splitlines():
        m = re.match(r"\s*\**\s*(\d+)\s*[\.\)]\s*(.*)$", line)
        if not m:
            continue
        nums = re.findall(_NUM + r"(?:\s*/\s*10)?", m.group(2))
        if nums:
            numbered.setdefault(int(m.group(1)), float(nums[-1]))
    if all(i + 1 in numbered for i in range(len(keys))):
        return {k: numbered[i + 1] for i, k in enumerate(keys)}
    return None


def parse_scores(reply: str, rubric: Rubric) -> dict[str, float]:
    """Scores of ``rubric`` in a judge reply; raises :class:`JudgeParseError` when absent or out of range."""
    if not isinstance(reply, str) or not reply.strip():
        raise JudgeParseError("empty judge reply")
    got = _from_json(reply, rubric.keys) or _from_lines(reply, rubric.keys)
    if got is None:
        raise JudgeParseError(f"no {'/'.join(rubric.keys)} scores in reply: {reply[:120]!r}")
    for k, v in got.items():
        if not rubric.low <= v <= rubric.high:
            raise JudgeParseError(f"{k}={v:g} is outside {rubric.low}-{rubric.high}")
    return got


# --------------------------------------------------------------------------------------------
# backends
# --------------------------------------------------------------------------------------------


class JudgeUnavailable(ServerError):
    """The judge could not be asked (timeout, connection refused, HTTP error, no reply)."""


class JudgeBackend(Protocol):
    name: str

    def complete(self, prompt: str, max_tokens: int) -> str: ...


@dataclass
class OpenAICompatibleJudge:
    """A ``POST {base_url}/chat/completions`` judge (OpenAI, vLLM, llama.cpp, ...).

    The API key is read from the environment variable ``api_key_env`` at each call and is never
    stored in results, logs or ``repr``.
    """

    model: str
    base_url: str
    api_key_env: str = "EMOREALM_JUDGE_API_KEY"
    timeout: float = 60.0
    temperature: float = 0.0
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.name = f"openai:{self.model}"
        # no retries inside the client: judge_sample's attempts (judge_retries) retry every failure
        self._client = JSONClient(self.base_url, self._api_key, RetryPolicy(max_retries=0, timeout=self.timeout))

    def _api_key(self) -> str | None:
        if self.api_key_env != "OPENAI_API_KEY":
            return os.environ.get(self.api_key_env) or os.environ.get("OPENAI_API_KEY")
        return os.environ.get(self.api_key_env)

    def describe(self) -> dict[str, Any]:
        return {"backend": "openai-compatible", "model": self.model, "base_url": self.base_url,
                "api_key_env": self.api_key_env, "temperature": self.temperature}

    def complete(self, prompt: str, max_tokens: int) -> str:
        body = {"model": self.model, "messages": [{"role": "user", "content": prompt}],
                "max_tokens": max_tokens, "temperature": self.temperature}
        try:
            payload = self._client.post("chat/completions", body)
        except InvalidResponse as exc:  # an answer, just not a usable one: retried as unparseable
            raise JudgeParseError(f"judge endpoint returned non-JSON: {exc}") from exc
        try:
            return payload["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as exc:
            raise JudgeParseError("judge endpoint reply has no choices[0].message.content") from exc


@dataclass
class AdapterJudge:
    """Any lm-eval ``LM`` (e.g. an emorealm adapter) as a text-only judge via ``generate_until``."""

    lm: Any
    name: str = "adapter"

    def describe(self) -> dict[str, Any]:
        meta = getattr(self.lm, "emorealm_metadata", None)
        return {"backend": "adapter", "name": self.name, **(meta() if callable(meta) else {})}

    def complete(self, prompt: str, max_tokens: int) -> str:
        from lm_eval.api.instance import Instance

        doc = {"id": "judge", "_task": "judge", "media": media_dict(None)}
        inst = Instance(request_type="generate_until", doc=doc,
                        arguments=(prompt, {"until": [], "max_gen_toks": max_tokens, "do_sample": False}), idx=0)
        out = self.lm.generate_until([inst])
        if not out:
            raise JudgeUnavailable("adapter returned no reply")
        return out[0]


def judge_from_spec(spec: str | None, timeout: float = 60.0) -> JudgeBackend | None:
    """Build a judge from a task option: ``none``/empty → ``None``; ``openai:<model>`` → HTTP judge.

    The base URL comes from ``$EMOREALM_JUDGE_BASE_URL`` (else ``$OPENAI_BASE_URL``, else
    ``https://api.openai.com/v1``), the key from ``$EMOREALM_JUDGE_API_KEY`` (else
    ``$OPENAI_API_KEY``). ``adapter:<lm-eval model name>[:<model_args>]`` loads that adapter through
    lm-eval's registry.
    """
    if not spec or spec.lower() in {"none", "off", "false", "0"}:
        return None
    kind, _, rest = spec.partition(":")
    if kind == "openai" and rest:
        base = os.environ.get("EMOREALM_JUDGE_BASE_URL") or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        return OpenAICompatibleJudge(model=rest, base_url=base, timeout=timeout)
    if kind == "adapter" and rest:
        from lm_eval.api.registry import get_model

        name, _, args = rest.partition(":")
        lm = get_model(name).create_from_arg_string(args, {})
        return AdapterJudge(lm, name=f"adapter:{name}")
    raise ConfigError(f"unknown judge {spec!r}: use judge=openai:<model> or judge=adapter:<model>[:<args>] (or none)")


# --------------------------------------------------------------------------------------------
# one sample
# --------------------------------------------------------------------------------------------


@dataclass
class JudgeOutcome:
    """Scores of one sample under one rubric, or why there are none."""

    rubric: str
    version: str
    scores: dict[str, float] | None
    attempts: int
    failure: str | None = None  # "unavailable" | "unparseable"
    message: str = ""
    replies: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"rubric": self.rubric, "version": self.version, "scores": self.scores, "attempts": self.attempts,
                "failure": self.failure, "message": self.message, "replies": [r[:2000] for r in self.replies]}


def judge_sample(
    backend: JudgeBackend, rubric: Rubric, reference: str, prediction: str,
    max_attempts: int = 3, backoff_s: float = 0.5,
) -> JudgeOutcome:
    """Ask ``backend`` to score ``prediction`` against ``reference``; retry up to ``max_attempts``.

    Both an unreachable judge and an unparseable reply are retried; the outcome records the last
    failure, and every reply received (truncated) for the samples log.
    """
    prompt = rubric.prompt(reference, prediction)
    replies: list[str] = []
    failure, message = None, ""
    for attempt in range(1, max(1, max_attempts) + 1):
        try:
            reply = backend.complete(prompt, rubric.max_tokens)
            replies.append(reply)
            return JudgeOutcome(rubric.name, rubric.version, parse_scores(reply, rubric), attempt, replies=replies)
        except ServerError as exc:  # JudgeUnavailable included
            failure, message = "unavailable", str(exc)
        except JudgeParseError as exc:
            failure, message = "unparseable", str(exc)
        if attempt < max_attempts and backoff_s > 0:
            time.sleep(backoff_s * attempt)
    return JudgeOutcome(rubric.name, rubric.version, None, max(1, max_attempts), failure, message, replies)
