"""One etcd watch stream, resumed on another member when its member goes away.

Where it sits: :meth:`EtcdStore.watch <controlplane.storage.etcd.EtcdStore.watch>`
returns an :class:`EtcdWatcher` (a :class:`~controlplane.storage.Watcher`). Unlike the
SQLite backend there is no poll loop and no broadcaster: every watcher holds its own
``POST /v3/watch`` stream, and etcd pushes the changes, made by any process, to it.

How it works:

* The stream asks for every change from ``start_revision`` with the previous value
  (``prev_kv``), so that MODIFIED and DELETED events carry the object before the change.
  etcd answers with one JSON message per line: first ``created``, then batches of
  events in revision order, and progress notifications (no events: "everything up to
  this revision has been sent").
* A reader thread turns the messages into :class:`Event` objects on a queue and
  remembers ``last``: the revision up to which everything has been received.
* When the stream breaks (its member was killed, or lost its leader, which etcd
  reports because we ask it to require one), the reader opens a new stream on the next
  member from ``last + 1`` and drops anything at or below ``last``: no event is lost
  and none is seen twice. If no member serves a stream for ``retry_for`` seconds, or
  the history from ``last`` has been compacted meanwhile, the watch ends; the caller
  watches again from the last revision it saw, as with any backend (and gets
  CompactedError, or UnavailableError, if that is the state of things).
* A slow reader is not dropped: the reader thread stops reading when the queue is
  full, and etcd holds the remaining events back for this stream until it reads again.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import requests
import urllib3.exceptions

from .. import codec
from .broadcast import MAX_QUEUED
from .etcd_client import EtcdClient, describe
from .interface import CompactedError, Event, StorageError

log = logging.getLogger(__name__)

Message = dict[str, Any]
StreamErrors = (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError)


class _Broken(Exception):
    """The stream failed or etcd cancelled it; another member may serve it."""


class EtcdWatcher:
    """An open etcd watch (a :class:`~controlplane.storage.Watcher`)."""

    def __init__(self, client: EtcdClient, request: Message, *, key: str, after: int,
                 to_event: Callable[[Message], Event], retry_for: float) -> None:
        self._client = client
        self._request = request  # a WatchCreateRequest without its start_revision
        self._key = key
        self._to_event = to_event
        self._retry_for = retry_for
        self._last = after  # every event up to this revision has been queued
        self._queue: deque[Event] = deque()
        self._cond = threading.Condition()
        self._ended = False  # drain the queue, then stop iterating
        self._stopped = False  # stop() was called: no more reconnecting
        self._resp: requests.Response | None = None
        self._resp_lock = threading.Lock()
        lines, member = self._connect(client.current, time.monotonic() + client.timeout)
        self._thread = threading.Thread(target=self._run, args=(lines, member),
                                        name="etcd-watch", daemon=True)
        self._thread.start()

    # -- the stream ----------------------------------------------------------------

    def _connect(self, first: int, deadline: float) -> tuple[Iterator[bytes] | None, int]:
        """Open a stream from ``last + 1``, trying every member in turn from ``first``.

        Returns the stream's lines (after ``created``) and the member serving it, or
        (None, _) if stop() was called. UnavailableError once ``deadline`` passes;
        CompactedError if the history from ``last`` is gone.
        """
        n, attempt, why = len(self._client.endpoints), 0, "no member tried"
        while True:
            if self._stopped:
                return None, first
            member = (first + attempt) % n
            try:
                return self._open(member), member
            except _Broken as e:
                why = f"{self._client.endpoints[member]}: {e}"
            except StreamErrors as e:
                why = f"{self._client.endpoints[member]}: {describe(e)}"
            attempt += 1
            if time.monotonic() >= deadline:
                raise self._client.unavailable(self._key, f"cannot watch: {why}")
            if attempt % n == 0:
                time.sleep(0.2)

    def _open(self, member: int) -> Iterator[bytes] | None:
        body = {"create_request": {**self._request, "start_revision": self._last + 1}}
        resp = self._client.open_stream("/v3/watch", body, member)
        with self._resp_lock:
            if self._stopped:
                resp.close()
                return None
            self._resp = resp
        try:
            sock = _socket(resp)
            if sock is not None:  # a member that accepts but never answers must not hang us...
                sock.settimeout(self._client.timeout)
            lines = resp.iter_lines()
            result = self._result(next((line for line in lines if line), b""))
            if not result.get("created"):
                raise _Broken(f"unexpected first message {result!r}")
            if sock is not None:  # ...but a quiet watch may wait for its next event forever
                sock.settimeout(None)
            return lines
        except BaseException:
            resp.close()
            raise

    def _result(self, line: bytes) -> Message:
        if not line:
            raise _Broken("the stream ended")
        message = codec.loads(line)
        if "error" in message:
            error = message["error"]
            raise _Broken(error.get("message", error) if isinstance(error, dict) else error)
        result = message["result"]
        if int(result.get("compact_revision", 0)):
            raise CompactedError(self._key, self._last, int(result["compact_revision"]))
        if result.get("canceled"):
            raise _Broken(f"cancelled: {result.get('cancel_reason') or 'no reason given'}")
        return result

    def _run(self, lines: Iterator[bytes] | None, member: int) -> None:
        try:
            while lines is not None:
                try:
                    for line in lines:
                        if line:
                            self._receive(self._result(line))
                    why = "the stream ended"
                except CompactedError:
                    log.info("etcd watch on %s: revision %d has been compacted; ending the watch",
                             self._key, self._last)
                    return
                except (_Broken, *StreamErrors) as e:
                    why = describe(e)
                if self._stopped:
                    return
                log.info("etcd watch on %s: stream on %s broke (%s); resuming from revision %d "
                         "on another member", self._key, self._client.endpoints[member], why,
                         self._last + 1)
                try:
                    lines, member = self._connect(member + 1, time.monotonic() + self._retry_for)
                except StorageError as e:  # unavailable, or compacted meanwhile
                    log.warning("etcd watch on %s ended: %s", self._key, e)
                    return
        finally:
            self._end()  # whatever happened, the consumer must not wait forever

    def _receive(self, result: Message) -> None:
        raw = result.get("events")
        if not raw:  # a progress notification: nothing more up to this revision
            revision = int(result.get("header", {}).get("revision", 0))
            with self._cond:
                self._last = max(self._last, revision)
            return
        events = [self._to_event(e) for e in raw]
        with self._cond:
            while len(self._queue) >= MAX_QUEUED and not self._stopped:
                self._cond.wait(0.5)  # the consumer is behind: let etcd hold the rest
            last = self._last
            # After a reconnect etcd may send again what we already have: drop it.
            self._queue.extend(e for e in events if e.revision > last)
            self._last = max(last, events[-1].revision)
            self._cond.notify_all()

    # -- the Watcher protocol ------------------------------------------------------

    def next(self, timeout: float | None) -> Event | None:
        with self._cond:
            while True:
                if self._queue:
                    event = self._queue.popleft()
                    self._cond.notify_all()  # room again for the reader thread
                    return event
                if self._ended:
                    raise StopIteration
                if not self._cond.wait(timeout):
                    return None

    def progress_revision(self) -> int | None:
        with self._cond:
            return None if self._queue else self._last

    def __iter__(self) -> Iterator[Event]:
        while True:
            try:
                event = self.next(None)
            except StopIteration:
                return
            if event is not None:
                yield event

    def _end(self) -> None:
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def stop(self) -> None:
        """End the watch and close its stream; safe to call more than once."""
        with self._cond:
            self._stopped = True
        self._end()
        with self._resp_lock:
            resp, self._resp = self._resp, None
        if resp is not None:
            # Closing the response does not wake a thread blocked reading it; shutting the
            # socket down does (the read returns end-of-stream).
            sock = _socket(resp)
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            resp.close()


def _socket(resp: requests.Response) -> socket.socket | None:
    connection = getattr(resp.raw, "connection", None)
    return getattr(connection, "sock", None)
