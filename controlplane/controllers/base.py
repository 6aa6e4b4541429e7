"""The shape every controller shares: informers -> work queue -> workers -> reconcile(key).

Where it sits: the middle of data flow (A). Informers (``controlplane.client``) watch
the API server and call the controller's event handlers; the handlers only put a key
on the work queue; N worker threads take keys and call :meth:`Controller.reconcile`,
which reads the informers' caches, converges one step by writing through the API
server, and returns. It is sample-controller's ``runWorker`` ->
``processNextWorkItem`` -> ``syncHandler``.

The contract for ``reconcile(key)``:

* **level-triggered**: it looks at the current state, never at what the event said;
* **idempotent**: running it twice, or for a key whose object is gone, is harmless;
* **errors requeue**: raising puts the key back with exponential back-off (5 ms
  doubling to 1000 s) and logs one line; returning forgets the back-off;
* :class:`RequeueAfter` asks for another look later without counting as an error
  ("the namespace still has pods; check again in a second").

A controller does not start its workers before every informer it reads has synced:
acting on a half-filled cache is how controllers delete things they should not.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ..client import informer as informers
from ..client.workqueue import WorkQueue

log = logging.getLogger(__name__)

SYNC_TIMEOUT = 60.0  # seconds to wait for informers before complaining (and waiting on)


class RequeueAfter(Exception):
    """Not an error: look at this key again after ``delay`` seconds."""

    def __init__(self, delay: float, why: str = "") -> None:
        super().__init__(why or f"requeue after {delay}s")
        self.delay = delay


class Controller:
    """Base class: subclasses set ``name``, register informers and implement ``reconcile``."""

    name = "controller"

    def __init__(self, *, workers: int = 1) -> None:
        self.workers = workers
        self.queue: WorkQueue[str] = WorkQueue(self.name)
        self.informers: list[informers.Informer] = []  # those reconcile() reads; synced before workers start
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    # -- what subclasses provide -------------------------------------------------------

    def reconcile(self, key: str) -> None:
        raise NotImplementedError

    def enqueue(self, key: str) -> None:
        self.queue.add(key)

    # -- running -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the informers, then (in the background, once they have synced) the workers."""
        for inf in self.informers:
            inf.start()
        runner = threading.Thread(target=self._run, name=f"{self.name}-start", daemon=True)
        runner.start()
        self._threads.append(runner)

    def _run(self) -> None:
        if not self.wait_for_sync():
            return
        log.info("%s: caches synced; starting %d worker(s)", self.name, self.workers)
        for i in range(self.workers):
            t = threading.Thread(target=self._worker, name=f"{self.name}-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def wait_for_sync(self) -> bool:
        """Block until every informer has synced; False if stopped first."""
        started = time.monotonic()
        warned = False
        while not self._stop.is_set():
            if all(inf.has_synced() for inf in self.informers):
                return True
            if not warned and time.monotonic() - started > SYNC_TIMEOUT:
                waiting = [repr(i) for i in self.informers if not i.has_synced()]
                log.warning("%s: still waiting for caches to sync: %s", self.name, ", ".join(waiting))
                warned = True
            self._stop.wait(0.05)
        return False

    def stop(self) -> None:
        """Shut the queue (workers exit after their current key) and stop the informers."""
        self._stop.set()
        self.queue.shutdown()
        for inf in self.informers:
            inf.stop()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for t in list(self._threads):
            t.join(max(0.0, deadline - time.monotonic()))
        for inf in self.informers:
            inf.join(max(0.0, deadline - time.monotonic()))

    # -- the worker loop ---------------------------------------------------------------

    def _worker(self) -> None:
        while self.process_next_item():
            pass

    def process_next_item(self) -> bool:
        """Take one key and reconcile it; False once the queue is shut down."""
        key = self.queue.get()
        if key is None:
            return False
        try:
            self.reconcile(key)
        except RequeueAfter as e:
            # Not a failure: keep the back-off where it is and look again later.
            self.queue.forget(key)
            self.queue.add_after(key, e.delay)
            log.debug("%s: %s: %s", self.name, key, e)
        except Exception as e:  # noqa: BLE001 - any failure: retry with back-off
            retries = self.queue.num_requeues(key)
            self.queue.add_rate_limited(key)  # back off, so a persistent failure does not hot-loop
            log.warning("%s: error reconciling %s (retry %d): %s", self.name, key, retries + 1, _one_line(e))
        else:
            self.queue.forget(key)
        finally:
            self.queue.done(key)
        return True


def _one_line(err: Exception) -> str:
    text = str(err) or type(err).__name__
    return " ".join(text.split())


def meta(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj["metadata"]``, or {} (watch events of deleted objects can be sparse)."""
    return obj.get("metadata") or {}
