"""Supervised fine-tuning (``objective: sft``): rows, collation and the loss (docs/avem-dpo.md, "SFT").

One row (jsonl)::

    {"id": "...", "prompt": "<video>\\n<audio>\\nWhat emotion ...?", "response": "...",
     "video": "clips/a.mp4", "audio": "clips/a.wav"}          # audio optional: the clip's own track

The context is built with :func:`emorealm.model_adapters.inputs.build_inputs` (the function evaluation uses) and
the response is scored with the preference trainer's forward pass: every row becomes a
:class:`~emorealm.training.collate.PrefBatch` with one clean context and one ``chosen`` sequence,
so SFT shares the trainer, the media encoding, LoRA/full fine-tuning and the checkpoints.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from emorealm.doc import Media, media_dict
from emorealm.errors import DataError, MediaError
from emorealm.media.decode import MediaSpec
from emorealm.model_adapters.inputs import build_inputs, media_loader
from emorealm.training.collate import PrefBatch, Sequence
from emorealm.training.data import LoadReport, _resolve, read_jsonl_rows, strip_markers

SFT_REQUIRED = ("prompt", "response", "video")
SFT_OPTIONAL = ("id", "audio")


@dataclass
class SFTRow:
    """One validated SFT example with resolved absolute media paths."""

    id: str
    prompt: str  # media markers removed
    response: str
    video: str
    audio: str | None
    prompt_media: tuple[str, ...] = ("video", "audio")
    extra: dict[str, Any] = field(default_factory=dict)

    def media(self) -> Media:
        want_audio = "audio" in self.prompt_media
        return media_dict(self.video, self.audio if want_audio else None, audio_track=want_audio)


def parse_sft_row(raw: Any, root: Path, where: str) -> SFTRow:
    """Validate one raw SFT row; raises :class:`DataError` naming the bad field."""
    if not isinstance(raw, dict):
        raise DataError(f"{where}: a row must be a JSON object, got {type(raw).__name__}")
    for k in ("prompt", "response"):
        if k in raw and raw[k] is not None and not isinstance(raw[k], str):
            raise DataError(f"{where}: field {k!r} must be a string, got {type(raw[k]).__name__}")
    if not (raw.get("response") or "").strip():
        raise DataError(f"{where}: missing or empty 'response' (an SFT row needs the target text)")
    missing = [k for k in SFT_REQUIRED if k not in raw or raw[k] in (None, "")]
    if missing:
        raise DataError(f"{where}: missing required field(s) {missing} (required: {list(SFT_REQUIRED)})")
    prompt, declared = strip_markers(raw["prompt"])
    if not prompt:
        raise DataError(f"{where}: the prompt is empty once the <video>/<audio> markers are removed")
    return SFTRow(
        id=str(raw.get("id", where)), prompt=prompt, response=raw["response"].strip(),
        video=_resolve(root, raw["video"], "video", where),
        audio=_resolve(root, raw["audio"], "audio", where) if raw.get("audio") else None,
        prompt_media=declared, extra={k: v for k, v in raw.items() if k not in SFT_REQUIRED + SFT_OPTIONAL},
    )


def load_sft_rows(path: str | Path, data_root: str | Path | None = None, *,
                  strict: bool = False) -> tuple[list[SFTRow], LoadReport]:
    """Read and validate an SFT jsonl: invalid rows raise when ``strict``, else are counted per
    reason and skipped (the report says which). An empty result is always an error."""
    return read_jsonl_rows(path, data_root, parse_sft_row, strict=strict, what="SFT")


class SFTCollator:
    """``list[SFTRow] -> PrefBatch`` with one clean context and one ``chosen`` sequence per row;
    rows whose clip fails to decode or whose response tokenises to nothing are skipped and counted."""

    def __init__(self, processor, spec: MediaSpec, *, max_completion_length: int = 256,
                 system_prompt: str | None = None, end_of_turn_id: int | None = None) -> None:
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.spec = spec
        self.max_completion_length = max_completion_length
        self.system_prompt = system_prompt
        self.eos_id = end_of_turn_id if end_of_turn_id is not None else self.tokenizer.eos_token_id
        self.skipped: Counter = Counter()

    def completion_ids(self, text: str) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"][: max(0, self.max_completion_length - 1)]
        return ids + [self.eos_id] if ids else []

    def __call__(self, rows: list[SFTRow]) -> PrefBatch:
        batch = PrefBatch([], [], [], [], [])
        for row in rows:
            try:
                comp = self.completion_ids(row.response)
                if not comp:
                    raise DataError(f"row {row.id}: empty completion after truncation")
                media = media_loader(self.processor)(row.media(), self.spec)  # decoded as evaluation does
                inp = build_inputs(self.processor, media, row.prompt, self.spec, system_prompt=self.system_prompt)
            except (MediaError, DataError) as exc:
                reason = "clip failed to decode" if isinstance(exc, MediaError) else str(exc).split(": ", 1)[-1]
                batch.skipped[reason] += 1
                self.skipped[reason] += 1
                continue
            batch.sequences.append(Sequence(batch.n_rows, "chosen", len(batch.contexts), comp))
            batch.contexts.append(inp)
            batch.context_kinds.append("clean")
            batch.row_ids.append(row.id)
            batch.corruptions.append({})
        return batch


def sft_loss(logps: torch.Tensor, batch: PrefBatch) -> tuple[torch.Tensor, dict[str, float]]:
    """Token-mean negative log-likelihood of the responses (``logps``: summed per sequence)."""
    n_tokens = sum(len(s.completion) for s in batch.sequences)
    loss = -logps.sum() / max(1, n_tokens)
    per_row = logps.detach() / torch.tensor([len(s.completion) for s in batch.sequences], device=logps.device)
    return loss, {"loss": float(loss.detach()), "sft/nll_per_token": float(loss.detach()),
                  "sft/ppl": float(torch.exp(-per_row).mean()), "sft/tokens": float(n_tokens)}
