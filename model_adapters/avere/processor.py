"""``AvereProcessor``: the processor interface the harness' input builder uses, for AVERE.

``emorealm.model_adapters.inputs.build_inputs`` calls ``apply_chat_template(messages)`` then
``processor(text=[...], videos=[frames], audio=[wave])``; ``build_model_inputs`` decodes a doc's
files with ``processor.load_media`` when a processor has one (AVERE samples its 8 frames over the
file's own frames, not at the harness' fps). Output keys: ``input_ids`` (placeholders expanded, see
model.py), ``attention_mask``, ``videos`` ``[1, 3, 8, 224, 224]``, ``audio_mel`` ``[1, 128, 3000]``.
"""

from __future__ import annotations

from typing import Any

import torch

from emorealm.errors import ModelError
from emorealm.media.decode import DecodedMedia, MediaSpec
from emorealm.model_adapters.avere.config import AUDIO_TOKEN_INDEX, IMAGE_TOKEN_INDEX, LLAVA_V1_SYSTEM
from emorealm.model_adapters.avere.preprocessing import (
    expand_placeholders,
    llava_v1_prompt,
    mel_features,
    released_media,
    tokenize_with_placeholders,
    video_tensor,
)


class AvereProcessor:
    """Tokenizer + LanguageBind video transform + Whisper features, as the released inference uses them."""

    video_token_id = IMAGE_TOKEN_INDEX
    audio_token_id = AUDIO_TOKEN_INDEX
    video_processor = None  # frames are prepared here (no transformers video processor)

    def __init__(self, tokenizer, feature_extractor, *, num_frames: int, tokens_per_frame: int,
                 audio_tokens: int, max_length: int | None = None) -> None:
        self.tokenizer = tokenizer
        self.feature_extractor = feature_extractor
        self.num_frames = num_frames
        self.tokens_per_frame = tokens_per_frame
        self.audio_tokens = audio_tokens
        self.max_length = max_length

    # -- prompt --------------------------------------------------------------------------------
    def apply_chat_template(self, messages: list[dict[str, Any]], add_generation_prompt: bool = True,
                            tokenize: bool = False, **_: Any) -> str:
        """``llava_v1`` prompt for one user turn (a system message replaces the template's system text)."""
        system, question, video, audio = LLAVA_V1_SYSTEM, [], False, False
        for msg in messages:
            parts = msg["content"] if isinstance(msg["content"], list) else [{"type": "text", "text": msg["content"]}]
            if msg["role"] == "system":
                system = " ".join(p.get("text", "") for p in parts if p.get("type") == "text")
                continue
            if msg["role"] != "user":
                raise ModelError("AVERE prompts hold one user turn (the released llava_v1 usage)")
            for p in parts:
                video |= p.get("type") == "video"
                audio |= p.get("type") == "audio"
                if p.get("type") == "text":
                    question.append(p["text"])
        return llava_v1_prompt("\n".join(question), system, video_frames=self.num_frames if video else 0,
                               audio=audio)

    def released_ids(self, prompt: str) -> list[int]:
        """Token ids as the released code makes them (-200 per ``<image>``, -300 per ``<audio>``)."""
        return tokenize_with_placeholders(prompt, self.tokenizer)

    # -- media ---------------------------------------------------------------------------------
    def load_media(self, media: dict[str, Any], spec: MediaSpec) -> DecodedMedia:
        """A doc's media decoded as the released processors read files."""
        return released_media(media, spec, self.num_frames)

    def __call__(self, text: list[str], videos: list | None = None, audio: list | None = None,
                 return_tensors: str = "pt", **_: Any) -> dict[str, torch.Tensor]:
        if len(text) != 1:
            raise ModelError("AvereProcessor prepares one sample per call; collate samples afterwards")
        ids = self.released_ids(text[0])
        n_img, n_aud = ids.count(IMAGE_TOKEN_INDEX), ids.count(AUDIO_TOKEN_INDEX)
        if n_img not in (0, self.num_frames) or n_aud > 1:
            raise ModelError(f"the prompt holds {n_img} <image> and {n_aud} <audio> placeholders; AVERE takes "
                             f"{self.num_frames} frames of one clip and at most one audio")
        if bool(n_img) != bool(videos) or bool(n_aud) != bool(audio):
            raise ModelError("the prompt's media placeholders do not match the media given")
        full = expand_placeholders(ids, self.tokens_per_frame, self.audio_tokens)
        if self.max_length and len(full) > self.max_length:
            # the released model truncates the merged sequence to tokenizer_model_max_length, which
            # would cut the question; refuse instead
            raise ModelError(f"the prompt is {len(full)} tokens with its media, over the checkpoint's "
                             f"tokenizer_model_max_length {self.max_length}")
        out: dict[str, torch.Tensor] = {"input_ids": torch.tensor([full], dtype=torch.long)}
        out["attention_mask"] = torch.ones_like(out["input_ids"])
        if videos:
            out["videos"] = video_tensor(videos[0], self.num_frames).unsqueeze(0)
        if audio:
            out["audio_mel"] = mel_features(audio[0], self.feature_extractor).unsqueeze(0)
        return out

    def save_pretrained(self, folder) -> None:
        """Tokenizer files and the Whisper ``preprocessor_config.json`` (what the towers-inside layout reads)."""
        self.tokenizer.save_pretrained(str(folder))
        if self.feature_extractor is not None:
            self.feature_extractor.save_pretrained(str(folder))

    def decode(self, ids, **kw: Any) -> str:
        return self.tokenizer.decode(ids, **kw)

    def batch_decode(self, ids, **kw: Any) -> list[str]:
        return self.tokenizer.batch_decode(ids, **kw)
