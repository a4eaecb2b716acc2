"""Tiny twin of Voxtral (``mistralai/Voxtral-*-2507``): a Whisper-style audio encoder, a two-layer
projector and a Llama decoder, with a Tekken tokenizer file (``tekken.json``) built in process and
the family's genuine ``VoxtralProcessor`` (Whisper features, prompts from mistral_common).

The released layout is kept where the processor or mistral_common rely on it: Tekken format v7
with the ``audio`` block (16 kHz, 12.5 audio tokens per second, 128 mel bins, hop 160, window 400,
30 s chunks), ``[AUDIO]`` at id 24 (``VoxtralProcessor`` hard-codes it), ``[BEGIN_AUDIO]`` at 25,
``[TRANSCRIBE]`` at 34; and an encoder whose ``intermediate_size / hidden_size`` is 4, so one
30 s chunk (3000 mel frames → 1500 encoder positions) gives the 375 embeddings mistral_common's
375 ``[AUDIO]`` tokens stand for. Sizes are tiny; the vocabulary is a byte-level BPE trained on
the benchmarks' words.
"""

from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path

from emorealm.model_adapters.tiny_models.common import save_twin, text_config

# Tekken's pre-tokenisation pattern (tiktoken ``pat_str``) as released with the v3+ tokenizers
TEKKEN_PATTERN = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|"
                  r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
# rank -> special token, as in the released Voxtral tekken.json; the other ranks are fillers
SPECIAL = {0: "<unk>", 1: "<s>", 2: "</s>", 3: "[INST]", 4: "[/INST]", 5: "[AVAILABLE_TOOLS]",
           6: "[/AVAILABLE_TOOLS]", 7: "[TOOL_RESULTS]", 8: "[/TOOL_RESULTS]", 9: "[TOOL_CALLS]", 10: "[IMG]",
           11: "<pad>", 12: "[IMG_BREAK]", 13: "[IMG_END]", 14: "[PREFIX]", 15: "[MIDDLE]", 16: "[SUFFIX]",
           17: "[SYSTEM_PROMPT]", 18: "[/SYSTEM_PROMPT]", 19: "[TOOL_CONTENT]", 24: "[AUDIO]", 25: "[BEGIN_AUDIO]",
           32: "[ARGS]", 33: "[CALL_ID]", 34: "[TRANSCRIBE]"}
NUM_SPECIAL = 40  # released: 1000
AUDIO_TOKEN_ID = 24
AUDIO_CONFIG = {"sampling_rate": 16000, "frame_rate": 12.5, "chunk_length_s": 30.0,
                "audio_encoding_config": {"num_mel_bins": 128, "hop_length": 160, "window_size": 400}}
ENCODER = {"hidden_size": 16, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
           "num_mel_bins": 128, "max_source_positions": 1500}


def _bpe_ranks(vocab_size: int = 480) -> list[bytes]:
    """Byte-level BPE tokens in Tekken rank order: the 256 single bytes by value, then the merges
    in the order they were learnt (what tiktoken's rank-ordered merging expects)."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    from emorealm.model_adapters.tiny_models.omni import _CORPUS

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(TEKKEN_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=1, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    to_byte = {c: b for b, c in bytes_to_unicode().items()}
    learnt = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    merges = [bytes(to_byte[c] for c in piece) for piece, _ in learnt if len(piece) > 1]
    return [bytes([b]) for b in range(256)] + merges


def tekken_data(vocab: list[bytes]) -> dict:
    """The ``tekken.json`` content for ``vocab`` (rank order) with Voxtral's special tokens and audio block."""
    specials = [{"rank": r, "token_str": SPECIAL.get(r, f"<SPECIAL_{r}>"), "is_control": True}
                for r in range(NUM_SPECIAL)]
    return {
        "config": {"pattern": TEKKEN_PATTERN, "num_vocab_tokens": len(vocab),
                   "default_vocab_size": len(vocab) + NUM_SPECIAL, "default_num_special_tokens": NUM_SPECIAL,
                   "version": "v7"},
        "vocab": [{"rank": r, "token_bytes": base64.b64encode(t).decode("ascii"),
                   "token_str": _printable(t)} for r, t in enumerate(vocab)],
        "special_tokens": specials,
        "audio": AUDIO_CONFIG,
        "version": 1,
        "type": "Tekken",
    }


def _printable(token: bytes) -> str | None:
    try:
        return token.decode("utf-8")
    except UnicodeDecodeError:
        return None


def voxtral(out_dir: Path, seed: int) -> Path:
    """Voxtral (``VoxtralForConditionalGeneration`` + ``VoxtralProcessor`` over a tiny ``tekken.json``)."""
    with tempfile.TemporaryDirectory(prefix="tiny-voxtral-tekken-") as tmp:
        tekken = Path(tmp) / "tekken.json"
        tekken.write_text(json.dumps(tekken_data(_bpe_ranks())), encoding="utf-8")

        def make():
            from transformers import (
                VoxtralConfig,
                VoxtralForConditionalGeneration,
                VoxtralProcessor,
                WhisperFeatureExtractor,
            )
            from transformers.tokenization_mistral_common import MistralCommonBackend

            tok = MistralCommonBackend(tokenizer_path=str(tekken))
            processor = VoxtralProcessor(WhisperFeatureExtractor(feature_size=ENCODER["num_mel_bins"]), tok)
            n_vocab = tok.tokenizer.instruct_tokenizer.tokenizer.n_words
            text = text_config(tok, "</s>", "<pad>", vocab_size=n_vocab, bos_token_id=tok.bos_token_id)
            text.update(model_type="llama", rms_norm_eps=1e-5)
            config = VoxtralConfig(audio_config={"model_type": "voxtral_encoder", **ENCODER}, text_config=text,
                                   audio_token_id=AUDIO_TOKEN_ID, projector_hidden_act="gelu")
            return VoxtralForConditionalGeneration(config), processor

        return save_twin(out_dir, "voxtral", seed, make)
