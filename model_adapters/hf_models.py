"""Which transformers class runs a checkpoint, and which modalities it accepts.

* Qwen2.5-Omni and Qwen3-Omni (MoE): the *thinker* class (text output, audio and video input;
  audio may be interleaved with the video, ``use_audio_in_video``). Full checkpoints (thinker +
  talker, as released) load their thinker.
* Any other chat-template model that transformers maps to ``AutoModelForImageTextToText`` or
  ``AutoModelForMultimodalLM``: loaded through that Auto class with ``AutoProcessor``. Its
  modalities are declared by its processor: a video processor means it takes frames, a feature
  extractor means it takes audio. ``modalities=`` in ``model_args`` narrows them (an ablation).

A video-only model is given the frames and the results record that the audio was not given (and
the other way round); a doc carrying no modality the model accepts fails that sample.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from emorealm.errors import ConfigError, ModelError

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "auto": "auto"}
MODALITIES = ("video", "audio")

# model_type -> (architecture name, transformers class name, thinker sub-config of full checkpoints)
OMNI: dict[str, tuple[str, str, str | None]] = {
    "qwen2_5_omni": ("qwen2_5_omni", "Qwen2_5OmniThinkerForConditionalGeneration", None),
    "qwen2_5_omni_thinker": ("qwen2_5_omni", "Qwen2_5OmniThinkerForConditionalGeneration", None),
    "qwen3_omni_moe": ("qwen3_omni_moe", "Qwen3OmniMoeThinkerForConditionalGeneration", "thinker_config"),
    "qwen3_omni_moe_thinker": ("qwen3_omni_moe", "Qwen3OmniMoeThinkerForConditionalGeneration", None),
}
SUPPORTED = ("qwen2_5_omni", "qwen3_omni_moe", "generic (AutoModelForImageTextToText / AutoModelForMultimodalLM "
             "models with a chat template and a video processor and/or audio feature extractor)")


@dataclass(frozen=True)
class Architecture:
    """How a checkpoint is run: its class, what it accepts, whether audio may ride in the video."""

    name: str  # "qwen2_5_omni", "qwen3_omni_moe" or "generic"
    model_class: Any
    accepts: tuple[str, ...]
    audio_in_video: bool
    thinker_config: str | None = None  # sub-config of a full (thinker + talker) checkpoint


def parse_modalities(value: Any) -> tuple[str, ...] | None:
    """``"video+audio"`` / ``"video"`` / ``"audio"`` → tuple; None when not given."""
    if value is None or value == "":
        return None
    parts = [p.strip().lower() for p in str(value).replace(",", "+").replace("/", "+").split("+") if p.strip()]
    bad = [p for p in parts if p not in MODALITIES]
    if bad or not parts:
        raise ConfigError(f"unknown modalities {value!r}; use video, audio or video+audio")
    return tuple(m for m in MODALITIES if m in parts)


def processor_modalities(processor) -> tuple[str, ...]:
    """Modalities a processor can prepare: a video processor → video, a feature extractor → audio."""
    out = []
    if getattr(processor, "video_processor", None) is not None:
        out.append("video")
    if getattr(processor, "feature_extractor", None) is not None:
        out.append("audio")
    return tuple(out)


def _generic_class(model_type: str):
    from transformers.models.auto import modeling_auto as auto

    for mapping, cls_name in (("MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES", "AutoModelForImageTextToText"),
                              ("MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES", "AutoModelForMultimodalLM")):
        if model_type in getattr(auto, mapping, {}):
            import transformers

            return getattr(transformers, cls_name)
    return None


def resolve_architecture(model_type: str) -> Architecture:
    """The architecture for ``model_type``, or a ModelError naming what is supported."""
    import transformers

    if model_type in OMNI:
        name, cls_name, sub = OMNI[model_type]
        return Architecture(name, getattr(transformers, cls_name), MODALITIES, True, sub)
    cls = _generic_class(model_type)
    if cls is None:
        raise ModelError(
            f"no emorealm HF adapter supports model_type {model_type!r} (supported: {'; '.join(SUPPORTED)}): "
            "it is not an image/video/audio-text-to-text model; write a plugin adapter (docs/adapters.md)"
        )
    return Architecture("generic", cls, (), False)


def load_model(pretrained: str, peft: str | None = None, dtype: str = "float32", device: str = "cpu",
               trust_remote_code: bool = False, device_map: str | None = None,
               modalities: tuple[str, ...] | None = None, backbones: str | None = None):
    """Load ``(model, processor, architecture)`` for a checkpoint folder or hub id; safetensors only.

    ``device_map`` (e.g. ``auto``) spreads one model over several GPUs with accelerate; otherwise the
    model goes to ``device``. ``trust_remote_code`` is passed only when the user set it. A folder in
    the released AVERE layout (``model_type: "avere"``) loads through ``model_adapters.avere``
    (``backbones``: where its towers live, docs/avere.md).
    """
    from emorealm.model_adapters.avere.loading import is_avere_folder, load_avere
    from transformers import AutoConfig, AutoProcessor

    if is_avere_folder(pretrained):
        if peft or device_map:
            raise ConfigError("peft= and device_map= are not supported for AVERE checkpoints")
        model, processor, accepts = load_avere(pretrained, dtype=dtype, device=device, backbones=backbones,
                                               modalities=modalities)
        return model, processor, Architecture("avere", type(model), accepts, False)
    if backbones:
        raise ConfigError("backbones= is an option of AVERE checkpoints (model_type avere) only")

    if dtype not in DTYPES:
        raise ModelError(f"unknown dtype {dtype!r}; use one of {sorted(DTYPES)}")
    try:
        config = AutoConfig.from_pretrained(pretrained, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load a model config from {pretrained!r}: {exc}") from exc
    arch = resolve_architecture(config.model_type)
    kw: dict[str, Any] = {"dtype": DTYPES[dtype], "use_safetensors": True}
    if trust_remote_code:
        kw["trust_remote_code"] = True
    if arch.thinker_config:
        kw["config"] = getattr(config, arch.thinker_config)
    if device_map:
        kw["device_map"] = device_map
    try:
        model = arch.model_class.from_pretrained(pretrained, **kw)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load {arch.model_class.__name__} weights from {pretrained!r}: {exc}") from exc
    if peft:
        try:
            from peft import PeftModel
        except ImportError as exc:
            raise ModelError("peft= needs the peft package: pip install peft") from exc
        model = PeftModel.from_pretrained(model, peft)
    if not device_map:
        model.to(device)
    model.eval()
    # the processor saved with an adapter/checkpoint wins over the base's
    proc_src = pretrained
    if peft and any((Path(peft) / f).exists() for f in ("preprocessor_config.json", "processor_config.json")):
        proc_src = peft
    proc_kw = {"trust_remote_code": True} if trust_remote_code else {}
    processor = AutoProcessor.from_pretrained(proc_src, **proc_kw)
    if arch.name == "generic":
        accepts = processor_modalities(processor)
        if not accepts:
            raise ModelError(f"{pretrained!r} ({config.model_type}) has a processor without a video processor or an "
                             "audio feature extractor: it cannot take the benchmarks' clips")
        arch = Architecture(arch.name, arch.model_class, accepts, False)
    if modalities is not None:
        narrowed = tuple(m for m in arch.accepts if m in modalities)
        if not narrowed:
            raise ConfigError(f"modalities={'+'.join(modalities)} but {pretrained!r} accepts only "
                              f"{'+'.join(arch.accepts)}")
        arch = Architecture(arch.name, arch.model_class, narrowed, arch.audio_in_video, arch.thinker_config)
    return model, processor, arch


def read_base_model(adapter_folder: str | Path) -> str | None:
    cfg = Path(adapter_folder) / "adapter_config.json"
    return json.loads(cfg.read_text()).get("base_model_name_or_path") if cfg.exists() else None
