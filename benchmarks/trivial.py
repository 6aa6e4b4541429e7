"""The baseline: a trivial Flask app, served exactly the way the API server is served.

Where it sits: ``benchmarks.apiserver`` starts it beside the cluster and runs every
measurement against it too, so each kubeclass figure is printed next to what gunicorn,
Flask and TLS manage on this machine for a request that does (almost) no work.

"Served the same way" is made true by construction: ``python -m benchmarks.trivial``
takes the API server's own command line and runs ``controlplane.api.server.main`` with
its ``APIServer`` class swapped for :class:`TrivialServer`, so the gunicorn settings
(worker class, workers, threads, keep-alive, timeouts, TLS certificate, key and client
CA) are the ones ``server.py`` builds, whatever they become. Only the WSGI app differs.

Endpoints:

    GET  /ping                     a small JSON object              (beside GET of one object)
    POST /objects                  parse the JSON body, echo it     (beside a create)
    GET  /blob?bytes=N             a ready-made JSON body of N bytes (beside a LIST)
    GET  /watch?timeoutSeconds=T   a stream of JSON lines           (beside a watch)
    POST /events                   publish the body to every /watch stream

A watch stream reads from an in-process queue. Gunicorn runs several worker processes
and a stream may be served by any of them, so ``/events`` hands the event to every
worker (a datagram to each worker's Unix socket in ``$KUBECLASS_BENCH_FANOUT``), as the
API server hands a write to every worker through its store.
"""

from __future__ import annotations

import json
import os
import queue
import select
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, request

from controlplane.api import server

FANOUT_ENV = "KUBECLASS_BENCH_FANOUT"
JSON = "application/json"


class Hub:
    """The open streams of this worker, and the sockets that reach every worker."""

    def __init__(self, fanout_dir: str | None) -> None:
        self._lock = threading.Lock()
        self._streams: set[queue.SimpleQueue[bytes]] = set()
        self._dir = fanout_dir
        self._out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if fanout_dir:
            os.makedirs(fanout_dir, exist_ok=True)
            inbox = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            inbox.bind(os.path.join(fanout_dir, f"{os.getpid()}.sock"))
            threading.Thread(target=self._receive, args=(inbox,), name="fanout", daemon=True).start()

    def subscribe(self) -> queue.SimpleQueue[bytes]:
        q: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        with self._lock:
            self._streams.add(q)
        return q

    def unsubscribe(self, q: queue.SimpleQueue[bytes]) -> None:
        with self._lock:
            self._streams.discard(q)

    def publish(self, line: bytes) -> None:
        """Hand one event to every worker (this one included), or only here without a fan-out dir."""
        if not self._dir:
            self._deliver(line)
            return
        for name in os.listdir(self._dir):
            try:
                self._out.sendto(line, os.path.join(self._dir, name))
            except OSError:
                pass  # a worker that has exited left its socket behind

    def _deliver(self, line: bytes) -> None:
        with self._lock:
            streams = list(self._streams)
        for q in streams:
            q.put(line)

    def _receive(self, inbox: socket.socket) -> None:
        while True:
            self._deliver(inbox.recv(1 << 20))


def _client_gone(sock: Any) -> bool:
    """A watch client never sends anything: if its socket turns readable, it has closed."""
    if sock is None:
        return False
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (ValueError, OSError):
        return True


def json_body(size: int) -> bytes:
    """A valid JSON document of exactly ``size`` bytes (at least 2)."""
    size = max(size, 2)
    if size < 8:
        return b"[" + b" " * (size - 2) + b"]"
    return b'{"p":"' + b"x" * (size - 8) + b'"}'


def create_app() -> Flask:
    app = Flask("trivial")
    hub = Hub(os.environ.get(FANOUT_ENV))
    blobs: dict[int, bytes] = {}

    @app.get("/ping")
    def ping() -> Response:
        return Response(json.dumps({"kind": "Pong", "ok": True}), mimetype=JSON)

    @app.post("/objects")
    def create() -> Response:
        return Response(json.dumps(request.get_json()), status=201, mimetype=JSON)

    @app.get("/blob")
    def blob() -> Response:
        size = int(request.args.get("bytes", "2"))
        if size not in blobs:
            blobs[size] = json_body(size)
        return Response(blobs[size], mimetype=JSON)

    @app.post("/events")
    def publish() -> Response:
        obj = request.get_json()
        hub.publish(json.dumps({"type": "ADDED", "object": obj}, separators=(",", ":")).encode() + b"\n")
        return Response(json.dumps(obj), status=201, mimetype=JSON)

    @app.get("/watch")
    def watch() -> Response:
        timeout = float(request.args.get("timeoutSeconds", "60"))
        sock = request.environ.get("gunicorn.socket")
        stream = hub.subscribe()

        def generate() -> Iterator[bytes]:
            deadline = time.monotonic() + timeout
            try:
                while (left := deadline - time.monotonic()) > 0:
                    try:
                        yield stream.get(timeout=min(1.0, left))
                    except queue.Empty:
                        if _client_gone(sock):
                            return
            finally:
                hub.unsubscribe(stream)

        return Response(generate(), mimetype=JSON, direct_passthrough=True)

    return app


class TrivialServer(server.APIServer):
    """The API server's gunicorn application with the trivial app in place of kubeclass's."""

    def load(self) -> Flask:
        return create_app()

    def bootstrap(self) -> None:
        pass  # no store, nothing to create


def main(argv: list[str] | None = None) -> None:
    # server.main builds the gunicorn options and then instantiates APIServer: swap the class.
    server.APIServer = TrivialServer  # type: ignore[misc]
    server.main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
