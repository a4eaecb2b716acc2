"""OpenAI-compatible adapter (``--model openai``; lm-eval name ``emorealm-openai``).

Sends chat completions with the media as content parts (``openai_content``): video as a
``video_url`` data URL (or JPEG frames), audio as ``input_audio``; bounded concurrency, retries with
backoff on 429/5xx, timeouts (``http``). Options come from ``model_args`` and the environment:

* ``base_url`` (else ``$OPENAI_BASE_URL``, else ``https://api.openai.com/v1``)
* ``model`` (else ``$OPENAI_MODEL``; else the server's only model, when it serves exactly one)
* the API key only from the environment: ``$OPENAI_API_KEY`` or the variable named by
  ``api_key_env``. It is never accepted in ``model_args`` (they end up in shell history and logs)
  and is never written anywhere.

``loglikelihood`` needs a server that returns prompt log-probabilities (vLLM's OpenAI server:
``prompt_logprobs``, ``continue_final_message``, ``/tokenize``); elsewhere it stops with a clear error.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from emorealm import __version__
from emorealm.errors import ConfigError, ModelError, error_response
from emorealm.http import JSONClient, RetryPolicy, ServerError
from emorealm.media.decode import MediaSpec
from emorealm.model_adapters.base import EmorealmLM, cut_at_stops, media_spec_from_args, progress
from emorealm.model_adapters.modalities import PreparedMedia, prepare_media
from emorealm.model_adapters.openai_content import VIDEO_TRANSPORTS, audio_part, video_parts
from emorealm.options import parse_bool, parse_generation, parse_modalities
from emorealm.run_state import in_run_context

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAIAdapter(EmorealmLM):
    """Any OpenAI-compatible chat-completions server. ``model_args``: model, base_url, api_key_env,
    num_concurrent, max_retries, timeout, backoff, max_backoff, video_transport, audio_subtype,
    modalities, system_prompt, max_gen_toks, seed, plus the media options (fps, max_frames, video, audio)."""

    adapter_name = "openai"
    # chat completions take no top_k: refused up front rather than recorded and ignored
    GEN_KWARGS = ("until", "max_gen_toks", "temperature", "do_sample", "top_p")

    def __init__(self, model: str | None = None, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 num_concurrent: int = 4, max_retries: int = 5, timeout: float = 120.0, backoff: float = 1.0,
                 max_backoff: float = 30.0, video_transport: str = "sampled", audio_subtype: str = "PCM_16",
                 modalities: Any = None, system_prompt: str | None = None, max_gen_toks: int = 256,
                 seed: int | None = 0, check_server: bool | str = True, batch_size: Any = None,
                 device: str | None = None, pretrained: str | None = None, **kwargs: Any) -> None:
        super().__init__()
        if "api_key" in kwargs:
            raise ConfigError("do not pass api_key in model_args (it would land in shell history and logs); "
                              f"export it as {api_key_env} or name another variable with api_key_env=VAR")
        # The chat format cannot say "this audio is that video's own track": audio is its own part.
        self.spec: MediaSpec = media_spec_from_args({"use_audio_in_video": False, **kwargs}, type(self), ConfigError)
        if video_transport not in VIDEO_TRANSPORTS:
            raise ConfigError(f"unknown video_transport {video_transport!r}; use one of {', '.join(VIDEO_TRANSPORTS)}")
        if int(num_concurrent) < 1:
            raise ConfigError("num_concurrent must be at least 1")
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.api_key_env = api_key_env
        api_key = os.environ.get(api_key_env) or None
        self.policy = RetryPolicy(max_retries=int(max_retries), backoff=float(backoff),
                                  max_backoff=float(max_backoff), timeout=float(timeout))
        self.client = JSONClient(self.base_url, api_key, self.policy)
        self.key_set = api_key is not None
        del api_key
        self.num_concurrent = int(num_concurrent)
        self.video_transport = video_transport
        self.audio_subtype = audio_subtype
        self.accepts = parse_modalities(modalities)
        self.system_prompt = system_prompt
        self.max_gen_toks = int(max_gen_toks)
        self.seed = None if seed in (None, "", "none") else int(seed)
        self.model = model or pretrained or os.environ.get("OPENAI_MODEL")
        self.served_models: list[str] | None = None
        self._media_lock = threading.Lock()
        if parse_bool(check_server, "check_server"):
            self._check_server()
        if not self.model:
            raise ConfigError("the openai adapter needs model=<model id> (or $OPENAI_MODEL)")

    # -- setup --------------------------------------------------------------------------------
    def _check_server(self) -> None:
        """Fail up front when the server is down or does not serve the model (GET /models)."""
        try:
            listing = self.client.get("models", retries=min(2, self.policy.max_retries))
        except ServerError as exc:
            if exc.status is None or exc.status >= 500:
                raise ModelError(f"the OpenAI-compatible server at {self.base_url} is not usable: {exc}") from exc
            return  # 401/404 on /models: some servers do not list models; requests will tell
        data = listing.get("data") if isinstance(listing, dict) else None
        if not isinstance(data, list):
            raise ModelError(f"GET {self.base_url}/models answered {str(listing)[:200]!r}, not a model list; "
                             "is base_url an OpenAI-compatible endpoint (usually ending in /v1)?")
        self.served_models = [str(m.get("id")) for m in data if isinstance(m, dict)]
        if not self.model and len(self.served_models) == 1:
            self.model = self.served_models[0]
        elif self.model and self.served_models and self.model not in self.served_models:
            raise ModelError(f"the server at {self.base_url} does not serve model {self.model!r}; "
                             f"it serves: {', '.join(self.served_models)}")

    # -- requests -----------------------------------------------------------------------------
    def messages(self, doc: dict[str, Any], context: str) -> list[dict[str, Any]]:
        """The chat messages for ``doc`` + ``context``: media parts first, then the prompt text."""
        with self._media_lock:  # emorealm.media.decode's decode cache is not thread-safe
            prep: PreparedMedia = prepare_media(doc, self.spec, self.accepts, str(self.model),
                                                allow_interleave=False)
        content: list[dict[str, Any]] = []
        if prep.has_video:
            content += video_parts(prep.media.frames, prep.media.fps, (doc.get("media") or {}).get("video"),
                                   self.video_transport)
        if prep.has_audio:
            content.append(audio_part(prep.media.audio, self.spec.sample_rate, self.audio_subtype))
            self._note_source(doc, prep.media.audio_source)
        content.append({"type": "text", "text": context})
        msgs: list[dict[str, Any]] = []
        if self.system_prompt:
            msgs.append({"role": "system", "content": self.system_prompt})
        msgs.append({"role": "user", "content": content})
        return msgs

    def _chat(self, body: dict[str, Any]) -> dict[str, Any]:
        resp = self.client.post("chat/completions", {"model": self.model, **body})
        if not isinstance(resp, dict) or not isinstance(resp.get("choices"), list) or not resp["choices"]:
            raise ServerError(f"chat/completions answered without choices: {str(resp)[:200]!r}")
        return resp

    def _generate_one(self, doc: dict[str, Any], context: str, gen_kwargs: dict[str, Any]) -> str:
        req = parse_generation(gen_kwargs, self.max_gen_toks)
        stops = list(req.until)
        body: dict[str, Any] = {"messages": self.messages(doc, context), "max_tokens": req.max_new_tokens,
                                "temperature": req.temperature}
        if req.top_p is not None:
            body["top_p"] = req.top_p
        if stops:
            body["stop"] = stops[:4]  # the OpenAI API takes at most 4; the rest are cut below
        if self.seed is not None:
            body["seed"] = self.seed
        choice = self._chat(body)["choices"][0]
        text = (choice.get("message") or {}).get("content") if isinstance(choice, dict) else None
        if not isinstance(text, str):
            raise ServerError(f"chat/completions answered a choice without message content: {str(choice)[:200]!r}")
        return cut_at_stops(text, stops)

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        def one(req) -> str:
            context, gen_kwargs = req.args
            return self._guard(req.doc, lambda: self._generate_one(req.doc, context, dict(gen_kwargs)),
                               error_response)

        with ThreadPoolExecutor(max_workers=self.num_concurrent) as pool:
            # in_run_context: the workers record per-sample errors into this run's state
            return list(progress(pool.map(in_run_context(one), requests), len(requests), "openai: generating"))

    # -- log-likelihood -----------------------------------------------------------------------
    def _tokenize(self, text: str) -> list[int]:
        root = self.base_url.removesuffix("/v1")
        try:
            resp = self.client.post(f"{root}/tokenize", {"model": self.model, "prompt": text,
                                                         "add_special_tokens": False})
        except ServerError as exc:
            if exc.status in (404, 405):
                raise ModelError(f"{self.base_url} has no /tokenize endpoint, so option tokens cannot be located; "
                                 "log-likelihood tasks need a vLLM OpenAI server (or use the generation tasks)") from exc
            raise
        tokens = resp.get("tokens") if isinstance(resp, dict) else None
        if not isinstance(tokens, list) or not tokens:
            raise ServerError(f"/tokenize answered {str(resp)[:200]!r}")
        return [int(t) for t in tokens]

    def _score(self, doc: dict[str, Any], context: str, continuation: str) -> tuple[float, bool]:
        cont_ids = self._tokenize(continuation)
        body = {"messages": self.messages(doc, context) + [{"role": "assistant", "content": continuation}],
                "add_generation_prompt": False, "continue_final_message": True,
                "max_tokens": 1, "temperature": 0.0, "prompt_logprobs": 1}
        resp = self._chat(body)
        lps = resp.get("prompt_logprobs")
        if lps is None:
            raise PromptLogprobsUnsupported(
                f"the server at {self.base_url} returned no prompt_logprobs: it cannot score options, so "
                "log-likelihood (_ll) tasks cannot run on it; use the generation tasks or a vLLM OpenAI server")
        if not isinstance(lps, list) or len(lps) < len(cont_ids):
            raise ServerError(f"malformed prompt_logprobs in the answer: {str(lps)[:200]!r}")
        total, greedy = 0.0, True
        for tok, entry in zip(cont_ids, lps[len(lps) - len(cont_ids):], strict=True):
            item = entry.get(str(tok)) if isinstance(entry, dict) else None
            if not isinstance(item, dict) or "logprob" not in item:
                raise ServerError(f"the prompt's last tokens are not the option's tokens {cont_ids} (got {entry}); "
                                  "the chat template may add text after the assistant message")
            total += float(item["logprob"])
            greedy = greedy and item.get("rank") == 1
        return total, greedy

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        nan = (math.nan, False)
        unsupported: list[PromptLogprobsUnsupported] = []

        def one(req) -> tuple[float, bool]:
            if unsupported:
                return nan
            context, cont = req.args

            def score() -> tuple[float, bool]:
                try:
                    return self._score(req.doc, context, cont)
                except PromptLogprobsUnsupported as exc:  # not this sample's fault: stop the run below
                    unsupported.append(exc)
                    return nan

            return self._guard(req.doc, score, lambda _err: nan)

        with ThreadPoolExecutor(max_workers=self.num_concurrent) as pool:
            out = list(progress(pool.map(in_run_context(one), requests), len(requests), "openai: scoring"))
        if unsupported:
            raise ModelError(str(unsupported[0]))
        return out

    # -- metadata -----------------------------------------------------------------------------
    def emorealm_metadata(self) -> dict[str, Any]:
        return {
            "harness_version": __version__,
            "adapter": self.adapter_name,
            "model": self.model,
            "model_sha256": None,  # remote weights cannot be hashed
            "smoke_test": False,
            "base_url": self.base_url,
            "api_key_env": self.api_key_env,
            "media": {**self.spec.record(), "modalities_given": list(self.accepts),
                      "video_transport": self.video_transport, "audio_subtype": self.audio_subtype},
            "audio_source": self.audio_sources,
            "system_prompt": self.system_prompt,
            "requests": {"num_concurrent": self.num_concurrent, "max_retries": self.policy.max_retries,
                         "timeout": self.policy.timeout},
        }

    @property
    def tokenizer_name(self) -> str:
        return str(self.model).replace("/", "__")


class PromptLogprobsUnsupported(ModelError):
    """The server answers chat completions but returns no prompt log-probabilities."""
