"""Expectations: what a controller has asked for and not yet seen in its cache.

Where it sits: inside the ReplicaSet controller, between ``reconcile`` and the pod
informer's event handlers (upstream's ``ControllerExpectations`` and
``UIDTrackingControllerExpectations`` in ``pkg/controller/controller_utils.go``).

The problem it solves: ``reconcile`` counts pods in the informer's cache, and the cache
lags behind the API server. A ReplicaSet that wants 3 pods creates 3, and if the next
reconcile runs before the watch has delivered them it counts 0 and creates 3 more.
So, per ReplicaSet key:

* before creating N pods, ``expect_creations(key, N)``; each pod the informer then
  delivers calls ``creation_observed(key)``;
* before deleting pods, ``expect_deletions(key, pod_keys)``; each deletion the informer
  delivers calls ``deletion_observed(key, pod_key)``. Deletions are tracked by pod key,
  because one deletion is often seen twice (``deletionTimestamp`` set, then gone) and
  must count once;
* ``satisfied(key)`` is true when nothing is outstanding, or when the expectations are
  older than :data:`EXPECTATIONS_TIMEOUT` (a watch event that never comes, e.g. a create
  that failed after all, must not block the ReplicaSet for ever), or when there are none.
  Only then does ``reconcile`` create or delete; it still writes status either way;
* a write that failed will never be observed, so its expectation is lowered at once.

Every method is thread-safe: workers and informer threads share one instance.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable

EXPECTATIONS_TIMEOUT = 5 * 60.0  # seconds, as upstream's ExpectationsTimeout


@dataclasses.dataclass
class Expectation:
    adds: int
    deletes: set[str]
    at: float  # when set: expectations older than the timeout are assumed met

    def fulfilled(self) -> bool:
        return self.adds <= 0 and not self.deletes


class Expectations:
    def __init__(self, clock: Callable[[], float] = time.monotonic, timeout: float = EXPECTATIONS_TIMEOUT) -> None:
        self.clock = clock
        self.timeout = timeout
        self._lock = threading.Lock()
        self._items: dict[str, Expectation] = {}

    def satisfied(self, key: str) -> bool:
        """Whether ``reconcile`` may create or delete for ``key`` now."""
        with self._lock:
            exp = self._items.get(key)
            if exp is None or exp.fulfilled():
                return True
            return self.clock() - exp.at > self.timeout

    def get(self, key: str) -> Expectation | None:
        with self._lock:
            exp = self._items.get(key)
            return None if exp is None else Expectation(exp.adds, set(exp.deletes), exp.at)

    def expect_creations(self, key: str, count: int) -> None:
        with self._lock:
            self._items[key] = Expectation(count, set(), self.clock())

    def expect_deletions(self, key: str, pod_keys: Iterable[str]) -> None:
        with self._lock:
            self._items[key] = Expectation(0, set(pod_keys), self.clock())

    def creation_observed(self, key: str) -> None:
        """A pod of ``key`` appeared (or a create failed and never will)."""
        with self._lock:
            exp = self._items.get(key)
            if exp is not None and exp.adds > 0:
                exp.adds -= 1

    def deletion_observed(self, key: str, pod_key: str) -> None:
        """``pod_key`` of ``key`` is going or gone (or its delete failed); counts once per pod."""
        with self._lock:
            exp = self._items.get(key)
            if exp is not None:
                exp.deletes.discard(pod_key)

    def delete(self, key: str) -> None:
        """Forget ``key`` (its ReplicaSet is gone): a new one of that name starts clean."""
        with self._lock:
            self._items.pop(key, None)
