"""Tiny twins of the Qwen families: Qwen2.5-Omni, Qwen3-Omni MoE, Qwen2-VL, Qwen2.5-VL, Qwen3-VL and
Qwen2-Audio. The Omni, Qwen2-VL and Qwen2-Audio twins reuse the builders of ``emorealm.model_adapters.tiny_models.omni`` and
``random_configs`` (tiny-omni's tokenizer); the VL twins carry their own family's special tokens and
chat templates (as released on the hub: ``Qwen/Qwen2.5-VL-*-Instruct``, ``Qwen/Qwen3-VL-*-Instruct``)."""

from __future__ import annotations

from pathlib import Path

from emorealm.model_adapters.tiny_models.common import fast_tokenizer, ids, save_twin, text_config

VL_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
              "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]
VL_EXTRA = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
            "vision_bos_token": "<|vision_start|>", "vision_eos_token": "<|vision_end|>"}


def _vl_template(default_system: str | None) -> str:
    """Qwen-VL chat template: images/videos as <|vision_start|><|image_pad|/video_pad|><|vision_end|>."""
    system = ("{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n" + default_system
              + "<|im_end|>\n{% endif %}") if default_system else ""
    return (
        "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
        "{% for message in messages %}" + system + "<|im_start|>{{ message['role'] }}\n"
        "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}"
        "{% for content in message['content'] %}"
        "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
        "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
        "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
        "{% elif content['type'] == 'video' or 'video' in content %}"
        "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video {{ video_count.value }}: "
        "{% endif %}<|vision_start|><|video_pad|><|vision_end|>"
        "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )


def _vl_tokenizer():
    from transformers import Qwen2TokenizerFast

    return fast_tokenizer(Qwen2TokenizerFast, VL_SPECIAL, VL_EXTRA, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                          unk_token=None, bos_token=None, padding_side="left")


def qwen2_5_omni(out_dir: Path, seed: int) -> Path:
    """tiny-omni's architecture (full thinker + talker config, audio output off) at ``seed``."""
    def make():
        from transformers import Qwen2_5OmniForConditionalGeneration

        from emorealm.model_adapters.tiny_models.omni import _build_processor, _train_tokenizer, tiny_config

        processor = _build_processor(_train_tokenizer())
        return Qwen2_5OmniForConditionalGeneration(tiny_config(processor.tokenizer)), processor

    return save_twin(out_dir, "qwen2_5_omni", seed, make)


def _reuse(name: str):
    def build(out_dir: Path, seed: int) -> Path:
        from emorealm.model_adapters import random_configs

        fn = {"qwen3_omni_moe": random_configs.tiny_qwen3_omni, "qwen2_vl": random_configs.tiny_qwen2_vl,
              "qwen2_audio": random_configs.tiny_qwen2_audio}[name]
        return save_twin(out_dir, name, seed, lambda: fn(seed=seed))

    build.__name__ = name
    build.__doc__ = f"The tiny {name} of ``random_configs`` at ``seed``."
    return build


qwen3_omni_moe = _reuse("qwen3_omni_moe")
qwen2_vl = _reuse("qwen2_vl")
qwen2_audio = _reuse("qwen2_audio")


def qwen2_5_vl(out_dir: Path, seed: int) -> Path:
    """Qwen2.5-VL (windowed ViT, mRoPE) with its released template's default system prompt."""
    def make():
        from transformers import (
            Qwen2_5_VLConfig,
            Qwen2_5_VLForConditionalGeneration,
            Qwen2_5_VLProcessor,
            Qwen2VLImageProcessor,
        )
        from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

        tok = _vl_tokenizer()
        t = ids(tok, VL_SPECIAL)
        processor = Qwen2_5_VLProcessor(
            image_processor=Qwen2VLImageProcessor(min_pixels=4 * 28 * 28, max_pixels=16 * 28 * 28),
            video_processor=Qwen2VLVideoProcessor(size={"shortest_edge": 4 * 28 * 28, "longest_edge": 16 * 28 * 28},
                                                  do_sample_frames=False),
            tokenizer=tok, chat_template=_vl_template("You are a helpful assistant."))
        config = Qwen2_5_VLConfig(
            text_config=text_config(tok, "<|im_end|>", "<|endoftext|>", rope_parameters={
                "rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 6, 6]}),
            vision_config={"depth": 2, "hidden_size": 64, "intermediate_size": 128, "num_heads": 2,
                           "out_hidden_size": 64, "patch_size": 14, "spatial_merge_size": 2,
                           "temporal_patch_size": 2, "window_size": 112, "fullatt_block_indexes": [1]},
            **_vision_token_ids(t), tie_word_embeddings=False)
        return Qwen2_5_VLForConditionalGeneration(config), processor

    return save_twin(out_dir, "qwen2_5_vl", seed, make)


def _vision_token_ids(t: dict[str, int]) -> dict[str, int]:
    """The Qwen-VL configs' four placeholder/delimiter token ids (same names in Qwen2.5-VL and Qwen3-VL)."""
    return {"image_token_id": t["<|image_pad|>"], "video_token_id": t["<|video_pad|>"],
            "vision_start_token_id": t["<|vision_start|>"], "vision_end_token_id": t["<|vision_end|>"]}


def qwen3_vl(out_dir: Path, seed: int) -> Path:
    """Qwen3-VL (16-pixel patches, deepstack, interleaved mRoPE, timestamped video frames)."""
    def make():
        from transformers import Qwen2VLImageProcessor, Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor
        from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

        tok = _vl_tokenizer()
        t = ids(tok, VL_SPECIAL)
        processor = Qwen3VLProcessor(
            image_processor=Qwen2VLImageProcessor(patch_size=16, min_pixels=4 * 32 * 32, max_pixels=16 * 32 * 32),
            video_processor=Qwen3VLVideoProcessor(patch_size=16, size={"shortest_edge": 4 * 32 * 32,
                                                                       "longest_edge": 16 * 32 * 32},
                                                  do_sample_frames=False),
            tokenizer=tok, chat_template=_vl_template(None))
        config = Qwen3VLConfig(
            text_config=text_config(tok, "<|im_end|>", "<|endoftext|>", rope_parameters={
                "rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 6, 6], "mrope_interleaved": True}),
            vision_config={"depth": 2, "hidden_size": 64, "intermediate_size": 128, "num_heads": 2, "patch_size": 16,
                           "out_hidden_size": 64, "num_position_embeddings": 64, "deepstack_visual_indexes": [0]},
            **_vision_token_ids(t), tie_word_embeddings=False)
        return Qwen3VLForConditionalGeneration(config), processor

    return save_twin(out_dir, "qwen3_vl", seed, make)
