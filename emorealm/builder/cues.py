"""Stage ``cues``: short cue phrases extracted from each caption."""

from __future__ import annotations

from rich.progress import track

from emorealm.builder.common import Clip, StageReport, norm
from emorealm.errors import MediaError


def run_cues(clips: list[Clip], captions: list[dict], generator, report: StageReport, max_cues: int = 6) -> list[dict]:
    """Rows ``{clip, modality, caption, cues}``; captions yielding no cue are counted and left out."""
    by_id = {c.id: c for c in clips}
    rows = []
    for cap in track(captions, description="cues", transient=True):
        clip = by_id.get(cap["clip"])
        if clip is None:
            report.drop("caption of a clip not in the manifest")
            continue
        try:
            cues = generator.extract_cues(clip, cap["modality"], cap["caption"])
        except MediaError as exc:
            report.drop(f"cue extraction failed: {str(exc)[:80]}")
            continue
        seen, kept = set(), []
        for c in cues:
            if norm(c) not in seen and len(c) <= 120:
                seen.add(norm(c))
                kept.append(c)
        if not kept:
            report.drop(f"no cue extracted ({cap['modality']})")
            continue
        report.counts[f"cues_{cap['modality']}"] += len(kept[:max_cues])
        rows.append({**cap, "cues": kept[:max_cues]})
    return rows
