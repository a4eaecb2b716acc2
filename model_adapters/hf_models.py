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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from emorealm.errors import ConfigError, ModelError
from emorealm.options import MODALITIES

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "auto": "auto"}

@dataclass(frozen=True)
class Family:
    """What emorealm knows about one checkpoint ``model_type`` (one row of docs/adapters.md)."""

    name: str  # architecture name recorded in results
    model_class: str | None = None  # transformers class name or "module:attr"; None: the Auto class
    thinker_config: str | None = None  # sub-config of a full (thinker + talker) checkpoint
    audio_in_video: bool = False  # audio may be interleaved with the frames (use_audio_in_video)
    image_frames: int = 8  # frames-as-images families: frames given per clip by default
    max_seconds: float | None = None  # longest clip the model takes (its audio encoder's fixed window)
    vllm: str = ""  # vLLM adapter support with audio and video, or why not
    unsupported: str = ""  # non-empty: why the HF adapter cannot run it (raised before loading)
    requires: tuple[str, str] | None = None  # (module the processor needs, how to install it): checked before loading


_VIDEO_ONLY = "video only (limit_mm_per_prompt=video:1); in vLLM's registry, not tested here"

# model_type -> Family. One entry per family; a new architecture (e.g. a plugin's) is one line.
FAMILIES: dict[str, Family] = {
    "qwen2_5_omni": Family("qwen2_5_omni", "Qwen2_5OmniThinkerForConditionalGeneration", audio_in_video=True,
                           vllm="video + audio (interleaved), tested in the vLLM tier"),
    "qwen2_5_omni_thinker": Family("qwen2_5_omni", "Qwen2_5OmniThinkerForConditionalGeneration",
                                   audio_in_video=True, vllm="as qwen2_5_omni"),
    "qwen3_omni_moe": Family("qwen3_omni_moe", "Qwen3OmniMoeThinkerForConditionalGeneration", "thinker_config",
                             audio_in_video=True, vllm="video + audio (vLLM's Qwen3-Omni thinker); not tested here"),
    "qwen3_omni_moe_thinker": Family("qwen3_omni_moe", "Qwen3OmniMoeThinkerForConditionalGeneration",
                                     audio_in_video=True, vllm="as qwen3_omni_moe"),
    "qwen2_vl": Family("qwen2_vl", vllm=_VIDEO_ONLY),
    "qwen2_5_vl": Family("qwen2_5_vl", vllm=_VIDEO_ONLY),
    "qwen3_vl": Family("qwen3_vl", vllm=_VIDEO_ONLY),
    "qwen2_audio": Family("qwen2_audio", vllm="audio only (limit_mm_per_prompt=audio:1); in vLLM's registry, "
                                              "not tested here"),
    "llava_onevision": Family("llava_onevision", vllm=_VIDEO_ONLY),
    "video_llava": Family("video_llava", vllm="not supported: vLLM has no Video-LLaVA model"),
    "internvl": Family("internvl", vllm="video only (vLLM serves the -hf class with its InternS1 code, image + "
                                        "video); not tested here"),
    "gemma3n": Family("gemma3n", max_seconds=30.0, vllm="not supported by the vLLM adapter: it sends the clip as "
                                                        "one video item and vLLM's Gemma 3n takes images + audio; "
                                                        "frames-as-images is HF only"),
    "phi4_multimodal": Family("phi4_multimodal", vllm="not supported: vLLM dropped transformers' "
                                                      "Phi4MultimodalForCausalLM after 0.12 (it serves the remote-code "
                                                      "Phi4MMForCausalLM layout only)"),
    # audio only, given through VoxtralProcessor.apply_chat_template (mistral_common): model_adapters.chat_audio
    "voxtral": Family("voxtral", vllm="not supported by the vLLM adapter: vLLM's Voxtral (audio) runs only with "
                                      "tokenizer_mode=mistral and builds its prompt from mistral_common requests, not "
                                      "the HF chat-template text the adapter renders",
                      requires=("mistral_common", "pip install 'emorealm[voxtral]' (mistral_common[audio])")),
}
SUPPORTED = tuple(k for k, f in FAMILIES.items() if not f.unsupported) + (
    "other AutoModelForImageTextToText / AutoModelForMultimodalLM models whose processor has a video processor, "
    "an image processor and/or an audio feature extractor",)


