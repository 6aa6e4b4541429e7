"""The event recorder: how controllers tell users what they did, as core/v1 Events.

Where it sits: beside the REST client, used by controllers (and the scheduler) the way
client-go's ``tools/record`` recorder is. ``kubectl describe deployment web`` and
``kubectl get events`` show what ends up here::

    recorder = EventRecorder(client, "replicaset-controller")
    recorder.eventf(rs, "Normal", "SuccessfulCreate", "Created pod: %s", pod_name)

What it promises:

* **never in the way**: :meth:`EventRecorder.event` only puts the event on a queue;
  one background thread writes it, so a controller never waits for the API server.
  A failed write is logged and dropped, never raised: an event is a courtesy to the
  user, and losing one must not make a controller retry its real work. When the queue
  is full (the API server is down for a long time) new events are dropped too;
* **upstream's shape**: one Event named ``<object name>.<hex nanoseconds>`` in the
  object's namespace (``default`` for cluster-scoped objects), with ``involvedObject``
  (kind, namespace, name, uid, apiVersion, resourceVersion), ``reason``, ``message``,
  ``type`` (Normal or Warning), ``source.component`` (and ``host``),
  ``reportingComponent``/``reportingInstance``, ``firstTimestamp``, ``lastTimestamp``
  and ``count``;
* **repeats are counted, not repeated**: an event identical to one written less than
  :data:`AGGREGATE_WINDOW` ago (same object, type, reason and message, same source)
  is a PATCH of the first one's ``count`` and ``lastTimestamp``, as client-go's
  ``EventCorrelator`` does ("Back-off restarting failed container (x12 over 3m)").
  If that Event is gone meanwhile (events expire), a new one is created.

Not done here (client-go does them): merging *similar* events (same reason, other
message) into "(combined from similar events)", and the per-object spam filter.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from . import errors
from . import resources as r
from .rest import Client

log = logging.getLogger(__name__)

NORMAL = "Normal"
WARNING = "Warning"

QUEUE_SIZE = 1000  # client-go's broadcaster buffers 1000 events, then drops
CACHE_SIZE = 4096  # remembered events, for counting repeats (client-go: 4096)
AGGREGATE_WINDOW = 600.0  # seconds during which a repeat counts up the earlier Event
WRITE_ATTEMPTS = 3  # tries per write while no API server answers


def timestamp(at: float) -> str:
    """A metav1.Time: RFC 3339, seconds, UTC ("2026-11-22T18:28:02Z")."""
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def object_reference(obj: dict[str, Any]) -> dict[str, Any]:
    """``involvedObject`` for ``obj``: what client-go's ``reference.GetReference`` fills in."""
    meta = obj.get("metadata") or {}
    ref = {"kind": obj.get("kind", ""), "namespace": meta.get("namespace", ""), "name": meta.get("name", ""),
           "uid": meta.get("uid", ""), "apiVersion": obj.get("apiVersion", ""),
           "resourceVersion": meta.get("resourceVersion", "")}
    return {k: v for k, v in ref.items() if v}


class Recorder(Protocol):
    """What controllers depend on: :class:`EventRecorder`, or :class:`FakeRecorder` in tests."""

    def event(self, obj: dict[str, Any], type: str, reason: str, message: str) -> None: ...

    def eventf(self, obj: dict[str, Any], type: str, reason: str, fmt: str, *args: Any) -> None: ...

    def stop(self, timeout: float = 2.0) -> None: ...


@dataclasses.dataclass
class _Seen:
    """What we remember about an Event we wrote, to count its repeats."""

    namespace: str
    name: str
    count: int
    first_timestamp: str
    written_at: float


