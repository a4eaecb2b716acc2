"""The one HTTP client (emorealm/http.py) against a local scripted server: what is retried, what is
not, and that every failure is the project's typed error."""

from __future__ import annotations

import time

import pytest

from emorealm.errors import EmorealmError, ModelError
from emorealm.http import InvalidResponse, JSONClient, RetryPolicy, ServerError

from support.fake_server import FakeServer

FAST = RetryPolicy(max_retries=3, backoff=0.0, max_backoff=0.0, timeout=2.0, jitter=0.0)
X = "/v1/x"


@pytest.fixture
def server():
    with FakeServer() as s:
        yield s


def _client(server, key=None, policy=FAST) -> JSONClient:
    return JSONClient(server.base_url + "/", key, policy)


def test_ok_body_headers_and_path(server):
    server.script[X] = [{"body": {"ok": 1}}]
    client = _client(server, "sk-secret")
    assert client.post("x", {"a": 1}) == {"ok": 1}
    assert client.get("/x") == {"ok": 1}
    (post, get) = server.calls(X)
    assert post["headers"]["Authorization"] == "Bearer sk-secret" and post["body"] == {"a": 1}
    assert get["body"] is None
    assert "sk-secret" not in repr(client)


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_retryable_status_is_retried_then_succeeds(server, status):
    server.script[X] = [{"status": status, "body": "busy"}] * 2 + [{"body": {"ok": 2}}]
    assert _client(server).post("x", {}) == {"ok": 2}
    assert len(server.calls(X)) == 3 and "Authorization" not in server.calls(X)[0]["headers"]


def test_retry_after_is_honoured(server):
    server.script[X] = [{"status": 429, "body": "slow down", "headers": {"Retry-After": "0"}}, {"body": {"ok": 3}}]
    policy = RetryPolicy(max_retries=1, backoff=30.0, max_backoff=30.0, timeout=2.0)  # its own wait: 30 s
    t0 = time.monotonic()
    assert _client(server, policy=policy).post("x", {}) == {"ok": 3}
    assert time.monotonic() - t0 < 5


def test_exhausted_retries_raise_a_typed_error(server):
    server.script[X] = [{"status": 503, "body": {"error": {"message": "overloaded"}}}]
    with pytest.raises(ServerError, match=r"failed after 4 attempt\(s\); last: HTTP 503: overloaded") as info:
        _client(server).post("x", {})
    assert len(server.calls(X)) == 4
    assert isinstance(info.value, ModelError) and isinstance(info.value, EmorealmError)


@pytest.mark.parametrize("status, hint", [(400, ""), (401, "check the API key"), (404, "check base_url")])
def test_client_errors_are_not_retried(server, status, hint):
    server.script[X] = [{"status": status, "body": {"error": {"message": "bad request body"}}}]
    with pytest.raises(ServerError, match=f"HTTP {status}: bad request body") as info:
        _client(server).post("x", {})
    assert info.value.status == status and hint in str(info.value)
    assert len(server.calls(X)) == 1


def test_timeout_is_retried_then_succeeds(server):
    server.script[X] = [{"delay": 1.0, "body": {"late": True}}, {"body": {"ok": 4}}]
    t0 = time.monotonic()
    assert _client(server, policy=RetryPolicy(max_retries=1, backoff=0.0, timeout=0.3)).post("x", {}) == {"ok": 4}
    assert time.monotonic() - t0 < 1.0  # the first attempt was abandoned at the timeout


def test_timeout_every_time(server):
    server.script[X] = [{"delay": 0.6}]
    with pytest.raises(ServerError, match="timed out") as info:
        _client(server, policy=RetryPolicy(max_retries=1, backoff=0.0, timeout=0.2)).post("x", {})
    assert info.value.status is None and len(server.calls(X)) == 2


def test_unreachable_server():
    with pytest.raises(ServerError, match="cannot connect"):
        JSONClient("http://127.0.0.1:9", None, RetryPolicy(max_retries=1, backoff=0.0, timeout=1.0)).get("models")


def test_not_json_is_not_retried(server):
    server.script[X] = [{"body": "<html>hello</html>"}]
    with pytest.raises(InvalidResponse, match="not JSON") as info:
        _client(server).post("x", {})
    assert isinstance(info.value, ServerError) and len(server.calls(X)) == 1


def test_key_function_read_per_request(server):
    server.script[X] = [{"body": {}}]
    keys = iter(["k1", None])
    client = _client(server, lambda: next(keys))
    client.post("x", {})
    client.post("x", {})
    assert [r["headers"].get("Authorization") for r in server.calls(X)] == ["Bearer k1", None]
    assert "from a function" in repr(client)


def test_backoff_schedule():
    p = RetryPolicy(backoff=1.0, max_backoff=5.0, jitter=0.0)
    assert [p.wait(i) for i in range(4)] == [1.0, 2.0, 4.0, 5.0]
    assert p.wait(0, "2") == 2.0 and p.wait(0, "99") == 5.0 and p.wait(1, "Wed, 21 Oct 2015 07:28:00 GMT") == 2.0
