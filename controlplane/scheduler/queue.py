"""The scheduling queue: which pending pod to try next, and when to try a failed one again.

Where it sits: the pod informer's handlers add pending pods; the scheduling loop
pops one per cycle; a failed cycle hands the pod back. Three places a pod can wait
(upstream's ``internal/queue/scheduling_queue.go``, in outline):

* **active** - ready to be tried. Highest ``spec.priority`` first, then the pod that
  has waited longest.
* **backoff** - failed recently; waits ``1 s, 2 s, 4 s, 8 s, 10 s, 10 s ...`` after
  each failed attempt before it is active again, so one pod that cannot fit does not
  take every cycle.
* **unschedulable** - did not fit anywhere. Trying again changes nothing until the
  cluster changes, so it stays here until an event that could help happens: a node
  was added, a node's labels/taints/allocatable changed, a bound pod was deleted...
  Each filter plugin declares which events can undo its rejection (``EVENTS``); a pod
  moves when one of the plugins that rejected it is interested. As a safety net a
  pod never stays here longer than ``max_unschedulable`` seconds.

A race worth reading: while a pod is being tried, a node may be added. The cycle
then fails on the snapshot it took before, and parking the pod as unschedulable
would wait for an event that has already happened. So every move request records
the cycle it happened in, and a pod whose failed cycle started before the latest
move goes to backoff instead (upstream's ``moveRequestCycle``).

Time comes from ``clock`` (``time.monotonic`` by default) so tests can step it.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

from .nodeinfo import PodInfo

Obj = dict[str, Any]
INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 10.0
MAX_UNSCHEDULABLE = 300.0   # upstream's podMaxInUnschedulablePodsDuration (5 minutes)


@dataclasses.dataclass
class QueuedPod:
    info: PodInfo
    timestamp: float               # when it (re)entered the queue: the order among equals
    attempts: int = 0              # scheduling cycles it has been through
    cycle: int = 0                 # the cycle number of its latest attempt
    rejected_by: frozenset[str] = frozenset()   # filter plugins that said no last time
    entry: int = -1                # number of its current heap entry (older entries are skipped)

    @property
    def key(self) -> str:
        return self.info.key


class SchedulingQueue:
    def __init__(self, *, initial_backoff: float = INITIAL_BACKOFF, max_backoff: float = MAX_BACKOFF,
                 max_unschedulable: float = MAX_UNSCHEDULABLE, clock: Callable[[], float] = time.monotonic) -> None:
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_unschedulable = max_unschedulable
        self.clock = clock
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._active: list[tuple[int, float, int, str]] = []   # heap of (-priority, timestamp, seq, key)
        self._backoff: list[tuple[float, int, str]] = []       # heap of (ready_at, seq, key)
        self._pods: dict[str, QueuedPod] = {}                  # every pod waiting anywhere, by key
        self._where: dict[str, str] = {}                       # key -> "active" | "backoff" | "unschedulable"
        self._in_flight: dict[str, QueuedPod] = {}             # popped, cycle not finished
        self._changed_in_flight: dict[str, tuple[PodInfo, bool]] = {}   # updated while being tried
        self._deleted_in_flight: set[str] = set()              # deleted while being tried
        self._last_leftover_check = clock()
        self._cycle = 0                                        # cycles started so far
        self._move_cycle = -1                                  # the cycle of the latest move request
        self._closed = False

    # -- producers: the informer's handlers ----------------------------------------------

    def add(self, pod: Obj) -> None:
        """A new pending pod: straight to active."""
        info = PodInfo.of(pod)
        with self._cond:
            if self._closed or info.key in self._pods or info.key in self._in_flight:
                return
            self._pods[info.key] = QueuedPod(info, self.clock())
            self._push_active(self._pods[info.key])

    def update(self, pod: Obj) -> None:
        """A pending pod changed. If it waited as unschedulable and its spec or labels
        changed (a toleration added, say), it may fit now: try it again."""
        info = PodInfo.of(pod)
        with self._cond:
            trying = self._in_flight.get(info.key)
            if trying is not None:
                # Applied when its cycle hands it back; only a new spec or new labels can help it.
                earlier = self._changed_in_flight.get(info.key, (trying.info, False))
                self._changed_in_flight[info.key] = (info, earlier[1] or _differs(trying.info, info))
                return
            queued = self._pods.get(info.key)
            if queued is None:
                self._pods[info.key] = QueuedPod(info, self.clock())
                self._push_active(self._pods[info.key])
                return
            changed = _differs(queued.info, info)
            queued.info = info
            if changed and self._where.get(info.key) == "unschedulable":
                self._requeue(queued)

    def delete(self, key: str) -> None:
        with self._cond:
            self._pods.pop(key, None)   # heap entries of a gone key are skipped when popped
            self._where.pop(key, None)
            if key in self._in_flight:
                self._deleted_in_flight.add(key)

    def move_all(self, event: str, interested: dict[str, frozenset[str]] | None = None) -> int:
        """A cluster event happened: unschedulable pods it may help go back (to active, or
        to backoff if their back-off has not passed). Returns how many moved."""
        with self._cond:
            self._move_cycle = self._cycle
            moved = 0
            for key, where in list(self._where.items()):
                if where != "unschedulable":
                    continue
                queued = self._pods[key]
                if interested is not None and queued.rejected_by and not any(
                        event in interested.get(plugin, frozenset()) for plugin in queued.rejected_by):
                    continue
                self._requeue(queued)
                moved += 1
            return moved

    # -- the consumer: the scheduling loop ---------------------------------------------------

    def pop(self, timeout: float | None = None) -> QueuedPod | None:
        """The next pod to try, waiting up to ``timeout`` seconds; None on timeout or close."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._closed:
                self._flush_locked()
                while self._active:
                    _, _, seq, key = heapq.heappop(self._active)
                    queued = self._pods.get(key)
                    if queued is None or self._where.get(key) != "active" or queued.entry != seq:
                        continue   # deleted, or queued again since this heap entry was made
                    del self._pods[key], self._where[key]
                    self._cycle += 1
                    queued.attempts += 1
                    queued.cycle = self._cycle
                    self._in_flight[key] = queued
                    return queued
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                wake = self._next_backoff_in()
                self._cond.wait(min(x for x in (left, wake, 1.0) if x is not None))
            return None

    def done(self, key: str) -> None:
        """The cycle of ``key`` is over (bound, or handed back)."""
        with self._cond:
            self._in_flight.pop(key, None)
            self._changed_in_flight.pop(key, None)
            self._deleted_in_flight.discard(key)

    def unschedulable(self, queued: QueuedPod, rejected_by: frozenset[str]) -> None:
        """The pod fitted nowhere. Park it until an event may help - unless such an event
        already happened while it was being tried (then: backoff)."""
        with self._cond:
            changed = self._hand_back(queued)
            if changed is None:
                return
            queued.rejected_by = rejected_by
            if changed or self._move_cycle >= queued.cycle or not rejected_by:
                self._push_backoff(queued)
            else:
                self._where[queued.key] = "unschedulable"

    def backoff(self, queued: QueuedPod) -> None:
        """Something went wrong (an error, a failed binding): try again after the back-off."""
        with self._cond:
            if self._hand_back(queued) is not None:
                self._push_backoff(queued)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # -- reading (tests, metrics) --------------------------------------------------------------

    def where(self, key: str) -> str | None:
        with self._cond:
            if key in self._in_flight:
                return "in-flight"
            return self._where.get(key)

    def counts(self) -> dict[str, int]:
        with self._cond:
            out = {"active": 0, "backoff": 0, "unschedulable": 0}
            for where in self._where.values():
                out[where] += 1
            return out

    def backoff_duration(self, attempts: int) -> float:
        """``initial * 2**(attempts-1)``, capped at ``max_backoff``."""
        return min(self.max_backoff, self.initial_backoff * 2 ** max(0, min(attempts - 1, 30)))

    # -- internals ------------------------------------------------------------------------------

    def _hand_back(self, queued: QueuedPod) -> bool | None:
        """End the pod's cycle and take it back: None if it must not come back (deleted,
        closed); else whether it changed while it was being tried."""
        key = queued.key
        self._in_flight.pop(key, None)
        info, changed = self._changed_in_flight.pop(key, (queued.info, False))
        if key in self._deleted_in_flight or self._closed:
            self._deleted_in_flight.discard(key)
            return None
        queued.info = info
        queued.timestamp = self.clock()
        self._pods[key] = queued
        return changed

    def _push_active(self, queued: QueuedPod) -> None:
        self._where[queued.key] = "active"
        queued.entry = next(self._seq)
        heapq.heappush(self._active, (-queued.info.priority, queued.timestamp, queued.entry, queued.key))
        self._cond.notify()

    def _push_backoff(self, queued: QueuedPod) -> None:
        self._where[queued.key] = "backoff"
        queued.entry = next(self._seq)
        ready_at = queued.timestamp + self.backoff_duration(queued.attempts)
        heapq.heappush(self._backoff, (ready_at, queued.entry, queued.key))
        self._cond.notify()   # the popper recomputes how long to sleep

    def _requeue(self, queued: QueuedPod) -> None:
        """Out of unschedulable: to backoff while its back-off lasts, else to active."""
        if self.clock() < queued.timestamp + self.backoff_duration(queued.attempts):
            self._push_backoff(queued)
        else:
            self._push_active(queued)

    def _flush_locked(self) -> None:
        now = self.clock()
        while self._backoff and self._backoff[0][0] <= now:
            _, seq, key = heapq.heappop(self._backoff)
            if self._where.get(key) == "backoff" and self._pods[key].entry == seq:
                self._push_active(self._pods[key])
        if now - self._last_leftover_check < 1.0:
            return   # the sweep below looks at every waiting pod: once a second is enough
        self._last_leftover_check = now
        for key, where in list(self._where.items()):
            if where == "unschedulable" and now - self._pods[key].timestamp >= self.max_unschedulable:
                self._requeue(self._pods[key])

    def _next_backoff_in(self) -> float | None:
        if not self._backoff:
            return None
        return max(0.0, self._backoff[0][0] - self.clock())


def _differs(before: PodInfo, after: PodInfo) -> bool:
    """A change that can make a pod fit: its spec (tolerations, affinity...) or its labels.
    Status changes (our own PodScheduled condition, say) cannot."""
    return before.spec != after.spec or before.labels != after.labels
