"""Tiny twins of the families that take audio and images but no video: Gemma 3n and
Phi-4-multimodal. The HF adapter gives them a clip as sampled frames (frames as images) plus its
audio. Chat templates follow the released ``google/gemma-3n-E*B-it`` and the transformers-native
``microsoft/Phi-4-multimodal-instruct`` processor."""

from __future__ import annotations

from pathlib import Path

from emorealm.model_adapters.tiny_models.common import fast_tokenizer, ids, save_twin, train_bpe

GEMMA3N_TEMPLATE = (
    "{{ bos_token }}{%- if messages[0]['role'] == 'system' -%}"
    "{%- if messages[0]['content'] is string -%}{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}"
    "{%- else -%}{%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}{%- endif -%}"
    "{%- set loop_messages = messages[1:] -%}{%- else -%}{%- set first_user_prefix = \"\" -%}"
    "{%- set loop_messages = messages -%}{%- endif -%}{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}{%- endif -%}"
    "{%- if (message['role'] == 'assistant') -%}{%- set role = \"model\" -%}{%- else -%}"
    "{%- set role = message['role'] -%}{%- endif -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else \"\") }}"
    "{%- if message['content'] is string -%}{{ message['content'] | trim }}"
    "{%- elif message['content'] is iterable -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'audio' -%}{{ '<audio_soft_token>' }}{%- elif item['type'] == 'image' -%}"
    "{{ '<image_soft_token>' }}{%- elif item['type'] == 'text' -%}{{ item['text'] | trim }}{%- endif -%}"
    "{%- endfor -%}{%- else -%}{{ raise_exception(\"Invalid content type\") }}{%- endif -%}"
    "{{ '<end_of_turn>\n' }}{%- endfor -%}{%- if add_generation_prompt -%}{{'<start_of_turn>model\n'}}{%- endif -%}"
)
PHI4_TEMPLATE = (
    "{% for message in messages %}{{ '<|' + message['role'] + '|>' }}{% if message['content'] is string %}"
    "{{ message['content'] }}{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}{{ '<|image|>' }}{% elif content['type'] == 'audio' %}{{ '<|audio|>' }}"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{{ '<|end|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}"
)

# Gemma 3n embeds the ids above the text vocabulary with its vision (128 ids) and audio (128 ids)
# embedders; the released tokenizer puts <end_of_image>/<image_soft_token> and
# <end_of_audio>/<audio_soft_token> first in those two blocks.
_GEMMA_TEXT = ["<pad>", "<eos>", "<bos>", "<mask>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>",
               "<start_of_audio>"]
_GEMMA_VISION = ["<end_of_image>", "<image_soft_token>"] + [f"<unused_vision_{i}>" for i in range(126)]
_GEMMA_AUDIO = ["<end_of_audio>", "<audio_soft_token>"] + [f"<unused_audio_{i}>" for i in range(126)]
GEMMA_IMAGE_TOKENS = 4  # the timm backbone's 2x2 feature map of a 64x64 frame
GEMMA_AUDIO_TOKENS = 188  # the released count: 30 s of audio at 6.25 tokens per second


def gemma3n(out_dir: Path, seed: int) -> Path:
    """Gemma 3n: AltUp/LAuReL decoder, USM-style audio encoder, a timm vision backbone.

    The released MobileNet-v5 (300M parameters) is swapped for timm's ``test_convnext`` so the twin
    stays small; everything else (embedders, soft-token layout, processor) is the family's own.
    """
    def make():
        from transformers import (
            Gemma3nAudioFeatureExtractor,
            Gemma3nConfig,
            Gemma3nForConditionalGeneration,
            Gemma3nProcessor,
            GemmaTokenizerFast,
            SiglipImageProcessor,
        )

        specials = _GEMMA_TEXT + _GEMMA_VISION + _GEMMA_AUDIO
        extra = {"image_token": "<image_soft_token>", "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>",
                 "audio_token": "<audio_soft_token>", "boa_token": "<start_of_audio>", "eoa_token": "<end_of_audio>"}
        tok = GemmaTokenizerFast(tokenizer_object=train_bpe(specials, unk="<unk>"), extra_special_tokens=extra, bos_token="<bos>",
                                 eos_token="<end_of_turn>", pad_token="<pad>", unk_token="<unk>", mask_token="<mask>",
                                 padding_side="left")
        t = ids(tok, specials)
        vocab = len(tok)
        text_vocab = t["<end_of_image>"]
        assert vocab == text_vocab + 256, (vocab, text_vocab)
        processor = Gemma3nProcessor(
            feature_extractor=Gemma3nAudioFeatureExtractor(),
            image_processor=SiglipImageProcessor(size={"height": 64, "width": 64}, resample=2),
            tokenizer=tok, chat_template=GEMMA3N_TEMPLATE, audio_seq_length=GEMMA_AUDIO_TOKENS,
            image_seq_length=GEMMA_IMAGE_TOKENS)
        config = Gemma3nConfig(
            text_config={"vocab_size": vocab, "vocab_size_per_layer_input": text_vocab, "hidden_size": 64,
                         "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
                         "num_key_value_heads": 1, "head_dim": 32, "hidden_size_per_layer_input": 16,
                         "laurel_rank": 8, "altup_num_inputs": 2, "num_kv_shared_layers": 0,
                         "layer_types": ["sliding_attention", "full_attention"], "sliding_window": 64,
                         "activation_sparsity_pattern": [0.0, 0.0], "max_position_embeddings": 4096,
                         "pad_token_id": t["<pad>"], "eos_token_id": t["<end_of_turn>"], "bos_token_id": t["<bos>"]},
            vision_config={"architecture": "test_convnext", "hidden_size": 64, "vocab_offset": text_vocab},
            audio_config={"hidden_size": 64, "conf_num_attention_heads": 2, "conf_num_hidden_layers": 1,
                          "sscp_conv_channel_size": [16, 8], "vocab_offset": text_vocab + 128},
            audio_soft_tokens_per_image=GEMMA_AUDIO_TOKENS, vision_soft_tokens_per_image=GEMMA_IMAGE_TOKENS,
            boi_token_id=t["<start_of_image>"], eoi_token_id=t["<end_of_image>"],
            image_token_id=t["<image_soft_token>"], boa_token_id=t["<start_of_audio>"],
            eoa_token_id=t["<end_of_audio>"], audio_token_id=t["<audio_soft_token>"], tie_word_embeddings=True)
        return Gemma3nForConditionalGeneration(config), processor

    return save_twin(out_dir, "gemma3n", seed, make)


def phi4_multimodal(out_dir: Path, seed: int) -> Path:
    """Phi-4-multimodal: Phi-3 decoder, SigLIP-style image encoder with HD crops, conformer audio."""
    def make():
        from transformers import (
            GPT2TokenizerFast,
            Phi4MultimodalConfig,
            Phi4MultimodalFeatureExtractor,
            Phi4MultimodalForCausalLM,
            Phi4MultimodalImageProcessor,
            Phi4MultimodalProcessor,
        )

        specials = ["<|endoftext|>", "<|image|>", "<|audio|>", "<|assistant|>", "<|end|>", "<|user|>", "<|system|>"]
        tok = fast_tokenizer(GPT2TokenizerFast, specials, {"image_token": "<|image|>", "audio_token": "<|audio|>"},
                             bos_token="<|endoftext|>", eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                             unk_token="<|endoftext|>", padding_side="left")
        tok.chat_template = PHI4_TEMPLATE
        t = ids(tok, specials)
        processor = Phi4MultimodalProcessor(
            image_processor=Phi4MultimodalImageProcessor(dynamic_hd=1),  # its token count assumes 448-pixel crops
            audio_processor=Phi4MultimodalFeatureExtractor(), tokenizer=tok, chat_template=PHI4_TEMPLATE)
        config = Phi4MultimodalConfig(
            vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=1, max_position_embeddings=16384, original_max_position_embeddings=16384,
            bos_token_id=t["<|endoftext|>"], pad_token_id=t["<|endoftext|>"], eos_token_id=t["<|end|>"],
            vision_config={"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                           "num_attention_heads": 2, "image_size": 448, "crop_size": 448, "patch_size": 14,
                           "image_token_id": t["<|image|>"]},
            audio_config={"hidden_size": 64, "intermediate_size": 128, "num_blocks": 2, "num_attention_heads": 2,
                          "ext_pw_out_channel": 64, "depthwise_separable_out_channel": 64, "nemo_conv_channels": 64,
                          "audio_token_id": t["<|audio|>"]})
        return Phi4MultimodalForCausalLM(config), processor

    return save_twin(out_dir, "phi4_multimodal", seed, make)
