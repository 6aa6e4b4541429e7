"""Fan-out of storage events to open watches, within one process.

Where it sits: a backend's poll loop calls :meth:`Broadcaster.publish` with each batch
of new rows, in revision order; every open watch (a :class:`Subscription`) whose
prefix matches gets the event on its own bounded queue.

A watch that falls behind (its queue is full) is ended rather than allowed to block
the others or to grow without bound, as kine's broadcaster does. Nothing is lost: the
client sees its stream end and watches again from the last revision it received,
which the store serves from the log.

Events are shared by every subscriber: treat them as read-only.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator

from .interface import Event

MAX_QUEUED = 10_000


class Subscription:
    """One open watch: a prefix, a starting revision and a queue of events (a Watcher)."""

    def __init__(self, broadcaster: Broadcaster, prefix: str, after: int) -> None:
        self._broadcaster = broadcaster
        self.prefix = prefix
        self.after = after
        self._queue: deque[Event] = deque()
        self._cond = threading.Condition()
        self._ended = False  # stopped, overflowed or the store closed: drain, then stop

    def matches(self, key: str) -> bool:
        if self.prefix.endswith("/"):
            return key.startswith(self.prefix)
        return key == self.prefix

    def backfill(self, events: list[Event]) -> None:
        """Put events read from the log ahead of anything the broadcaster delivered."""
        with self._cond:
            self._queue.extendleft(reversed(events))
            self._cond.notify()

    def offer(self, event: Event) -> bool:
        """Queue an event; False if the queue is full and the subscription has ended."""
        with self._cond:
            if self._ended:
                return False
            if len(self._queue) >= MAX_QUEUED:
                self._ended = True
                self._cond.notify()
                return False
            self._queue.append(event)
            self._cond.notify()
            return True

    def end(self) -> None:
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def next(self, timeout: float | None) -> Event | None:
        """The next event newer than ``after``, None on timeout; StopIteration once ended."""
        with self._cond:
            while True:
                while self._queue:
                    event = self._queue.popleft()
                    # The broadcaster may hand us events the client has already seen:
                    # it subscribed from a revision newer than the poll loop's position.
                    if event.revision > self.after:
                        return event
                if self._ended:
                    raise StopIteration
                if not self._cond.wait(timeout):
                    return None

    def progress_revision(self) -> int | None:
        """A revision up to which every matching event has been returned, or None.

        Read the broadcaster's position *before* looking at our queue: the broadcaster
        queues a batch, then advances ``delivered``; so if the queue is empty now,
        everything up to the position read has been handed out.
        """
        delivered = self._broadcaster.delivered
        with self._cond:
            if self._queue:
                return None
            return max(delivered, self.after)

    def __iter__(self) -> Iterator[Event]:
        while True:
            try:
                event = self.next(None)
            except StopIteration:
                return
            if event is not None:
                yield event

    def stop(self) -> None:
        """End the watch; safe to call more than once."""
        self._broadcaster.unsubscribe(self)
        self.end()


class Broadcaster:
    def __init__(self, delivered: int) -> None:
        self._lock = threading.Lock()
        self._subs: set[Subscription] = set()
        self.delivered = delivered  # the newest revision handed to subscribers

    def subscribe(self, prefix: str, after: int) -> tuple[Subscription, int]:
        """A new subscription, and the revision up to which the caller must backfill."""
        sub = Subscription(self, prefix, after)
        with self._lock:
            self._subs.add(sub)
            return sub, self.delivered

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    def publish(self, events: list[Event], delivered: int) -> None:
        with self._lock:
            for event in events:
                for sub in [s for s in self._subs if s.matches(event.key)]:
                    if not sub.offer(event):
                        self._subs.discard(sub)
            self.delivered = delivered

    def close(self) -> None:
        with self._lock:
            subs, self._subs = self._subs, set()
        for sub in subs:
            sub.end()
