"""Who answers the builder's prompts: the offline ``template`` backend or an emorealm adapter.

Roles: the *captioner* describes one modality of a clip (given only that modality's media); the
*generator* extracts cues from a caption, predicts an emotion from one cue's text (no media), and
writes questions. Prompts are versioned by their hash (``PROMPTS_VERSION``), kept in the provenance.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from emorealm.builder.common import Clip, norm, seeded
from emorealm.errors import DataError, MediaError

PROMPTS = {
    "caption_audio": ("Listen to the audio. Describe only what you hear from the speaker: tone, pitch, loudness, "
                      "pace, voice quality and non-speech sounds. Answer with short cue phrases separated by "
                      "semicolons."),
    "caption_video": ("Watch the video. Describe only what you see of the person: facial expression, eyes, mouth, "
                      "head and body movements. Answer with short cue phrases separated by semicolons."),
    "cues": ("Extract the distinct {modality} cues from this description as short phrases, one per line, "
             "nothing else.\nDescription: {caption}"),
    "verify": ("A person shows this {modality} cue: \"{cue}\". Which emotion does this cue alone indicate? "
               "Answer with one word from: {labels}."),
    "question": ("Write one multiple-choice question for the task '{task}' about a video clip. Use exactly these "
                 "options, in any order, each starting with its letter in brackets: {options}. The correct option "
                 "is: {correct}. Return only JSON: {{\"question\": ..., \"choices\": [...], \"answer\": letter}}."),
}
PROMPTS_VERSION = "sha256:" + hashlib.sha256(json.dumps(PROMPTS, sort_keys=True).encode()).hexdigest()[:16]

# the template backend's lexicon: cue phrases that indicate an emotion, per modality
LEXICON: dict[str, dict[str, list[str]]] = {
    "audio": {
        "happiness": ["bright laughter", "a lively rising pitch", "a cheerful tone"],
        "sadness": ["a low trembling voice", "slow quiet speech", "soft sobbing"],
        "anger": ["loud shouting", "a harsh clipped tone", "fast forceful speech"],
        "surprise": ["a sudden gasp", "a sharp high exclamation", "an abrupt pitch jump"],
        "fear": ["a shaky breathless voice", "rapid panicked speech", "a stifled cry"],
        "disgust": ["a drawn-out groan", "a scoffing sound", "a nasal sneering tone"],
        "neutral": ["an even monotone", "steady moderate pace", "a flat calm voice"],
    },
    "video": {
        "happiness": ["a wide smile", "crinkled eyes", "raised cheeks"],
        "sadness": ["tears on the cheeks", "downturned lips", "drooping eyelids"],
        "anger": ["a furrowed brow", "clenched jaw", "glaring eyes"],
        "surprise": ["raised eyebrows", "a dropped jaw", "wide open eyes"],
        "fear": ["a pulled-back mouth", "darting eyes", "hands raised defensively"],
        "disgust": ["a wrinkled nose", "a raised upper lip", "head turned away"],
        "neutral": ["a relaxed face", "a steady gaze", "still posture"],
    },
}
# cues that say nothing about the emotion (the template captioner mixes them in)
IRRELEVANT = {"audio": ["background traffic noise", "a faint echo", "a male voice", "speech in a quiet room"],
              "video": ["a dark jacket", "an indoor background", "short hair", "dim lighting"]}


class TemplateBackend:
    """Deterministic offline backend: lexicon captions, rule cue extraction, lexicon verification,
    templated questions. Meant for tests and dry runs; its captions come from the label, not the media."""

    name = "template"
    args: dict[str, Any] = {}

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def caption(self, clip: Clip, modality: str) -> str:
        rng = seeded(self.seed, "caption", clip.id, modality)
        rel = LEXICON[modality].get(clip.emotion) or []
        pick = seeded(self.seed, "conflict", clip.id)
        if pick.random() < 1 / 3 and pick.choice(sorted(LEXICON)) == modality:
            # about one clip in six: this modality shows another emotion (modality disagreement)
            rel = LEXICON[modality][pick.choice(sorted(e for e in LEXICON[modality] if e != clip.emotion))]
        cues = rng.sample(rel, min(2, len(rel))) + [rng.choice(IRRELEVANT[modality])]
        rng.shuffle(cues)
        return "; ".join(cues)

    def extract_cues(self, clip: Clip, modality: str, caption: str) -> list[str]:
        return split_cues(caption)

    def predict_emotion(self, modality: str, cue: str, labels: list[str], sample: int) -> str:
        for emotion, phrases in LEXICON[modality].items():
            if norm(cue) in map(norm, phrases):
                return emotion
        return ""

    def write_question(self, task: str, options: list[str], correct: int, key: str) -> dict[str, Any]:
        return {"choices": [f"({'ABCD'[i]}) {o}" for i, o in enumerate(options)], "answer": "ABCD"[correct]}


def split_cues(text: str) -> list[str]:
    """Cue phrases of a caption or a cue-list answer: split on semicolons, newlines and sentence ends."""
    parts = re.split(r"[;\n]|(?<=[a-z])\.\s", text)
    out = []
    for p in parts:
        p = re.sub(r"^[\s\-\*\d\.\)]+", "", p).strip(" .,\t")
        if p and norm(p) not in map(norm, out):
            out.append(p)
    return out


def parse_emotion(text: str, labels: list[str]) -> str:
    """The first label named in a free-text answer ('' when none)."""
    low = text.lower()
    hits = [(m.start(), lab) for lab in labels if (m := re.search(rf"\b{re.escape(lab)}\b", low))]
    return min(hits)[1] if hits else ""


def redact(args: dict[str, Any]) -> dict[str, Any]:
    """Model args for the provenance, with secrets left out."""
    return {k: ("<redacted>" if re.search(r"key|token|secret|password", k, re.I) else v) for k, v in args.items()}


class AdapterBackend:
    """An emorealm adapter (``hf``, ``vllm``, ``openai``) answering the builder's prompts through its
    ``generate_until`` path, i.e. the harness's one inputs function with the doc's declared media."""

    def __init__(self, name: str, model_args: dict[str, Any], *, seed: int = 0, max_gen_toks: int = 64,
                 temperature: float = 0.0, lm=None) -> None:
        from emorealm.model_adapters.registry import get_adapter_class

        self.name, self.args, self.seed = name, dict(model_args), seed
        self.max_gen_toks, self.temperature = max_gen_toks, temperature
        self.lm = lm if lm is not None else get_adapter_class(name)(**model_args)

    def _ask(self, key: str, prompt: str, media: dict[str, Any] | None, temperature: float | None = None) -> str:
        t = self.temperature if temperature is None else temperature
        return adapter_generate(self.lm, key, prompt, media, max_gen_toks=self.max_gen_toks, temperature=t,
                                seed=self.seed)

    def caption(self, clip: Clip, modality: str) -> str:
        return self._ask(f"{clip.id}:caption:{modality}", PROMPTS[f"caption_{modality}"], clip.media(modality))

    def extract_cues(self, clip: Clip, modality: str, caption: str) -> list[str]:
        out = self._ask(f"{clip.id}:cues:{modality}", PROMPTS["cues"].format(modality=modality, caption=caption),
                        None)
        return split_cues(out)

    def predict_emotion(self, modality: str, cue: str, labels: list[str], sample: int) -> str:
        prompt = PROMPTS["verify"].format(modality=modality, cue=cue, labels=", ".join(labels))
        # vote 0 greedy, the others sampled (seeded per cue and vote) unless sampling is configured
        t = self.temperature or (0.0 if sample == 0 else 0.7)
        return parse_emotion(self._ask(f"verify:{modality}:{cue}:{sample}", prompt, None, t), labels)

    def write_question(self, task: str, options: list[str], correct: int, key: str) -> dict[str, Any]:
        prompt = PROMPTS["question"].format(task=task, options=" | ".join(options), correct=options[correct])
        out = self._ask(f"{key}:question", prompt, None)
        m = re.search(r"\{.*\}", out, re.S)
        try:
            got = json.loads(m.group(0)) if m else None
        except json.JSONDecodeError:
            got = None
        if not isinstance(got, dict):
            raise DataError("generator answer is not a JSON question")
        return got


def adapter_generate(lm, key: str, prompt: str, media: dict[str, Any] | None, *, max_gen_toks: int,
                     temperature: float, seed: int) -> str:
    """One ``generate_until`` call of an emorealm adapter for a doc holding ``media`` (None: text only).

    Sampling is seeded from ``seed`` and ``key`` so builds repeat; adapter errors raise ``MediaError``."""
    from lm_eval.api.instance import Instance

    from emorealm.errors import parse_error_response

    doc: dict[str, Any] = {"id": key, "_task": "build-benchmark"}
    if media:
        doc["media"] = media
    gen_kwargs: dict[str, Any] = {"until": ["\n\n"], "max_gen_toks": max_gen_toks}
    if temperature > 0:
        import torch

        torch.manual_seed(seeded(seed, key).getrandbits(63))
        gen_kwargs.update(temperature=temperature, do_sample=True)
    out = lm.generate_until([Instance("generate_until", doc, (prompt, gen_kwargs), 0)])[0]
    err = parse_error_response(out)
    if err is not None:
        raise MediaError(f"model call failed: {err.kind}: {err.message}")
    return str(out).strip()