class EventRecorder:
    """Records Events about objects on behalf of one component (e.g. "deployment-controller")."""

    def __init__(self, client: Client, component: str, host: str = "", *,
                 clock: Callable[[], float] = time.time, retry_delay: float = 1.0) -> None:
        self.client = client
        self.component = component
        self.host = host
        self.clock = clock
        self.retry_delay = retry_delay
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(QUEUE_SIZE)
        self._seen: collections.OrderedDict[tuple[str, ...], _Seen] = collections.OrderedDict()
        self._last_ns = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = False

    # -- what controllers call ------------------------------------------------------

    def event(self, obj: dict[str, Any], type: str, reason: str, message: str) -> None:
        """Queue one event about ``obj``; returns at once."""
        if type not in (NORMAL, WARNING):
            log.warning("event %s about %s has unknown type %r; recording it as Warning", reason,
                        object_reference(obj).get("name"), type)
            type = WARNING
        event = self._make(obj, type, reason, message)
        with self._lock:
            if self._stopped:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"events-{self.component}", daemon=True)
                self._thread.start()
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            log.warning("event queue full; dropping %s %s: %s", type, reason, message)

    def eventf(self, obj: dict[str, Any], type: str, reason: str, fmt: str, *args: Any) -> None:
        self.event(obj, type, reason, fmt % args if args else fmt)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued event has been written (or given up on)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def stop(self, timeout: float = 2.0) -> None:
        """Write what is queued (for at most ``timeout``), then end the writer thread."""
        with self._lock:
            self._stopped = True
            thread = self._thread
        if thread is None:
            return
        self.flush(timeout)
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            return  # the daemon thread ends with the process
        thread.join(timeout)

    # -- building one Event ------------------------------------------------------------

    def _make(self, obj: dict[str, Any], type: str, reason: str, message: str) -> dict[str, Any]:
        ref = object_reference(obj)
        now = self.clock()
        source = {"component": self.component, **({"host": self.host} if self.host else {})}
        return {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{ref.get('name', 'unknown')}.{self._unique_ns(now):x}",
                         "namespace": ref.get("namespace") or "default"},
            "involvedObject": ref, "reason": reason, "message": message, "type": type,
            "source": source, "firstTimestamp": timestamp(now), "lastTimestamp": timestamp(now), "count": 1,
            "reportingComponent": self.component, "reportingInstance": self.host,
        }

    def _unique_ns(self, now: float) -> int:
        # client-go names events after the time in nanoseconds; two events about one
        # object in the same nanosecond (a coarse clock) must still get two names.
        with self._lock:
            ns = max(int(now * 1e9), self._last_ns + 1)
            self._last_ns = ns
            return ns

    # -- the writer thread ---------------------------------------------------------

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            try:
                if event is None:
                    return
                self._write(event)
            except Exception as e:  # noqa: BLE001 - an event must never take the writer down
                log.warning("could not record event %s: %s", event and event.get("reason"), e)
            finally:
                self._queue.task_done()

    def _write(self, event: dict[str, Any]) -> None:
        key = _key(event)
        now = self.clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen.written_at > AGGREGATE_WINDOW:
            seen = None  # long ago: tell it afresh
        if seen is not None:
            patch = {"count": seen.count + 1, "lastTimestamp": event["lastTimestamp"]}
            try:
                self._send(lambda: self.client.patch(r.EVENTS, seen.name, patch, seen.namespace))
            except errors.ApiError as e:
                if not errors.is_not_found(e):
                    log.warning("could not update event %s/%s: %s", seen.namespace, seen.name, e)
                    return
                # Expired or deleted since: create a fresh one (count starts again).
            else:
                seen.count += 1
                seen.written_at = now
                self._remember(key, seen)
                return
        try:
            created = self._send(lambda: self.client.create(r.EVENTS, event, event["metadata"]["namespace"]))
        except errors.ApiError as e:
            log.warning("could not record event %s %s about %s: %s", event["type"], event["reason"],
                        event["involvedObject"].get("name"), e)
            return
        meta = created.get("metadata") or event["metadata"]
        self._remember(key, _Seen(meta.get("namespace", ""), meta.get("name", ""), 1,
                                  event["firstTimestamp"], now))

    def _send(self, write: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """One write, retried a few times while no API server answers."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                return write()
            except errors.ServerUnavailable as e:
                if attempt == WRITE_ATTEMPTS:
                    raise errors.ApiError({"code": 503, "reason": "ServiceUnavailable", "message": str(e)}) from e
                time.sleep(self.retry_delay * attempt)
        raise AssertionError("unreachable")

    def _remember(self, key: tuple[str, ...], seen: _Seen) -> None:
        self._seen[key] = seen
        self._seen.move_to_end(key)
        while len(self._seen) > CACHE_SIZE:
            self._seen.popitem(last=False)


def _key(event: dict[str, Any]) -> tuple[str, ...]:
    """What makes two events "the same" (client-go's ``getEventKey``)."""
    ref, source = event["involvedObject"], event["source"]
    return (source.get("component", ""), source.get("host", ""), ref.get("kind", ""), ref.get("namespace", ""),
            ref.get("name", ""), ref.get("uid", ""), ref.get("apiVersion", ""), event["type"], event["reason"],
            event["message"])


class FakeRecorder:
    """Collects events as ``"<type> <reason> <message>"`` strings, for unit tests
    (client-go's ``record.FakeRecorder``)."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.objects: list[dict[str, Any]] = []

    def event(self, obj: dict[str, Any], type: str, reason: str, message: str) -> None:
        self.events.append(f"{type} {reason} {message}")
        self.objects.append(object_reference(obj))

    def eventf(self, obj: dict[str, Any], type: str, reason: str, fmt: str, *args: Any) -> None:
        self.event(obj, type, reason, fmt % args if args else fmt)

    def flush(self, timeout: float = 5.0) -> bool:
        return True

    def stop(self, timeout: float = 2.0) -> None:
        pass
