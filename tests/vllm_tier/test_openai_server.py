"""The OpenAI-compatible adapter against a real server: vLLM's OpenAI server on tiny-omni.

Checks that the media the adapter sends reach the model (the server's own prompt token ids hold the
audio and video placeholders, as many as the offline engine makes from the same media) and that
answers and log-likelihoods equal the offline vLLM adapter's where both give the model the very
same inputs (audio-only: the wav travels as float32 samples, bit-exact)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from lm_eval.api.instance import Instance

from emorealm.errors import ModelError

PROMPT = "Is the speaker happy? (A) Yes (B) No"


@pytest.fixture(scope="module")
def docs(sample_root):
    from emorealm.benchmarks.emorealm import load_docs

    return load_docs("reasoning_basic_audio", data_root=str(sample_root))


def _adapter(url, **kw):
    from emorealm.model_adapters.openai import OpenAIAdapter

    return OpenAIAdapter(base_url=url, timeout=120, max_retries=2, backoff=0.5, **kw)


def test_server_model_is_found_and_keyless_requests_work(server_url, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    lm = _adapter(server_url)  # no model named: the server's only model is used
    assert lm.model == "tiny-omni" and lm.served_models == ["tiny-omni"]
    with pytest.raises(ModelError, match="does not serve model 'gpt-4o'"):
        _adapter(server_url, model="gpt-4o")


def test_audio_and_video_reach_the_served_model(server_url, vllm_lm, docs, monkeypatch):
    """Ask the server for its prompt token ids: the audio and video placeholders are there, in the
    numbers the offline engine produces for the same sampled frames and wave."""
    doc = next(d for d in docs if d["media"]["video"])
    lm = _adapter(server_url, audio_subtype="FLOAT")
    resp = lm.client.post("chat/completions", {"model": lm.model, "messages": lm.messages(doc, PROMPT),
                                               "max_tokens": 1, "temperature": 0, "return_token_ids": True})
    served = resp["prompt_token_ids"]
    assert resp["usage"]["prompt_tokens"] == len(served)
    monkeypatch.setattr(vllm_lm, "spec", replace(vllm_lm.spec, use_audio_in_video=False))
    offline = vllm_lm.engine_prompt_token_ids(doc, PROMPT)
    for mod in ("audio", "video"):
        tok = vllm_lm.placeholder_ids[mod]
        assert served.count(tok) == offline.count(tok) > 0, mod
    assert len(served) == len(offline)


def test_answers_and_loglikelihoods_equal_offline_vllm(server_url, vllm_lm, docs, monkeypatch):
    """Audio-only requests (video=false): identical inputs on both paths, so identical greedy answers
    and log-likelihoods within float noise."""
    monkeypatch.setattr(vllm_lm, "spec", replace(vllm_lm.spec, video=False))
    lm = _adapter(server_url, audio_subtype="FLOAT", video=False, num_concurrent=3)
    picked = [d for d in docs if d["media"]["video"]][:4]
    gen = [Instance("generate_until", d, (PROMPT, {"until": [], "max_gen_toks": 6}), i) for i, d in enumerate(picked)]
    served = lm.generate_until(gen)
    offline = vllm_lm.generate_until(gen)
    assert served == offline and all(isinstance(s, str) and not s.startswith("<<") for s in served)
    ll_reqs = [Instance("loglikelihood", d, (PROMPT, opt), i) for i, d in enumerate(picked[:2]) for opt in ("A", "B")]
    got = lm.loglikelihood(ll_reqs)
    ref = vllm_lm.loglikelihood(ll_reqs)
    assert all(math.isfinite(g[0]) for g in got)
    assert max(abs(g[0] - r[0]) for g, r in zip(got, ref, strict=True)) < 1e-3
    assert [g[1] for g in got] == [r[1] for r in ref]
    assert lm.n_errors == 0


def test_a_missing_clip_is_a_per_sample_error_not_a_crash(server_url, tmp_path):
    from emorealm.errors import parse_error_response

    lm = _adapter(server_url)
    bad = {"id": "x", "_task": "t", "media": {"video": str(tmp_path / "gone.mp4"), "audio": None,
                                              "audio_source": "video"}}
    out = lm.generate_until([Instance("generate_until", bad, (PROMPT, {"until": [], "max_gen_toks": 2}), 0)])
    assert parse_error_response(out[0]).kind == "MediaError" and lm.n_errors == 1
