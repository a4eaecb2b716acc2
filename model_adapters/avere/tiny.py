"""A seeded random AVERE twin in the released layout (``tiny-model --arch avere DIR``).

Same geometry as the shared reference ``ckpt_A`` (LLaMA hidden 64 x 2 layers; LanguageBind towers
hidden 32 x 2 layers at 224 px / patch 14, the video one with time attention over 8 frames; Whisper
d_model 32 x 2 layers with 128 mels; a 2-layer BERT Q-Former of width 32, one query per 1/3 s
window), the released config keys, weight names, fp16 plain state dicts and ``backbones/`` folders,
so that the real loading path is what tests run. The tokenizer is a SentencePiece BPE trained in
process (byte fallback), saved as a LLaMA tokenizer.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import BertConfig, CLIPVisionConfig, WhisperConfig, WhisperFeatureExtractor

from emorealm.model_adapters.avere.config import AvereConfig
from emorealm.model_adapters.avere.model import AvereForCausalLM, TowerConfigs
from emorealm.model_adapters.avere.qformer import qformer_bert_config

_CORPUS = (
    "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, "
    "detailed, and polite answers to the human's questions. USER: ASSISTANT: Which emotion does the voice "
    "convey? What is the emotion of the person in the video? Does the emotion shown in the facial expression "
    "agree with the emotion conveyed by the speech? Answer with the option's letter from the given choices "
    "directly. (A) happiness (B) sadness (C) anger (D) fear (E) surprise (F) disgust (G) neutral Yes No "
    "furrowed brows, a wide smile, tearful eyes, raised eyebrows, trembling voice, loud voice, calm tone. "
    "0 1 2 3 4 5 6 7 8 9 A B C D E F G H"
)
VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, patch_size=14,
              image_size=224, hidden_act="gelu", projection_dim=16, layer_norm_eps=1e-5)


def _train_tokenizer(out: Path, seed: int) -> None:
    import io

    import sentencepiece as spm
    lines = [_CORPUS] * 4 + [" ".join(sorted(set(_CORPUS.split()), key=lambda w: (hash(w) ^ seed) % 97))]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=model, model_type="bpe",
                                   vocab_size=400, byte_fallback=True, split_digits=True,
                                   normalization_rule_name="identity", unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
                                   num_threads=1, hard_vocab_limit=False, minloglevel=2)
    (out / "tokenizer.model").write_bytes(model.getvalue())
    # the released layout: tokenizer.model + LlamaTokenizer config, pad = unk as the released train() sets it
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "LlamaTokenizer", "legacy": False, "add_bos_token": True, "add_eos_token": False,
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": None, "model_max_length": 2048,
        "padding_side": "right", "clean_up_tokenization_spaces": False}, indent=2))
    (out / "special_tokens_map.json").write_text(json.dumps({
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<unk>"}, indent=2))


def _languagebind_config(video: bool) -> dict:
    vision = {**VISION, "model_type": "clip_vision_model", "add_time_attn": video, "num_frames": 8 if video else 1,
              "video_decode_backend": "decord"}
    return {"architectures": ["LanguageBindVideo" if video else "LanguageBindImage"],
            "model_type": "LanguageBindVideo" if video else "LanguageBindImage", "projection_dim": 16,
            "vision_config": vision}


def _config(vocab: int) -> AvereConfig:
    return AvereConfig(
        architectures=["LlavaLlamaForCausalLM"], hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, rms_norm_eps=1e-5, max_position_embeddings=4096,
        vocab_size=vocab, tie_word_embeddings=False, initializer_range=0.1, bos_token_id=1, eos_token_id=2,
        pad_token_id=0, mm_image_tower="./backbones/LanguageBind_Image",
        mm_video_tower="./backbones/LanguageBind_Video_merge", mm_speech_tower="./backbones/whisper-large-v3",
        mm_projector_type="mlp2x_gelu", speech_projector_type="qformer", mm_hidden_size=32, speech_hidden_size=32,
        mm_vision_select_layer=-2, mm_vision_select_feature="patch", mm_use_im_start_end=False,
        mm_use_im_patch_token=False, use_mm_proj=True, use_speech_proj=True, image_aspect_ratio="pad",
        qformer_num_speech_query_tokens=1, qformer_window_level=True, qformer_second_per_window=0.33333,
        qformer_second_stride=0.33333, qformer_num_video_query_tokens=16, video_qformer_window_level=True,
        video_qformer_tokens_per_window=257, video_qformer_token_stride=257, tokenizer_model_max_length=3072,
        tokenizer_padding_side="right", freeze_mm_mlp_adapter=True, freeze_speech_mlp_adapter=True,
        tune_mm_mlp_adapter=False, tune_speech_mlp_adapter=False, use_cache=True)


def _whisper() -> WhisperConfig:
    return WhisperConfig(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64, decoder_layers=1,
                         decoder_attention_heads=2, decoder_ffn_dim=64, num_mel_bins=128, max_source_positions=1500,
                         max_target_positions=64, vocab_size=64, bos_token_id=1, eos_token_id=2,
                         pad_token_id=0, decoder_start_token_id=3)


def _bert() -> BertConfig:
    return BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                      initializer_range=0.2)


def _save(sd: dict[str, torch.Tensor], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().clone().contiguous() for k, v in sd.items()}, str(path))


def build_tiny_avere(out_dir: str | Path, seed: int = 0, *, mm_projector_type: str = "mlp2x_gelu",
                     speech_projector_type: str = "qformer") -> Path:
    """Write a seeded random AVERE checkpoint in the released layout to ``out_dir``; returns it.

    The projector types default to AVERE-7B's; the other released ones (``mm_projector_type: qformer``,
    ``speech_projector_type: naive``) give twins of those variants."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    _train_tokenizer(out, seed)
    from transformers import AutoTokenizer

    vocab = len(AutoTokenizer.from_pretrained(str(out)))
    config = _config(vocab)
    config.mm_projector_type, config.speech_projector_type = mm_projector_type, speech_projector_type
    bb = out / "backbones"
    lb = {kind: _languagebind_config(kind == "video") for kind in ("image", "video")}
    towers = TowerConfigs(
        image=CLIPVisionConfig(**lb["image"]["vision_config"]), video=CLIPVisionConfig(**lb["video"]["vision_config"]),
        speech=_whisper(), qformer=qformer_bert_config(_bert().to_dict()))
    model = AvereForCausalLM(config, towers)
    with torch.no_grad():
        for name, p in model.named_parameters():  # lively weights: 0.02 leaves logits blind to the media
            if name.endswith(("class_embedding", "temporal_embedding", "query_tokens", "position_embedding.weight",
                              "embed_positions.weight")):
                p.normal_(0.0, 0.5)
            elif p.ndim >= 2:
                p.normal_(0.0, 0.1 if name.startswith(("model.layers", "model.embed", "lm_head")) else 0.2)
            p.copy_(p.half().float())  # fp16-representable, so fp16 and fp32 loads see the same weights
    sd = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    _save(sd, out / "pytorch_model.bin")
    config.save_pretrained(str(out))
    model.generation_config.save_pretrained(str(out))
    for kind, folder in (("image", "LanguageBind_Image"), ("video", "LanguageBind_Video_merge")):
        prefix = f"model.{kind}_tower.{kind}_tower."
        _save({"vision_model." + k[len(prefix):]: v.float() for k, v in sd.items() if k.startswith(prefix)},
              bb / folder / "pytorch_model.bin")
        (bb / folder / "config.json").write_text(json.dumps(lb[kind], indent=2))
    prefix = "model.speech_tower.speech_tower."
    _save({"encoder." + k[len(prefix):]: v.float() for k, v in sd.items() if k.startswith(prefix)},
          bb / "whisper-large-v3" / "pytorch_model.bin")
    towers.speech.save_pretrained(str(bb / "whisper-large-v3"))
    WhisperFeatureExtractor(feature_size=128).save_pretrained(str(bb / "whisper-large-v3"))
    (bb / "bert-base-uncased").mkdir(parents=True, exist_ok=True)
    (bb / "bert-base-uncased" / "config.json").write_text(_bert().to_json_string())
    from emorealm.model_adapters.tiny_models.omni import TINY_MARKER

    # the smoke-test marker: results of this twin are flagged as not a real model's
    (out / f"{TINY_MARKER}.json").write_text(json.dumps({"arch": "avere", "seed": seed, "random_weights": True}))
    return out
