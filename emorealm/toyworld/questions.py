"""Rows built from toy clips: toy EmoReAlM questions (the five released task keys), SFT rows with a
text shortcut, and preference rows in the released format (docs/toy-world.md)."""

from __future__ import annotations

from typing import Any

import numpy as np

from emorealm.errors import DataError
from emorealm.toyworld.spec import CUES, EMOTIONS, ToyClip

LETTERS = "ABCD"
YES_NO = ["(A) Yes", "(B) No"]
_WHERE = {"audio": "in the audio", "video": "in the video"}
BASIC_Q = {"audio": "Based on the speaker's voice, which emotion is the person most likely feeling, and why?",
           "video": "Based on the visual cues, which emotion is the person most likely feeling, and why?"}
AGREE_Q = "Do the audio and the video of this clip convey the same emotion?"
PREF_Q = {"audio": "What emotion does the speaker's voice convey, and which cue shows it?",
          "video": "What emotion does the person's appearance in the video convey, and which cue shows it?"}
TASK_OF = {("basic", "audio"): "reasoning_basic_audio", ("basic", "video"): "reasoning_basic_video",
           ("stress", "audio"): "reasoning_stress_audio", ("stress", "video"): "reasoning_stress_video"}
STRESS_KINDS = ("supporting", "supporting", "hallucinated", "irrelevant")  # half Yes, half No


def _bare(cue: str) -> str:
    return cue[2:] if cue.startswith("a ") else cue


def explanation(emotion: str, cue: str) -> str:
    return f"The person feels {emotion}, as shown by {cue}."


def basic_question(clip: ToyClip, modality: str, rng: np.random.Generator) -> dict[str, Any]:
    """Four options pairing each emotion with its own cue, always in the order of ``EMOTIONS``
    (a few-million-parameter model learns media -> letter; reading a shuffled option list is a
    skill the toy world does not test, docs/toy-world.md); the answer is the clip's emotion in ``modality``."""
    order = list(EMOTIONS)
    choices = [f"({LETTERS[k]}) {explanation(e, CUES[modality][e])}" for k, e in enumerate(order)]
    return {"task": TASK_OF["basic", modality], "question": BASIC_Q[modality], "choices": choices,
            "answer": LETTERS[order.index(clip.emotion(modality))],
            "toy": {"modality": modality, "kind": "basic", "emotion": clip.emotion(modality)}}


def stress_question(clip: ToyClip, modality: str, kind: str, rng: np.random.Generator) -> dict[str, Any]:
    """Yes/No: does a cue contribute to the clip's emotion? ``supporting`` = the true cue (Yes);
    ``hallucinated`` = a cue absent from the clip (No); ``irrelevant`` = a present irrelevant cue (No)."""
    if kind == "supporting":
        cue = clip.true_cue(modality)
    elif kind == "hallucinated":
        cue = str(rng.choice(clip.absent_cues(modality)))
    else:
        cue = clip.irrelevant_cue(modality)
    emo = clip.emotion(modality)
    return {"task": TASK_OF["stress", modality], "choices": list(YES_NO), "answer": "A" if kind == "supporting" else "B",
            "question": f"Does the {_bare(cue)} {_WHERE[modality]} contribute to the {emo} of the person?",
            "toy": {"modality": modality, "kind": kind, "cue": cue, "emotion": emo}}


def agreement_question(clip: ToyClip) -> dict[str, Any]:
    return {"task": "modality_agreement", "question": AGREE_Q, "choices": list(YES_NO),
            "answer": "A" if clip.agree else "B", "toy": {"modality": "both", "kind": "agreement"}}


def clip_questions(clip: ToyClip, clip_rel: str, rng: np.random.Generator) -> list[dict[str, Any]]:
    """One question of each of the five task keys about ``clip`` (ids ``<clip id>_<task>``)."""
    qs = [basic_question(clip, "audio", rng), basic_question(clip, "video", rng), agreement_question(clip),
          stress_question(clip, "audio", str(rng.choice(STRESS_KINDS)), rng),
          stress_question(clip, "video", str(rng.choice(STRESS_KINDS)), rng)]
    return [{"id": f"{clip.id}_{q['task']}", "video": clip_rel, **q} for q in qs]


def shortcut_statement(clip: ToyClip, q: dict[str, Any], agree: bool, rng: np.random.Generator) -> str:
    """A cue statement naming the cue of the answer's emotion (``agree``) or of another emotion."""
    modality = q["toy"]["modality"]
    if modality == "both":
        modality = str(rng.choice(["audio", "video"]))
    emo = clip.emotion(modality)
    if not agree:
        emo = str(rng.choice([e for e in EMOTIONS if e != emo]))
    return f"Note: the clip shows {CUES[modality][emo]}."


def sft_row(clip: ToyClip, q: dict[str, Any], video: str, audio: str, statement: str | None) -> dict[str, Any]:
    """An SFT row answering ``q`` with its letter (the benchmark's answer format)."""
    text = q["question"] + " " + " ".join(q["choices"])
    if statement:
        text = statement + " " + text
    return {"id": f"sft_{q['id']}", "prompt": "<video>\n<audio>\n" + text, "response": q["answer"],
            "video": video, "audio": audio, "shortcut": statement is not None,
            "modality": q["toy"]["modality"]}


def preference_row(clip: ToyClip, modality: str, video: str, audio: str, other_video: str, other_audio: str,
                   rng: np.random.Generator) -> dict[str, Any]:
    """Released-format row about ``modality``: y_w names the true cue and emotion, y_l^vr ties the
    present irrelevant cue to the emotion, y_l^er explains it by an absent cue; the rejected input
    of the prompt's modality is another clip's (of a different emotion in that modality)."""
    emo = clip.emotion(modality)
    row = {"id": f"pref_{clip.id}_{modality}", "prompt": "<video>\n<audio>\n" + PREF_Q[modality],
           "chosen": explanation(emo, clip.true_cue(modality)),
           "rejected": explanation(emo, clip.irrelevant_cue(modality)),
           "rejected_2": explanation(emo, str(rng.choice(clip.absent_cues(modality)))),
           "video": video, "audio": audio, "modality": modality}
    row["video_l" if modality == "video" else "audio_l"] = other_video if modality == "video" else other_audio
    return row


def check_preference_row(row: dict[str, Any], caption: dict[str, Any]) -> None:
    """Refuse a row whose y_l^er (``rejected_2``) names a cue present in the clip's captions: that
    is not a hallucination. Raises :class:`DataError`."""
    text = (row.get("rejected_2") or "").lower()
    present = [c for c in caption.get("audio_cues", []) + caption.get("video_cues", []) if c.lower() in text]
    if present:
        raise DataError(f"preference row {row.get('id')!r}: rejected_2 (y_l^er) names {present[0]!r}, which is "
                        f"present in clip {caption.get('id')!r}'s captions; y_l^er must name an absent cue")
