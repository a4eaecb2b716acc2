"""Judge scoring over real HTTP against a local OpenAI-compatible server started here."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from emorealm.errors import ConfigError
from emorealm.scoring.judge import (
    RUBRICS,
    AdapterJudge,
    JudgeParseError,
    OpenAICompatibleJudge,
    judge_from_spec,
    judge_sample,
    parse_scores,
    rubric_manifest,
)

AVERE = RUBRICS["avere"]
GOOD = {"cue_overlap": 7, "cue_overlap_reason": "x", "emotion_consistency": 8, "emotion_consistency_reason": "y",
        "emotion_cue_association": 6, "emotion_cue_association_reason": "z", "hallucinated_cues": 9,
        "hallucinated_cues_reason": "w"}


class _Server:
    """Replies are scripted per model name: a list consumed one per request (last one repeats)."""

    def __init__(self):
        self.script: dict[str, list] = {}
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # keep test output clean
                pass

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                steps = outer.script[body["model"]]
                step = steps.pop(0) if len(steps) > 1 else steps[0]
                kind, payload = step
                if kind == "sleep":
                    time.sleep(payload)
                    kind, payload = "text", json.dumps(GOOD)
                if kind == "status":
                    self.send_response(payload)
                    self.end_headers()
                    return
                if kind == "raw":
                    data = payload.encode()
                else:
                    data = json.dumps({"choices": [{"message": {"role": "assistant", "content": payload}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


def _judge(server, model, monkeypatch, timeout=5.0):
    monkeypatch.setenv("EMOREALM_JUDGE_API_KEY", "sk-test-secret")
    return OpenAICompatibleJudge(model=model, base_url=server.url, timeout=timeout)


def test_normal_reply(server, monkeypatch):
    server.script["m"] = [("text", json.dumps(GOOD))]
    out = judge_sample(_judge(server, "m", monkeypatch), AVERE, "ref text", "pred text", backoff_s=0)
    assert out.scores == {"cue_overlap": 7, "emotion_consistency": 8, "emotion_cue_association": 6, "hallucinated_cues": 9}
    assert out.attempts == 1 and out.failure is None
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["auth"] == "Bearer sk-test-secret"
    content = req["body"]["messages"][0]["content"]
    assert content.endswith("Ground Truth Description:ref text\nModel Prediction:pred text")
    assert req["body"]["max_tokens"] == 400


def test_fenced_and_numbered_replies(server, monkeypatch):
    server.script["fenced"] = [("text", "Sure!\n```json\n" + json.dumps(GOOD) + "\n```")]
    server.script["lines"] = [("text", "1. Audio-Visual Cue Overlap: 5\n2. Emotion-label Consistency: 6/10\n"
                                       "3. Emotion-cue Association: 7\n4. Hallucinated Cues: 8")]
    a = judge_sample(_judge(server, "fenced", monkeypatch), AVERE, "r", "p", backoff_s=0)
    b = judge_sample(_judge(server, "lines", monkeypatch), AVERE, "r", "p", backoff_s=0)
    assert a.scores["hallucinated_cues"] == 9
    assert b.scores == {"cue_overlap": 5, "emotion_consistency": 6, "emotion_cue_association": 7, "hallucinated_cues": 8}


def test_malformed_then_good_is_retried(server, monkeypatch):
    server.script["m"] = [("text", "I cannot rate this."), ("text", json.dumps(GOOD))]
    out = judge_sample(_judge(server, "m", monkeypatch), AVERE, "r", "p", max_attempts=3, backoff_s=0)
    assert out.scores is not None and out.attempts == 2
    assert len(server.requests) == 2


def test_always_malformed_is_counted_not_guessed(server, monkeypatch):
    server.script["m"] = [("text", "banana")]
    out = judge_sample(_judge(server, "m", monkeypatch), AVERE, "r", "p", max_attempts=3, backoff_s=0)
    assert out.scores is None and out.failure == "unparseable" and out.attempts == 3
    assert out.replies == ["banana"] * 3
    assert len(server.requests) == 3


def test_not_json_body_and_http_error(server, monkeypatch):
    server.script["raw"] = [("raw", "<html>oops</html>")]
    server.script["err"] = [("status", 500)]
    a = judge_sample(_judge(server, "raw", monkeypatch), AVERE, "r", "p", max_attempts=2, backoff_s=0)
    b = judge_sample(_judge(server, "err", monkeypatch), AVERE, "r", "p", max_attempts=2, backoff_s=0)
    assert a.failure == "unparseable"
    assert b.failure == "unavailable" and "HTTP 500" in b.message


def test_slow_reply_times_out_then_recovers(server, monkeypatch):
    server.script["slow"] = [("sleep", 1.5), ("text", json.dumps(GOOD))]
    t0 = time.monotonic()
    out = judge_sample(_judge(server, "slow", monkeypatch, timeout=0.3), AVERE, "r", "p", max_attempts=2, backoff_s=0)
    assert out.scores is not None and out.attempts == 2
    assert time.monotonic() - t0 < 1.4  # the first call was abandoned at the timeout


def test_slow_reply_every_time_is_unavailable(server, monkeypatch):
    server.script["slow"] = [("sleep", 0.8)]
    out = judge_sample(_judge(server, "slow", monkeypatch, timeout=0.2), AVERE, "r", "p", max_attempts=2, backoff_s=0)
    assert out.scores is None and out.failure == "unavailable" and "timed out" in out.message


def test_unreachable_server(monkeypatch):
    j = OpenAICompatibleJudge(model="m", base_url="http://127.0.0.1:9", timeout=1)
    out = judge_sample(j, AVERE, "r", "p", max_attempts=1)
    assert out.failure == "unavailable"


def test_key_never_exposed(server, monkeypatch):
    server.script["m"] = [("text", json.dumps(GOOD))]
    j = _judge(server, "m", monkeypatch)
    out = judge_sample(j, AVERE, "r", "p")
    blob = json.dumps(out.as_dict()) + json.dumps(j.describe()) + repr(j)
    assert "sk-test-secret" not in blob


def test_parse_scores_variants():
    ell = RUBRICS["emotion_llama"]
    assert parse_scores('{"clue_overlap": "7/10", "label_overlap": 6.5}', ell) == {"clue_overlap": 7, "label_overlap": 6.5}
    assert parse_scores("clue overlap: 4\n**Label overlap**: 3", ell) == {"clue_overlap": 4, "label_overlap": 3}
    assert parse_scores("{'clue_overlap': 2, 'label_overlap': 1}", ell) == {"clue_overlap": 2, "label_overlap": 1}
    with pytest.raises(JudgeParseError, match="outside"):
        parse_scores('{"clue_overlap": 11, "label_overlap": 1}', ell)
    with pytest.raises(JudgeParseError, match="outside"):
        parse_scores(json.dumps({**GOOD, "cue_overlap": 0}), AVERE)  # avere is 1-10
    with pytest.raises(JudgeParseError):
        parse_scores('{"clue_overlap": 3}', ell)
    with pytest.raises(JudgeParseError, match="empty"):
        parse_scores("   ", ell)


def test_manifest_and_spec(monkeypatch):
    man = rubric_manifest()
    assert man["avere"]["version"] == "avere-v1" and len(man["avere"]["sha256"]) == 64
    assert man["emotion_llama"]["keys"] == ["clue_overlap", "label_overlap"]
    assert judge_from_spec(None) is None and judge_from_spec("none") is None
    monkeypatch.setenv("EMOREALM_JUDGE_BASE_URL", "http://example.invalid/v1/")
    j = judge_from_spec("openai:gpt-4o")
    assert j.base_url == "http://example.invalid/v1" and j.model == "gpt-4o"
    with pytest.raises(ConfigError, match="unknown judge"):
        judge_from_spec("telepathy")


def test_adapter_judge_uses_generate_until():
    class LM:
        def __init__(self):
            self.seen = None

        def generate_until(self, requests):
            self.seen = requests
            return ['{"clue_overlap": 5, "label_overlap": 4}']

    lm = LM()
    out = judge_sample(AdapterJudge(lm), RUBRICS["emotion_llama"], "r", "p")
    assert out.scores == {"clue_overlap": 5, "label_overlap": 4}
    (inst,) = lm.seen
    assert inst.arguments[0].startswith("You are evaluating") and inst.arguments[1]["max_gen_toks"] == 400
