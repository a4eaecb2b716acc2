"""The one JSON-over-HTTP client, with timeouts and retries: the OpenAI-compatible adapter and the
EMER judge both talk to their servers through it.

Retried: HTTP 429 and 5xx (honouring ``Retry-After``), timeouts and dropped connections, with
exponential backoff. Not retried: other 4xx (the request itself is wrong) and bodies that are not
JSON. Every failure raises :class:`ServerError` (a :class:`~emorealm.errors.ModelError`, so an
:class:`~emorealm.errors.EmorealmError`) whose message says what happened and what to do; callers
turn it into a per-sample error. A 2xx answer whose body is not JSON raises its subclass
:class:`InvalidResponse`.

The API key goes into the ``Authorization`` header of each request and nowhere else: it is not kept
in any attribute that ``repr``/metadata/logs show, and error messages never include headers. It may
be given as a function, read at each request (the judge reads its key from the environment then).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emorealm.errors import ModelError

RETRY_STATUS = frozenset({429, 500, 502, 503, 504}) | frozenset(range(520, 530))


class ServerError(ModelError):
    """The server could not be reached, kept failing, or answered something unusable."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class InvalidResponse(ServerError):
    """The server answered (HTTP 2xx) but the body is not JSON."""


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait and how often to try again."""

    max_retries: int = 5  # retries after the first attempt
    backoff: float = 1.0  # seconds before the first retry; doubles each time
    max_backoff: float = 30.0
    timeout: float = 120.0  # seconds per attempt (connect and read)
    jitter: float = 0.1  # +- fraction of each wait, so concurrent workers do not retry in lockstep

    def wait(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after:
            try:
                return min(self.max_backoff, max(0.0, float(retry_after)))
            except ValueError:
                pass  # an HTTP date: fall back to our own schedule
        base = min(self.max_backoff, self.backoff * (2 ** attempt))
        return max(0.0, base * (1 + random.uniform(-self.jitter, self.jitter)))


def _error_detail(body: str, limit: int = 300) -> str:
    """The server's own error message when the body is an OpenAI-style error, else a short excerpt."""
    try:
        data = json.loads(body)
        err = data.get("error", data) if isinstance(data, dict) else data
        msg = err.get("message") if isinstance(err, dict) else None
        if msg:
            return str(msg)[:limit]
    except ValueError:
        pass
    text = body.strip().replace("\n", " ")
    return (text[:limit] + "...") if len(text) > limit else text


class JSONClient:
    """POST/GET JSON to ``base_url`` with retries. Thread-safe (one ``requests.Session`` per thread)."""

    def __init__(self, base_url: str, api_key: str | Callable[[], str | None] | None,
                 policy: RetryPolicy | None = None):
        self.base_url = base_url.rstrip("/")
        self.policy = policy or RetryPolicy()
        # a key given as a string is held only inside this header; a function is asked per request
        self._key_fn = api_key if callable(api_key) else None
        self._auth = {"Authorization": f"Bearer {api_key}"} if isinstance(api_key, str) and api_key else {}
        self._local = threading.local()

    def __repr__(self) -> str:  # never show the key
        state = "from a function" if self._key_fn else ("set" if self._auth else "unset")
        return f"JSONClient({self.base_url!r}, key={state})"

    def _headers(self) -> dict[str, str]:
        auth = self._auth
        if self._key_fn is not None:
            key = self._key_fn()
            auth = {"Authorization": f"Bearer {key}"} if key else {}
        return {**auth, "Accept": "application/json"}

    def _session(self):
        import requests

        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = requests.Session()
        return s

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                retries: int | None = None) -> Any:
        """Send one request; returns the decoded JSON body or raises ServerError."""
        import requests

        url = self.url(path)
        max_retries = self.policy.max_retries if retries is None else retries
        last = "no attempt made"
        for attempt in range(max_retries + 1):
            retry_after = None
            try:
                resp = self._session().request(method, url, json=body, timeout=self.policy.timeout,
                                               headers=self._headers())
            except requests.Timeout:
                last = f"timed out: no answer within {self.policy.timeout:g} s (timeout=)"
            except requests.ConnectionError as exc:
                last = f"cannot connect ({type(exc).__name__}); is the server running at {self.base_url}?"
            except requests.RequestException as exc:  # any other transport failure: this request's, typed
                raise ServerError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
            else:
                status = resp.status_code
                if status < 400:
                    try:
                        return resp.json()
                    except ValueError as exc:
                        raise InvalidResponse(f"{method} {url}: the server answered HTTP {status} with a body that "
                                          f"is not JSON ({_error_detail(resp.text, 120)!r}); is base_url an "
                                          "OpenAI-compatible endpoint?", status) from exc
                detail = _error_detail(resp.text)
                if status not in RETRY_STATUS:
                    hint = {401: "; check the API key (environment variable, see api_key_env)",
                            403: "; the key may lack access to this model",
                            404: "; check base_url and the model name"}.get(status, "")
                    raise ServerError(f"{method} {url}: HTTP {status}: {detail}{hint}", status)
                last = f"HTTP {status}: {detail}"
                retry_after = resp.headers.get("Retry-After")
            if attempt < max_retries:
                time.sleep(self.policy.wait(attempt, retry_after))
        raise ServerError(f"{method} {url} failed after {max_retries + 1} attempt(s); last: {last}")

    def post(self, path: str, body: dict[str, Any], retries: int | None = None) -> Any:
        return self.request("POST", path, body, retries)

    def get(self, path: str, retries: int | None = None) -> Any:
        return self.request("GET", path, None, retries)
