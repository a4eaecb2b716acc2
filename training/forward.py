"""Forward passes for preference training: summed completion log-probs of every sequence of a batch.

The media of each distinct context are encoded once (audio tower, vision tower) and scattered into
the token embeddings of every sequence on that context, so the three responses sharing c — and the
policy and reference passes, when the encoders are frozen — reuse one encoding. All sequences then
run through the language model as right-padded batches (media rows, text-only rows) with explicit mRoPE position ids
(computed per row with the model's own ``get_rope_index``). Log-probs are taken in float32 at the
completion positions only (prompt tokens are masked by construction).
"""

from __future__ import annotations

from typing import Any

import torch
from emorealm.training.collate import PrefBatch
from torch import nn


def thinker_of(model: nn.Module) -> nn.Module:
    """The Qwen2.5-Omni thinker inside ``model`` (a PEFT wrapper, DDP wrapper or the thinker itself)."""
    m = getattr(model, "module", model)
    if hasattr(m, "get_base_model"):
        m = m.get_base_model()
    return m


def encoders_trainable(thinker: nn.Module) -> bool:
    """True when any parameter of the audio/vision towers requires grad."""
    inner = thinker.model
    return any(p.requires_grad for mod in (inner.audio_tower, inner.visual) for p in mod.parameters())


def encode_media(thinker: nn.Module, batch: PrefBatch, device: torch.device) -> list[dict[str, torch.Tensor]]:
    """Audio/video embeddings of every context (one encoder run per context that has media)."""
    inner = thinker.model
    out: list[dict[str, torch.Tensor]] = []
    for ctx in batch.contexts:
        f = ctx.features
        feats: dict[str, torch.Tensor] = {}
        if f.get("pixel_values_videos") is not None:
            pv = f["pixel_values_videos"].to(device, inner.visual.dtype)
            vid = inner.get_video_features(pv, f["video_grid_thw"].to(device)).pooler_output
            feats["video"] = torch.cat(list(vid), dim=0)
        if f.get("input_features") is not None:
            af = f["input_features"].to(device, inner.audio_tower.dtype)
            feats["audio"] = inner.get_audio_features(af, f["feature_attention_mask"].to(device)).last_hidden_state
        out.append(feats)
    return out


def _buckets(batch: PrefBatch) -> list[list[int]]:
    """Sequence indices grouped so that short text-only rows are not padded to the media rows' length."""
    media = [i for i, s in enumerate(batch.sequences) if batch.context_kinds[s.context] != "text"]
    text = [i for i, s in enumerate(batch.sequences) if batch.context_kinds[s.context] == "text"]
    return [b for b in (media, text) if b]


def _layout(thinker: nn.Module, batch: PrefBatch, index: list[int]) -> dict[str, torch.Tensor]:
    """Token ids, attention mask, 3D position ids and completion indices of the sequences ``index``
    (cached on the batch)."""
    key = ("layout", tuple(index))
    if key in batch.cache:
        return batch.cache[key]
    pad = thinker.config.text_config.pad_token_id or 0
    seqs = [batch.sequences[i] for i in index]
    rows = [batch.contexts[s.context].features["input_ids"][0].tolist() + s.completion for s in seqs]
    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), pad, dtype=torch.long)
    attn = torch.zeros((len(rows), length), dtype=torch.long)
    pos = torch.zeros((3, len(rows), length), dtype=torch.long)
    tgt_row, tgt_pos, tgt_seq = [], [], []
    for i, (seq, r) in enumerate(zip(seqs, rows, strict=True)):
        ids[i, : len(r)] = torch.tensor(r)
        attn[i, : len(r)] = 1
        f = batch.contexts[seq.context].features
        fam = f.get("feature_attention_mask")
        p, _ = thinker.model.get_rope_index(
            ids[i : i + 1, : len(r)], None, f.get("video_grid_thw"), attn[i : i + 1, : len(r)],
            batch.contexts[seq.context].use_audio_in_video, fam.sum(-1) if fam is not None else None,
            f.get("video_second_per_grid"),
        )
        pos[:, i, : len(r)] = p[:, 0]
        start = len(r) - len(seq.completion)
        # logits at position t predict token t + 1
        tgt_row += [i] * len(seq.completion)
        tgt_pos += list(range(start - 1, len(r) - 1))
        tgt_seq += [i] * len(seq.completion)
    layout = {"input_ids": ids, "attention_mask": attn, "position_ids": pos,
              "tgt_row": torch.tensor(tgt_row), "tgt_pos": torch.tensor(tgt_pos), "tgt_seq": torch.tensor(tgt_seq)}
    batch.cache[key] = layout
    return layout


def sequence_logps(thinker: nn.Module, batch: PrefBatch, media: list[dict[str, torch.Tensor]] | None = None,
                   prefix_reuse: bool = True) -> torch.Tensor:
    """Summed float32 completion log-probs ``[n_sequences]`` in ``batch.sequences`` order.

    ``media``: precomputed :func:`encode_media` output (shared between policy and reference when
    the encoders are frozen); computed here when ``None``. ``prefix_reuse``: rows with media run
    their context's prefix through the language model once and reuse its KV cache (with gradients)
    for every completion on it (:func:`prefix_reuse_logps`); else one padded forward of full rows.
    """
    device = next(thinker.parameters()).device
    if media is None:
        media = encode_media(thinker, batch, device)
    out = torch.zeros(len(batch.sequences), device=device, dtype=torch.float32)
    for index in _buckets(batch):
        text = batch.context_kinds[batch.sequences[index[0]].context] == "text"
        fn = prefix_reuse_logps if prefix_reuse and not text else _bucket_logps
        out = out.index_copy(0, torch.tensor(index, device=device), fn(thinker, batch, index, media))
    return out


