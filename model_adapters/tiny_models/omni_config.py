"""The one builder of Qwen2.5-Omni configs of a chosen size, in code (nothing downloaded).

tiny-omni and toy-omni (``emorealm.model_adapters.tiny_models.omni``, ``emorealm.toyworld.omni``: full thinker + talker
config, audio output off), the random thinkers of tests and benches and the released-size thinker of
the GPU check (``random_configs``) all come from :func:`thinker_config` at some :class:`ThinkerDims`.
The special-token ids are the tokenizer's (``ids``: token → id), so the config points where the
tokenizer does. A change here changes the cached tiny-omni's config: bump ``TINY_VERSION`` then.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
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
    max_positions: int = 32768


PRESETS: dict[str, ThinkerDims] = {
    "tiny": ThinkerDims(64, 128, 2, 2, 1, (4, 6, 6), None, 10000.0, 2, 64, 128, 2, (1,), 2, 64, 2, 128),
    # about 100M parameters: what bench/mcqa_prefix.py measures on CPU
    "100m": ThinkerDims(768, 2048, 10, 12, 4, (8, 12, 12), None, 1e6, 4, 512, 1376, 8, (1, 3), 4, 512, 8, 2048),
    # the released Qwen2.5-Omni-7B thinker (config.json of Qwen/Qwen2.5-Omni-7B, thinker_config)
    "7b": ThinkerDims(3584, 18944, 28, 28, 4, (16, 24, 24), 152064, 1e6, 32, 1280, 3420, 16, (7, 15, 23, 31),
                      32, 1280, 20, 5120),
}


def tiny_omni_dims(hidden: int = 64, layers: int = 2) -> ThinkerDims:
    """tiny-omni's sizes at ``hidden`` width and ``layers`` depth: head size 32 (vLLM CPU needs >= 32),
    one key/value head, 4096 positions; the encoders stay at the tiny preset's."""
    return replace(PRESETS["tiny"], hidden=hidden, intermediate=2 * hidden, layers=layers, heads=hidden // 32,
                   max_positions=4096)


def thinker_config(ids: Mapping[str, int], vocab: int, dims: ThinkerDims, **extra: Any):
    """A ``Qwen2_5OmniThinkerConfig`` of ``dims`` whose special ids are ``ids`` (``vocab``: the
    tokenizer's size, used when ``dims.vocab`` is None); ``extra`` goes to the config as given."""
    from transformers import Qwen2_5OmniThinkerConfig

    d = dims
    text: dict[str, Any] = {
        "vocab_size": d.vocab or vocab, "hidden_size": d.hidden, "intermediate_size": d.intermediate,
        "num_hidden_layers": d.layers, "num_attention_heads": d.heads, "num_key_value_heads": d.kv_heads,
        "max_position_embeddings": d.max_positions,
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
        position_id_per_seconds=25, seconds_per_chunk=2, tie_word_embeddings=False, **extra,
    )


_SHARED_IDS = ("audio_token_index", "image_token_index", "video_token_index", "audio_start_token_id",
               "audio_end_token_id", "vision_start_token_id", "vision_end_token_id")


def omni_config(ids: Mapping[str, int], vocab: int, dims: ThinkerDims, user_token_id: int):
    """A full ``Qwen2_5OmniConfig`` (thinker + talker, audio output off) as the released checkpoints
    ship: the talker is never instantiated, but its config is saved, with its ids inside the vocabulary
    so no loader trips over them."""
    from transformers import Qwen2_5OmniConfig

    thinker = thinker_config(ids, vocab, dims, vision_token_id=ids["<|vision_pad|>"], user_token_id=user_token_id)
    codec = vocab
    talker = {
        "vocab_size": vocab + 8, "hidden_size": dims.hidden, "embedding_size": dims.hidden,
        "intermediate_size": 2 * dims.hidden, "num_hidden_layers": 1, "num_attention_heads": dims.hidden // 32,
        "num_key_value_heads": 1, "head_dim": 32, "layer_types": ["full_attention"], "max_window_layers": 1,
        "tts_text_pad_token_id": ids["<|tts_pad|>"], "tts_text_start_token_id": ids["<|tts_text_bos|>"],
        "tts_text_end_token_id": ids["<|tts_text_eod|>"], "tts_codec_pad_token_id": codec,
        "tts_codec_start_token_id": codec + 1, "tts_codec_end_token_id": codec + 2,
        "tts_codec_mask_token_id": codec + 3, **{k: getattr(thinker, k) for k in _SHARED_IDS},
    }
    return Qwen2_5OmniConfig(thinker_config=thinker.to_dict(), talker_config=talker, enable_audio_output=False)
