"""A scripted HTTP transport for testing the REST client and informers without a server.

Where it sits: mounted into :class:`~controlplane.client.rest.Client` with
``Client(config, transport=FakeTransport())``; every request the client sends lands
here instead of on the network, so tests exercise the real request building,
failover, error decoding and watch streaming (the seam Fabric's ``MockRemote`` and
Invoke's ``MockContext`` give their users).

Scripting::

    t = FakeTransport()
    t.on("GET", "/api/v1/pods", FakeResponse(200, {"kind": "PodList", "metadata": {"resourceVersion": "5"}, "items": []}))
    watch = FakeBody(hold_open=True)                 # a watch that stays open
    t.on("GET", "/api/v1/pods", lambda req: FakeResponse(200, body=watch) if "watch=true" in req.url else ...)
    watch.push_event("ADDED", pod)                   # arrives while the client is reading

Responses for one (method, path) are used in order; the last one keeps answering.
``t.down`` holds endpoints ("http://10.0.0.1:6443") that refuse connections.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import requests.adapters
from requests.structures import CaseInsensitiveDict


class FakeBody:
    """A response body delivered chunk by chunk; optionally held open until :meth:`end`."""

    def __init__(self, chunks: list[bytes] | None = None, *, hold_open: bool = False) -> None:
        self._chunks: queue.Queue[bytes | None] = queue.Queue()
        self.closed = False
        for chunk in chunks or []:
            self._chunks.put(chunk)
        if not hold_open:
            self._chunks.put(None)

    def push(self, data: bytes) -> None:
        self._chunks.put(data)

    def push_event(self, event_type: str, obj: dict[str, Any]) -> None:
        self.push(json.dumps({"type": event_type, "object": obj}).encode() + b"\n")

    def end(self) -> None:
        self._chunks.put(None)

    # What requests calls on ``Response.raw``:
    def stream(self, amt: int | None = None, decode_content: bool | None = None) -> Iterator[bytes]:
        while not self.closed:
            chunk = self._chunks.get()
            if chunk is None:
                self.closed = True
                return
            yield chunk

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._chunks.put(None)  # wakes a reader blocked in stream()

    def release_conn(self) -> None:
        pass


class FakeResponse:
    """What the fake server answers: a status and a JSON body (or a :class:`FakeBody`)."""

    def __init__(self, status: int = 200, body: Any = None, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}

    @classmethod
    def events(cls, *events: tuple[str, dict[str, Any]]) -> FakeResponse:
        """A watch response that delivers ``events`` and then ends."""
        return cls(200, FakeBody([json.dumps({"type": t, "object": o}).encode() + b"\n" for t, o in events]))

    @classmethod
    def status_error(cls, code: int, reason: str, message: str = "") -> FakeResponse:
        return cls(code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                          "code": code, "reason": reason, "message": message or reason})


Answer = FakeResponse | Callable[[requests.PreparedRequest], FakeResponse]


class FakeTransport(requests.adapters.BaseAdapter):
    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._routes: dict[tuple[str, str], list[Answer]] = {}
        self.requests: list[requests.PreparedRequest] = []
        self.down: set[str] = set()

    def on(self, method: str, path: str, *answers: Answer) -> None:
        with self._lock:
            self._routes.setdefault((method.upper(), path), []).extend(answers)

    def calls(self, method: str | None = None, path: str | None = None) -> list[requests.PreparedRequest]:
        """The requests received so far, optionally only those to ``method``/``path``."""
        with self._lock:
            return [r for r in self.requests if (method is None or r.method == method)
                    and (path is None or urlsplit(r.url or "").path == path)]

    @staticmethod
    def query(request: requests.PreparedRequest) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(request.url or "").query).items()}

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        url = urlsplit(request.url or "")
        if f"{url.scheme}://{url.netloc}" in self.down:
            raise requests.ConnectionError(f"connection refused: {url.netloc}")
        with self._lock:
            self.requests.append(request)
            answers = self._routes.get((request.method or "", url.path))
            answer: Answer | None = None
            if answers:
                answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if answer is None:
            result = FakeResponse.status_error(404, "NotFound", "the server could not find the requested resource")
        else:
            result = answer(request) if callable(answer) else answer
        return self._build(request, result)

    def close(self) -> None:
        pass

    @staticmethod
    def _build(request: requests.PreparedRequest, result: FakeResponse) -> requests.Response:
        resp = requests.Response()
        resp.status_code = result.status
        resp.reason = "OK" if result.status < 400 else "Error"
        resp.url = request.url or ""
        resp.request = request
        resp.headers = CaseInsensitiveDict({"Content-Type": "application/json", **result.headers})
        body = result.body
        if not isinstance(body, FakeBody):
            body = FakeBody([json.dumps(body).encode()] if body is not None else [])
        resp.raw = body
        return resp
