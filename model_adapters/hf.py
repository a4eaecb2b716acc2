"""Hugging Face transformers adapter (``--model hf``; lm-eval name ``emorealm-hf``).

Loads Qwen2.5-Omni checkpoints (full ``qwen2_5_omni`` checkpoints load into the thinker class, as
released), LoRA adapter folders (base read from ``adapter_config.json``) and ``peft=`` adapters on a
base. Media are decoded once per doc (``emorealm.media.decode``) and turned into processor inputs by
``emorealm.model_adapters.inputs`` — the same code training uses.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from emorealm import __version__
from emorealm.errors import ModelError
from emorealm.fingerprint import local_checkpoint, weights_hash
from emorealm.media.decode import DecodedMedia, MediaSpec
from emorealm.model_adapters import distributed
from emorealm.model_adapters.base import EmorealmLM, cut_at_stops, media_spec_from_args
from emorealm.model_adapters.chat_audio import check_system_prompt
from emorealm.model_adapters.checkpoint_media import with_checkpoint_media
from emorealm.model_adapters.forward_errors import model_call
from emorealm.model_adapters.frames_as_images import label as frames_label
from emorealm.model_adapters.hf_inputs import AUTO_PROCESS_MIN, HFInputs, check_worker_kind
from emorealm.model_adapters.hf_models import DTYPES, resolve_architecture
from emorealm.model_adapters.hf_models import load_model as load_model_arch
from emorealm.model_adapters.inputs import ModelInputs, batch_key, collate_inputs
from emorealm.model_adapters.prefix import last_token_logprobs, score_from_prefix
from emorealm.model_adapters.tiny_models.omni import is_smoke_test_model
from emorealm.options import parse_bool, parse_generation, parse_modalities

_DTYPES = DTYPES


def _thinker_class(model_type: str):
    """The class that runs a checkpoint of ``model_type`` for text output, or a clear error."""
    return resolve_architecture(model_type).model_class


def pick_device(device: str | None) -> str:
    """``device`` if usable; a CUDA request on a machine without CUDA falls back to CPU (as lm-eval's
    own ``hf`` model does, since lm-eval's CLI asks for cuda by default), with a warning."""
    if not device:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        import logging

        logging.getLogger("emorealm.model_adapters").warning("device %r requested but CUDA is not available; "
                                                             "using cpu", device)
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
    model, processor, _ = load_model_arch(pretrained, peft, dtype, device, trust_remote_code)
    return model, processor


class HFAdapter(HFInputs, EmorealmLM):
    """Audiovisual MLLMs through transformers (Qwen2.5-Omni, Qwen3-Omni, generic Auto-class models).

    ``model_args``: see ``OPTIONS`` (``python -m emorealm adapters hf``) and docs/adapters.md.
    """

    adapter_name = "hf"
    # name -> (default, meaning); listed by ``python -m emorealm adapters``
    OPTIONS: dict[str, tuple[Any, str]] = {
        "pretrained": (None, "checkpoint folder or hub id (a LoRA adapter folder loads onto its base)"),
        "peft": (None, "LoRA adapter folder applied on pretrained"),
        "dtype": ("float32", "float32, bfloat16, float16 or auto"),
        "device": ("cpu", "cpu, cuda, cuda:N (cuda becomes cuda:<local rank> under torchrun/accelerate)"),
        "device_map": (None, "accelerate device map, e.g. auto: one model over several GPUs"),
        "batch_size": (1, "questions per forward (left-padded): greedy generation and single-token options; "
                          "sampled answers and multi-token options run one question at a time"),
        "modalities": (None, "narrow what the model is given: video, audio or video+audio"),
        "backbones": (None, "AVERE checkpoints: folder holding the released backbones (default DIR/backbones)"),
        "trust_remote_code": (False, "run the checkpoint's own code (only when you trust it)"),
        "system_prompt": (None, "system turn text (default: the chat template's own)"),
        "max_gen_toks": (256, "generation length cap when the task sets none"),
        "media": ("qwen-reference", "named media spec (qwen-omni-utils' preprocessing); the fields below override it"),
        "fps": (2.0, "frames sampled per second of clip"),
        "min_frames": (4, "fewest frames per clip"),
        "max_frames": (768, "most frames per clip"),
        "min_pixels": (128 * 28 * 28, "fewest pixels per frame (smaller frames are upscaled)"),
        "max_pixels": (768 * 28 * 28, "most pixels per frame (frames are resized once from the source)"),
        "total_pixels": (128000 * 28 * 28 * 0.9, "pixel budget of a whole clip (caps max_pixels for long clips)"),
        "processor_fps": (False, "pass the sampled fps to the processor (the reference passes none: 2.0 assumed)"),
        "sample_rate": (16000, "audio sample rate given to the model"),
        "max_seconds": (None, "sample only the first max_seconds of a clip (default: the whole clip)"),
        "use_audio_in_video": (True, "Omni models: interleave the clip's audio with its frames"),
        "video": (True, "give the model frames (false: audio-only ablation)"),
        "audio": (True, "give the model audio (false: video-only ablation)"),
        "image_frames": (None, "models that take images but no video: frames given per clip (default: the "
                               "family's, see docs/adapters.md)"),
        "frame_rule": ("uniform", "which frames: uniform (segment centres) or linspace (first to last)"),
        "prefetch": (2, "requests whose inputs are prepared ahead in a background worker (0: off)"),
        "prefetch_worker": ("auto", "auto (a process for loops of at least "
                                    f"{AUTO_PROCESS_MIN} questions, else a thread) | process | thread; see docs/adapters.md"),
    }
    # (doc, DecodedMedia) -> media_override dict for build_inputs; set by emorealm.diagnostics
    media_transform: Callable[[dict[str, Any], DecodedMedia], dict[str, Any]] | None = None

    def __init__(self, pretrained: str | None = None, peft: str | None = None, dtype: str = "float32",
                 device: str = "cpu", batch_size: int | str = 1, system_prompt: str | None = None,
                 trust_remote_code: bool | str = False, max_gen_toks: int = 256, device_map: str | None = None,
                 modalities: str | None = None, backbones: str | None = None, image_frames: int | str | None = None,
                 frame_rule: str = "uniform", prefetch: int | str = 2, prefetch_worker: str = "auto",
                 **kwargs: Any) -> None:
        super().__init__()
        if not pretrained:
            raise ModelError("the hf adapter needs pretrained=<folder or hub id> (or use --model tiny-omni)")
        self.pretrained, self.peft = resolve_checkpoint(str(pretrained), peft)
        # the media the checkpoint was trained with (emorealm_media.json), under the user's own options
        kwargs, self.media_from_checkpoint = with_checkpoint_media(
            kwargs, local_checkpoint(self.peft), local_checkpoint(self.pretrained))
        self.spec: MediaSpec = media_spec_from_args(kwargs, type(self))
        self.dtype = dtype
        self.dist = distributed.from_env()
        self._device = distributed.rank_device(pick_device(device), self.dist)
        distributed.init(self.dist, self._device)
        self._rank, self._world_size = self.dist.rank, self.dist.world_size
        self.batch_size = int(batch_size) if str(batch_size).isdigit() else 1
        self.system_prompt = system_prompt
        self.max_gen_toks = int(max_gen_toks)
        self.device_map = device_map or None
        self.model, self.processor, self.arch = load_model_arch(
            self.pretrained, self.peft, dtype, self._device, parse_bool(trust_remote_code, "trust_remote_code"), self.device_map,
            parse_modalities(modalities, default=None), backbones=backbones)
        if self.device_map:
            self._device = str(self.model.device)
        if self.arch.max_seconds and (self.spec.max_seconds is None or self.spec.max_seconds > self.arch.max_seconds):
            # e.g. Gemma 3n's audio encoder takes 30 s: longer clips are sampled over their first 30 s
            self.spec = dataclasses.replace(self.spec, max_seconds=self.arch.max_seconds)
        if not self.arch.audio_in_video and self.spec.use_audio_in_video:
            # only the Omni thinkers interleave a clip's audio with its frames
            self.spec = dataclasses.replace(self.spec, use_audio_in_video=False)
        elif self.spec.use_audio_in_video:
            from emorealm.version_checks import INTERLEAVED_AUDIO_TRANSFORMERS, require

            require("transformers", INTERLEAVED_AUDIO_TRANSFORMERS, "the HF adapter's audio-in-video layout",
                    "pass --model-args use_audio_in_video=false (audio as a separate item), or use --model vllm")
        self.tokenizer = self.processor.tokenizer
        check_system_prompt(self.processor, system_prompt, self.arch.name)
        self.frame_rule = str(frame_rule)
        self.image_frames = self._check_image_frames(image_frames)
        if self.image_frames and self.spec.min_frames < self.image_frames:
            # decode at least as many frames as the model is to be given
            self.spec = dataclasses.replace(self.spec, min_frames=self.image_frames,
                                            max_frames=max(self.spec.max_frames, self.image_frames))
        self.prefetch = int(prefetch)
        self.prefetch_worker = check_worker_kind(prefetch_worker)
        self._worker_processor = None  # the prefetch thread's own copy (see _thread_processor)
        self._worker = None  # the prefetch process, started on first use (see _prefetch_process)
        self.modalities_given: dict[str, dict[str, int]] = {}
        self.modalities_not_given: dict[str, dict[str, int]] = {}

    # -- data parallel (lm-eval splits requests by rank) ------------------------------------------
    @property
    def device(self) -> torch.device:
        return torch.device(self._device)

    def all_gather(self, tensor):
        return distributed.all_gather(tensor) if self.dist.enabled else tensor

    def gather_object(self, obj, dst: int = 0):
        return distributed.gather_object(obj, dst) if self.dist.enabled else [obj]

    def barrier(self) -> None:
        if self.dist.enabled:
            distributed.barrier()

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
    def _generation_config(self, gen_kwargs: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
        """(``generate`` keyword arguments, stop sequences) from lm-eval's ``gen_kwargs``."""
        req = parse_generation(gen_kwargs, self.max_gen_toks)
        gen = {"max_new_tokens": req.max_new_tokens, "do_sample": req.do_sample, "pad_token_id": self._pad_id(),
               **req.sampling}
        return gen, req.until

    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad if pad is not None else self.tokenizer.eos_token_id)

    def _eos_ids(self) -> set[int]:
        ids = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        ids = set(ids if isinstance(ids, (list, tuple)) else [ids] if ids is not None else [])
        if self.tokenizer.eos_token_id is not None:
            ids.add(int(self.tokenizer.eos_token_id))
        return ids

    def _generation_batch_size(self, gen_kwargs: dict[str, Any]) -> int:
        # sampled answers run one at a time: each then depends only on (seed, request), whatever the
        # batch size, the order or a resume (docs/reliability.md)
        return 1 if self._generation_config(gen_kwargs)[0]["do_sample"] else self.batch_size

    def _prefetch_depth(self) -> int:
        # diagnostics' media transforms may draw from the RNGs seeded per request on the main thread
        return 0 if self.media_transform is not None else self.prefetch

    def _build_generation(self, doc: dict[str, Any], context: str, gen_kwargs: dict[str, Any]) -> Any:
        return self._build(doc, context)

    def _prepare_generation_built(self, doc: dict[str, Any], context: str, gen_kwargs: dict[str, Any],
                                  built: Any) -> Any:
        return self._commit(doc, built), gen_kwargs

    def _prepare_generation(self, doc: dict[str, Any], context: str, gen_kwargs: dict[str, Any]) -> Any:
        return self._inputs(doc, context), gen_kwargs

    def _generate_prepared(self, prepared: list[Any]) -> list[str]:
        gen, until = self._generation_config(prepared[0][1])
        texts: list[str | None] = [None] * len(prepared)
        # samples whose inputs differ in kind (e.g. audio-only next to audio+video) go in separate calls
        groups: dict[tuple, list[int]] = {}
        for j, (inputs, _) in enumerate(prepared):
            groups.setdefault(batch_key(inputs), []).append(j)
        for idxs in groups.values():
            items = [prepared[j][0] for j in idxs]
            inputs = items[0] if len(items) == 1 else collate_inputs(items, self._pad_id())
            with torch.inference_mode(), model_call(len(items)):
                out = self.model.generate(**self._to_device(inputs.model_kwargs()), **gen)
            stops = self._eos_ids()
            for row, j in enumerate(idxs):
                new = out[row, inputs.prompt_length:].tolist()
                # a row that finished early is filled with padding after its end-of-sequence token
                end = next((k + 1 for k, t in enumerate(new) if t in stops), len(new))
                text = self.tokenizer.decode(new[:end], skip_special_tokens=True)
                texts[j] = cut_at_stops(text, until)
        return texts  # type: ignore[return-value]

    def _generate_one(self, doc: dict[str, Any], context: str, gen_kwargs: dict[str, Any]) -> str:
        return self._generate_prepared([self._prepare_generation(doc, context, gen_kwargs)])[0]

    # -- public: what diagnostics and tools read from a loaded model -------------------------------
    def model_inputs(self, doc: dict[str, Any], context: str) -> ModelInputs:
        """The inputs the model is given for ``doc`` + ``context`` (media under the spec and any
        ``media_transform``), counted in the metadata as a request's are."""
        return self._inputs(doc, context)

    def forward(self, inputs: ModelInputs):
        """One forward pass of the model over ``inputs`` on the adapter's device (no gradients)."""
        with torch.inference_mode():
            return self.model(**self._to_device(inputs.model_kwargs()))

    def continuation_ids(self, continuation: str) -> list[int]:
        """Token ids of ``continuation`` as the log-likelihood requests score it."""
        ids = self.tokenizer(continuation, add_special_tokens=False)["input_ids"]
        if not ids:
            raise ModelError(f"continuation {continuation!r} tokenizes to nothing")
        return ids

    # -- log-likelihood -----------------------------------------------------------------------
    def _loglikelihood_batch_size(self) -> int:
        return self.batch_size

    def _build_loglikelihood(self, doc: dict[str, Any], context: str, continuations: list[str]) -> Any:
        return self._build(doc, context)

    def _prepare_loglikelihood_built(self, doc: dict[str, Any], context: str, continuations: list[str],
                                     built: Any) -> Any:
        ids = [self.continuation_ids(c) for c in continuations]
        return self._commit(doc, built), ids

    def _prepare_loglikelihood(self, doc: dict[str, Any], context: str, continuations: list[str]) -> Any:
        return self._prepare_loglikelihood_built(doc, context, continuations, self._build(doc, context))

    def _loglikelihood_prepared(self, prepared: list[Any]) -> list[list[tuple[float, bool]]]:
        results: list[list[tuple[float, bool]] | None] = [None] * len(prepared)
        # questions whose options are all one token need only the prompt's last logits, so several
        # of them share one left-padded forward; the others are scored from their own cached prefix
        batchable: dict[tuple, list[int]] = {}
        for j, (inputs, ids) in enumerate(prepared):
            if all(len(c) == 1 for c in ids):
                batchable.setdefault(batch_key(inputs), []).append(j)
        for idxs in batchable.values():
            if len(idxs) < 2:
                continue
            batch = collate_inputs([prepared[j][0] for j in idxs], self._pad_id())
            with model_call(len(idxs)):
                logp = last_token_logprobs(self.model, self._to_device(batch.model_kwargs()))
            for row, j in enumerate(idxs):
                best = int(logp[row].argmax())
                results[j] = [(float(logp[row, c[0]]), best == c[0]) for c in prepared[j][1]]
        for j, (inputs, ids) in enumerate(prepared):
            if results[j] is None:  # media + prompt encoded once; every option scored from the cached prefix
                with model_call(1):
                    results[j] = score_from_prefix(self.model, self._to_device(inputs.model_kwargs()), ids)
        return results  # type: ignore[return-value]

    def _loglikelihood_group(self, doc: dict[str, Any], context: str,
                             continuations: list[str]) -> list[tuple[float, bool]]:
        return self._loglikelihood_prepared([self._prepare_loglikelihood(doc, context, continuations)])[0]

    # -- metadata -----------------------------------------------------------------------------
    def emorealm_metadata(self) -> dict[str, Any]:
        # hub ids are resolved to their snapshot in the Hugging Face cache (offline) for hashing
        folders = [f for f in (local_checkpoint(self.pretrained), local_checkpoint(self.peft)) if f is not None]
        return {
            "harness_version": __version__,
            "adapter": self.adapter_name,
            "model": self.pretrained,
            "peft": self.peft,
            "model_sha256": weights_hash(*folders),
            "model_class": type(self.model).__name__,
            "dtype": self.dtype,
            "smoke_test": any(is_smoke_test_model(f) for f in folders),
            "architecture": self.arch.name,
            "media_from_checkpoint": self.media_from_checkpoint,
            "media": {**self.spec.record(), **self._processor_caps(), "video_as": self.arch.video_as,
                      **({"image_frames": self.image_frames, "frame_rule": self.frame_rule}
                         if self.arch.video_as == "images" else {})},
            "modalities": {"accepted": [frames_label(self.image_frames) if m == "video" and self.image_frames else m
                                        for m in self.arch.accepts], "given": self.modalities_given,
                           "not_given": self.modalities_not_given},
            "world_size": self.dist.world_size,
            "audio_source": self.audio_sources,
            "system_prompt": self.system_prompt,
        }

    def _processor_caps(self) -> dict[str, Any]:
        # the caps actually applied: a processor class's own videos_kwargs defaults (Qwen2.5-Omni's
        # are the released 128..768 x 28 x 28) take precedence over its video processor's saved size
        vp = getattr(self.processor, "video_processor", None)
        size = ((getattr(type(self.processor), "videos_kwargs", None) or {}).get("size")
                or getattr(vp, "size", None) or {})
        # recorded beside the media spec's own min/max_pixels (which size the frames before the processor)
        return {"processor_min_pixels": size.get("shortest_edge"), "processor_max_pixels": size.get("longest_edge")}

    @property
    def tokenizer_name(self) -> str:
        return str(self.pretrained).replace("/", "__")
