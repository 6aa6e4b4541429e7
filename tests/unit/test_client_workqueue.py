"""The work queue's four guarantees (fair, stingy, many producers/consumers, shutdown),
plus rate-limited and delayed adds."""

from __future__ import annotations

import threading
import time

import pytest

from controlplane.client.workqueue import ExponentialRateLimiter, WorkQueue


def test_fair_items_come_out_in_the_order_they_went_in() -> None:
    q: WorkQueue[str] = WorkQueue()
    for key in ["a", "b", "c"]:
        q.add(key)
    assert [q.get(timeout=1), q.get(timeout=1), q.get(timeout=1)] == ["a", "b", "c"]


def test_stingy_duplicates_collapse_before_processing() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.add("b")
    q.add("a")
    assert len(q) == 2
    assert q.get(timeout=1) == "a"
    assert q.get(timeout=1) == "b"
    assert q.get(timeout=0.05) is None


def test_stingy_an_item_being_processed_is_not_handed_to_a_second_worker() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    assert q.get(timeout=1) == "a"
    q.add("a")  # changed again while the first worker holds it
    assert q.get(timeout=0.05) is None, "a second worker must not get 'a' while the first holds it"
    q.done("a")
    assert q.get(timeout=1) == "a", "the add during processing must not be lost"
    q.done("a")
    assert q.get(timeout=0.05) is None


def test_many_producers_and_consumers_process_every_item_once_at_a_time() -> None:
    q: WorkQueue[int] = WorkQueue()
    in_flight: set[int] = set()
    seen: list[int] = []
    lock = threading.Lock()
    overlap: list[int] = []

    def worker() -> None:
        while (item := q.get()) is not None:
            with lock:
                if item in in_flight:
                    overlap.append(item)
                in_flight.add(item)
            time.sleep(0.001)
            with lock:
                in_flight.discard(item)
                seen.append(item)
            q.done(item)

    def producer(offset: int) -> None:
        for i in range(200):
            q.add((i + offset) % 50)

    workers = [threading.Thread(target=worker) for _ in range(4)]
    producers = [threading.Thread(target=producer, args=(n,)) for n in range(4)]
    for t in workers + producers:
        t.start()
    for t in producers:
        t.join(10)
    deadline = time.monotonic() + 10
    while (len(q) or q.processing()) and time.monotonic() < deadline:
        time.sleep(0.01)
    q.shutdown()
    for t in workers:
        t.join(10)
    assert not overlap
    assert set(seen) == set(range(50))


def test_shutdown_wakes_waiting_workers_and_refuses_new_items() -> None:
    q: WorkQueue[str] = WorkQueue()
    results: list[str | None] = []
    waiting = threading.Thread(target=lambda: results.append(q.get()))
    waiting.start()
    time.sleep(0.05)
    q.shutdown()
    waiting.join(2)
    assert not waiting.is_alive()
    assert results == [None]
    q.add("late")
    assert q.get(timeout=0.05) is None
    assert q.shutting_down()


def test_rate_limiter_doubles_from_5ms_and_caps_at_1000s() -> None:
    rl: ExponentialRateLimiter[str] = ExponentialRateLimiter()
    delays = [rl.when("k") for _ in range(5)]
    assert delays == pytest.approx([0.005, 0.01, 0.02, 0.04, 0.08])
    for _ in range(100):
        last = rl.when("k")
    assert last == 1000.0
    assert rl.when("other") == pytest.approx(0.005), "back-off is per item"
    rl.forget("k")
    assert rl.num_requeues("k") == 0
    assert rl.when("k") == pytest.approx(0.005)


def test_add_rate_limited_delays_the_item_and_forget_resets_it() -> None:
    q: WorkQueue[str] = WorkQueue(rate_limiter=ExponentialRateLimiter(base=0.05, cap=10))
    q.add_rate_limited("k")
    assert q.num_requeues("k") == 1
    assert len(q) == 0, "a rate-limited item is not ready at once"
    started = time.monotonic()
    assert q.get(timeout=2) == "k"
    assert time.monotonic() - started >= 0.04
    q.done("k")
    q.forget("k")
    assert q.num_requeues("k") == 0


def test_add_after_keeps_the_earliest_time_and_collapses_with_add() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add_after("k", 5.0)
    q.add_after("k", 0.05)  # sooner wins
    q.add_after("k", 3.0)   # later is ignored
    assert q.get(timeout=2) == "k"
    q.done("k")
    assert q.get(timeout=0.2) is None, "the superseded delayed adds must not produce a second copy"


def test_delayed_item_due_while_processing_waits_for_done() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("k")
    assert q.get(timeout=1) == "k"
    q.add_after("k", 0.01)
    time.sleep(0.1)
    assert q.get(timeout=0.05) is None
    q.done("k")
    assert q.get(timeout=1) == "k"
