"""Score several continuations of one prompt from a single cached prefix.

Multiple-choice log-likelihood asks for ``log p(option | media + prompt)`` for every option. The
naive way runs the whole model (audio and vision encoders included) once per option. Here the
prefix (media + prompt) runs once with ``use_cache=True``; the options' continuations then run as
one right-padded batch against the prefix's KV cache repeated along the batch dimension, so the
encoders never run again.

Two details make this equal to full forwards (tests/test_prefix_scoring.py, 1e-4 in float32):

* the first continuation token is predicted by the prefix's last logits, so single-token options
  (the usual ``A``/``B``/``C``/``D``) need no second forward at all;
* mRoPE models (Qwen2.5-Omni, Qwen3-Omni, Qwen2-VL family) give text tokens after the media the
  position ``cache position + rope delta`` in all three rotary sections. The continuation forward
  gets these explicit ``position_ids``; without them the model recomputes 3-D positions from the
  continuation alone and fails on a shape mismatch.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch


def _forward_params(model) -> set[str]:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # a PeftModel wraps the model
    return set(inspect.signature(base.forward).parameters)


def _cache_kw(model) -> str:
    """The name this transformers version uses for the KV cache argument."""
    return "cache" if "cache" in _forward_params(model) else "past_key_values"


def _output_cache(out) -> Any:
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)


def rope_deltas_of(model) -> torch.Tensor | None:
    """The mRoPE offset the last prefix forward left on the model (None for 1-D RoPE models)."""
    for module in model.modules():
        deltas = getattr(module, "rope_deltas", None)
        if isinstance(deltas, torch.Tensor):
            return deltas
    return None


def _uses_mrope(model) -> bool:
    return any(hasattr(m, "rope_deltas") for m in model.modules())


def reset_rope_deltas(model) -> None:
    """Forget the mRoPE offset of the last forward: a new sample's positions are computed afresh."""
    for m in model.modules():
        if hasattr(m, "rope_deltas"):
            m.rope_deltas = None


def continuation_positions(prefix_len: int, length: int, batch: int, rope_deltas: torch.Tensor | None,
                           device: torch.device | str) -> torch.Tensor:
    """Position ids for ``length`` text tokens after a cached prefix of ``prefix_len`` tokens.

    1-D RoPE: ``[batch, length]``. mRoPE: ``[3, batch, length]`` — a text token's position is the
    same in the temporal, height and width sections, shifted by the prefix's rope delta.
    """
    pos = torch.arange(prefix_len, prefix_len + length, device=device).view(1, -1).expand(batch, -1)
    if rope_deltas is None:
        return pos
    delta = rope_deltas.reshape(-1)[:1].to(device)  # one prefix: one delta
    return (pos + delta).unsqueeze(0).expand(3, -1, -1)


