"""Forward passes for preference training: summed completion log-probs of every sequence of a batch.

Model-family specifics live behind :class:`emorealm.model_adapters.architectures.TrainArchitecture`
(towers, embedding with media scattered in, positions, language model, head); this module only
plans the passes. The media of each distinct context are encoded once and scattered into the token
embeddings of every sequence on that context, so the three responses sharing c — and the policy
and reference passes, when the encoders are frozen — reuse one encoding. Sequences with media run
their context's prefix through the language model once and every completion on it reuses the
prefix's KV cache (with gradients, also under gradient checkpointing: :mod:`.prefix_cache`);
text-only rows run as one right-padded batch. Positions are explicit (the family's own rule, per
row); log-probs are taken in float32 at the completion positions only.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from emorealm.model_adapters.architectures import Media, TrainArchitecture, architecture_of
from emorealm.training.collate import PrefBatch
from emorealm.training.prefix_cache import prefix_caches


def thinker_of(model: nn.Module) -> nn.Module:
    """The model inside ``model`` (a PEFT wrapper, DDP/FSDP wrapper or the model itself)."""
    m = getattr(model, "module", model)
    if hasattr(m, "get_base_model"):
        m = m.get_base_model()
    return m


def encoders_trainable(thinker: nn.Module) -> bool:
    """True when any parameter of the media towers requires grad."""
    return architecture_of(thinker).encoders_trainable(thinker)


def encode_media(thinker: nn.Module, batch: PrefBatch, device: torch.device,
                 arch: TrainArchitecture | None = None) -> list[Media]:
    """Encoded media of every context (one tower run per context that has media)."""
    arch = arch or architecture_of(thinker)
    return [arch.encode_media(thinker, ctx.features, device) for ctx in batch.contexts]


def _buckets(batch: PrefBatch) -> list[list[int]]:
    """Sequence indices grouped so that short text-only rows are not padded to the media rows' length."""
    media = [i for i, s in enumerate(batch.sequences) if batch.context_kinds[s.context] != "text"]
    text = [i for i, s in enumerate(batch.sequences) if batch.context_kinds[s.context] == "text"]
    return [b for b in (media, text) if b]


def _layout(arch: TrainArchitecture, thinker: nn.Module, batch: PrefBatch, index: list[int]) -> dict[str, Any]:
    """Token ids, attention mask, position ids and completion indices of the sequences ``index``
    (cached on the batch)."""
    key = ("layout", tuple(index))
    if key in batch.cache:
        return batch.cache[key]
    pad = thinker.config.get_text_config().pad_token_id or 0
    seqs = [batch.sequences[i] for i in index]
    rows = [batch.contexts[s.context].features["input_ids"][0].tolist() + s.completion for s in seqs]
    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), pad, dtype=torch.long)
    attn = torch.zeros((len(rows), length), dtype=torch.long)
    pos = None
    tgt_row, tgt_pos, tgt_seq = [], [], []
    for i, (seq, r) in enumerate(zip(seqs, rows, strict=True)):
        ids[i, : len(r)] = torch.tensor(r)
        attn[i, : len(r)] = 1
        ctx = batch.contexts[seq.context]
        p = arch.positions(thinker, ids[i: i + 1, : len(r)], ctx.features, ctx.use_audio_in_video)
        if pos is None:
            # dtype from the family: Qwen3-Omni's temporal positions are fractional (float)
            pos = torch.zeros((*p.shape[:-2], len(rows), length), dtype=p.dtype)
        pos[..., i, : len(r)] = p[..., 0, :]
        start = len(r) - len(seq.completion)
        # logits at position t predict token t + 1
        tgt_row += [i] * len(seq.completion)
        tgt_pos += list(range(start - 1, len(r) - 1))
        tgt_seq += [i] * len(seq.completion)
    layout = {"input_ids": ids, "attention_mask": attn, "position_ids": pos,
              "tgt_row": torch.tensor(tgt_row), "tgt_pos": torch.tensor(tgt_pos), "tgt_seq": torch.tensor(tgt_seq)}
    batch.cache[key] = layout
    return layout


