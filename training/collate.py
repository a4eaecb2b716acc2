"""Preference rows → a batch of distinct model inputs (contexts) and the sequences scored on them.

Every context is built with :func:`emorealm.model_adapters.inputs.build_inputs`, the function evaluation uses, so
training and evaluation see identical model inputs. Per row the contexts are:

* ``clean``   — c = (video, audio, prompt)
* ``corrupt`` — c~: the modality the prompt is about replaced by its rejected input (``video_l`` /
  ``audio_l``, or seeded noise of the same shape when the row names none; recorded in the batch)
* ``text``    — the prompt alone (text-prior debiasing)

Only the contexts the loss needs are built. A sequence is a (context, completion) pair; the
forward pass (:mod:`emorealm.training.forward`) encodes each context's media once and reuses them
for every sequence on that context.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from emorealm.doc import media_dict
from emorealm.errors import DataError, MediaError
from emorealm.media.decode import MediaSpec
from emorealm.model_adapters.inputs import ModelInputs, build_inputs, media_loader
from emorealm.training.corrupt import noise_audio, noise_frames, row_seed
from emorealm.training.data import PreferenceRow
from emorealm.training.loss import LossConfig

# sequence name -> (context kind, response field)
SEQUENCE_PLAN = {
    "chosen": ("clean", "chosen"), "rejected_vr": ("clean", "rejected_vr"), "rejected_er": ("clean", "rejected_er"),
    "chosen_corrupt": ("corrupt", "chosen"),
    "chosen_text": ("text", "chosen"), "rejected_vr_text": ("text", "rejected_vr"),
    "rejected_er_text": ("text", "rejected_er"),
}


@dataclass
class Sequence:
    row: int  # index of the row inside the batch
    name: str  # one of loss.SEQUENCES
    context: int  # index into PrefBatch.contexts
    completion: list[int]  # response token ids (with the end-of-turn token)


@dataclass
class PrefBatch:
    """A collated batch: distinct contexts, the sequences scored on them, and bookkeeping."""

    contexts: list[ModelInputs]
    context_kinds: list[str]  # clean | corrupt | text
    sequences: list[Sequence]
    row_ids: list[str]
    corruptions: list[dict[str, str]]  # per row: modality -> what replaced it
    skipped: Counter = field(default_factory=Counter)
    cache: dict[str, Any] = field(default_factory=dict)  # position ids etc., filled by the forward pass

    @property
    def n_rows(self) -> int:
        return len(self.row_ids)

    def names(self) -> list[str]:
        return [s.name for s in self.sequences]


class PreferenceCollator:
    """Callable collate function: ``list[PreferenceRow] -> PrefBatch``.

    Rows whose clip fails to decode, or whose responses are empty or identical after tokenisation
    and truncation, are skipped and counted (``self.skipped`` and ``batch.skipped``), never trained on.
    """

    def __init__(self, processor, spec: MediaSpec, loss: LossConfig, *, max_completion_length: int = 256,
                 seed: int = 0, system_prompt: str | None = None, max_length: int | None = None,
                 end_of_turn_id: int | None = None) -> None:
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.spec = spec
        self.loss = loss
        self.needed = loss.needed_sequences()
        self.max_completion_length = max_completion_length
        self.seed = seed
        self.system_prompt = system_prompt
        self.max_length = max_length
        # the architecture's end-of-turn token (model_adapters.architectures); else the tokenizer's eos
        self.eos_id = end_of_turn_id if end_of_turn_id is not None else self.tokenizer.eos_token_id
        self.load_media = media_loader(processor)  # the family's decoding, as evaluation decodes
        self.skipped: Counter = Counter()

    # -- pieces ---------------------------------------------------------------------------------
    def completion_ids(self, text: str, limit: int | None = None) -> list[int]:
        """Response tokens plus the end-of-turn token, truncated to ``max_completion_length`` (or ``limit``)."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        ids = ids[: max(0, min(self.max_completion_length, limit or self.max_completion_length) - 1)]
        return ids + [self.eos_id] if ids else []

    def _build(self, media, prompt: str, override: dict[str, Any] | None = None) -> ModelInputs:
        return build_inputs(self.processor, media, prompt, self.spec, system_prompt=self.system_prompt,
                            media_override=override)

    def corrupted_media(self, row: PreferenceRow, media) -> tuple[dict[str, Any], dict[str, str]]:
        """The override for c~ and a record of what replaced each modality."""
        override: dict[str, Any] = {}
        record: dict[str, str] = {}
        seed = row_seed(self.seed, row.id)
        if row.modality in ("video", "both") and media.frames is not None:
            if row.video_l:
                other = self.load_media(media_dict(row.video_l, audio_track=False), self.spec)
                override["frames"], record["video"] = other.frames, f"video_l:{row.video_l}"
            else:
                override["frames"], record["video"] = noise_frames(media.frames, seed), f"noise(seed={seed})"
        if row.modality in ("audio", "both") and media.audio is not None:
            if row.audio_l:
                other = self.load_media(media_dict(None, row.audio_l), self.spec)
                override["audio"], record["audio"] = other.audio, f"audio_l:{row.audio_l}"
            else:
                override["audio"], record["audio"] = noise_audio(media.audio, seed + 1), f"noise(seed={seed + 1})"
        if not override:
            raise MediaError(f"row {row.id}: the prompt is about {row.modality!r} but the clip has no such stream")
        return override, record

    # -- the collate function -------------------------------------------------------------------
    def __call__(self, rows: list[PreferenceRow]) -> PrefBatch:
        batch = PrefBatch([], [], [], [], [])
        for row in rows:
            try:
                self._add_row(batch, row)
            except (MediaError, DataError) as exc:
                reason = "clip failed to decode" if isinstance(exc, MediaError) else str(exc).split(": ", 1)[-1]
                batch.skipped[reason] += 1
                self.skipped[reason] += 1
        return batch

    def _add_row(self, batch: PrefBatch, row: PreferenceRow) -> None:
        comps = {}
        for fld in ("chosen", "rejected_vr", "rejected_er"):
            text = getattr(row, fld)
            if any(SEQUENCE_PLAN[n][1] == fld for n in self.needed):
                if text is None:
                    raise DataError(f"row {row.id}: missing {fld} that the loss needs")
                comps[fld] = self.completion_ids(text)
                if not comps[fld]:
                    raise DataError(f"row {row.id}: empty completion after truncation")
        vals = [tuple(v) for v in comps.values()]
        if len(set(vals)) < len(vals):
            raise DataError(f"row {row.id}: responses identical after tokenisation/truncation")
        kinds = {SEQUENCE_PLAN[n][0] for n in self.needed}
        media = self.load_media(row.media(), self.spec)
        built: dict[str, ModelInputs] = {"clean": self._build(media, row.prompt)}
        record: dict[str, str] = {}
        if "corrupt" in kinds:
            override, record = self.corrupted_media(row, media)
            built["corrupt"] = self._build(media, row.prompt, override)
        if "text" in kinds:
            built["text"] = self._build(None, row.prompt)
        if self.max_length is not None:  # prompt + completion within max_length: cut the completions
            budget = self.max_length - max(inp.prompt_length for inp in built.values())
            if budget < 2:
                raise DataError(f"row {row.id}: prompt longer than train.max_length")
            comps = {k: self.completion_ids(getattr(row, k), budget) for k in comps}
            vals = [tuple(v) for v in comps.values()]
            if len(set(vals)) < len(vals):
                raise DataError(f"row {row.id}: responses identical after tokenisation/truncation")
        # commit only once everything for the row succeeded
        index = {}
        for kind, inp in built.items():
            index[kind] = len(batch.contexts)
            batch.contexts.append(inp)
            batch.context_kinds.append(kind)
        r = batch.n_rows
        for name in self.needed:
            kind, fld = SEQUENCE_PLAN[name]
            batch.sequences.append(Sequence(r, name, index[kind], comps[fld]))
        batch.row_ids.append(row.id)
        batch.corruptions.append(record)
