"""Pod workers: one thread per pod, so a slow pod (a 30-second grace period) never holds up another.

Where it sits: the pod informer's handlers call :meth:`PodWorkers.update` and
:meth:`PodWorkers.remove`; process exits and probe results call :meth:`PodWorkers.wake`.
Each worker runs the pod's :class:`~nodeagent.sync.PodSync` (kubelet's ``podWorkers``
and its ``managePodLoop``):

* **level-triggered**: a worker does not receive events, only "look again"; it syncs
  the newest copy of the pod, so ten updates while it was busy become one sync;
* **one at a time**: a pod's syncs never overlap, because only its own thread runs them;
* **timed**: a sync says when to look again (a back-off ending, the periodic resync);
* **lifetime**: the worker ends once its pod is finished with on this node (deleted and
  cleaned up). Container processes are started from the worker's own thread and die with
  it (``PR_SET_PDEATHSIG``), so no container can outlive the worker supervising it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from .sync import PodSync

log = logging.getLogger(__name__)
Obj = dict[str, Any]
RETRY = 2.0  # after a sync raised


class PodWorker:
    def __init__(self, sync: PodSync, on_done: Callable[[str], None]) -> None:
        self.sync = sync
        self.on_done = on_done
        self.latest: Obj | None = sync.pod
        self.gone = False
        self._wake = threading.Event()
        self._shutdown: float | None = None  # grace cap, once the agent is stopping
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, name=f"pod-{sync.key}", daemon=True)

    def update(self, pod: Obj | None) -> None:
        with self._lock:
            if pod is None:
                self.gone = True
            else:
                self.latest = pod
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def shutdown(self, grace_cap: float) -> None:
        self._shutdown = grace_cap
        self._wake.set()

    def _loop(self) -> None:
        delay: float | None = 0.0
        while True:
            self._wake.wait(delay)
            self._wake.clear()
            if self._shutdown is not None:
                try:
                    self.sync.shutdown(self._shutdown)
                except Exception:  # shutting down: report it and end
                    log.exception("stopping pod %s failed", self.sync.key)
                break
            with self._lock:
                pod = None if self.gone else self.latest
            try:
                delay = self.sync.sync(pod)
            except Exception:  # a bug or a surprise must not end supervision
                log.exception("syncing pod %s failed; trying again in %ss", self.sync.key, RETRY)
                delay = RETRY
            if delay is None:
                break
        self.on_done(self.sync.uid)


class PodWorkers:
    def __init__(self, make_sync: Callable[[Obj], PodSync]) -> None:
        self.make_sync = make_sync
        self._workers: dict[str, PodWorker] = {}
        self._lock = threading.Lock()
        self._closed = False

    def update(self, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        with self._lock:
            if self._closed:
                return
            worker = self._workers.get(uid)
            if worker is None:
                worker = self._workers[uid] = PodWorker(self.make_sync(pod), self._done)
                worker.thread.start()
                return
        worker.update(pod)

    def remove(self, pod: Obj) -> None:
        with self._lock:
            worker = self._workers.get((pod.get("metadata") or {}).get("uid", ""))
        if worker is not None:
            worker.update(None)

    def wake(self, uid: str) -> None:
        with self._lock:
            worker = self._workers.get(uid)
        if worker is not None:
            worker.wake()

    def wake_namespace(self, namespace: str) -> None:
        """A ConfigMap or Secret changed: its pods look again (their volumes may need updating)."""
        for worker in self.workers():
            if worker.sync.namespace == namespace:
                worker.wake()

    def _done(self, uid: str) -> None:
        with self._lock:
            self._workers.pop(uid, None)

    def workers(self) -> list[PodWorker]:
        with self._lock:
            return list(self._workers.values())

    def syncs(self) -> list[PodSync]:
        return [w.sync for w in self.workers()]

    def find(self, namespace: str, name: str) -> PodSync | None:
        """The pod of that name (the newest, should an old one with the same name still be stopping)."""
        found = [s for s in self.syncs() if s.namespace == namespace and s.name == name]
        found.sort(key=lambda s: s.start_time)
        return found[-1] if found else None

    def shutdown(self, grace_cap: float, timeout: float) -> None:
        """Stop every pod's containers (each with at most ``grace_cap`` seconds) and wait."""
        with self._lock:
            self._closed = True
            workers = list(self._workers.values())
        for worker in workers:
            worker.shutdown(grace_cap)
        for worker in workers:
            worker.thread.join(timeout)
