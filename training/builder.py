"""``build-prefs``: preference rows from labelled clips, on the benchmark builder's cue analysis.

Inputs: a clip manifest (jsonl: ``id``, ``video``, optional ``audio``, ``emotion``) and caption
files per modality (jsonl: ``id``, ``caption``), or the ``verification.jsonl`` of an
``emorealm build-benchmark`` run (``analysis``). The cue analysis is the builder's: cue phrases
per caption, each verified by a text-only emotion prediction (relevant when it names the clip's
label), absent cues drawn from other clips' relevant cues. For each clip and requested modality
the generator writes y_w (the relevant present cues with the true emotion), y_l^vr (a present but
emotion-irrelevant cue tied to the emotion: a spurious association) and y_l^er (the emotion
explained by a cue absent from the clip: a hallucination), with the versioned templates below;
rows record the cues used and their verification votes. The rejected input of that modality is a
corruption: ``swap`` (another clip's audio/video), ``noise``, ``silence`` (silence / black
frames), ``shuffle`` (temporal shuffle). Everything random is drawn from ``seed``; the same
inputs give the same rows and files.

Generators: ``template`` (built in, no model: fills the templates' reference answers; verification
by the builder's template lexicon) or any emorealm adapter (``hf``, ``vllm``, ``openai``) with its
model args, which then also verifies the cues; its answers are used as written, and failed
generations are counted and the row skipped.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emorealm.doc import media_dict
from emorealm.errors import ConfigError, DataError, MediaError
from emorealm.media.decode import MediaSpec, load_media
from emorealm.training.corrupt import CORRUPTIONS, corrupt, row_seed

TEMPLATE_VERSION = "avem-prefs-v2"
EMOTIONS = ("happiness", "sadness", "anger", "surprise", "fear", "disgust", "neutral")
QUESTIONS = {
    "audio": "<video>\n<audio>\nWhat emotion does the speaker's voice convey, and which vocal cues show it?",
    "video": "<video>\n<audio>\nWhat emotion does the person's facial expression show, and which visual cues show it?",
    "both": "<video>\n<audio>\nWhat emotion does the person express, judging from both their voice and face?",
}
# instructions given to a model generator; {fields} come from the clip's label and its verified cues
INSTRUCTIONS = {
    "chosen": ("Answer the question '{question}' in one or two sentences. The true emotion is {emotion}. "
               "Ground the answer only in these observed, emotion-relevant cues: {cues}."),
    "rejected": ("Answer the question '{question}' in one or two sentences, concluding {emotion}, and justify it "
                 "only with this observed cue, which says nothing about the emotion: {irrelevant}."),
    "rejected_2": ("Answer the question '{question}' in one or two sentences, concluding {emotion}, and justify "
                   "it only with this cue, which is NOT in the clip: {absent}."),
}
# reference answers of the template generator (deterministic)
REFERENCE = {
    "chosen": "The {subject} conveys {emotion}: {cues}.",
    "rejected": "The {subject} conveys {emotion}: {irrelevant}.",
    "rejected_2": "The {subject} conveys {emotion}: {absent}.",
}
SUBJECT = {"audio": "voice", "video": "facial expression", "both": "person"}


@dataclass
class BuildReport:
    rows: int = 0
    skipped: Counter = field(default_factory=Counter)


def _read_jsonl(path: str | Path, what: str) -> list[dict[str, Any]]:
    from emorealm.builder.common import read_jsonl

    return read_jsonl(Path(path), what)


def load_captions(path: str | Path | None) -> dict[str, str]:
    """``{id: caption}`` of a caption file (empty without one)."""
    from emorealm.builder.captions import load_caption_file

    return load_caption_file(Path(path)) if path else {}


class TemplateGenerator:
    """The built-in generator: the templates' reference answers, no model."""

    name = "template"

    def generate(self, field_name: str, fields: dict[str, str], clip: dict[str, Any]) -> str:
        return REFERENCE[field_name].format(**fields)