def sequence_logps(thinker: nn.Module, batch: PrefBatch, media: list[Media] | None = None,
                   prefix_reuse: bool = True) -> torch.Tensor:
    """Summed float32 completion log-probs ``[n_sequences]`` in ``batch.sequences`` order.

    ``media``: precomputed :func:`encode_media` output (shared between policy and reference when
    the encoders are frozen); computed here when ``None``. ``prefix_reuse``: rows with media run
    their context's prefix through the language model once and reuse its KV cache (with gradients)
    for every completion on it (:func:`prefix_reuse_logps`); else one padded forward of full rows.
    """
    arch = architecture_of(thinker)
    device = next(thinker.parameters()).device
    if media is None:
        media = encode_media(thinker, batch, device, arch)
    out = torch.zeros(len(batch.sequences), device=device, dtype=torch.float32)
    for index in _buckets(batch):
        text = batch.context_kinds[batch.sequences[index[0]].context] == "text"
        fn = prefix_reuse_logps if prefix_reuse and not text else _bucket_logps
        out = out.index_copy(0, torch.tensor(index, device=device), fn(thinker, batch, index, media, arch))
    return out


def _bucket_logps(thinker: nn.Module, batch: PrefBatch, index: list[int], media: list[Media],
                  arch: TrainArchitecture | None = None) -> torch.Tensor:
    """One right-padded language-model forward over the sequences ``index``."""
    arch = arch or architecture_of(thinker)
    device = next(thinker.parameters()).device
    lay = {k: v.to(device) for k, v in _layout(arch, thinker, batch, index).items()}
    seqs = [batch.sequences[i] for i in index]
    ids = lay["input_ids"]
    embeds, extra = arch.embed(thinker, ids, [media[s.context] for s in seqs])
    hidden = arch.run_lm(thinker, embeds, lay["attention_mask"], lay["position_ids"], **extra)
    logp = arch.log_probs(thinker, hidden[lay["tgt_row"], lay["tgt_pos"]])
    targets = ids[lay["tgt_row"], lay["tgt_pos"] + 1]
    tok = logp.gather(1, targets[:, None])[:, 0]
    return torch.zeros(len(seqs), device=device, dtype=torch.float32).index_add(0, lay["tgt_seq"], tok)


def split_logps(batch: PrefBatch, logps: torch.Tensor) -> dict[str, torch.Tensor]:
    """``{sequence name: [n_rows]}`` from the flat per-sequence log-probs."""
    out: dict[str, Any] = {}
    for name in dict.fromkeys(batch.names()):
        idx = [i for i, s in enumerate(batch.sequences) if s.name == name]
        rows = [batch.sequences[i].row for i in idx]
        assert rows == sorted(rows)
        out[name] = logps[torch.tensor(idx, device=logps.device)]
    return out


