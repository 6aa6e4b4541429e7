"""The work queue between informers and a controller's workers (client-go ``util/workqueue``).

Four guarantees, as client-go states them:

* **Fair**: items are handed out in the order they were added.
* **Stingy**: one item is never processed by two workers at once, and an item added
  several times before a worker takes it is processed once. An item added *while* it
  is being processed is queued again when the worker calls :meth:`WorkQueue.done`,
  so that change is not lost.
* **Multiple producers and consumers**: any number of threads may add (informer
  handlers, timers) and take (workers); every method is thread-safe.
* **Shutdown notifications**: after :meth:`WorkQueue.shutdown`, :meth:`WorkQueue.get`
  returns None to every waiting and future worker, which is their signal to exit.

On top of that, the rate-limited and delaying parts controllers need:

* :meth:`WorkQueue.add_rate_limited` re-adds an item after a per-item exponential
  back-off (5 ms, 10 ms, 20 ms ... capped at 1000 s), the answer to "reconcile
  failed, try again later" that does not hot-loop;
* :meth:`WorkQueue.forget` resets that back-off once the item succeeded;
* :meth:`WorkQueue.add_after` adds an item once a delay has passed ("check again in
  two seconds"); if it is added again meanwhile, the earlier time wins.

How a worker uses it (sample-controller's ``processNextWorkItem``)::

    while (key := queue.get()) is not None:
        try:
            reconcile(key)
        except Exception:
            queue.add_rate_limited(key)   # back off, retry
        else:
            queue.forget(key)             # success: reset the back-off
        finally:
            queue.done(key)               # always: lets the key be handed out again

Items must be hashable and not None (keys are strings).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)


class ExponentialRateLimiter(Generic[T]):
    """Per-item exponential back-off: ``base * 2**failures``, capped at ``cap``
    (client-go's ItemExponentialFailureRateLimiter, default 5 ms .. 1000 s)."""

    def __init__(self, base: float = 0.005, cap: float = 1000.0) -> None:
        self.base = base
        self.cap = cap
        self._failures: dict[T, int] = {}
        self._lock = threading.Lock()

    def when(self, item: T) -> float:
        """The delay before the next retry of ``item``; each call counts one more failure."""
        with self._lock:
            failures = self._failures.get(item, 0)
            self._failures[item] = failures + 1
        if failures > 60:  # 2**60 * base is already far past any cap; avoid float overflow
            return self.cap
        return min(self.cap, self.base * (2 ** failures))

    def num_requeues(self, item: T) -> int:
        with self._lock:
            return self._failures.get(item, 0)

    def forget(self, item: T) -> None:
        with self._lock:
            self._failures.pop(item, None)


class WorkQueue(Generic[T]):
    """A fair, stingy, rate-limited, delaying work queue (see the module docstring)."""

    def __init__(self, name: str = "", *, rate_limiter: ExponentialRateLimiter[T] | None = None) -> None:
        self.name = name
        self.rate_limiter: ExponentialRateLimiter[T] = rate_limiter or ExponentialRateLimiter()
        # One lock, two conditions: workers wait on _cond for items, the delay thread
        # waits on _timer for its next deadline. Sharing one condition would let a
        # notify() meant for a worker wake the delay thread instead (a lost wake-up).
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._timer = threading.Condition(self._lock)
        self._queue: deque[T] = deque()   # the order items are handed out in
        self._dirty: set[T] = set()       # items waiting to be processed (each at most once in _queue)
        self._processing: set[T] = set()  # items a worker holds right now
        self._shutting_down = False
        # The delaying part: a heap of (ready_at, seq, item) and one thread that waits on it.
        self._waiting: list[tuple[float, int, T]] = []
        self._ready_at: dict[T, float] = {}
        self._seq = itertools.count()
        self._waiter: threading.Thread | None = None

    # -- the basic queue ---------------------------------------------------------

    def add(self, item: T) -> None:
        """Queue ``item`` unless it is queued already; if a worker holds it, queue it
        again once that worker is done."""
        with self._cond:
            if self._shutting_down or item in self._dirty:
                return
            self._dirty.add(item)
            if item in self._processing:
                return  # done() will put it back; handing it out now would break "stingy"
            self._queue.append(item)
            self._cond.notify()

    def get(self, timeout: float | None = None) -> T | None:
        """Block until an item is ready and hand it to the caller, who must call
        :meth:`done` with it. Returns None once the queue is shut down (or after
        ``timeout`` seconds, if given, with nothing to hand out)."""
        with self._cond:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._queue and not self._shutting_down:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(left)
            if not self._queue:
                return None  # shut down and drained
            item = self._queue.popleft()
            self._processing.add(item)
            self._dirty.discard(item)
            return item

    def done(self, item: T) -> None:
        """The worker has finished ``item``; if it was added meanwhile, queue it again."""
        with self._cond:
            self._processing.discard(item)
            if item in self._dirty:
                self._queue.append(item)
                self._cond.notify()

    def shutdown(self) -> None:
        """Stop accepting items and wake every worker; :meth:`get` then returns None.

        Items still queued or delayed are dropped, so workers exit promptly. Nothing is
        lost by that: controllers are level-triggered and list everything again when
        they start."""
        with self._cond:
            self._shutting_down = True
            self._queue.clear()  # client-go's ShutDown: workers stop at their next get()
            self._dirty.clear()
            self._waiting.clear()
            self._ready_at.clear()
            self._cond.notify_all()
            self._timer.notify_all()

    def shutting_down(self) -> bool:
        with self._cond:
            return self._shutting_down

    def __len__(self) -> int:
        """Items waiting to be handed out (not those being processed or delayed)."""
        with self._cond:
            return len(self._queue)

    def processing(self) -> set[T]:
        with self._cond:
            return set(self._processing)

    # -- rate limiting -----------------------------------------------------------

    def add_rate_limited(self, item: T) -> None:
        """Add ``item`` after its back-off: 5 ms the first time, doubling per failure."""
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: T) -> None:
        """Reset ``item``'s back-off (call after it succeeded). Does not remove it."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return self.rate_limiter.num_requeues(item)

    # -- delaying ----------------------------------------------------------------

    def add_after(self, item: T, delay: float) -> None:
        """Add ``item`` once ``delay`` seconds have passed (at once if ``delay`` <= 0)."""
        if delay <= 0:
            self.add(item)
            return
        with self._cond:
            if self._shutting_down:
                return
            ready_at = time.monotonic() + delay
            if item in self._ready_at and self._ready_at[item] <= ready_at:
                return  # already due sooner: the earlier time wins
            self._ready_at[item] = ready_at
            heapq.heappush(self._waiting, (ready_at, next(self._seq), item))
            if self._waiter is None:
                self._waiter = threading.Thread(target=self._wait_loop, name=f"workqueue-{self.name}-delay",
                                                daemon=True)
                self._waiter.start()
            self._timer.notify()  # the delay thread may be sleeping until a later deadline

    def _wait_loop(self) -> None:
        """Move delayed items into the queue when they are due."""
        while True:
            with self._cond:
                while not self._shutting_down:
                    now = time.monotonic()
                    while self._waiting and self._waiting[0][0] <= now:
                        ready_at, _, item = heapq.heappop(self._waiting)
                        if self._ready_at.get(item) == ready_at:  # not superseded by an earlier time
                            del self._ready_at[item]
                            self._add_locked(item)
                    timeout = self._waiting[0][0] - now if self._waiting else None
                    self._timer.wait(timeout)
                return

    def _add_locked(self, item: T) -> None:
        if item in self._dirty:
            return
        self._dirty.add(item)
        if item not in self._processing:
            self._queue.append(item)
            self._cond.notify()
