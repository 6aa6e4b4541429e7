"""CrashLoopBackOff: how long a container that keeps failing waits before its next start.

Where it sits: the pod sync (:mod:`nodeagent.sync`) asks :meth:`Backoff.in_backoff_since`
before restarting an exited container, and calls :meth:`Backoff.next` when it does
restart one. This is client-go's ``flowcontrol.Backoff`` as kubelet uses it, keyed by
pod and container:

* the **first** restart after an exit happens at once (there is no entry yet);
* every later exit waits ``initial``, then twice that, and so on up to ``max``
  (kubelet: 10 s, 20 s, 40 s ... 5 min; classroom profile: 1 s doubling to 20 s),
  counted from the moment the container exited;
* a container that then runs well for ``2 * max`` starts over from ``initial``.

Jitter is left out on purpose: a student watching ``kubectl get pods -w`` should see
the numbers the documentation promises.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable


@dataclasses.dataclass
class _Entry:
    backoff: float
    last_update: float


class Backoff:
    def __init__(self, initial: float, maximum: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.initial = initial
        self.maximum = maximum
        self.clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> float:
        """The current back-off of ``key`` (0 when it has none)."""
        with self._lock:
            entry = self._entries.get(key)
            return entry.backoff if entry else 0.0

    def in_backoff_since(self, key: str, event_time: float) -> bool:
        """Whether less than the current back-off has passed since ``event_time`` (the
        moment the container exited), i.e. whether a restart must still wait."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or self._expired(event_time, entry):
                return False
            return self.clock() - event_time < entry.backoff

    def remaining(self, key: str, event_time: float) -> float:
        """Seconds until the back-off that started at ``event_time`` is over (0 if it is)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or self._expired(event_time, entry):
                return 0.0
            return max(0.0, entry.backoff - (self.clock() - event_time))

    def next(self, key: str, event_time: float) -> None:
        """Record a restart: the next exit waits twice as long (capped)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or self._expired(event_time, entry):
                entry = self._entries[key] = _Entry(self.initial, 0.0)
            else:
                entry.backoff = min(entry.backoff * 2, self.maximum)
            entry.last_update = self.clock()

    def reset(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def forget_prefix(self, prefix: str) -> None:
        """Drop every entry of one pod (its keys start with its uid)."""
        with self._lock:
            for key in [k for k in self._entries if k.startswith(prefix)]:
                del self._entries[key]

    def _expired(self, event_time: float, entry: _Entry) -> bool:
        # A container that ran longer than twice the maximum since its last restart has
        # earned a fresh start (client-go's hasExpired).
        return event_time - entry.last_update > 2 * self.maximum
