"""Stage ``captions``: one caption per clip and modality, the captioner given only that modality."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from rich.progress import track

from emorealm.builder.common import MODALITIES, Clip, StageReport, norm, read_jsonl
from emorealm.errors import DataError, MediaError


def load_caption_file(path: Path) -> dict[str, str]:
    """User-supplied captions: jsonl of ``{id, caption}``."""
    out = {}
    for r in read_jsonl(path, "caption"):
        if "id" not in r or "caption" not in r:
            raise DataError(f"{path}: every caption row needs 'id' and 'caption' (got {sorted(r)})")
        out[str(r["id"])] = str(r["caption"])
    return out


def run_captions(clips: list[Clip], captioner, report: StageReport,
                 caption_files: dict[str, Path] | None = None) -> list[dict]:
    """Rows ``{clip, modality, caption, source}``; empty captions, failures and a captioner that says
    the same thing for every clip are counted and left out."""
    caption_files = caption_files or {}
    given = {m: load_caption_file(p) for m, p in caption_files.items()}
    by_mod: dict[str, list[dict]] = defaultdict(list)
    for modality in MODALITIES:
        source = "file" if modality in given else captioner.name
        for clip in track(clips, description=f"captions ({modality})", transient=True):
            try:
                text = given[modality].get(clip.id, "") if modality in given else captioner.caption(clip, modality)
            except MediaError as exc:
                report.drop(f"captioner failed ({modality}): {str(exc)[:80]}")
                continue
            if not text.strip():
                report.drop(f"captioner returned nothing ({modality})")
                continue
            by_mod[modality].append({"clip": clip.id, "modality": modality, "caption": text.strip(),
                                     "source": source})
    rows = []
    for modality in MODALITIES:
        got = by_mod[modality]
        if len(got) > 1 and len({norm(r["caption"]) for r in got}) == 1:
            # a captioner that ignores its input describes nothing about the clip
            report.drop(f"same caption for every clip ({modality})", len(got))
            continue
        report.counts[f"captions_{modality}"] = len(got)
        rows.extend(got)
    return rows
