"""Watch responses: a chunked stream of newline-delimited JSON events.

Where it sits: the list handler returns this instead of a list when ``?watch=true``.
The generator runs in the request's gunicorn thread for as long as the watch lasts:

* every event is one line ``{"type": "...", "object": {...}}`` followed by ``\\n``
  (the Python client splits the stream on lines);
* ``timeoutSeconds`` ends the stream cleanly; without it a watch lasts 30-60 minutes,
  as upstream chooses, and clients reconnect from the last resourceVersion they saw;
* with ``allowWatchBookmarks=true`` an idle watch sends a BOOKMARK now and then, so a
  client that reconnects starts from a recent revision;
* while idle, it checks whether the client has gone away, so an abandoned watch does
  not hold a thread until its timeout.
"""

from __future__ import annotations

import random
import select
import time
from collections.abc import Iterator
from typing import Any

from flask import Response, current_app, request

from ..registry import ListOptions, RESTStore
from .render import JSON, Renderer

IDLE_TICK = 1.0  # how often an idle watch looks at its client and the clock
MIN_REQUEST_TIMEOUT = 1800  # upstream's --min-request-timeout


def _client_gone(sock: Any) -> bool:
    """A watch client never sends anything: if its socket turns readable, it closed."""
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (ValueError, OSError):
        return True  # the socket is closed already
    return bool(readable)


def watch_response(store: RESTStore, namespace: str, opts: ListOptions, render: Renderer) -> Response:
    stream = store.watch(namespace, opts)  # errors (bad selectors) surface before the 200
    timeout = opts.timeout_seconds
    if timeout is None or timeout <= 0:
        timeout = random.uniform(MIN_REQUEST_TIMEOUT, 2 * MIN_REQUEST_TIMEOUT)
    bookmark_every = current_app.extensions["kubeclass"].config.bookmark_interval
    sock = request.environ.get("gunicorn.socket")

    def generate() -> Iterator[bytes]:
        deadline = time.monotonic() + timeout
        last_bookmark = time.monotonic()
        first = True
        # An empty chunk makes gunicorn send the 200 and its headers now, as upstream
        # does, so a client knows its watch is established before any event arrives.
        yield b""
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                try:
                    event = stream.next(min(IDLE_TICK, left))
                except StopIteration:
                    return
                if event is None:
                    if _client_gone(sock):
                        return
                    if stream.allow_bookmarks and time.monotonic() - last_bookmark >= bookmark_every:
                        event = stream.bookmark()
                        last_bookmark = time.monotonic()
                    if event is None:
                        continue
                yield render.watch_line(store, event, first)
                first = False
        finally:
            stream.stop()

    return Response(generate(), mimetype=JSON, direct_passthrough=True)
