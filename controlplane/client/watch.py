"""One open watch: a stream of newline-delimited JSON events.

Where it sits: :meth:`Client.watch <controlplane.client.rest.Client.watch>` returns a
:class:`WatchStream`; the informer iterates it. On the wire a watch is one long
chunked HTTP response, one event per line::

    {"type": "ADDED", "object": {...}}
    {"type": "BOOKMARK", "object": {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "108"}}}
    {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired", ...}}

What it promises:

* iteration yields each event as a dict, as soon as its line has arrived;
* it ends quietly when the server ends the stream (``timeoutSeconds``, a restart,
  a dropped connection): the caller reconnects from the last resourceVersion it saw;
* an ERROR event with code 410 raises :class:`~controlplane.client.errors.Expired`
  (the caller must list again); any other ERROR event raises
  :class:`~controlplane.client.errors.ApiError`;
* :meth:`WatchStream.close` may be called from another thread and makes a blocked
  iteration return promptly, which is how a controller shuts down without waiting
  for the watch to time out.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import requests

from .errors import ApiError, Expired

log = logging.getLogger(__name__)


class WatchStream:
    def __init__(self, response: requests.Response) -> None:
        self._response = response
        self._closed = threading.Event()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for line in self._lines():
            event = json.loads(line)
            if event.get("type") == "ERROR":
                status = event.get("object") or {}
                if status.get("code") == 410:
                    raise Expired(str(status.get("message") or "resource version expired"))
                raise ApiError.from_body(int(status.get("code") or 500), status)
            yield event

    def _lines(self) -> Iterator[bytes]:
        buffer = b""
        try:
            # chunk_size=None yields each HTTP chunk as it arrives (the server flushes one
            # event per chunk); a fixed size would wait for that many bytes first.
            for chunk in self._response.iter_content(chunk_size=None):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield line
            if buffer.strip():
                yield buffer
        except Exception as e:  # noqa: BLE001 - a stream can break in many ways; all mean "reconnect"
            if self.closed:
                return  # we closed it ourselves, from another thread
            if isinstance(e, (requests.RequestException, OSError)) or type(e).__module__.startswith("urllib3"):
                log.debug("watch stream ended: %s", e)
                return
            raise
        finally:
            self._response.close()

    def close(self) -> None:
        """Stop the stream; safe from any thread and safe to call twice."""
        if self._closed.is_set():
            return
        self._closed.set()
        sock = _socket_of(self._response)
        if sock is not None:
            try:
                # shutdown (not close) wakes a thread blocked in recv() on this socket.
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        try:
            self._response.close()
        except Exception:  # noqa: BLE001 - the reading thread may be closing it at the same time
            pass


def _socket_of(response: requests.Response) -> socket.socket | None:
    """The TCP socket under a streamed response, if there is one (a fake transport has none)."""
    raw = getattr(response, "raw", None)
    conn = getattr(raw, "_connection", None) or getattr(raw, "connection", None)
    sock = getattr(conn, "sock", None)
    if isinstance(sock, socket.socket):
        return sock
    fp = getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None)  # http.client's SocketIO
    sock = getattr(fp, "_sock", None)
    return sock if isinstance(sock, socket.socket) else None
