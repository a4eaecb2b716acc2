"""KV caches for prefix reuse that stay correct under (non-reentrant) gradient checkpointing.

Prefix reuse runs a context once and lets every completion attend to its keys/values. A plain
``DynamicCache`` breaks under checkpointing: transformers drops it in checkpointed layers, and if
kept, the backward replay of a layer would append its keys a second time. Here the prefix pass
writes each layer's states **once** (a replay returns the stored, equal states) and the completion
pass **reads** them without storing anything, so replaying any layer of either pass is idempotent.
The decoder layers are marked ``_can_checkpoint_with_cache`` by :func:`enable_gradient_checkpointing`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from transformers.cache_utils import Cache, DynamicLayer


class _WriteOnceLayer(DynamicLayer):
    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self.keys, self.values = key_states, value_states
        return self.keys, self.values  # a checkpoint replay gets the states of the first pass


class _ReadOnlyLayer(DynamicLayer):
    def __init__(self, keys: torch.Tensor, values: torch.Tensor, repeats: int) -> None:
        super().__init__()
        self.keys, self.values, self.repeats = keys, values, repeats
        self.device, self.is_initialized = keys.device, True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        k = self.keys.expand(self.repeats, *self.keys.shape[1:])
        v = self.values.expand(self.repeats, *self.values.shape[1:])
        return torch.cat([k, key_states], dim=-2), torch.cat([v, value_states], dim=-2)


def prefix_caches(repeats: int) -> tuple[Cache, Callable[[Cache], Cache]]:
    """``(writer, reader)``: a cache for the prefix pass (batch 1) and a function building, from it,
    the read-only cache of the completion pass (batch ``repeats``)."""
    writer = Cache(layer_class_to_replicate=_WriteOnceLayer)

    def reader(w: Cache) -> Cache:
        return Cache(layers=[_ReadOnlyLayer(lay.keys, lay.values, repeats) for lay in w.layers])

    return writer, reader


def enable_gradient_checkpointing(model: nn.Module, decoder_layers: list[nn.Module]) -> None:
    """Non-reentrant checkpointing of every layer, keeping our (idempotent) prefix caches."""
    kw = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.2x name
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kw)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kw)
    for layer in decoder_layers:
        layer._can_checkpoint_with_cache = True  # safe only with the caches above (replays are idempotent)
