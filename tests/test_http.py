"""The one HTTP client (emorealm/http.py) against a local http.server: what is retried, what is not,
and that every failure is the project's typed error."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from emorealm.errors import EmorealmError, ModelError
from emorealm.http import InvalidResponse, JSONClient, RetryPolicy, ServerError

FAST = RetryPolicy(max_retries=3, backoff=0.0, max_backoff=0.0, timeout=2.0, jitter=0.0)


class _Server:
    """Answers POST/GET from a script: each request takes the next step (the last one repeats)."""

    def __init__(self):
        self.script: list[tuple] = []
        self.seen: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n)) if n else None
                outer.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body,
                                   "method": self.command})
                step = outer.script.pop(0) if len(outer.script) > 1 else outer.script[0]
                kind, value = step[0], step[1]
                if kind == "sleep":
                    time.sleep(value)
                    kind, value = "json", {"late": True}
                data = (json.dumps(value) if kind == "json" else str(value)).encode()
                status = step[2] if len(step) > 2 else 200
                self.send_response(status)
                if kind == "status_retry_after":
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = _answer  # noqa: N815
            do_GET = _answer  # noqa: N815

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


def test_ok_body_headers_and_path(server):
    server.script = [("json", {"ok": 1})]
    client = JSONClient(server.url + "/", "sk-secret", FAST)
    assert client.post("chat/completions", {"a": 1}) == {"ok": 1}
    assert client.get("/models") == {"ok": 1}
    assert [(r["method"], r["path"]) for r in server.seen] == [("POST", "/v1/chat/completions"), ("GET", "/v1/models")]
    assert server.seen[0]["auth"] == "Bearer sk-secret" and server.seen[0]["body"] == {"a": 1}
    assert "sk-secret" not in repr(client)


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_retryable_status_is_retried_then_succeeds(server, status):
    server.script = [("text", "busy", status), ("text", "busy", status), ("json", {"ok": 2})]
    assert JSONClient(server.url, None, FAST).post("x", {}) == {"ok": 2}
    assert len(server.seen) == 3 and server.seen[0]["auth"] is None


def test_retry_after_is_honoured(server):
    server.script = [("status_retry_after", "slow down", 429), ("json", {"ok": 3})]
    policy = RetryPolicy(max_retries=1, backoff=30.0, max_backoff=30.0, timeout=2.0)  # own wait would be 30 s
    t0 = time.monotonic()
    assert JSONClient(server.url, None, policy).post("x", {}) == {"ok": 3}
    assert time.monotonic() - t0 < 5


def test_exhausted_retries_raise_a_typed_error(server):
    server.script = [("json", {"error": {"message": "overloaded"}}, 503)]
    with pytest.raises(ServerError, match=r"failed after 4 attempt\(s\); last: HTTP 503: overloaded") as info:
        JSONClient(server.url, None, FAST).post("x", {})
    assert len(server.seen) == 4
    assert isinstance(info.value, ModelError) and isinstance(info.value, EmorealmError)


@pytest.mark.parametrize("status, hint", [(400, ""), (401, "check the API key"), (404, "check base_url")])
def test_client_errors_are_not_retried(server, status, hint):
    server.script = [("json", {"error": {"message": "bad request body"}}, status)]
    with pytest.raises(ServerError, match=f"HTTP {status}: bad request body") as info:
        JSONClient(server.url, None, FAST).post("x", {})
    assert info.value.status == status and hint in str(info.value)
    assert len(server.seen) == 1


def test_timeout_is_retried_then_succeeds(server):
    server.script = [("sleep", 1.0), ("json", {"ok": 4})]
    policy = RetryPolicy(max_retries=1, backoff=0.0, timeout=0.3, jitter=0.0)
    t0 = time.monotonic()
    assert JSONClient(server.url, None, policy).post("x", {}) == {"ok": 4}
    assert time.monotonic() - t0 < 1.0  # the first attempt was abandoned at the timeout


def test_timeout_every_time(server):
    server.script = [("sleep", 0.6)]
    policy = RetryPolicy(max_retries=1, backoff=0.0, timeout=0.2, jitter=0.0)
    with pytest.raises(ServerError, match="timed out") as info:
        JSONClient(server.url, None, policy).post("x", {})
    assert info.value.status is None and len(server.seen) == 2


def test_unreachable_server():
    with pytest.raises(ServerError, match="cannot connect"):
        JSONClient("http://127.0.0.1:9", None, RetryPolicy(max_retries=1, backoff=0.0, timeout=1.0)).get("models")


def test_not_json_is_not_retried(server):
    server.script = [("text", "<html>hello</html>")]
    with pytest.raises(InvalidResponse, match="not JSON") as info:
        JSONClient(server.url, None, FAST).post("x", {})
    assert isinstance(info.value, ServerError) and len(server.seen) == 1


def test_key_function_read_per_request(server):
    server.script = [("json", {})]
    keys = iter(["k1", None])
    client = JSONClient(server.url, lambda: next(keys), FAST)
    client.post("x", {})
    client.post("x", {})
    assert [r["auth"] for r in server.seen] == ["Bearer k1", None]
    assert "from a function" in repr(client)


def test_backoff_schedule():
    p = RetryPolicy(backoff=1.0, max_backoff=5.0, jitter=0.0)
    assert [p.wait(i) for i in range(4)] == [1.0, 2.0, 4.0, 5.0]
    assert p.wait(0, "2") == 2.0 and p.wait(0, "99") == 5.0 and p.wait(1, "Wed, 21 Oct 2015 07:28:00 GMT") == 2.0
