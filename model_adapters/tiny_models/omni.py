"""tiny-omni: a seeded, randomly initialised Qwen2.5-Omni checkpoint built offline.

It is a *real* architecture (``qwen2_5_omni`` config wrapping a thinker config, audio output off,
no talker) with a byte-level BPE tokenizer trained in process and the genuine transformers
processor, saved with ``save_pretrained`` and loaded back with ``from_pretrained`` like any released
checkpoint. It knows nothing: answers are random. Results from it are flagged as smoke-test results.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from emorealm.paths import tiny_omni_dir

TINY_SEED = 1234
TINY_MARKER = "emorealm_tiny_omni"
TINY_VERSION = 1

# Special tokens in the order (and with the roles) of the released Qwen2.5-Omni tokenizer.
SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>",
    "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_bos|>", "<|vision_eos|>",
    "<|vision_pad|>", "<|IMAGE|>", "<|VIDEO|>", "<|tts_pad|>", "<|tts_text_bos|>", "<|tts_text_eod|>",
]
EXTRA_SPECIAL = {
    "image_token": "<|IMAGE|>", "audio_token": "<|AUDIO|>", "video_token": "<|VIDEO|>",
    "vision_bos_token": "<|vision_bos|>", "vision_eos_token": "<|vision_eos|>",
    "audio_bos_token": "<|audio_bos|>", "audio_eos_token": "<|audio_eos|>",
}
SYSTEM_PROMPT = (
    "You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of perceiving "
    "auditory and visual inputs, as well as generating text and speech."
)
# The released Qwen2.5-Omni chat template (media placeholders wrapped in bos/eos markers).
CHAT_TEMPLATE = (
    "{% set audio_count = namespace(value=0) %}{% set image_count = namespace(value=0) %}"
    "{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n" + SYSTEM_PROMPT + "<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}<|vision_bos|><|IMAGE|><|vision_eos|>"
    "{% elif content['type'] == 'audio' or 'audio' in content or 'audio_url' in content %}"
    "{% set audio_count.value = audio_count.value + 1 %}<|audio_bos|><|AUDIO|><|audio_eos|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}<|vision_bos|><|VIDEO|><|vision_eos|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Text the BPE is trained on: the vocabulary of the benchmarks' prompts and answers.
_CORPUS = [
    "Describe the emotion of the person in the video in one word.",
    "Describe the emotion of the person in the video in detail.",
    "What emotion does the speaker's tone of voice convey? (A) happiness (B) sadness (C) anger (D) fear",
    "Does the rising pitch in the audio contribute to the surprise of the person? (A) Yes (B) No",
    "Is the emotion in the audio consistent with the facial expression in the video? (A) Yes (B) No",
    "happy happiness sad sadness neutral angry anger surprise surprised disgust disgusted fear fearful calm",
    "The answer is (A). The answer is (B). The answer is (C). The answer is (D). Answer: A B C D Yes No",
    "The person frowns, raises the eyebrows, smiles, cries, shouts, whispers and speaks loudly or softly.",
    "You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of perceiving "
    "auditory and visual inputs, as well as generating text and speech.",
    "system user assistant 0 1 2 3 4 5 6 7 8 9 . , ! ? : ; ( ) [ ] ' \" - \n",
]


def _train_tokenizer(vocab_size: int = 480):
    """Byte-level BPE trained in process; special tokens get the ids that follow the merges."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=1, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    tok.add_special_tokens(SPECIAL_TOKENS)
    return tok


def _build_processor(tokenizer_object):
    from transformers import (
        Qwen2_5OmniProcessor,
        Qwen2TokenizerFast,
        Qwen2VLImageProcessor,
        WhisperFeatureExtractor,
    )
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    tokenizer = Qwen2TokenizerFast(
        tokenizer_object=tokenizer_object,
        eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token=None, bos_token=None,
        extra_special_tokens=EXTRA_SPECIAL, model_max_length=32768, padding_side="left",
    )
    # The released checkpoints' preprocessing (128 mel bins, 14-pixel patches, merge 2) with the
    # tiny model's smaller pixel caps, so CPU tests stay fast.
    feature_extractor = WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, return_attention_mask=True)
    image_processor = Qwen2VLImageProcessor(min_pixels=4 * 28 * 28, max_pixels=16 * 28 * 28)
    video_processor = Qwen2VLVideoProcessor(
        size={"shortest_edge": 4 * 28 * 28, "longest_edge": 16 * 28 * 28}, do_sample_frames=False
    )
    return Qwen2_5OmniProcessor(
        image_processor=image_processor, video_processor=video_processor,
        feature_extractor=feature_extractor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE,
    )


def tiny_config(tokenizer, hidden: int = 64, layers: int = 2):
    """A Qwen2.5-Omni config of well under a million parameters; head size 32 (vLLM CPU needs >= 32)."""
    from emorealm.model_adapters.tiny_models.omni_config import omni_config, tiny_omni_dims

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    return omni_config(ids, len(tokenizer), tiny_omni_dims(hidden, layers),
                       user_token_id=tokenizer.convert_tokens_to_ids("user") or 0)


def build_tiny_omni(out_dir: str | Path) -> Path:
    """Build tiny-omni into ``out_dir`` (atomically: a temp folder renamed into place)."""
    import torch
    from transformers import Qwen2_5OmniForConditionalGeneration, set_seed

    set_seed(TINY_SEED)
    processor = _build_processor(_train_tokenizer())
    config = tiny_config(processor.tokenizer)
    torch.manual_seed(TINY_SEED)
    model = Qwen2_5OmniForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    return save_checkpoint(out_dir, model, processor, {"name": "tiny-omni", "version": TINY_VERSION,
                                                       "seed": TINY_SEED})


def save_checkpoint(out_dir: str | Path, model, processor, marker: dict) -> Path:
    """Save ``model`` (safetensors) and ``processor`` into ``out_dir`` atomically (a temp folder
    renamed into place), with the smoke-test marker file holding ``marker``."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{marker.get('name', 'model')}-", dir=out_dir.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        processor.save_pretrained(tmp)
        (tmp / f"{TINY_MARKER}.json").write_text(json.dumps({
            **marker, "smoke_test": True, "note": "randomly initialised; answers are meaningless"}, indent=2))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def ensure_tiny_omni(out_dir: str | Path | None = None) -> Path:
    """Return the tiny-omni folder under the cache root, building it on first use."""
    out = Path(out_dir) if out_dir else tiny_omni_dir()
    marker = out / f"{TINY_MARKER}.json"
    if marker.exists() and json.loads(marker.read_text()).get("version") == TINY_VERSION:
        return out
    return build_tiny_omni(out)


def is_smoke_test_model(folder: str | Path) -> bool:
    """True for tiny-omni and anything fine-tuned from it (the marker file travels with checkpoints)."""
    return (Path(folder) / f"{TINY_MARKER}.json").exists()
