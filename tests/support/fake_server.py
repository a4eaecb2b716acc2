"""A scripted local HTTP server for the tests of HTTP clients (the openai adapter, emorealm/http.py)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODELS = {"object": "list", "data": [{"id": "fake-omni", "object": "model"}]}


class FakeServer:
    """``script[path]`` is a list of actions used one per request (the last repeats): ``status``,
    ``body`` (dict → JSON, str → raw text, callable(request body) → either), ``headers``, ``delay``."""

    def __init__(self) -> None:
        self.script: dict[str, list[dict[str, Any]]] = {"/v1/models": [{"body": MODELS}]}
        self.requests: list[dict[str, Any]] = []
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                body = json.loads(raw) if raw else None
                with lock:
                    server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    actions = server.script.get(self.path) or [{"status": 404, "body": {"error": {"message": "nope"}}}]
                    action = actions.pop(0) if len(actions) > 1 else actions[0]
                time.sleep(action.get("delay", 0))
                payload = action.get("body", {})
                payload = payload(body) if callable(payload) else payload
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                try:
                    self.send_response(action.get("status", 200))
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in action.get("headers", {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def calls(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == path]

    def __enter__(self) -> FakeServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
