"""Randomly initialised models of the supported architectures, for tests, benches and the GPU check.

Nothing here downloads weights: configs are built in code and the tokenizer/processor is tiny-omni's
(its special tokens carry the ids the configs point at). ``qwen25_omni_thinker(preset)`` gives the
Qwen2.5-Omni thinker at three sizes: ``tiny`` (tests), ``100m`` (bench/mcqa_prefix.py) and ``7b``
(the released Qwen2.5-Omni-7B thinker configuration, scripts/gpu_check.sh).
"""

from __future__ import annotations

from typing import Any

from emorealm.model_adapters.tiny_models.omni_config import PRESETS, thinker_config


def _special_ids(tokenizer) -> dict[str, int]:
    from emorealm.model_adapters.tiny_models.omni import SPECIAL_TOKENS

    return {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}


def qwen25_omni_thinker_config(tokenizer, preset: str = "tiny"):
    """A ``Qwen2_5OmniThinkerConfig`` of ``preset`` size whose special ids match ``tokenizer``."""
    return thinker_config(_special_ids(tokenizer), len(tokenizer), PRESETS[preset])


def tiny_processor():
    """tiny-omni's processor (the genuine Qwen2.5-Omni processor class over a small BPE)."""
    from emorealm.model_adapters.tiny_models.omni import _build_processor, _train_tokenizer

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


def _text_config(tokenizer, hidden: int = 64, **extra) -> dict[str, Any]:
    ids = _special_ids(tokenizer)
    return {"vocab_size": len(tokenizer), "hidden_size": hidden, "intermediate_size": 2 * hidden,
            "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32,
            "max_position_embeddings": 4096, "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"], "tie_word_embeddings": False, **extra}


def _vision_bits():
    from transformers import Qwen2VLImageProcessor
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    return Qwen2VLImageProcessor, Qwen2VLVideoProcessor


def tiny_qwen3_omni(tokenizer=None, seed: int = 0):
    """(thinker, processor): a tiny random Qwen3-Omni MoE thinker (4 experts, 2 active)."""
    import torch
    from transformers import (
        Qwen3OmniMoeProcessor,
        Qwen3OmniMoeThinkerConfig,
        Qwen3OmniMoeThinkerForConditionalGeneration,
        WhisperFeatureExtractor,
    )

    from emorealm.model_adapters.tiny_models.omni import CHAT_TEMPLATE

    tokenizer = tokenizer or tiny_processor().tokenizer
    image_cls, video_cls = _vision_bits()
    ids = _special_ids(tokenizer)
    processor = Qwen3OmniMoeProcessor(
        image_processor=image_cls(patch_size=16, min_pixels=4 * 32 * 32, max_pixels=16 * 32 * 32),
        video_processor=video_cls(patch_size=16, size={"shortest_edge": 4 * 32 * 32, "longest_edge": 16 * 32 * 32},
                                  do_sample_frames=False),
        feature_extractor=WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, return_attention_mask=True),
        tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)
    config = Qwen3OmniMoeThinkerConfig(
        text_config=_text_config(tokenizer, moe_intermediate_size=32, num_experts=4, num_experts_per_tok=2,
                                 rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                                  "mrope_section": [4, 6, 6], "mrope_interleaved": True}),
        vision_config={"depth": 2, "hidden_size": 64, "intermediate_size": 128, "num_heads": 2, "patch_size": 16,
                       "out_hidden_size": 64, "num_position_embeddings": 64, "deepstack_visual_indexes": [0]},
        audio_config={"encoder_layers": 2, "encoder_attention_heads": 2, "encoder_ffn_dim": 128, "d_model": 64,
                      "output_dim": 64, "downsample_hidden_size": 32, "n_window": 50},
        audio_token_id=ids["<|AUDIO|>"], image_token_id=ids["<|IMAGE|>"], video_token_id=ids["<|VIDEO|>"],
        audio_start_token_id=ids["<|audio_bos|>"], audio_end_token_id=ids["<|audio_eos|>"],
        vision_start_token_id=ids["<|vision_bos|>"], vision_end_token_id=ids["<|vision_eos|>"],
        user_token_id=0, position_id_per_seconds=13)
    torch.manual_seed(seed)
    return Qwen3OmniMoeThinkerForConditionalGeneration(config).eval(), processor


def tiny_qwen2_vl(tokenizer=None, seed: int = 0):
    """(model, processor): a tiny random Qwen2-VL — a generic video-only model (no audio input)."""
    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor

    from emorealm.model_adapters.tiny_models.omni import CHAT_TEMPLATE

    tokenizer = tokenizer or tiny_processor().tokenizer
    image_cls, video_cls = _vision_bits()
    ids = _special_ids(tokenizer)
    processor = Qwen2VLProcessor(
        image_processor=image_cls(min_pixels=4 * 28 * 28, max_pixels=16 * 28 * 28),
        video_processor=video_cls(size={"shortest_edge": 4 * 28 * 28, "longest_edge": 16 * 28 * 28},
                                  do_sample_frames=False),
        tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)
    config = Qwen2VLConfig(
        text_config=_text_config(tokenizer, rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                                             "mrope_section": [4, 6, 6]}),
        vision_config={"depth": 2, "embed_dim": 64, "hidden_size": 64, "num_heads": 2, "mlp_ratio": 2,
                       "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2},
        image_token_id=ids["<|IMAGE|>"], video_token_id=ids["<|VIDEO|>"],
        vision_start_token_id=ids["<|vision_bos|>"], vision_end_token_id=ids["<|vision_eos|>"],
        tie_word_embeddings=False)
    torch.manual_seed(seed)
    return Qwen2VLForConditionalGeneration(config).eval(), processor


def tiny_qwen2_audio(tokenizer=None, seed: int = 0):
    """(model, processor): a tiny random Qwen2-Audio — a generic audio-only model (no frames)."""
    import torch
    from transformers import (
        Qwen2AudioConfig,
        Qwen2AudioForConditionalGeneration,
        Qwen2AudioProcessor,
        WhisperFeatureExtractor,
    )

    from emorealm.model_adapters.tiny_models.omni import CHAT_TEMPLATE

    tokenizer = tokenizer or tiny_processor().tokenizer
    ids = _special_ids(tokenizer)
    processor = Qwen2AudioProcessor(
        feature_extractor=WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, return_attention_mask=True),
        tokenizer=tokenizer, chat_template=CHAT_TEMPLATE, audio_token="<|AUDIO|>",
        audio_bos_token="<|audio_bos|>", audio_eos_token="<|audio_eos|>")
    config = Qwen2AudioConfig(
        text_config={**_text_config(tokenizer), "model_type": "qwen2"},
        audio_config={"num_mel_bins": 128, "encoder_layers": 2, "encoder_attention_heads": 2,
                      "encoder_ffn_dim": 128, "d_model": 64, "max_source_positions": 1500},
        audio_token_index=ids["<|AUDIO|>"])
    torch.manual_seed(seed)
    return Qwen2AudioForConditionalGeneration(config).eval(), processor


TINY_BUILDERS = {"qwen3_omni_moe": tiny_qwen3_omni, "qwen2_vl": tiny_qwen2_vl, "qwen2_audio": tiny_qwen2_audio}


def save_tiny(arch: str, out_dir):
    """Build the tiny random ``arch`` model and save it (safetensors + processor) like a released one."""
    from pathlib import Path

    model, processor = TINY_BUILDERS[arch]()
    out = Path(out_dir)
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    return out
