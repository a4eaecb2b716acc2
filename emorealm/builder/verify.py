"""Stage ``verification``: each cue's emotion predicted from its text alone (no media, no other cue).

A cue is *relevant* when at least ``k`` of its ``n`` predictions name the clip's label, else
*irrelevant*. *Absent* cues (for the stress test and distractors) are other clips' relevant cues of
the same modality that appear nowhere in this clip's captions or cues.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from rich.progress import track

from emorealm.builder.common import Clip, StageReport, norm, seeded
from emorealm.errors import ConfigError, MediaError

BASE_LABELS = ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")


@dataclass(frozen=True)
class AgreementRule:
    """``k`` of ``n`` text-only predictions must name the clip's label for a cue to be relevant."""

    k: int = 1
    n: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.k <= self.n:
            raise ConfigError(f"agreement rule needs 1 <= k <= n (got k={self.k}, n={self.n})")


def run_verification(clips: list[Clip], cue_rows: list[dict], generator, report: StageReport, *,
                     rule: AgreementRule, seed: int, n_absent: int = 3) -> list[dict]:
    """Rows ``{clip, modality, emotion, caption, cues: [{cue, votes, relevant}], modality_emotion, absent}``."""
    by_id = {c.id: c for c in clips}
    labels = sorted(set(BASE_LABELS) | {c.emotion for c in clips})
    rows = []
    for r in track(cue_rows, description="verification", transient=True):
        clip = by_id[r["clip"]]
        cues = []
        for cue in r["cues"]:
            try:
                votes = [generator.predict_emotion(r["modality"], cue, labels, s) for s in range(rule.n)]
            except MediaError as exc:
                report.drop(f"verification failed: {str(exc)[:80]}")
                continue
            relevant = sum(v == clip.emotion for v in votes) >= rule.k
            report.counts["relevant" if relevant else "irrelevant"] += 1
            cues.append({"cue": cue, "votes": votes, "relevant": relevant})
        tally = Counter(v for c in cues for v in c["votes"] if v)
        # the modality's emotion: its most voted label (ties: the clip's label, then alphabetical)
        mod_emotion = min(tally, key=lambda e: (-tally[e], e != clip.emotion, e)) if tally else ""
        mod_emotion = str(clip.extra.get(f"{r['modality']}_emotion") or mod_emotion)
        rows.append({"clip": clip.id, "modality": r["modality"], "emotion": clip.emotion, "caption": r["caption"],
                     "cues": cues, "modality_emotion": mod_emotion})
    _draw_absent(rows, seed, n_absent, report)
    return rows


def _draw_absent(rows: list[dict], seed: int, n_absent: int, report: StageReport) -> None:
    text_of: dict[str, str] = {}
    for r in rows:
        text_of[r["clip"]] = text_of.get(r["clip"], "") + " | " + norm(r["caption"]) + " | " + " | ".join(
            norm(c["cue"]) for c in r["cues"])
    for r in rows:
        seen, pool = set(), []
        for o in rows:
            if o["modality"] != r["modality"] or o["clip"] == r["clip"]:
                continue
            for c in o["cues"]:
                key = norm(c["cue"])
                if c["relevant"] and key not in seen and key not in text_of[r["clip"]]:
                    seen.add(key)
                    pool.append({"cue": c["cue"], "from": o["clip"], "emotion": o["emotion"]})
        pool.sort(key=lambda a: (norm(a["cue"]), a["from"]))
        r["absent"] = seeded(seed, "absent", r["clip"], r["modality"]).sample(pool, min(n_absent, len(pool)))
        report.counts["absent"] += len(r["absent"])