def _bucket_logps(thinker: nn.Module, batch: PrefBatch, index: list[int],
                  media: list[dict[str, torch.Tensor]]) -> torch.Tensor:
    """One right-padded language-model forward over the sequences ``index``."""
    device = next(thinker.parameters()).device
    lay = {k: v.to(device) for k, v in _layout(thinker, batch, index).items()}
    seqs = [batch.sequences[i] for i in index]
    ids = lay["input_ids"]
    embeds = thinker.get_input_embeddings()(ids)
    cfg = thinker.config
    for key, token in (("video", cfg.video_token_id), ("audio", cfg.audio_token_id)):
        parts = [media[s.context][key] for s in seqs if key in media[s.context]]
        if parts:
            mask = (ids == token).unsqueeze(-1)
            embeds = embeds.masked_scatter(mask, torch.cat(parts).to(embeds.dtype))
    hidden = thinker.model.language_model(
        inputs_embeds=embeds, attention_mask=lay["attention_mask"], position_ids=lay["position_ids"],
        use_cache=False, return_dict=True,
    ).last_hidden_state
    h = hidden[lay["tgt_row"], lay["tgt_pos"]]
    logp = torch.log_softmax(thinker.lm_head(h).float(), dim=-1)
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
    """Wraps the policy so one ``forward`` call computes every sequence's log-probs (DDP needs the
    gradient-carrying computation to go through the wrapped module's ``forward``)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: PrefBatch, media: list[dict[str, torch.Tensor]] | None = None) -> torch.Tensor:
        if not batch.sequences:  # an all-skipped micro-batch: a zero that still touches every trainable weight
            return sum((p.sum() * 0 for p in self.model.parameters() if p.requires_grad),
                       torch.zeros(1, device=next(self.model.parameters()).device))
        return sequence_logps(thinker_of(self.model), batch, media)


def prefix_reuse_logps(thinker: nn.Module, batch: PrefBatch, index: list[int],
                       media: list[dict[str, torch.Tensor]]) -> torch.Tensor:
    """Like :func:`_bucket_logps`, but each context's prefix runs through the language model once
    and its KV cache (with gradients) is reused by all completions on that context."""
    device = next(thinker.parameters()).device
    lay = _layout(thinker, batch, index)
    cfg = thinker.config
    embed = thinker.get_input_embeddings()
    out = torch.zeros(len(index), device=device, dtype=torch.float32)
    by_ctx: dict[int, list[int]] = {}
    for j, i in enumerate(index):
        by_ctx.setdefault(batch.sequences[i].context, []).append(j)
    for ctx_i, js in by_ctx.items():
        ctx = batch.contexts[ctx_i]
        p = ctx.prompt_length
        ids = ctx.features["input_ids"].to(device)
        emb = embed(ids)
        for key, token in (("video", cfg.video_token_id), ("audio", cfg.audio_token_id)):
            if key in media[ctx_i]:
                emb = emb.masked_scatter((ids == token).unsqueeze(-1), media[ctx_i][key].to(emb.dtype))
        pos = lay["position_ids"][:, js[0]: js[0] + 1, :p].to(device)
        pre = thinker.model.language_model(inputs_embeds=emb, attention_mask=torch.ones_like(ids), position_ids=pos,
                                           use_cache=True, return_dict=True)
        cache = pre.past_key_values if hasattr(pre, "past_key_values") else pre.cache
        comps = [batch.sequences[index[j]].completion for j in js]
        clen = max(len(c) for c in comps)
        cids = torch.zeros(len(js), clen, dtype=torch.long, device=device)
        cmask = torch.zeros(len(js), p + clen, dtype=torch.long, device=device)
        cpos = torch.zeros(3, len(js), clen, dtype=torch.long, device=device)
        for r, (j, c) in enumerate(zip(js, comps, strict=True)):
            cids[r, : len(c)] = torch.tensor(c, device=device)
            cmask[r, : p + len(c)] = 1
            cpos[:, r, : len(c)] = lay["position_ids"][:, j, p: p + len(c)].to(device)
        if len(js) > 1:
            cache.batch_repeat_interleave(len(js))
        hid = thinker.model.language_model(inputs_embeds=embed(cids), attention_mask=cmask, position_ids=cpos,
                                           cache=cache, use_cache=True, return_dict=True).last_hidden_state
        # token 0 is predicted from the prefix's last state, token t from completion state t - 1
        h_last = pre.last_hidden_state[:, -1:].expand(len(js), 1, -1)
        states = torch.cat([h_last, hid[:, :-1]], dim=1)
        logp = torch.log_softmax(thinker.lm_head(states).float(), dim=-1)
        tok = logp.gather(2, cids[..., None])[..., 0]
        valid = torch.arange(clen, device=device)[None] < torch.tensor([len(c) for c in comps], device=device)[:, None]
        out = out.index_copy(0, torch.tensor(js, device=device), (tok * valid).sum(1))
    return out
