"""Events the node agent reports: what ``kubectl describe pod`` lists under "Events".

Where it sits: any part of the agent calls :meth:`EventRecorder.pod_event` (or
:meth:`EventRecorder.node_event`) and goes on: a background thread writes the events
(core/v1 ``Event``) through the API server. As kubelet's event broadcaster does, a
repeat of the same event (same object, reason and message) is not a new object but
a higher ``count`` and a new ``lastTimestamp`` on the first one; repeats are sent at
most every few seconds, so a failing probe does not flood the API server.

Reasons are upstream's: Pulled, Created, Started, Killing, BackOff, Unhealthy,
Failed, FailedMount, FailedPreStopHook, FailedPostStartHook; for nodes Starting and
NodeReady.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import queue
import threading
import time
from typing import Any

from controlplane.client import Client, is_not_found
from controlplane.client import resources as r

log = logging.getLogger(__name__)
REPEAT_INTERVAL = 5.0  # seconds between updates of one repeated event


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclasses.dataclass
class _Sent:
    name: str
    namespace: str
    count: int
    sent_at: float
    pending: int = 0  # repeats counted but not yet written


class EventRecorder:
    def __init__(self, client: Client | None, node_name: str, component: str = "kubelet") -> None:
        self.client = client
        self.node_name = node_name
        self.component = component
        self._queue: queue.Queue[tuple[dict[str, Any], str, str, str] | None] = queue.Queue(maxsize=1000)
        self._sent: dict[tuple[str, ...], _Sent] = {}
        self._thread: threading.Thread | None = None
        self.recorded: list[tuple[str, str, str]] = []  # (type, reason, message), for tests and logs

    def start(self) -> None:
        if self.client is not None and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="events", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)
            self._thread = None

    # -- recording -----------------------------------------------------------------

    def pod_event(self, pod: dict[str, Any], type_: str, reason: str, message: str, container: str = "",
                  init: bool = False) -> None:
        meta = pod.get("metadata") or {}
        ref = {"kind": "Pod", "namespace": meta.get("namespace", "default"), "name": meta.get("name", ""),
               "uid": meta.get("uid", ""), "apiVersion": "v1"}
        if meta.get("resourceVersion"):
            ref["resourceVersion"] = meta["resourceVersion"]
        if container:
            ref["fieldPath"] = f"spec.{'initContainers' if init else 'containers'}{{{container}}}"
        self._record(ref, type_, reason, message)

    def node_event(self, type_: str, reason: str, message: str) -> None:
        # kubelet names its node by name in place of a uid for node events.
        ref = {"kind": "Node", "name": self.node_name, "uid": self.node_name, "apiVersion": "v1"}
        self._record(ref, type_, reason, message)

    def _record(self, ref: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.recorded.append((type_, reason, message))
        del self.recorded[:-200]
        log.info("%s %s %s/%s: %s", type_, reason, ref.get("namespace", ""), ref["name"], message)
        if self._thread is None:
            return
        try:
            self._queue.put_nowait((ref, type_, reason, message))
        except queue.Full:  # the API server is not keeping up: events are best effort
            pass

    # -- writing -------------------------------------------------------------------

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self._write(*item)
            except Exception as e:  # noqa: BLE001 - events are best effort; the agent goes on
                log.debug("cannot write event: %s", e)

    def _write(self, ref: dict[str, Any], type_: str, reason: str, message: str) -> None:
        assert self.client is not None
        key = (ref.get("uid", ""), ref.get("fieldPath", ""), type_, reason, message)
        namespace = ref.get("namespace") or "default"
        now, stamp = time.monotonic(), _now()
        sent = self._sent.get(key)
        if sent is not None:
            sent.pending += 1
            if now - sent.sent_at < REPEAT_INTERVAL:
                return
            try:
                self.client.patch(r.EVENTS, sent.name, {"count": sent.count + sent.pending, "lastTimestamp": stamp},
                                  sent.namespace)
                sent.count += sent.pending
                sent.pending, sent.sent_at = 0, now
                return
            except Exception as e:  # decided just below
                if not is_not_found(e):
                    raise
                del self._sent[key]  # expired or deleted: write a fresh one
        name = f"{ref['name']}.{time.time_ns():x}"
        body = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": namespace},
                "involvedObject": ref, "reason": reason, "message": message, "type": type_,
                "source": {"component": self.component, "host": self.node_name},
                "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
                "reportingComponent": self.component, "reportingInstance": self.node_name}
        self.client.create(r.EVENTS, body, namespace)
        self._sent[key] = _Sent(name, namespace, 1, now)
        if len(self._sent) > 5000:
            for old in list(self._sent)[:1000]:
                del self._sent[old]