@torch.inference_mode()
def score_from_prefix(model, prefix_kwargs: dict[str, Any], continuations: Sequence[Sequence[int]],
                      ) -> list[tuple[float, bool]]:
    """``(log p(continuation | prefix), is_greedy)`` for every continuation, encoding the prefix once.

    ``prefix_kwargs`` are the model's inputs for the prefix alone (batch of one: ``input_ids``,
    ``attention_mask``, media features); ``continuations`` are token id lists (non-empty).
    """
    if any(len(c) == 0 for c in continuations):
        raise ValueError("every continuation needs at least one token")
    mrope = _uses_mrope(model)
    if mrope:
        reset_rope_deltas(model)  # stale deltas from an earlier sample must not be reused
    input_ids = prefix_kwargs["input_ids"]
    device = input_ids.device
    prefix_len = int(input_ids.shape[1])
    out = model(**prefix_kwargs, use_cache=True)
    first_logp = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
    results: list[tuple[float, bool] | None] = [None] * len(continuations)
    rest = [i for i, c in enumerate(continuations) if len(c) > 1]
    for i, cont in enumerate(continuations):
        if len(cont) == 1:
            results[i] = (float(first_logp[cont[0]]), bool(int(first_logp.argmax()) == cont[0]))
    if rest:
        cache = _output_cache(out)
        if cache is None:
            raise RuntimeError(f"{type(model).__name__} returned no KV cache; cannot score from a prefix")
        deltas = rope_deltas_of(model) if mrope else None
        del out
        n, length = len(rest), max(len(continuations[i]) for i in rest) - 1
        # feed tokens 0..n-2 of each continuation (their logits predict tokens 1..n-1), right-padded
        ids = torch.zeros(n, length, dtype=input_ids.dtype, device=device)
        mask = torch.zeros(n, prefix_len + length, dtype=torch.long, device=device)
        mask[:, :prefix_len] = prefix_kwargs.get("attention_mask", torch.ones_like(input_ids))[0]
        for row, i in enumerate(rest):
            toks = list(continuations[i])[:-1]
            ids[row, :len(toks)] = torch.tensor(toks, dtype=input_ids.dtype)
            mask[row, prefix_len:prefix_len + len(toks)] = 1
        if n > 1:
            cache.batch_repeat_interleave(n)
        pos = continuation_positions(prefix_len, length, n, deltas, device)
        cont_out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True,
                         **{_cache_kw(model): cache})
        logp = torch.log_softmax(cont_out.logits.float(), dim=-1)
        for row, i in enumerate(rest):
            cont = list(continuations[i])
            target = torch.tensor(cont[1:], device=logp.device)
            lp = logp[row, :len(cont) - 1].gather(1, target[:, None]).squeeze(1)
            ll = float(first_logp[cont[0]]) + float(lp.sum())
            greedy = int(first_logp.argmax()) == cont[0] and bool((logp[row, :len(cont) - 1].argmax(-1) == target).all())
            results[i] = (ll, greedy)
    return results  # type: ignore[return-value]


@torch.inference_mode()
def last_token_logprobs(model, batch_kwargs: dict[str, Any]) -> torch.Tensor:
    """``[batch, vocab]`` log-probabilities of the token after each (left-padded) prompt of a batch.

    Enough to score single-token options (``A``/``B``/...) of several questions in one forward.
    """
    reset_rope_deltas(model)  # stale deltas from an earlier sample must not be reused
    logits = model(**batch_kwargs, use_cache=False).logits[:, -1]
    return torch.log_softmax(logits.float(), dim=-1)


@torch.inference_mode()
def score_naive(model, prefix_kwargs: dict[str, Any], continuations: Sequence[Sequence[int]],
                ) -> list[tuple[float, bool]]:
    """Reference: one full forward (encoders included) per continuation. Used by tests and benches."""
    out: list[tuple[float, bool]] = []
    p = int(prefix_kwargs["input_ids"].shape[1])
    for cont in continuations:
        kw = dict(prefix_kwargs)
        ids = torch.tensor([list(cont)], dtype=kw["input_ids"].dtype, device=kw["input_ids"].device)
        shape = kw["input_ids"].shape
        for name, value in prefix_kwargs.items():
            # per-token side inputs (e.g. Qwen2-VL's mm_token_type_ids): text tokens are type 0
            if isinstance(value, torch.Tensor) and value.shape == shape and name not in ("input_ids", "attention_mask"):
                kw[name] = torch.cat([value, torch.zeros_like(ids, dtype=value.dtype)], dim=1)
        kw["input_ids"] = torch.cat([kw["input_ids"], ids], dim=1)
        kw["attention_mask"] = torch.cat([kw["attention_mask"], torch.ones_like(ids)], dim=1)
        reset_rope_deltas(model)
        logits = model(**kw).logits[0].float()
        logp = torch.log_softmax(logits[p - 1:p - 1 + len(cont)], dim=-1)
        target = ids[0].to(logp.device)
        out.append((float(logp.gather(1, target[:, None]).sum()), bool((logp.argmax(-1) == target).all())))
    return out
