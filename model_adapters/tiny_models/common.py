"""Shared pieces of the tiny twins: an in-process BPE tokenizer with a family's special tokens,
small text-decoder sizes, and saving a (model, processor) pair like a released checkpoint."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

TWIN_VERSION = 1


def train_bpe(special_tokens: list[str], vocab_size: int = 480, unk: str | None = None):
    """A byte-level BPE (``tokenizers.Tokenizer``) trained on the benchmarks' vocabulary, with
    ``special_tokens`` added after the merges in the given order (``unk``: the model's unknown
    token, placed first in the vocabulary)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from emorealm.model_adapters.tiny_models.omni import _CORPUS

    tok = Tokenizer(models.BPE(unk_token=unk))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=1, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[unk] if unk else [])
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    tok.add_special_tokens(special_tokens)
    return tok


def fast_tokenizer(cls, special_tokens: list[str], extra: dict[str, str], **kw):
    """``cls`` (a transformers fast tokenizer class) over a freshly trained BPE.

    ``extra`` names role tokens (``image_token`` -> ``"<image>"``) that processors read as
    ``tokenizer.image_token`` / ``tokenizer.image_token_id``.
    """
    return cls(tokenizer_object=train_bpe(special_tokens), extra_special_tokens=extra, **kw)


def ids(tokenizer, tokens) -> dict[str, int]:
    return {t: tokenizer.convert_tokens_to_ids(t) for t in tokens}


def text_config(tokenizer, eos: str, pad: str, hidden: int = 64, **extra) -> dict[str, Any]:
    """A two-layer decoder of head size 32 (vLLM on CPU needs >= 32) over ``tokenizer``'s vocabulary."""
    return {"vocab_size": len(tokenizer), "hidden_size": hidden, "intermediate_size": 2 * hidden,
            "num_hidden_layers": 2, "num_attention_heads": hidden // 32, "num_key_value_heads": 1, "head_dim": 32,
            "max_position_embeddings": 4096, "eos_token_id": tokenizer.convert_tokens_to_ids(eos),
            "pad_token_id": tokenizer.convert_tokens_to_ids(pad), "bos_token_id": None, "tie_word_embeddings": False,
            **extra}


def save_twin(out_dir: Path, arch: str, seed: int, make: Callable[[], tuple[Any, Any]]) -> Path:
    """Seed every RNG, build ``(model, processor)`` with ``make`` and save both (safetensors) into
    ``out_dir`` atomically, with the smoke-test marker that flags results from it."""
    import torch
    from transformers import set_seed

    from emorealm.model_adapters.tiny_models.omni import save_checkpoint

    set_seed(seed)
    torch.manual_seed(seed)
    model, processor = make()
    model = model.eval()
    tok = processor.tokenizer
    gen = getattr(model, "generation_config", None)
    if gen is not None:
        gen.eos_token_id = tok.eos_token_id
        gen.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    return save_checkpoint(out_dir, model, processor, {"name": f"tiny-{arch}", "architecture": arch,
                                                       "version": TWIN_VERSION, "seed": seed})
