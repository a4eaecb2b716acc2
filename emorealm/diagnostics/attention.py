"""Attention share: how much of the answer positions' attention goes to video, audio and text tokens.

For one doc, the prompt (media + question, built by the adapter's own ``_inputs``) is followed by
the correct answer's tokens and run once through the model with eager attention. The *answer
positions* are the query positions whose outputs predict the answer tokens (the last prompt
position and the answer tokens but the last). For each decoder layer, the attention weights of those
queries (a softmax over keys, so each row sums to 1) are summed over the keys of each token type
and averaged over heads and answer positions: a share per type that sums to 1 per layer.

Token types come from ``input_ids``: the model config's video (and image) token id marks video
tokens, its audio token id marks audio tokens, everything else (question, template, special and
answer tokens) is text. Weights are reduced inside a forward hook per layer, so the full
``layers x heads x L x L`` tensor is never kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emorealm.errors import ModelError

TYPES = ("video", "audio", "text")


class AttentionUnsupported(ModelError):
    """The model cannot return attention weights (the reason is the message)."""


@dataclass
class AttentionShare:
    """Per-layer shares [n_layers, 3] (video, audio, text) of one doc, and its token counts."""

    per_layer: np.ndarray
    token_counts: dict[str, int] = field(default_factory=dict)

    @property
    def mean(self) -> np.ndarray:
        return self.per_layer.mean(axis=0)


def _base_model(model):
    get = getattr(model, "get_base_model", None)  # peft
    return get() if callable(get) else model


def _token_ids(config) -> dict[str, set[int]]:
    def ids(*names: str) -> set[int]:
        out = set()
        for n in names:
            v = getattr(config, n, None)
            if isinstance(v, int):
                out.add(v)
        return out

    video = ids("video_token_index", "video_token_id", "image_token_index", "image_token_id")
    audio = ids("audio_token_index", "audio_token_id")
    if not video and not audio:
        raise AttentionUnsupported(f"{type(config).__name__} names no video/audio token ids")
    return {"video": video, "audio": audio}


def token_types(input_ids, config) -> np.ndarray:
    """Type index per position (0 video, 1 audio, 2 text) from ``input_ids`` [L]."""
    ids = np.asarray(input_ids).reshape(-1)
    t = np.full(ids.shape, 2, dtype=np.int64)
    special = _token_ids(config)
    t[np.isin(ids, list(special["video"]))] = 0
    t[np.isin(ids, list(special["audio"]))] = 1
    return t


def decoder_attention_modules(model) -> list[Any]:
    """The self-attention modules of the text decoder, in layer order."""
    base = _base_model(model)
    decoder = base.get_decoder() if hasattr(base, "get_decoder") else None
    layers = getattr(decoder, "layers", None)
    if layers is None:
        raise AttentionUnsupported(f"{type(base).__name__}: cannot locate the text decoder's layers")
    mods = [getattr(layer, "self_attn", None) for layer in layers]
    if any(m is None for m in mods):
        raise AttentionUnsupported(f"{type(base).__name__}: decoder layers have no self_attn module")
    return mods


class EagerAttention:
    """Context manager: eager attention (the only kind that materialises weights), restored after."""

    def __init__(self, model) -> None:
        self.model = _base_model(model)
        self.previous: str | None = None

    def __enter__(self) -> EagerAttention:
        setter = getattr(self.model, "set_attn_implementation", None)
        config = getattr(self.model, "config", None)
        self.previous = getattr(config, "_attn_implementation", None)
        if self.previous != "eager":
            if not callable(setter):
                raise AttentionUnsupported(f"{type(self.model).__name__} cannot switch to eager attention")
            try:
                setter("eager")
            except (ValueError, NotImplementedError, AttributeError) as exc:
                raise AttentionUnsupported(f"cannot switch to eager attention: {exc}") from exc
        return self

    def __exit__(self, *exc: object) -> None:
        if self.previous and self.previous != "eager":
            self.model.set_attn_implementation(self.previous)


def answer_attention_share(lm, doc: dict[str, Any], context: str, continuation: str) -> AttentionShare:
    """Attention share of ``continuation``'s positions after ``context`` (module docstring).

    ``lm`` is an HF adapter (its public ``model``, ``model_inputs``, ``continuation_ids`` and
    ``forward``); run inside :class:`EagerAttention`.
    """
    import torch

    from emorealm.model_adapters.inputs import append_continuation

    prefix = lm.model_inputs(doc, context)
    ids = lm.continuation_ids(continuation)
    full = append_continuation(prefix, ids)
    input_ids = full.features["input_ids"][0]
    types = torch.as_tensor(token_types(input_ids.cpu().numpy(), _base_model(lm.model).config))
    p = prefix.prompt_length
    queries = torch.arange(p - 1, p - 1 + len(ids))
    onehot = torch.nn.functional.one_hot(types, num_classes=len(TYPES)).float()  # [L, 3]
    shares: list[torch.Tensor | None] = []

    def hook(_module, _args, output):
        weights = output[1] if isinstance(output, tuple) and len(output) > 1 else None
        if weights is None:
            shares.append(None)
            return
        w = weights[0][:, queries.to(weights.device), :].float()  # [heads, answer positions, L]
        shares.append((w @ onehot.to(w.device)).mean(dim=(0, 1)).cpu())

    handles = [m.register_forward_hook(hook) for m in decoder_attention_modules(lm.model)]
    try:
        lm.forward(full)
    finally:
        for h in handles:
            h.remove()
    if not shares or any(s is None for s in shares):
        raise AttentionUnsupported("the attention modules returned no weights (not eager attention?)")
    counts = {name: int((types == i).sum()) for i, name in enumerate(TYPES)}
    return AttentionShare(torch.stack(shares).numpy().astype(float), counts)  # type: ignore[arg-type]
