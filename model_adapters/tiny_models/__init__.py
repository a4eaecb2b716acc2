"""Tiny twins: a seeded random checkpoint of each architecture the HF adapter claims.

``BUILDERS`` maps a checkpoint ``model_type`` to ``"emorealm.model_adapters.<module>:<function>"``;
each function is ``(out_dir: Path, seed: int) -> Path`` and writes a folder that loads with
``from_pretrained`` like a released checkpoint (small config, a tokenizer trained in process, the
family's genuine processor classes and chat template). ``python -m emorealm tiny-model --arch X DIR``
runs one. Other packages add their architecture with one line here.
"""

from __future__ import annotations

import importlib
from pathlib import Path

BUILDERS: dict[str, str] = {
    "qwen2_5_omni": "emorealm.model_adapters.tiny_models.qwen:qwen2_5_omni",
    "qwen3_omni_moe": "emorealm.model_adapters.tiny_models.qwen:qwen3_omni_moe",
    "qwen2_vl": "emorealm.model_adapters.tiny_models.qwen:qwen2_vl",
    "qwen2_5_vl": "emorealm.model_adapters.tiny_models.qwen:qwen2_5_vl",
    "qwen3_vl": "emorealm.model_adapters.tiny_models.qwen:qwen3_vl",
    "qwen2_audio": "emorealm.model_adapters.tiny_models.qwen:qwen2_audio",
    "llava_onevision": "emorealm.model_adapters.tiny_models.llava:llava_onevision",
    "video_llava": "emorealm.model_adapters.tiny_models.llava:video_llava",
    "internvl": "emorealm.model_adapters.tiny_models.llava:internvl",
    "gemma3n": "emorealm.model_adapters.tiny_models.audio_image:gemma3n",
    "phi4_multimodal": "emorealm.model_adapters.tiny_models.audio_image:phi4_multimodal",
    "voxtral": "emorealm.model_adapters.tiny_models.voxtral:voxtral",
    "avere": "emorealm.model_adapters.avere.tiny:build_tiny_avere",
}


def builder(arch: str):
    """The builder function of ``arch`` (a ConfigError naming the known ones otherwise)."""
    from emorealm.errors import ConfigError

    if arch not in BUILDERS:
        raise ConfigError(f"no tiny twin for model_type {arch!r}; known: {', '.join(sorted(BUILDERS))}")
    module, _, func = BUILDERS[arch].partition(":")
    return getattr(importlib.import_module(module), func)


def build(arch: str, out_dir: str | Path, seed: int = 0) -> Path:
    """Write the tiny twin of ``arch`` into ``out_dir`` and return the folder."""
    return builder(arch)(Path(out_dir), int(seed))
