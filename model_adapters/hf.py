"""Hugging Face transformers adapter (``--model hf``; lm-eval name ``emorealm-hf``).

Loads Qwen2.5-Omni checkpoints (full ``qwen2_5_omni`` checkpoints load into the thinker class, as
released), LoRA adapter folders (base read from ``adapter_config.json``) and ``peft=`` adapters on a
base. Media are decoded once per doc (``emorealm.media``) and turned into processor inputs by
``emorealm.inputs`` — the same code training uses.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from emorealm.model_adapters.base import EmorealmLM, cut_at_stops, media_spec_from_args, parse_bool

from emorealm import __version__
from emorealm.errors import ModelError
from emorealm.fingerprint import weights_hash
from emorealm.inputs import ModelInputs, append_continuation, build_inputs, build_model_inputs
from emorealm.media import DecodedMedia, MediaSpec, load_media
from emorealm.tiny import is_smoke_test_model

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "auto": "auto"}


def _thinker_class(model_type: str):
    """The class that runs a checkpoint of ``model_type`` for text output, or a clear error."""
    if model_type in ("qwen2_5_omni", "qwen2_5_omni_thinker"):
        from transformers import Qwen2_5OmniThinkerForConditionalGeneration

        return Qwen2_5OmniThinkerForConditionalGeneration
    raise ModelError(
        f"no emorealm HF adapter supports model_type {model_type!r} yet (supported: qwen2_5_omni); "
        "open an issue or write a plugin adapter (docs/adapters.md)"
    )


def pick_device(device: str | None) -> str:
    """``device`` if usable; a CUDA request on a machine without CUDA falls back to CPU (as lm-eval's
    own ``hf`` model does, since lm-eval's CLI asks for cuda by default), with a warning."""
    if not device:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        import warnings

        warnings.warn(f"device {device!r} requested but CUDA is not available; using cpu", stacklevel=2)
        return "cpu"
    return device


def resolve_checkpoint(pretrained: str, peft: str | None) -> tuple[str, str | None]:
    """Split a LoRA adapter folder given as ``pretrained`` into (base, adapter)."""
    cfg = Path(pretrained) / "adapter_config.json"
    if peft is None and cfg.exists():
        base = json.loads(cfg.read_text()).get("base_model_name_or_path")
        if not base:
            raise ModelError(f"{cfg} names no base_model_name_or_path; pass pretrained=<base>,peft={pretrained}")
        return base, pretrained
    return pretrained, peft


def load_model(pretrained: str, peft: str | None = None, dtype: str = "float32", device: str = "cpu",
               trust_remote_code: bool = False):
    """Load (model, processor) for a checkpoint folder or hub id; safetensors only."""
    from transformers import AutoConfig, AutoProcessor

    if dtype not in _DTYPES:
        raise ModelError(f"unknown dtype {dtype!r}; use one of {sorted(_DTYPES)}")
    try:
        config = AutoConfig.from_pretrained(pretrained, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load a model config from {pretrained!r}: {exc}") from exc
    cls = _thinker_class(config.model_type)
    model = cls.from_pretrained(pretrained, dtype=_DTYPES[dtype], use_safetensors=True,
                                trust_remote_code=trust_remote_code)
    if peft:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, peft)
    model.to(device).eval()
    # the processor saved with an adapter/checkpoint wins over the base's
    proc_src = peft if peft and (Path(peft) / "preprocessor_config.json").exists() else pretrained
    if peft and (Path(peft) / "processor_config.json").exists():
        proc_src = peft
    processor = AutoProcessor.from_pretrained(proc_src, trust_remote_code=trust_remote_code)
    return model, processor


class HFAdapter(EmorealmLM):
    """Audiovisual MLLMs through transformers. ``model_args``: pretrained, peft, dtype, device,
    batch_size, system_prompt, fps, max_frames, min_frames, use_audio_in_video, video, audio,
    trust_remote_code."""

    adapter_name = "hf"
    # (doc, DecodedMedia) -> media_override dict for build_inputs; set by emorealm.diagnostics
    media_transform: Callable[[dict[str, Any], DecodedMedia], dict[str, Any]] | None = None

    def __init__(self, pretrained: str | None = None, peft: str | None = None, dtype: str = "float32",
                 device: str = "cpu", batch_size: int | str = 1, system_prompt: str | None = None,
                 trust_remote_code: bool | str = False, max_gen_toks: int = 256, **kwargs: Any) -> None:
        super().__init__()
        if not pretrained:
            raise ModelError("the hf adapter needs pretrained=<folder or hub id> (or use --model tiny-omni)")
        spec_args = dict(kwargs)
        self.spec: MediaSpec = media_spec_from_args(spec_args)
        unknown = sorted(k for k in spec_args if k not in ("max_batch_size",))
        if unknown:
            raise ModelError(f"unknown hf model_args {unknown}; see docs/adapters.md for the options")
        self.pretrained, self.peft = resolve_checkpoint(str(pretrained), peft)
        self.dtype = dtype
        self._device = pick_device(device)
        self.batch_size = int(batch_size) if str(batch_size).isdigit() else 1
        self.system_prompt = system_prompt
        self.max_gen_toks = int(max_gen_toks)
        self.model, self.processor = load_model(self.pretrained, self.peft, dtype, self._device,
                                                parse_bool(trust_remote_code))
        self.tokenizer = self.processor.tokenizer

    # -- inputs -------------------------------------------------------------------------------
    def _inputs(self, doc: dict[str, Any], context: str) -> ModelInputs:
        if self.media_transform is None:
            inputs = build_model_inputs(self.processor, doc, context, self.spec, system_prompt=self.system_prompt)
        else:  # diagnostics' ablations: replace decoded media, never the files (emorealm.diagnostics)
            media = load_media(doc["media"], self.spec) if doc.get("media") else None
            override = self.media_transform(doc, media) if media is not None else None
            inputs = build_inputs(self.processor, media, context, self.spec, system_prompt=self.system_prompt,
                                  media_override=override)
        if "audio" in inputs.modalities:
            src = doc.get("media", {})
            self._note_source(doc, "sidecar" if src.get("audio") and Path(src["audio"]).exists() else "video")
        return inputs

    def _to_device(self, kw: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for k, v in kw.items():
            if isinstance(v, torch.Tensor):
                v = v.to(self._device)
                if v.is_floating_point() and self.dtype in ("float16", "bfloat16"):
                    v = v.to(_DTYPES[self.dtype])
            out[k] = v
        return out

    # -- generation ---------------------------------------------------------------------------
    def _generate_one(self, doc: dict[str, Any], context: str, gen_kwargs: dict[str, Any]) -> str:
        until = gen_kwargs.pop("until", None)
        max_new = int(gen_kwargs.pop("max_gen_toks", self.max_gen_toks))
        temperature = float(gen_kwargs.pop("temperature", 0.0) or 0.0)
        do_sample = parse_bool(gen_kwargs.pop("do_sample", temperature > 0)) and temperature > 0
        inputs = self._inputs(doc, context)
        gen = {"max_new_tokens": max_new, "do_sample": do_sample,
               "pad_token_id": self.tokenizer.pad_token_id}
        if do_sample:
            gen["temperature"] = temperature
            for k in ("top_p", "top_k"):
                if k in gen_kwargs:
                    gen[k] = gen_kwargs.pop(k)
        with torch.inference_mode():
            out = self.model.generate(**self._to_device(inputs.model_kwargs()), **gen)
        text = self.tokenizer.decode(out[0, inputs.prompt_length:], skip_special_tokens=True)
        return cut_at_stops(text, until)

    # -- log-likelihood -----------------------------------------------------------------------
    def _continuation_ids(self, continuation: str) -> list[int]:
        ids = self.tokenizer(continuation, add_special_tokens=False)["input_ids"]
        if not ids:
            raise ModelError(f"continuation {continuation!r} tokenizes to nothing")
        return ids

    def _loglikelihood_group(self, doc: dict[str, Any], context: str,
                             continuations: list[str]) -> list[tuple[float, bool]]:
        prefix = self._inputs(doc, context)
        out = []
        for cont in continuations:
            ids = self._continuation_ids(cont)
            full = append_continuation(prefix, ids)
            with torch.inference_mode():
                logits = self.model(**self._to_device(full.model_kwargs())).logits[0].float()
            p = prefix.prompt_length
            logp = torch.log_softmax(logits[p - 1:p - 1 + len(ids)], dim=-1)
            target = torch.tensor(ids, device=logp.device)
            ll = float(logp.gather(1, target[:, None]).sum())
            greedy = bool((logp.argmax(-1) == target).all())
            out.append((ll, greedy))
        return out

    # -- metadata -----------------------------------------------------------------------------
    def emorealm_metadata(self) -> dict[str, Any]:
        local = Path(self.pretrained).is_dir()
        return {
            "harness_version": __version__,
            "adapter": self.adapter_name,
            "model": self.pretrained,
            "peft": self.peft,
            "model_sha256": weights_hash(self.pretrained if local else None, self.peft),
            "model_class": type(self.model).__name__,
            "dtype": self.dtype,
            "smoke_test": bool(local and is_smoke_test_model(self.pretrained))
            or bool(self.peft and is_smoke_test_model(self.peft)),
            "media": {**self.spec.as_dict(), **self._processor_caps()},
            "audio_source": self.audio_sources,
            "system_prompt": self.system_prompt,
        }

    def _processor_caps(self) -> dict[str, Any]:
        vp = getattr(self.processor, "video_processor", None)
        size = getattr(vp, "size", None) or {}
        return {"min_pixels": size.get("shortest_edge"), "max_pixels": size.get("longest_edge")}

    @property
    def tokenizer_name(self) -> str:
        return str(self.pretrained).replace("/", "__")
