"""Tiny twins of the LLaVA-style families: LLaVA-OneVision (Qwen2 + SigLIP), Video-LLaVA (Llama +
CLIP image and video towers) and InternVL (Qwen2 + InternViT). Chat templates follow the released
``-hf`` checkpoints (``llava-hf/llava-onevision-qwen2-*-ov-hf``, ``LanguageBind/Video-LLaVA-7B-hf``,
``OpenGVLab/InternVL3-*-hf``)."""

from __future__ import annotations

from pathlib import Path

from emorealm.model_adapters.tiny_models.common import fast_tokenizer, ids, save_twin, text_config

ONEVISION_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + ' '}}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>' }}{% endfor %}{# Render all video then #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}{{ '<video>' }}{% endfor %}"
    "{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ '\n' + content['text'] }}"
    "{% endfor %}{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ '\n' + content['text'] }}{% endgeneration %}{% endfor %}{% endif %}{{'<|im_end|>'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
VIDEO_LLAVA_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}"
    "{% endif %}{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{# Render all video then #}{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}"
    "{{ '<video>\n' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}"
    "{% endfor %}{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)
INTERNVL_SYSTEM = ("你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的"
                   "多模态大语言模型。")
INTERNVL_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "{{'<|im_start|>system\n" + INTERNVL_SYSTEM + "<|im_end|>\n'}}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n'}}{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' %}{{ '<IMG_CONTEXT>\n' }}"
    "{% elif content['type'] == 'video' %}{{ '<video>\n' }}{% elif content['type'] == 'text' %}{{ content['text'] }}"
    "{% endif %}{% endfor %}{% endif %}{{'<|im_end|>\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{'<|im_start|>assistant\n' }}{% endif %}"
)

QWEN_CHAT = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def _qwen_tokenizer(media: list[str], extra: dict[str, str]):
    from transformers import Qwen2TokenizerFast

    return fast_tokenizer(Qwen2TokenizerFast, QWEN_CHAT + media, extra, eos_token="<|im_end|>",
                          pad_token="<|endoftext|>", unk_token=None, bos_token=None, padding_side="left")


def _vision(kind: str, image_size: int) -> dict:
    return {"model_type": kind, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
            "num_attention_heads": 2, "image_size": image_size, "patch_size": 14}


def llava_onevision(out_dir: Path, seed: int) -> Path:
    """LLaVA-OneVision: SigLIP tower, anyres images, 2x2-pooled video frames."""
    def make():
        from transformers import (
            LlavaOnevisionConfig,
            LlavaOnevisionForConditionalGeneration,
            LlavaOnevisionImageProcessor,
            LlavaOnevisionProcessor,
        )
        from transformers.models.llava_onevision.video_processing_llava_onevision import (
            LlavaOnevisionVideoProcessor,
        )

        tok = _qwen_tokenizer(["<image>", "<video>"], {"image_token": "<image>", "video_token": "<video>"})
        t = ids(tok, ["<image>", "<video>"])
        size = {"height": 28, "width": 28}
        processor = LlavaOnevisionProcessor(
            image_processor=LlavaOnevisionImageProcessor(size=size, crop_size=size, image_grid_pinpoints=[[28, 28]]),
            video_processor=LlavaOnevisionVideoProcessor(size=size, crop_size=size),
            tokenizer=tok, num_image_tokens=4, vision_feature_select_strategy="full",
            chat_template=ONEVISION_TEMPLATE)
        config = LlavaOnevisionConfig(
            text_config={**text_config(tok, "<|im_end|>", "<|endoftext|>"), "model_type": "qwen2"},
            vision_config=_vision("siglip_vision_model", 28), image_token_index=t["<image>"],
            video_token_index=t["<video>"], vision_feature_select_strategy="full", vision_feature_layer=-1,
            image_grid_pinpoints=[[28, 28]], tie_word_embeddings=False)
        return LlavaOnevisionForConditionalGeneration(config), processor

    return save_twin(out_dir, "llava_onevision", seed, make)


def video_llava(out_dir: Path, seed: int) -> Path:
    """Video-LLaVA: Llama decoder, CLIP image and video towers, Vicuna-style USER/ASSISTANT turns."""
    def make():
        from transformers import (
            LlamaTokenizerFast,
            VideoLlavaConfig,
            VideoLlavaForConditionalGeneration,
            VideoLlavaImageProcessor,
            VideoLlavaProcessor,
        )
        from transformers.models.video_llava.video_processing_video_llava import VideoLlavaVideoProcessor

        specials = ["<unk>", "<s>", "</s>", "<pad>", "<image>", "<video>"]
        tok = fast_tokenizer(LlamaTokenizerFast, specials, {"image_token": "<image>", "video_token": "<video>"},
                             bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
                             padding_side="left")
        t = ids(tok, specials)
        size, crop = {"shortest_edge": 28}, {"height": 28, "width": 28}
        processor = VideoLlavaProcessor(
            image_processor=VideoLlavaImageProcessor(size=size, crop_size=crop),
            video_processor=VideoLlavaVideoProcessor(size=size, crop_size=crop),
            tokenizer=tok, patch_size=14, vision_feature_select_strategy="default", num_additional_image_tokens=1,
            chat_template=VIDEO_LLAVA_TEMPLATE)
        config = VideoLlavaConfig(
            text_config={**text_config(tok, "</s>", "<pad>"), "model_type": "llama"},
            vision_config=_vision("clip_vision_model", 28), image_token_index=t["<image>"],
            video_token_index=t["<video>"], vision_feature_select_strategy="default", vision_feature_layer=-2,
            tie_word_embeddings=False)
        return VideoLlavaForConditionalGeneration(config), processor

    return save_twin(out_dir, "video_llava", seed, make)


def internvl(out_dir: Path, seed: int) -> Path:
    """InternVL (3.x -hf layout): InternViT, pixel shuffle 0.5, frames as <img>...</img> per frame."""
    def make():
        from transformers import (
            GotOcr2ImageProcessor,
            InternVLConfig,
            InternVLForConditionalGeneration,
            InternVLProcessor,
        )
        from transformers.models.internvl.video_processing_internvl import InternVLVideoProcessor

        media = ["<img>", "</img>", "<IMG_CONTEXT>", "<video>"]
        tok = _qwen_tokenizer(media, {"start_image_token": "<img>", "end_image_token": "</img>",
                                      "context_image_token": "<IMG_CONTEXT>", "video_token": "<video>"})
        t = ids(tok, media)
        size = {"height": 56, "width": 56}
        processor = InternVLProcessor(
            image_processor=GotOcr2ImageProcessor(size=size, crop_to_patches=False, max_patches=1),
            video_processor=InternVLVideoProcessor(size=size), tokenizer=tok, image_seq_length=4,
            chat_template=INTERNVL_TEMPLATE)
        config = InternVLConfig(
            vision_config={"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                           "num_attention_heads": 2, "image_size": [56, 56], "patch_size": [14, 14]},
            text_config={**text_config(tok, "<|im_end|>", "<|endoftext|>"), "model_type": "qwen2"},
            image_token_id=t["<IMG_CONTEXT>"], downsample_ratio=0.5, vision_feature_layer=-1,
            vision_feature_select_strategy="default", tie_word_embeddings=False)
        return InternVLForConditionalGeneration(config), processor

    return save_twin(out_dir, "internvl", seed, make)