class AdapterGenerator:
    """Any emorealm adapter as the generator (greedy); the clip's media go with the instruction."""

    def __init__(self, name: str, model_args: dict[str, Any], max_gen_toks: int = 96, temperature: float = 0.0,
                 seed: int = 0) -> None:
        from emorealm.model_adapters.registry import get_adapter_class

        self.name = name
        self.lm = get_adapter_class(name)(**model_args)
        self.max_gen_toks = max_gen_toks
        self.temperature = temperature
        self.seed = seed

    def generate(self, field_name: str, fields: dict[str, str], clip: dict[str, Any]) -> str:
        from emorealm.builder.backends import adapter_generate

        # the builder's generation path: one generate_until call, sampling seeded per clip and field
        out = adapter_generate(self.lm, f"{clip['id']}:{field_name}", INSTRUCTIONS[field_name].format(**fields),
                               clip["media"], max_gen_toks=self.max_gen_toks, temperature=self.temperature,
                               seed=self.seed)
        if not out:
            raise DataError("generator returned an empty answer")
        return out


def _write_corrupted(kind: str, modality: str, clip: dict, other: dict | None, out_dir: Path, seed: int,
                     spec: MediaSpec) -> str:
    """Path of the rejected input for ``modality`` (a new file unless ``kind`` is swap)."""
    from emorealm.media.synth import write_av_clip, write_wav

    if kind == "swap":
        assert other is not None
        return other["video"] if modality == "video" else (other.get("audio") or other["video"])
    media = load_media(clip["media"], spec)
    if modality == "audio":
        if media.audio is None:
            raise MediaError(f"clip {clip['id']} has no audio to corrupt")
        path = out_dir / f"{clip['id']}_audio_{kind}.wav"
        write_wav(path, corrupt(kind, "audio", media.audio, seed), spec.sample_rate)
    else:
        frames = corrupt(kind, "video", media.frames, seed)
        path = out_dir / f"{clip['id']}_video_{kind}.mp4"
        fps = max(1, round(media.fps))
        h, w = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2
        write_av_clip(path, video=frames[:, :h, :w], fps=fps, with_audio=False)
    return str(path)


def cue_analysis(clips: list[dict], audio_captions: str | None, video_captions: str | None,
                 analysis: str | Path | None, generator, seed: int) -> dict[tuple[str, str], dict]:
    """Verified cues per (clip, modality): read from a builder ``verification.jsonl`` or computed by
    the builder's cue and verification stages from the caption files."""
    from emorealm.builder.backends import AdapterBackend, TemplateBackend
    from emorealm.builder.common import Clip, StageReport
    from emorealm.builder.cues import run_cues
    from emorealm.builder.verify import AgreementRule, run_verification

    if analysis:
        rows = _read_jsonl(analysis, "cue analysis (verification.jsonl)")
    else:
        bclips = [Clip(c["id"], Path(c["video"]), Path(c["audio"]) if c.get("audio") else None,
                       str(c["emotion"]).strip().lower(), {}) for c in clips]
        caps = [{"clip": cid, "modality": m, "caption": text, "source": "file"}
                for m, path in (("audio", audio_captions), ("video", video_captions))
                for cid, text in sorted(load_captions(path).items()) if text.strip()]
        lm = getattr(generator, "lm", None)
        verifier = TemplateBackend(seed) if lm is None else AdapterBackend(generator.name, {}, seed=seed,
                                                                           max_gen_toks=8, lm=lm)
        cues = run_cues(bclips, caps, TemplateBackend(seed), StageReport("cues"))
        rows = run_verification(bclips, cues, verifier, StageReport("verification"), rule=AgreementRule(),
                                seed=seed)
    return {(str(r["clip"]), r["modality"]): r for r in rows}


