"""Randomly initialised models of the supported architectures, for tests, benches and the GPU check.

Nothing here downloads weights: configs are built in code and the tokenizer/processor is tiny-omni's
(its special tokens carry the ids the configs point at). ``qwen25_omni_thinker(preset)`` gives the
Qwen2.5-Omni thinker at three sizes: ``tiny`` (tests), ``100m`` (bench/mcqa_prefix.py) and ``7b``
(the released Qwen2.5-Omni-7B thinker configuration, scripts/gpu_check.sh).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ThinkerDims:
    """Sizes of a Qwen2.5-Omni thinker (text decoder, vision encoder, audio encoder)."""

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    mrope_section: tuple[int, int, int]
    vocab: int | None  # None: the tokenizer's size
    rope_theta: float
    v_depth: int
    v_hidden: int
    v_intermediate: int
    v_heads: int
    v_fullatt: tuple[int, ...]
    a_layers: int
    a_d_model: int
    a_heads: int
    a_ffn: int


PRESETS: dict[str, ThinkerDims] = {
    "tiny": ThinkerDims(64, 128, 2, 2, 1, (4, 6, 6), None, 10000.0, 2, 64, 128, 2, (1,), 2, 64, 2, 128),
    # about 100M parameters: what bench/mcqa_prefix.py measures on CPU
    "100m": ThinkerDims(768, 2048, 10, 12, 4, (8, 12, 12), None, 1e6, 4, 512, 1376, 8, (1, 3), 4, 512, 8, 2048),
    # the released Qwen2.5-Omni-7B thinker (config.json of Qwen/Qwen2.5-Omni-7B, thinker_config)
    "7b": ThinkerDims(3584, 18944, 28, 28, 4, (16, 24, 24), 152064, 1e6, 32, 1280, 3420, 16, (7, 15, 23, 31),
                      32, 1280, 20, 5120),
}


def _special_ids(tokenizer) -> dict[str, int]:
    from emorealm.tiny import SPECIAL_TOKENS

    return {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}


def qwen25_omni_thinker_config(tokenizer, preset: str = "tiny"):
    """A ``Qwen2_5OmniThinkerConfig`` of ``preset`` size whose special ids match ``tokenizer``."""
    from transformers import Qwen2_5OmniThinkerConfig

    d = PRESETS[preset]
    ids = _special_ids(tokenizer)
    text: dict[str, Any] = {
        "vocab_size": d.vocab or len(tokenizer), "hidden_size": d.hidden, "intermediate_size": d.intermediate,
        "num_hidden_layers": d.layers, "num_attention_heads": d.heads, "num_key_value_heads": d.kv_heads,
        "max_position_embeddings": 32768,
        "rope_parameters": {"rope_type": "default", "rope_theta": d.rope_theta, "mrope_section": list(d.mrope_section)},
        "tie_word_embeddings": False, "eos_token_id": ids["<|im_end|>"], "pad_token_id": ids["<|endoftext|>"],
    }
    vision = {
        "depth": d.v_depth, "hidden_size": d.v_hidden, "intermediate_size": d.v_intermediate, "num_heads": d.v_heads,
        "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 112,
        "out_hidden_size": d.hidden, "fullatt_block_indexes": list(d.v_fullatt), "in_channels": 3,
    }
    audio = {
        "num_mel_bins": 128, "encoder_layers": d.a_layers, "encoder_attention_heads": d.a_heads,
        "encoder_ffn_dim": d.a_ffn, "d_model": d.a_d_model, "output_dim": d.hidden, "max_source_positions": 1500,
        "n_window": 100,
    }
    return Qwen2_5OmniThinkerConfig(
        text_config=text, vision_config=vision, audio_config=audio,
        audio_token_index=ids["<|AUDIO|>"], image_token_index=ids["<|IMAGE|>"], video_token_index=ids["<|VIDEO|>"],
        audio_start_token_id=ids["<|audio_bos|>"], audio_end_token_id=ids["<|audio_eos|>"],
        vision_start_token_id=ids["<|vision_bos|>"], vision_end_token_id=ids["<|vision_eos|>"],
        position_id_per_seconds=25, seconds_per_chunk=2, tie_word_embeddings=False,
    )


def tiny_processor():
    """tiny-omni's processor (the genuine Qwen2.5-Omni processor class over a small BPE)."""
    from emorealm.tiny import _build_processor, _train_tokenizer

    return _build_processor(_train_tokenizer())


def qwen25_omni_thinker(preset: str = "tiny", *, dtype=None, device: str = "cpu", seed: int = 0, processor=None):
    """(model, processor): a randomly initialised Qwen2.5-Omni thinker of ``preset`` size."""
    import torch
    from transformers import Qwen2_5OmniThinkerForConditionalGeneration

    processor = processor or tiny_processor()
    config = qwen25_omni_thinker_config(processor.tokenizer, preset)
    torch.manual_seed(seed)
    if dtype is not None:
        config.dtype = dtype
    with torch.device(device):
        model = Qwen2_5OmniThinkerForConditionalGeneration(config)
    if dtype is not None:
        model = model.to(dtype)
    return model.eval(), processor


def n_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
