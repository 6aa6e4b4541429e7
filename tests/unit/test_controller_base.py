"""The shared controller loop: wait for caches, reconcile keys, back off on errors, requeue on request."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pytest

from controlplane.controllers.base import Controller, RequeueAfter


class FakeInformer:
    def __init__(self) -> None:
        self.synced = threading.Event()
        self.started = self.stopped = False

    def has_synced(self) -> bool:
        return self.synced.is_set()

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True

    def join(self, timeout: float | None = None) -> None:
        pass


class Recording(Controller):
    name = "recording"

    def __init__(self, behaviour: Callable[[str, int], None]) -> None:
        super().__init__(workers=2)
        self.calls: list[str] = []
        self.behaviour = behaviour

    def reconcile(self, key: str) -> None:
        self.calls.append(key)
        self.behaviour(key, self.calls.count(key))


def eventually(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_an_error_requeues_with_back_off_and_logs_one_line(caplog: pytest.LogCaptureFixture) -> None:
    def fail_twice(key: str, n: int) -> None:
        if n <= 2:
            raise RuntimeError(f"attempt {n}\nfailed")

    ctl = Recording(fail_twice)
    ctl.enqueue("ns/a")
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert ctl.process_next_item()
    assert ctl.calls == ["ns/a"] * 3
    lines = [rec.getMessage() for rec in caplog.records]
    assert lines == ["recording: error reconciling ns/a (retry 1): attempt 1 failed",
                     "recording: error reconciling ns/a (retry 2): attempt 2 failed"]
    assert ctl.queue.num_requeues("ns/a") == 0, "success forgets the back-off"


def test_requeue_after_is_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    def later_once(key: str, n: int) -> None:
        if n == 1:
            raise RequeueAfter(0.05)

    ctl = Recording(later_once)
    ctl.enqueue("k")
    with caplog.at_level(logging.WARNING):
        assert ctl.process_next_item()
        assert len(ctl.queue) == 0
        assert ctl.process_next_item()  # blocks until the delayed add arrives
    assert ctl.calls == ["k", "k"]
    assert caplog.records == []


def test_workers_start_only_after_every_informer_synced() -> None:
    ctl = Recording(lambda key, n: None)
    a, b = FakeInformer(), FakeInformer()
    ctl.informers = [a, b]  # type: ignore[list-item]
    ctl.enqueue("k")
    ctl.start()
    try:
        assert a.started and b.started
        a.synced.set()
        time.sleep(0.2)
        assert ctl.calls == [], "no reconcile on a half-synced cache"
        b.synced.set()
        eventually(lambda: ctl.calls == ["k"])
    finally:
        ctl.stop()
        ctl.join(5)
    assert a.stopped and b.stopped
    assert all(not t.is_alive() for t in ctl._threads), "workers exit after stop()"