class PreferenceModel(nn.Module):
    """Wraps the policy so that one ``forward`` call computes every sequence's log-probs, the
    reference's included: DDP/FSDP/DeepSpeed need every use of the wrapped weights inside the
    wrapped module's ``forward`` (FSDP gathers sharded weights only there, so the shared media
    encoding and the reference pass of a LoRA policy, which run on the policy's own weights, happen
    here as well).

    ``reference``: a frozen copy for full fine-tuning (kept out of the module tree, so no wrapper
    shards or syncs it); ``None`` with a PEFT policy means "adapters disabled"; ``with_reference``
    false (SFT) skips it. ``share_media``: encode each context's media once, without gradients, for
    the policy and the reference (frozen towers).
    """

    def __init__(self, model: nn.Module, reference: nn.Module | None = None, with_reference: bool = False,
                 share_media: bool = False) -> None:
        super().__init__()
        self.model = model
        self._reference = [reference]  # a list: not registered as a submodule
        self.with_reference = with_reference
        self.share_media = share_media

    def forward(self, batch: PrefBatch) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(policy log-probs with gradients, reference log-probs or ``None``), ``[n_sequences]`` each."""
        if not batch.sequences:  # an all-skipped micro-batch: a zero that still touches every trainable weight
            return sum((p.sum() * 0 for p in self.model.parameters() if p.requires_grad),
                       torch.zeros(1, device=next(self.model.parameters()).device)), None
        thinker = thinker_of(self.model)
        arch = architecture_of(thinker)
        device = next(thinker.parameters()).device
        shared = None
        if self.share_media:
            with torch.no_grad():
                shared = encode_media(thinker, batch, device, arch)
        pol = sequence_logps(thinker, batch, shared) + _touch_towers(thinker, arch)
        if not self.with_reference:
            return pol, None
        ref_model = self._reference[0]
        with torch.no_grad():
            if ref_model is None:
                with self.model.disable_adapter():
                    ref = sequence_logps(thinker, batch, shared)
            else:
                ref = sequence_logps(ref_model, batch, shared)
        return pol, ref.detach()


def _touch_towers(thinker: nn.Module, arch: TrainArchitecture) -> torch.Tensor:
    """Zero that depends on every trainable tower weight.

    A rank whose micro-batch lacks a modality does not run that tower; with trainable towers DDP's
    reducer (and ZeRO's gradient partitioning) would then wait for gradients that never come on that
    rank while the others all-reduce them: a hang. Adding ``0 * sum(w)`` gives every trainable tower
    weight a (zero) gradient on every rank, whatever the batch holds. Frozen towers need nothing.
    """
    params = [p for t in arch.towers(thinker) for p in t.parameters() if p.requires_grad]
    if not params:
        return torch.zeros((), device=next(thinker.parameters()).device)
    return sum(p.sum() for p in params) * 0.0


def prefix_reuse_logps(thinker: nn.Module, batch: PrefBatch, index: list[int], media: list[Media],
                       arch: TrainArchitecture | None = None) -> torch.Tensor:
    """Like :func:`_bucket_logps`, but each context's prefix runs through the language model once
    and its KV cache (with gradients) is reused by all completions on that context."""
    arch = arch or architecture_of(thinker)
    device = next(thinker.parameters()).device
    lay = _layout(arch, thinker, batch, index)
    embed = thinker.get_input_embeddings()
    out = torch.zeros(len(index), device=device, dtype=torch.float32)
    by_ctx: dict[int, list[int]] = {}
    for j, i in enumerate(index):
        by_ctx.setdefault(batch.sequences[i].context, []).append(j)
    for ctx_i, js in by_ctx.items():
        ctx = batch.contexts[ctx_i]
        p = ctx.prompt_length
        ids = ctx.features["input_ids"].to(device)
        emb, extra = arch.embed(thinker, ids, [media[ctx_i]])
        pos = lay["position_ids"][..., js[0]: js[0] + 1, :p].to(device)
        writer, reader = prefix_caches(len(js))
        pre = arch.run_lm(thinker, emb, torch.ones_like(ids), pos, cache=writer, **extra)
        comps = [batch.sequences[index[j]].completion for j in js]
        clen = max(len(c) for c in comps)
        cids = torch.zeros(len(js), clen, dtype=torch.long, device=device)
        cmask = torch.zeros(len(js), p + clen, dtype=torch.long, device=device)
        cpos = torch.zeros((*pos.shape[:-2], len(js), clen), dtype=pos.dtype, device=device)
        for r, (j, c) in enumerate(zip(js, comps, strict=True)):
            cids[r, : len(c)] = torch.tensor(c, device=device)
            cmask[r, : p + len(c)] = 1
            cpos[..., r, : len(c)] = lay["position_ids"][..., j, p: p + len(c)].to(device)
        hid = arch.run_lm(thinker, embed(cids), cmask, cpos, cache=reader(writer))
        # token 0 is predicted from the prefix's last state, token t from completion state t - 1
        states = torch.cat([pre[:, -1:].expand(len(js), 1, -1), hid[:, :-1]], dim=1)
        tok = arch.log_probs(thinker, states).gather(2, cids[..., None])[..., 0]
        valid = torch.arange(clen, device=device)[None] < torch.tensor([len(c) for c in comps], device=device)[:, None]
        out = out.index_copy(0, torch.tensor(js, device=device), (tok * valid).sum(1))
    return out