@dataclass(frozen=True)
class Architecture:
    """How a checkpoint is run: its class, what it accepts, whether audio may ride in the video."""

    name: str  # "qwen2_5_omni", "qwen3_omni_moe", a family name or "generic"
    model_class: Any
    accepts: tuple[str, ...]
    audio_in_video: bool
    thinker_config: str | None = None  # sub-config of a full (thinker + talker) checkpoint
    video_as: str = "video"  # "video": the processor's video input; "images": sampled frames as images
    image_frames: int = 8  # default frames per clip when video_as == "images"
    max_images: int | None = None  # most images one prompt may hold (None: unknown)
    max_seconds: float | None = None  # longest clip the model takes


def processor_modalities(processor) -> tuple[tuple[str, ...], str]:
    """(modalities a processor can prepare, how video is given): a video processor → video as a
    video, else an image processor → video as sampled frames (images); a feature extractor → audio."""
    out, video_as = [], "video"
    if getattr(processor, "video_processor", None) is not None:
        out.append("video")
    elif getattr(processor, "image_processor", None) is not None:
        out.append("video")
        video_as = "images"
    if getattr(processor, "feature_extractor", None) is not None or \
            getattr(processor, "audio_processor", None) is not None:
        out.append("audio")
    return tuple(out), video_as


def _generic_class(model_type: str):
    from transformers.models.auto import modeling_auto as auto

    for mapping, cls_name in (("MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES", "AutoModelForImageTextToText"),
                              ("MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES", "AutoModelForMultimodalLM")):
        if model_type in getattr(auto, mapping, {}):
            import transformers

            return getattr(transformers, cls_name)
    return None


def _load_class(path: str):
    import importlib

    import transformers

    if ":" in path:
        module, _, attr = path.partition(":")
        return getattr(importlib.import_module(module), attr)
    return getattr(transformers, path)


def resolve_architecture(model_type: str) -> Architecture:
    """The architecture for ``model_type``, or a ModelError naming what is supported (or why not)."""
    fam = FAMILIES.get(model_type)
    if fam is not None and fam.unsupported:
        raise ModelError(f"the emorealm HF adapter cannot run {model_type!r}: {fam.unsupported}")
    if fam is not None and fam.requires:
        import importlib.util

        module, install = fam.requires
        if importlib.util.find_spec(module) is None:
            # without it transformers would load another tokenizer and fail later on the first prompt
            raise ModelError(f"{model_type!r} checkpoints need the {module} package (their processor builds "
                             f"prompts and reads audio through it): {install}")
    if fam is not None and fam.model_class:
        return Architecture(fam.name, _load_class(fam.model_class), MODALITIES, fam.audio_in_video,
                            fam.thinker_config)
    cls = _generic_class(model_type)
    if cls is None:
        raise ModelError(
            f"no emorealm HF adapter supports model_type {model_type!r} (supported: {'; '.join(SUPPORTED)}): "
            "it is not an image/video/audio-text-to-text model; write a plugin adapter (docs/adapters.md)"
        )
    return Architecture(fam.name if fam else "generic", cls, (), False,
                        image_frames=fam.image_frames if fam else 8, max_seconds=fam.max_seconds if fam else None)


def load_model(pretrained: str, peft: str | None = None, dtype: str = "float32", device: str = "cpu",
               trust_remote_code: bool = False, device_map: str | None = None,
               modalities: tuple[str, ...] | None = None, backbones: str | None = None):
    """Load ``(model, processor, architecture)`` for a checkpoint folder or hub id; safetensors only.

    ``device_map`` (e.g. ``auto``) spreads one model over several GPUs with accelerate; otherwise the
    model goes to ``device``. ``trust_remote_code`` is passed only when the user set it. A folder in
    the released AVERE layout (``model_type: "avere"``) loads through ``model_adapters.avere``
    (``backbones``: where its towers live, docs/avere.md).
    """
    from transformers import AutoConfig, AutoProcessor

    from emorealm.model_adapters.avere.loading import is_avere_folder, load_avere

    if is_avere_folder(pretrained):
        if device_map:
            raise ConfigError("device_map= is not supported for AVERE checkpoints")
        model, processor, accepts = load_avere(pretrained, dtype=dtype, device=device, backbones=backbones,
                                               modalities=modalities)
        if peft:  # a LoRA adapter trained on it (emorealm train); the base's processor is the adapter's
            model = _with_adapter(model, peft).to(device).eval()
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
        model = _with_adapter(model, peft)
    if not device_map:
        model.to(device)
    model.eval()
    # the processor saved with an adapter/checkpoint wins over the base's
    proc_src = pretrained
    if peft and any((Path(peft) / f).exists() for f in ("preprocessor_config.json", "processor_config.json")):
        proc_src = peft
    proc_kw = {"trust_remote_code": True} if trust_remote_code else {}
    processor = AutoProcessor.from_pretrained(proc_src, **proc_kw)
    if arch.model_class.__name__.startswith("AutoModel"):  # declared by the processor
        accepts, video_as = processor_modalities(processor)
        if not accepts:
            raise ModelError(f"{pretrained!r} ({config.model_type}) has a processor with no video processor, image "
                             "processor or audio feature extractor: it cannot take the benchmarks' clips")
        arch = replace(arch, accepts=accepts, video_as=video_as,
                       max_images=max_images(config, processor) if video_as == "images" else None)
    if modalities is not None:
        narrowed = tuple(m for m in arch.accepts if m in modalities)
        if not narrowed:
            raise ConfigError(f"modalities={'+'.join(modalities) or 'none'} but {pretrained!r} ({arch.name}) accepts "
                              f"only {'+'.join(arch.accepts)}; change modalities= in --model-args")
        arch = replace(arch, accepts=narrowed)
    return model, processor, arch


