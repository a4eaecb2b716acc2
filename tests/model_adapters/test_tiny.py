"""tiny-omni: a real Qwen2.5-Omni layout, loaded through the genuine from_pretrained path."""

from __future__ import annotations

import json

from safetensors import safe_open


def test_layout_matches_released_checkpoints(tiny_omni_dir):
    cfg = json.loads((tiny_omni_dir / "config.json").read_text())
    assert cfg["model_type"] == "qwen2_5_omni"
    assert cfg["enable_audio_output"] is False
    thinker = cfg["thinker_config"]
    vocab = thinker["text_config"]["vocab_size"]
    text = thinker["text_config"]
    assert text["hidden_size"] // text["num_attention_heads"] == 32  # vLLM CPU needs head size >= 32
    for key in ("audio_token_index", "image_token_index", "video_token_index", "audio_start_token_id",
                "audio_end_token_id", "vision_start_token_id", "vision_end_token_id"):
        assert 0 <= thinker[key] < vocab, key
    with safe_open(str(tiny_omni_dir / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
        n_params = sum(f.get_slice(k).get_shape().numel() if hasattr(f.get_slice(k).get_shape(), "numel")
                       else _prod(f.get_slice(k).get_shape()) for k in keys)
    assert keys and all(k.startswith("thinker.") for k in keys), "no talker / token2wav weights"
    assert n_params < 1_000_000


def _prod(shape):
    out = 1
    for s in shape:
        out *= s
    return out


def test_loads_with_thinker_class_and_auto_processor(tiny_omni_dir):
    from transformers import AutoProcessor, Qwen2_5OmniProcessor, Qwen2_5OmniThinkerForConditionalGeneration

    model = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(tiny_omni_dir)
    proc = AutoProcessor.from_pretrained(tiny_omni_dir)
    assert isinstance(proc, Qwen2_5OmniProcessor)
    tok = proc.tokenizer
    assert len(tok) == model.config.text_config.vocab_size
    assert tok.convert_tokens_to_ids("<|VIDEO|>") == model.config.video_token_id
    assert tok.convert_tokens_to_ids("<|AUDIO|>") == model.config.audio_token_id
    assert sum(p.numel() for p in model.parameters()) < 1_000_000


def test_build_is_deterministic(tmp_path, tiny_omni_dir):
    from emorealm.fingerprint import sha256_file
    from emorealm.model_adapters.tiny_models.omni import build_tiny_omni, is_smoke_test_model

    other = build_tiny_omni(tmp_path / "again")
    assert sha256_file(other / "model.safetensors") == sha256_file(tiny_omni_dir / "model.safetensors")
    assert is_smoke_test_model(other)


def test_cli_prints_folder(tiny_omni_dir):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "emorealm", "tiny-omni"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(tiny_omni_dir)


def test_config_builder_reproduces_the_cached_checkpoint(tiny_omni_dir):
    """The one Qwen2.5-Omni config builder (model_adapters/tiny_models/omni_config.py) still builds
    exactly the config of the cached tiny-omni: its cache key (TINY_VERSION) stays valid."""
    from transformers import AutoProcessor, Qwen2_5OmniConfig

    from emorealm.model_adapters.random_configs import qwen25_omni_thinker_config
    from emorealm.model_adapters.tiny_models.omni import tiny_config

    tokenizer = AutoProcessor.from_pretrained(tiny_omni_dir).tokenizer
    saved = Qwen2_5OmniConfig.from_pretrained(tiny_omni_dir).to_dict()
    built = tiny_config(tokenizer).to_dict()
    for key in ("architectures", "dtype"):  # set by save_pretrained from the model, not by the config
        saved.pop(key), built.pop(key)
    assert built == saved
    # the random thinker of the same family shares its encoders and special ids
    rand = qwen25_omni_thinker_config(tokenizer, "tiny").to_dict()
    assert rand["vision_config"] == saved["thinker_config"]["vision_config"]
    assert rand["audio_config"] == saved["thinker_config"]["audio_config"]
    assert rand["audio_token_index"] == saved["thinker_config"]["audio_token_index"]
