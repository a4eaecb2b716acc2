"""Stage ``questions``: MCQA rows of the five EmoReAlM task keys from the verified cues.

* ``reasoning_basic_<m>`` (A–D): correct = a relevant cue of modality ``m`` tied to the clip's emotion;
  distractors = irrelevant or absent cues (tied to the emotion they indicate, or to the clip's).
* ``modality_agreement`` (Yes/No): do the audio's and the video's verified emotions agree.
* ``reasoning_stress_<m>`` (Yes/No): absent cue → No, present irrelevant cue → No, relevant cue → Yes.

Generated rows are validated (options named, none repeated, answer letter among the choices and on
the correct option), duplicates removed, MCQA answer letters balanced by a seeded assignment, and
Yes/No rates balanced by seeded down-sampling of the majority answer (both rates reported).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any

from rich.progress import track

from emorealm.builder.common import Clip, StageReport, clip_relpath, norm, seeded
from emorealm.errors import DataError, MediaError
from emorealm.scoring.choice import split_choices

STEMS = {
    "reasoning_basic_audio": "Based on the speaker's tone of voice, which emotion is the person most likely feeling, "
                             "and why?",
    "reasoning_basic_video": "Which visual cue best explains the emotion of the person in the video?",
    "modality_agreement": "Do the audio and the video of this clip convey the same emotion?",
    "reasoning_stress": "Does the {cue} in the {modality} contribute to the {emotion} of the person?",
}
YES_NO = ["Yes", "No"]


def _option_text(choice: str) -> str:
    return re.sub(r"^\s*[\(\[]?[A-Da-d][\)\]\.:]\s*", "", str(choice)).strip()


def validate_generated(got: dict[str, Any], options: list[str], correct: int) -> str | None:
    """Why a generated question is unusable (a drop reason), or None."""
    choices = got.get("choices")
    if not isinstance(choices, list) or not choices:
        return "question names no option"
    letters = [letter for letter, _ in split_choices([str(c) for c in choices])]
    if len(letters) != len(choices) or len(choices) != len(options):
        return "question names no option"
    texts = [norm(_option_text(c)) for c in choices]
    if len(set(texts)) < len(texts) or len(set(letters)) < len(letters):
        return "question repeats an option"
    answer = str(got.get("answer", "")).strip().strip("()").upper()
    if answer not in letters:
        return "answer letter outside the choices"
    if texts[letters.index(answer)] != norm(options[correct]):
        return "answer letter not on the correct option"
    if sorted(texts) != sorted(map(norm, options)):
        return "options differ from the verified cues"
    return None


def _irrelevant_emotion(cue: dict[str, Any], label: str) -> str:
    votes = Counter(v for v in cue["votes"] if v and v != label)
    return min(votes, key=lambda e: (-votes[e], e)) if votes else label


def _candidates(clip: Clip, ver: dict[str, dict], seed: int) -> list[dict[str, Any]]:
    out = []
    for m, r in sorted(ver.items()):
        rng = seeded(seed, "questions", clip.id, m)
        rel = [c for c in r["cues"] if c["relevant"]]
        irr = [c for c in r["cues"] if not c["relevant"]]
        evidence = {"caption": r["caption"], "cues": r["cues"], "absent": r["absent"]}
        if rel:
            good = rng.choice(rel)
            pool = [(c["cue"], _irrelevant_emotion(c, clip.emotion)) for c in irr]
            pool += [(a["cue"], clip.emotion) for a in r["absent"]]
            opts = [f"The person feels {clip.emotion}, as shown by {good['cue']}."]
            opts += [f"The person feels {e}, as shown by {c}." for c, e in rng.sample(pool, min(3, len(pool)))]
            out.append({"task": f"reasoning_basic_{m}", "kind": "basic", "options": opts, "correct": 0,
                        "question": STEMS[f"reasoning_basic_{m}"], "evidence": evidence, "modality": m})
        kinds = [("relevant", rel, "Yes"), ("irrelevant", irr, "No"), ("absent", r["absent"], "No")]
        for kind, cues, ans in kinds:
            if cues:
                cue = rng.choice(cues)["cue"]
                q = STEMS["reasoning_stress"].format(cue=cue, modality=m, emotion=clip.emotion)
                out.append({"task": f"reasoning_stress_{m}", "kind": kind, "options": YES_NO,
                            "correct": YES_NO.index(ans), "question": q, "evidence": evidence, "modality": m})
    if {"audio", "video"} <= set(ver) and ver["audio"]["modality_emotion"] and ver["video"]["modality_emotion"]:
        same = ver["audio"]["modality_emotion"] == ver["video"]["modality_emotion"]
        out.append({"task": "modality_agreement", "kind": "agree" if same else "disagree", "options": YES_NO,
                    "correct": 0 if same else 1, "question": STEMS["modality_agreement"], "modality": "both",
                    "evidence": {m: {"caption": ver[m]["caption"], "emotion": ver[m]["modality_emotion"]}
                                 for m in ("audio", "video")}})
    return out


def run_questions(clips: list[Clip], verified: list[dict], generator, report: StageReport, *,
                  seed: int) -> list[dict]:
    """Validated, de-duplicated, balanced question rows (released schema + ``evidence``, ``kind``)."""
    ver: dict[str, dict[str, dict]] = defaultdict(dict)
    for r in verified:
        ver[r["clip"]][r["modality"]] = r
    rows, seen = [], set()
    for clip in track(clips, description="questions", transient=True):
        if clip.id not in ver:
            report.drop("clip without verified cues")
            continue
        for m in ("audio", "video"):
            if m in ver[clip.id] and not any(c["relevant"] for c in ver[clip.id][m]["cues"]):
                report.drop(f"no relevant {m} cue (no basic question)")
        for cand in _candidates(clip, ver[clip.id], seed):
            task, opts = cand["task"], cand["options"]
            if cand["kind"] == "basic" and len(opts) < 4:
                report.drop(f"not enough distractors ({task})")
                continue
            qid = f"{task}:{clip.id}:{cand['kind']}"
            try:
                got = generator.write_question(task, opts, cand["correct"], qid)
            except (DataError, MediaError) as exc:
                report.drop(f"generator failed: {str(exc)[:80]}")
                continue
            why = validate_generated(got, opts, cand["correct"])
            if why:
                report.drop(why)
                continue
            question = str(got.get("question") or cand["question"]).strip()
            texts = [_option_text(c) for c in got["choices"]]
            key = (task, clip.id, norm(question), tuple(sorted(map(norm, texts))))
            if key in seen:
                report.drop("duplicate question")
                continue
            seen.add(key)
            answer_text = texts["ABCD".index(str(got["answer"]).strip().strip("()").upper())]
            rows.append({"id": qid, "video": clip_relpath(clip), "clip": clip.id, "task": task, "question": question,
                         "texts": texts, "answer_text": answer_text, "kind": cand["kind"],
                         "evidence": cand["evidence"]})
    rows = _balance(rows, seed, report)
    report.counts.update(Counter(r["task"] for r in rows))
    return rows


def _balance(rows: list[dict], seed: int, report: StageReport) -> list[dict]:
    out = []
    for task in sorted({r["task"] for r in rows}):
        group = sorted((r for r in rows if r["task"] == task), key=lambda r: r["id"])
        if task.startswith("reasoning_basic"):
            # each letter correct equally often (±1): a seeded permutation of a cyclic letter list
            targets = [i % 4 for i in range(len(group))]
            seeded(seed, "letters", task).shuffle(targets)
            for r, t in zip(group, targets, strict=True):
                others = [x for x in r["texts"] if x != r["answer_text"]]
                r["texts"] = others[:t] + [r["answer_text"]] + others[t:]
        else:
            yes = [r for r in group if r["answer_text"] == "Yes"]
            no = [r for r in group if r["answer_text"] == "No"]
            big, small = (yes, no) if len(yes) > len(no) else (no, yes)
            if small:  # equal Yes/No counts; with no minority answer at all, kept as is (rate reported)
                keep = set(id(r) for r in seeded(seed, "yes-no", task).sample(big, len(small))) | set(map(id, small))
                report.drop(f"yes/no balance ({task})", len(group) - len(keep))
                group = [r for r in group if id(r) in keep]
            report.counts[f"yes_rate:{task}"] = round(sum(r["answer_text"] == "Yes" for r in group) / len(group), 4)
        for r in group:
            r["choices"] = [f"({'ABCD'[i]}) {t}" for i, t in enumerate(r["texts"])]
            r["answer"] = "ABCD"[r["texts"].index(r["answer_text"])]
            del r["texts"], r["answer_text"]
        if task.startswith("reasoning_basic"):
            letters = Counter(r["answer"] for r in group)
            for letter in "ABCD":
                report.counts[f"letters:{task}:{letter}"] = letters[letter]
        out.extend(group)
    return out