def _with_adapter(model, peft: str):
    try:
        from peft import PeftModel
    except ImportError as exc:
        raise ModelError("peft= needs the peft package: pip install peft") from exc
    return PeftModel.from_pretrained(model, peft)


def max_images(config, processor) -> int | None:
    """How many images fit one prompt: the context length over one image's placeholder tokens."""
    text = getattr(config, "text_config", None) or config
    ctx = getattr(text, "max_position_embeddings", None)
    per_image = None
    ip = processor.image_processor
    size = getattr(ip, "size", None) or {}
    hw = (size.get("height"), size.get("width")) if isinstance(size, dict) else (None, None)
    if hw[0] and hasattr(processor, "_get_num_multimodal_tokens"):
        try:
            per_image = processor._get_num_multimodal_tokens(image_sizes=[hw])["num_image_tokens"][0]
        except (AttributeError, KeyError, TypeError, ValueError, IndexError):
            per_image = None
    per_image = per_image or getattr(processor, "image_seq_length", None)
    if not ctx or not per_image:
        return None
    return max(1, (int(ctx) - 256) // int(per_image))  # 256 tokens kept for the prompt and the answer


VIDEO_AS = {"video": "as a video (the processor's video input)", "images": "as N sampled frames (images)"}


def family_rows() -> list[dict[str, str]]:
    """One row per known family for ``emorealm adapters``: modalities, how video is given, vLLM."""
    rows = []
    for model_type, fam in FAMILIES.items():
        if fam.model_class:
            mods, video = "video + audio", "as a video; audio interleaved with it (use_audio_in_video)"
        elif fam.unsupported:
            mods, video = "—", "—"
        else:
            mods, video = _FAMILY_MODALITIES.get(fam.name, ("declared by the processor", ""))
        rows.append({"model_type": model_type, "architecture": fam.name, "modalities": mods, "video": video,
                     "loglikelihood": "no" if fam.unsupported else "yes", "vllm": fam.vllm,
                     "hf": f"unsupported: {fam.unsupported}" if fam.unsupported else "supported"})
    return rows


# what the processors of the generic families declare (checked against the tiny twins in tests)
_FAMILY_MODALITIES = {
    "qwen2_vl": ("video", VIDEO_AS["video"]), "qwen2_5_vl": ("video", VIDEO_AS["video"]),
    "qwen3_vl": ("video", VIDEO_AS["video"] + ", with frame timestamps"),
    "llava_onevision": ("video", VIDEO_AS["video"]), "video_llava": ("video", VIDEO_AS["video"]),
    "internvl": ("video", VIDEO_AS["video"] + " (one <img> block per frame)"),
    "qwen2_audio": ("audio", "not given (audio-only model)"),
    "voxtral": ("audio", "not given (audio-only model); audio through mistral_common's chat request"),
    "gemma3n": ("video (as frames) + audio", VIDEO_AS["images"] + ", default 8; audio capped at 30 s"),
    "phi4_multimodal": ("video (as frames) + audio", VIDEO_AS["images"] + ", default 8"),
}


def read_base_model(adapter_folder: str | Path) -> str | None:
    cfg = Path(adapter_folder) / "adapter_config.json"
    return json.loads(cfg.read_text()).get("base_model_name_or_path") if cfg.exists() else None
