"""The window-level speech Q-Former (released ``SpeechQFormer``), from transformers' BERT blocks.

Whisper's 1500 frames are layer-normed (``ln_speech``) and cut into windows of ``kernel`` frames
every ``stride`` frames (``speech_windows``); each window is read by ``qformer_num_speech_query_tokens``
learned queries through a BLIP-2 style Q-Former: a BERT of 2 layers (the released code forces 2,
whatever ``bert-base-uncased/config.json`` says) whose embeddings are only a LayerNorm on the
queries, each layer = self-attention, cross-attention to the window, and the query feed-forward
(``intermediate_query`` / ``output_query``). ``speech_proj`` maps each query to the LLM width.
Module names follow the released ones (``speech_Qformer.bert.encoder.layer.N.crossattention.self.key``).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import BertConfig
from transformers.models.bert.modeling_bert import BertAttention, BertIntermediate, BertOutput

from emorealm.errors import ModelError
from emorealm.model_adapters.avere.config import WHISPER_FRAMES, speech_windows

QFORMER_LAYERS = 2  # forced by the released init_speech_Qformer


class QFormerEmbeddings(nn.Module):
    """BERT embeddings with the word/position tables removed: LayerNorm (+dropout) of the queries."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        # kept (persistent) so that a released state dict, which stores it, loads strictly
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)))

    def forward(self, query_embeds: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.LayerNorm(query_embeds))


class QFormerLayer(nn.Module):
    def __init__(self, config: BertConfig, encoder_width: int) -> None:
        super().__init__()
        self.attention = BertAttention(config)
        self.crossattention = BertAttention(config, is_cross_attention=True)
        # keys/values read the speech features, whose width may differ from BERT's
        inner = self.crossattention.self.all_head_size
        self.crossattention.self.key = nn.Linear(encoder_width, inner)
        self.crossattention.self.value = nn.Linear(encoder_width, inner)
        self.intermediate_query = BertIntermediate(config)
        self.output_query = BertOutput(config)

    def forward(self, hidden: torch.Tensor, encoder_hidden: torch.Tensor) -> torch.Tensor:
        hidden = self.attention(hidden)[0]
        hidden = self.crossattention(hidden, encoder_hidden_states=encoder_hidden)[0]
        return self.output_query(self.intermediate_query(hidden), hidden)


class QFormerEncoder(nn.Module):
    def __init__(self, config: BertConfig, encoder_width: int) -> None:
        super().__init__()
        self.layer = nn.ModuleList([QFormerLayer(config, encoder_width) for _ in range(config.num_hidden_layers)])

    def forward(self, hidden: torch.Tensor, encoder_hidden: torch.Tensor) -> torch.Tensor:
        for layer in self.layer:
            hidden = layer(hidden, encoder_hidden)
        return hidden


class QFormerBert(nn.Module):
    def __init__(self, config: BertConfig, encoder_width: int) -> None:
        super().__init__()
        self.embeddings = QFormerEmbeddings(config)
        self.encoder = QFormerEncoder(config, encoder_width)

    def forward(self, query_embeds: torch.Tensor, encoder_hidden_states: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.embeddings(query_embeds), encoder_hidden_states)


class QFormerHolder(nn.Module):
    """Holds ``bert`` (the released ``BertLMHeadModel`` whose ``cls`` head is removed)."""

    def __init__(self, config: BertConfig, encoder_width: int) -> None:
        super().__init__()
        self.config = config
        self.bert = QFormerBert(config, encoder_width)


def qformer_bert_config(bert_cfg: dict) -> BertConfig:
    """The Q-Former's BERT config from ``bert-base-uncased/config.json``, as the released init sets it."""
    cfg = BertConfig(**{k: v for k, v in bert_cfg.items() if k not in ("model_type", "architectures")})
    cfg.num_hidden_layers = QFORMER_LAYERS
    cfg._attn_implementation = "eager"
    return cfg


class WindowQFormer(nn.Module):
    """A window-level Q-Former projector: ``ln_<kind>`` over the tower tokens, windows of ``kernel``
    tokens every ``stride``, each read by the learned ``<kind>_query_tokens`` through
    ``<kind>_Qformer.bert``, then ``<kind>_proj`` to the LLM width (the released names for ``speech``
    and ``video``). Output: ``windows x queries`` LLM tokens per clip, window-major."""

    def __init__(self, kind: str, width: int, queries: int, bert_config: BertConfig, hidden: int,
                 kernel: int, stride: int, length: int) -> None:
        super().__init__()
        self.kind, self.kernel, self.stride, self.length = kind, kernel, stride, length
        self.windows = (length - kernel) // stride + 1
        setattr(self, f"ln_{kind}", nn.LayerNorm(width))
        setattr(self, f"{kind}_Qformer", QFormerHolder(bert_config, width))
        setattr(self, f"{kind}_query_tokens", nn.Parameter(torch.zeros(1, queries, bert_config.hidden_size)))
        setattr(self, f"{kind}_proj", nn.Linear(bert_config.hidden_size, hidden))

    @property
    def tokens(self) -> int:
        """LLM tokens per clip: windows x queries."""
        return self.windows * getattr(self, f"{self.kind}_query_tokens").shape[1]

    def forward(self, feats: torch.Tensor) -> torch.Tensor:  # [b, n, c]
        feats = getattr(self, f"ln_{self.kind}")(feats)
        b, n, c = feats.shape
        if n != self.length:
            raise ModelError(f"the {self.kind} Q-Former was built for {self.length} tower tokens per clip, got {n}")
        # [b, n, c] -> [b, windows, kernel, c] (what the released F.unfold + permute computes)
        windows = feats.unfold(1, self.kernel, self.stride).permute(0, 1, 3, 2).reshape(-1, self.kernel, c)
        queries = getattr(self, f"{self.kind}_query_tokens").expand(windows.shape[0], -1, -1)
        out = getattr(self, f"{self.kind}_proj")(getattr(self, f"{self.kind}_Qformer").bert(queries, windows))
        return out.reshape(b, -1, out.shape[-1])


class SpeechQFormer(WindowQFormer):
    """``model.speech_projector`` (``speech_projector_type: qformer``): Whisper's 1500 frames -> one LLM
    token per query per window."""

    def __init__(self, config, bert_config: BertConfig) -> None:
        kernel, stride, _ = speech_windows(config)
        super().__init__("speech", int(config.speech_hidden_size), int(config.qformer_num_speech_query_tokens),
                         bert_config, int(config.hidden_size), kernel, stride, WHISPER_FRAMES)
