"""The shape of a long-running loop: ``initialize`` / ``step(now)`` / ``shutdown``, run by a runner.

Where it sits: the node agent (:class:`nodeagent.agent.NodeAgent`) and the simulated
nodes (:class:`nodeagent.simulated.SimulatedNodes`) are daemons; ``python -m nodeagent``
runs one with :func:`run`. The split follows huey's consumer and rq's worker:

* the **runner** owns the stop flag (a :class:`threading.Event` that a signal handler
  sets) and the clock; the daemon never sleeps on its own, it answers "when am I next
  due?" from each :meth:`Daemon.step`, so a stop request is noticed at once;
* ``step(now)`` gets ``time.monotonic()``: wall-clock jumps (NTP, suspend) do not
  make heartbeats fire twice or not at all;
* periodic work is scheduled with a little jitter (:func:`jittered`), so a hundred
  agents started together do not renew their leases in the same millisecond;
* shutdown is warm, then cold: the first SIGTERM lets pods stop gracefully, a second
  one cuts grace periods to nothing (:attr:`Daemon.cold`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Protocol

log = logging.getLogger(__name__)


class Daemon(Protocol):
    cold: bool

    def initialize(self, stop: threading.Event) -> None: ...
    def step(self, now: float) -> float: ...
    def shutdown(self) -> None: ...


def jittered(interval: float, factor: float = 0.04) -> float:
    """``interval`` stretched by up to ``factor`` (client-go's wait.Jitter)."""
    return interval * (1 + random.uniform(0, factor))


class Every:
    """A periodic task inside a step: due now, then every ``interval`` (jittered)."""

    def __init__(self, interval: float, jitter: float = 0.04) -> None:
        self.interval = interval
        self.jitter = jitter
        self.next_at = 0.0

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def done(self, now: float, retry_in: float | None = None) -> None:
        """Schedule the next run: after the interval, or sooner after a failure."""
        self.next_at = now + (retry_in if retry_in is not None else jittered(self.interval, self.jitter))

    def wait(self, now: float) -> float:
        return max(0.0, self.next_at - now)


def run(daemon: Daemon, stop: threading.Event, *, max_wait: float = 1.0) -> None:
    """Initialize, step until ``stop`` is set, then shut down (always, even after an error)."""
    try:
        daemon.initialize(stop)
        while not stop.is_set():
            try:
                wait = daemon.step(time.monotonic())
            except Exception:  # one failed step must not end the daemon (logged)
                log.exception("step failed")
                wait = max_wait
            stop.wait(min(max(wait, 0.01), max_wait))
    finally:
        daemon.shutdown()
