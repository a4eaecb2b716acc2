"""The OpenAI-compatible adapter against a local HTTP server that misbehaves on purpose: retries on
429/5xx, timeouts, malformed JSON, a server that is down, the media it sends, log-likelihood from
prompt log-probs, and the API key never being written anywhere. (The real-server tests — vLLM's
OpenAI server on tiny-omni — live in tests/vllm_tier/.)"""

from __future__ import annotations

import base64
import io
import json
import math
import socket
import time
from typing import Any

import numpy as np
import pytest
from lm_eval.api.instance import Instance

from emorealm.errors import ConfigError, ModelError, clear_sample_errors, parse_error_response, sample_error
from emorealm.media.decode import MediaSpec, load_media
from emorealm.media.synth import write_av_clip

from support.docs import gen_request, media_doc
from support.fake_server import FakeServer

SECRET = "sk-emorealm-test-7f3a9c1e5b2d4f60"


def completion(text: str, prompt_logprobs: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": "c1", "object": "chat.completion", "model": "fake-omni",
                            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
    if prompt_logprobs is not None:
        body["prompt_logprobs"] = prompt_logprobs
    return body


@pytest.fixture
def server():
    with FakeServer() as s:
        yield s


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_av_clip(tmp_path_factory.mktemp("oa") / "clip.mp4", seconds=2.0, fps=24, size=(64, 48),
                         tone_hz=330.0, seed=3)


def _doc(path, i=0):
    return media_doc(path, doc_id=f"oa{i}", task="oa_test", clip_id="c")


def _adapter(server, monkeypatch, **kw):
    from emorealm.model_adapters.openai import OpenAIAdapter

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    opts = {"model": "fake-omni", "base_url": server.base_url, "backoff": 0.01, "max_backoff": 0.05,
            "max_retries": 3, "timeout": 5, **kw}
    return OpenAIAdapter(**opts)


def _gen(doc, prompt="Which emotion? (A) Yes (B) No"):
    return gen_request(doc, prompt, until=["\n"], max_gen_toks=5)


def test_429_then_success_retries_and_sends_the_key_only_in_the_header(server, monkeypatch, clip):
    server.script["/v1/chat/completions"] = [
        {"status": 429, "body": {"error": {"message": "slow down"}}, "headers": {"Retry-After": "0"}},
        {"status": 429, "body": {"error": {"message": "slow down"}}},
        {"body": completion("A\nsecond line")},
    ]
    lm = _adapter(server, monkeypatch)
    assert lm.generate_until([_gen(_doc(clip))]) == ["A"]  # cut at the stop sequence
    calls = server.calls("/v1/chat/completions")
    assert len(calls) == 3
    assert all(c["headers"]["Authorization"] == f"Bearer {SECRET}" for c in calls)
    assert SECRET not in json.dumps(calls[0]["body"])  # never in the payload
    assert lm.n_errors == 0


def test_500s_exhaust_retries_into_a_counted_per_sample_error(server, monkeypatch, clip):
    clear_sample_errors()
    server.script["/v1/chat/completions"] = [{"status": 500, "body": {"error": {"message": "engine crashed"}}}]
    lm = _adapter(server, monkeypatch, max_retries=2)
    doc = _doc(clip)
    out = lm.generate_until([_gen(doc)])
    err = parse_error_response(out[0])
    assert err is not None and err.kind == "ServerError"
    assert "after 3 attempt(s)" in err.message and "HTTP 500: engine crashed" in err.message
    assert len(server.calls("/v1/chat/completions")) == 3
    assert lm.n_errors == 1
    assert sample_error(doc, out) is not None and doc["_error"]["kind"] == "ServerError"


def test_client_errors_are_not_retried(server, monkeypatch, clip):
    server.script["/v1/chat/completions"] = [{"status": 400, "body": {"error": {"message": "video not allowed"}}}]
    lm = _adapter(server, monkeypatch)
    err = parse_error_response(lm.generate_until([_gen(_doc(clip))])[0])
    assert "HTTP 400: video not allowed" in err.message
    assert len(server.calls("/v1/chat/completions")) == 1


def test_timeouts_are_retried_then_reported(server, monkeypatch, clip):
    server.script["/v1/chat/completions"] = [{"delay": 1.0, "body": completion("late")}]
    lm = _adapter(server, monkeypatch, timeout=0.2, max_retries=1)
    t0 = time.monotonic()
    err = parse_error_response(lm.generate_until([_gen(_doc(clip))])[0])
    assert err is not None and "no answer within 0.2 s" in err.message and "2 attempt(s)" in err.message
    assert time.monotonic() - t0 < 3.0
    assert len(server.calls("/v1/chat/completions")) == 2


def test_malformed_json_and_missing_choices_are_per_sample_errors(server, monkeypatch, clip):
    server.script["/v1/chat/completions"] = [{"body": "{'choices': oops"}, {"body": {"object": "chat.completion"}}]
    lm = _adapter(server, monkeypatch, num_concurrent=1)
    out = lm.generate_until([_gen(_doc(clip, 1)), _gen(_doc(clip, 2))])
    e1, e2 = (parse_error_response(o) for o in out)
    assert "not JSON" in e1.message and "without choices" in e2.message
    assert len(server.calls("/v1/chat/completions")) == 2  # a malformed body is not retried
    assert lm.n_errors == 2


def test_server_down_is_a_clear_error_up_front(monkeypatch):
    from emorealm.model_adapters.openai import OpenAIAdapter

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with pytest.raises(ModelError, match=r"not usable.*cannot connect.*is the server running") as exc:
        OpenAIAdapter(model="m", base_url=f"http://127.0.0.1:{port}/v1", backoff=0.01, max_retries=1)
    assert SECRET not in str(exc.value)


def test_unknown_model_and_bad_options_are_refused_up_front(server, monkeypatch):
    with pytest.raises(ModelError, match="does not serve model 'gpt-x'.*fake-omni"):
        _adapter(server, monkeypatch, model="gpt-x")
    with pytest.raises(ConfigError, match="do not pass api_key"):
        _adapter(server, monkeypatch, api_key=SECRET)
    with pytest.raises(ConfigError, match="video_transport"):
        _adapter(server, monkeypatch, video_transport="carrier-pigeon")
    with pytest.raises(ConfigError, match="unknown openai model_args"):
        _adapter(server, monkeypatch, temperaturee=1)
    # the server's only model is picked when none is named
    lm = _adapter(server, monkeypatch, model=None)
    assert lm.model == "fake-omni"


def test_media_parts_carry_the_sampled_frames_and_the_exact_audio(server, monkeypatch, clip):
    import av
    import soundfile as sf

    server.script["/v1/chat/completions"] = [{"body": completion("B")}]
    lm = _adapter(server, monkeypatch, audio_subtype="FLOAT")
    lm.generate_until([_gen(_doc(clip))])
    content = server.calls("/v1/chat/completions")[0]["body"]["messages"][-1]["content"]
    assert [p["type"] for p in content] == ["video_url", "input_audio", "text"]
    media = load_media(_doc(clip)["media"], MediaSpec(use_audio_in_video=False))
    url = content[0]["video_url"]["url"]
    assert url.startswith("data:video/mp4;base64,")
    with av.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as c:
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    assert decoded.shape == media.frames.shape  # every sampled frame, nothing more
    assert np.abs(decoded.astype(int) - media.frames.astype(int)).mean() < 8  # lossy but the same pictures
    wave, sr = sf.read(io.BytesIO(base64.b64decode(content[1]["input_audio"]["data"])), dtype="float32")
    assert sr == 16000 and np.array_equal(wave, media.audio)
    assert content[2] == {"type": "text", "text": "Which emotion? (A) Yes (B) No"}


def test_frames_transport_and_a_model_without_audio(server, monkeypatch, clip):
    clear_sample_errors()
    server.script["/v1/chat/completions"] = [{"body": completion("A")}]
    lm = _adapter(server, monkeypatch, video_transport="frames", audio=False)
    lm.generate_until([_gen(_doc(clip))])
    content = server.calls("/v1/chat/completions")[0]["body"]["messages"][-1]["content"]
    n = load_media(_doc(clip)["media"], lm.spec).frames.shape[0]
    assert [p["type"] for p in content] == ["image_url"] * n + ["text"]
    # the task needs audio, the model is declared video-only: a counted per-sample error, no request
    lm2 = _adapter(server, monkeypatch, modalities="video")
    before = len(server.calls("/v1/chat/completions"))
    err = parse_error_response(lm2.generate_until([_gen(_doc(clip, 5))])[0])
    assert err.kind == "ModelError" and "does not accept audio" in err.message
    assert len(server.calls("/v1/chat/completions")) == before and lm2.n_errors == 1


def test_loglikelihood_reads_the_options_prompt_logprobs(server, monkeypatch, clip):
    server.script["/tokenize"] = [{"body": lambda b: {"tokens": [11, 12] if b["prompt"] == "AB" else [7]}}]

    def answer(body):
        cont = body["messages"][-1]["content"]
        assert body["continue_final_message"] and not body["add_generation_prompt"] and body["prompt_logprobs"] == 1
        if cont == "AB":
            tail = [{"11": {"logprob": -1.25, "rank": 1}}, {"12": {"logprob": -0.5, "rank": 3}, "4": {"logprob": -0.1, "rank": 1}}]
        else:
            tail = [{"7": {"logprob": -2.0, "rank": 1}}]
        return completion("x", [None, {"3": {"logprob": -9.0, "rank": 1}}] + tail)

    server.script["/v1/chat/completions"] = [{"body": answer}]
    lm = _adapter(server, monkeypatch)
    doc = _doc(clip)
    got = lm.loglikelihood([Instance("loglikelihood", doc, ("Q?", "AB"), 0),
                            Instance("loglikelihood", doc, ("Q?", "C"), 1)])
    assert got == [(-1.75, False), (-2.0, True)]


def test_loglikelihood_without_prompt_logprobs_stops_with_a_clear_error(server, monkeypatch, clip):
    server.script["/tokenize"] = [{"body": {"tokens": [5]}}]
    server.script["/v1/chat/completions"] = [{"body": completion("x")}]
    lm = _adapter(server, monkeypatch)
    with pytest.raises(ModelError, match="returned no prompt_logprobs.*cannot score options"):
        lm.loglikelihood([Instance("loglikelihood", _doc(clip), ("Q?", "A"), 0)])
    # and a server without /tokenize: per-sample errors that say why
    server.script["/tokenize"] = [{"status": 404, "body": {"error": {"message": "not found"}}}]
    res = lm.loglikelihood([Instance("loglikelihood", _doc(clip, 3), ("Q?", "A"), 0)])
    assert math.isnan(res[0][0]) and lm.n_errors == 1


@pytest.mark.slow
def test_full_run_writes_results_without_the_key(server, monkeypatch, tmp_path, sample_root):
    """End to end through the runner: results and samples files are written, the key is nowhere."""
    from emorealm.evaluation.runner import RunConfig, evaluate

    server.script["/v1/chat/completions"] = [{"body": completion("(A)")}]
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    cfg = RunConfig(model="openai", model_args=f"model=fake-omni,base_url={server.base_url},num_concurrent=3",
                    tasks=["emorealm"], output=str(tmp_path / "out"), limit=2)
    results, path = evaluate(cfg)
    assert results["emorealm"]["adapter"] == "openai" and results["emorealm"]["api_key_env"] == "OPENAI_API_KEY"
    files = list((tmp_path / "out").rglob("*"))
    assert any(f.name.startswith("samples_") for f in files)
    for f in files:
        if f.is_file():
            assert SECRET not in f.read_text(errors="replace"), f
    assert all(c["headers"]["Authorization"] == f"Bearer {SECRET}" for c in server.calls("/v1/chat/completions"))
    assert len(server.calls("/v1/chat/completions")) == 10  # 5 tasks x limit 2