def build_preferences(manifest: str | Path, output: str | Path, *, audio_captions: str | None = None,
                      video_captions: str | None = None, analysis: str | Path | None = None,
                      modalities: tuple[str, ...] = ("audio", "video"),
                      corruption: str = "swap", generator=None, seed: int = 0,
                      spec: MediaSpec | None = None) -> tuple[Path, BuildReport]:
    """Write ``output/prefs.jsonl`` (+ corrupted media under ``output/rejected/``); see module doc.

    ``corruption``: one of :data:`CORRUPTIONS`, or ``mixed`` (a seeded choice per row)."""
    if corruption not in (*CORRUPTIONS, "mixed"):
        raise ConfigError(f"unknown corruption {corruption!r}; use one of {(*CORRUPTIONS, 'mixed')}")
    bad = [m for m in modalities if m not in QUESTIONS]
    if bad:
        raise ConfigError(f"unknown modality {bad}; use audio, video, both")
    spec = spec or MediaSpec(max_frames=16)
    generator = generator or TemplateGenerator()
    manifest = Path(manifest)
    base = manifest.parent
    clips = []
    for r in _read_jsonl(manifest, "clip manifest"):
        if not {"id", "video", "emotion"} <= set(r):
            raise DataError(f"{manifest}: every clip row needs 'id', 'video' and 'emotion' (got {sorted(r)})")
        video = str((base / r["video"]).resolve())
        audio = str((base / r["audio"]).resolve()) if r.get("audio") else None
        clips.append({**r, "id": str(r["id"]), "video": video, "audio": audio,
                      "media": media_dict(video, audio)})
    if len(clips) < 2 and corruption in ("swap", "mixed"):
        raise DataError("swap corruption needs at least two clips")
    ver = cue_analysis(clips, audio_captions, video_captions, analysis, generator, seed)
    out = Path(output)
    (out / "rejected").mkdir(parents=True, exist_ok=True)
    report = BuildReport()
    rows = []
    for i, clip in enumerate(clips):
        for modality in modalities:
            rng = random.Random(row_seed(seed, f"{clip['id']}:{modality}"))
            cue_mods = ("audio", "video") if modality == "both" else (modality,)
            found = [ver[(clip["id"], m)] for m in cue_mods if (clip["id"], m) in ver]
            if len(found) < len(cue_mods):
                report.skipped[f"no {modality} caption"] += 1
                continue
            relevant = [c for r in found for c in r["cues"] if c["relevant"]]
            irrelevant = [c for r in found for c in r["cues"] if not c["relevant"]]
            absent = [a for r in found for a in r["absent"]]
            missing = [k for k, v in (("relevant", relevant), ("irrelevant", irrelevant), ("absent", absent)) if not v]
            if missing:  # each response needs its kind of cue; none is invented
                report.skipped[f"no {missing[0]} {modality} cue"] += 1
                continue
            emotion = str(clip["emotion"])
            irr, hal = rng.choice(irrelevant), rng.choice(absent)
            fields = {"question": QUESTIONS[modality].split("\n")[-1], "emotion": emotion,
                      "cues": "; ".join(c["cue"] for c in relevant), "irrelevant": irr["cue"], "absent": hal["cue"],
                      "subject": SUBJECT[modality]}
            used = {"chosen": relevant, "rejected": [irr], "rejected_2": [hal]}
            try:
                resp = {k: generator.generate(k, fields, clip) for k in ("chosen", "rejected", "rejected_2")}
                if len(set(resp.values())) < 3:
                    raise DataError("generated responses are identical")
                row = {"id": f"{clip['id']}:{modality}", "prompt": QUESTIONS[modality], **resp,
                       "video": clip["video"], "modality": modality, "emotion": emotion,
                       "template_version": TEMPLATE_VERSION, "generator": generator.name, "cues": used}
                if clip.get("audio"):
                    row["audio"] = clip["audio"]
                kind = rng.choice(CORRUPTIONS) if corruption == "mixed" else corruption
                other = clips[(i + 1 + rng.randrange(len(clips) - 1)) % len(clips)] if len(clips) > 1 else None
                for m in cue_mods:
                    row[f"{m}_l"] = _write_corrupted(kind, m, clip, other, out / "rejected",
                                                     row_seed(seed, f"{clip['id']}:{m}:{kind}"), spec)
                row["corruption"] = kind
            except (MediaError, DataError) as exc:
                report.skipped[str(exc)[:100]] += 1
                continue
            rows.append(row)
    with open(out / "prefs.jsonl", "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    report.rows = len(rows)
    if not rows:
        raise DataError(f"build-prefs produced no rows: {dict(report.skipped)}")
    return out / "prefs.jsonl", report
