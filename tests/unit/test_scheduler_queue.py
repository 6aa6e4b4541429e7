"""The scheduling queue: order, back-off, parking unschedulable pods, and waking them.

Time is a fake clock the tests step by hand; ``pop(timeout=0)`` never waits.
"""

from __future__ import annotations

import pytest

from controlplane.scheduler.queue import SchedulingQueue
from controlplane.scheduler.testing import make_pod

FIT = frozenset({"NodeResourcesFit"})
TAINT = frozenset({"TaintToleration"})
INTERESTED = {"NodeResourcesFit": frozenset({"NodeAdd", "AssignedPodDelete"}),
              "TaintToleration": frozenset({"NodeAdd", "NodeTaintChange"})}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(clock: Clock) -> SchedulingQueue:
    return SchedulingQueue(clock=clock)


def popped(queue: SchedulingQueue) -> list[str]:
    keys = []
    while (q := queue.pop(timeout=0)) is not None:
        keys.append(q.key)
        queue.done(q.key)
    return keys


def test_higher_priority_first_then_the_longest_waiting(queue, clock):
    for name, priority in (("low-1", 0), ("high", 1000), ("low-2", 0), ("mid", 10)):
        queue.add(make_pod(name, priority=priority))
        clock.now += 1
    assert popped(queue) == ["default/high", "default/mid", "default/low-1", "default/low-2"]


def test_adding_a_pod_twice_queues_it_once(queue):
    queue.add(make_pod("p"))
    queue.add(make_pod("p"))
    assert popped(queue) == ["default/p"]


def test_a_failed_pod_backs_off_one_second_doubling_to_ten(queue, clock):
    queue.add(make_pod("p"))
    q = queue.pop(timeout=0)
    waited = []
    for _ in range(6):
        queue.backoff(q)   # the attempt failed
        failed_at = clock.now
        while (q := queue.pop(timeout=0)) is None:
            clock.now += 0.5
        waited.append(clock.now - failed_at)
    assert waited == [1, 2, 4, 8, 10, 10]
    assert q.attempts == 7


def test_other_pods_go_ahead_while_one_backs_off(queue, clock):
    queue.add(make_pod("failing"))
    queue.backoff(queue.pop(timeout=0))
    queue.add(make_pod("fresh"))
    assert popped(queue) == ["default/fresh"]
    clock.now += 1
    assert popped(queue) == ["default/failing"]


def test_an_unschedulable_pod_waits_for_an_event_that_can_help(queue, clock):
    queue.add(make_pod("p"))
    q = queue.pop(timeout=0)
    queue.unschedulable(q, FIT)
    clock.now += 60
    assert queue.pop(timeout=0) is None and queue.where("default/p") == "unschedulable"
    assert queue.move_all("NodeTaintChange", INTERESTED) == 0, "a taint change cannot give it cpu"
    assert queue.where("default/p") == "unschedulable"
    assert queue.move_all("AssignedPodDelete", INTERESTED) == 1, "a deleted pod frees cpu"
    assert popped(queue) == ["default/p"]


def test_a_pod_woken_during_its_back_off_waits_for_the_rest_of_it(queue, clock):
    queue.add(make_pod("p"))
    queue.unschedulable(queue.pop(timeout=0), TAINT)
    clock.now += 0.2
    queue.move_all("NodeAdd", INTERESTED)
    assert queue.where("default/p") == "backoff"
    clock.now += 0.8
    assert popped(queue) == ["default/p"]


def test_an_event_during_the_attempt_sends_the_pod_to_backoff_not_to_sleep(queue, clock):
    # A node is added while the pod is being tried on a snapshot without it. Parking the
    # pod now would wait for an event that has already happened.
    queue.add(make_pod("p"))
    q = queue.pop(timeout=0)
    queue.move_all("NodeAdd", INTERESTED)
    queue.unschedulable(q, FIT)
    assert queue.where("default/p") == "backoff"
    clock.now += 1
    assert popped(queue) == ["default/p"]


def test_a_pod_rejected_for_no_plugin_is_retried_after_back_off(queue, clock):
    queue.add(make_pod("p"))
    queue.unschedulable(queue.pop(timeout=0), frozenset())   # e.g. there were no nodes at all
    assert queue.where("default/p") == "backoff"


def test_a_parked_pod_whose_spec_changes_is_tried_again(queue, clock):
    queue.add(make_pod("p"))
    queue.unschedulable(queue.pop(timeout=0), TAINT)
    clock.now += 20
    with_condition = make_pod("p", uid="same")
    with_condition["status"]["conditions"] = [{"type": "PodScheduled", "status": "False"}]
    queue.update(with_condition)
    assert queue.where("default/p") == "unschedulable", "a status change cannot help"
    queue.update(make_pod("p", tolerations=[{"operator": "Exists"}]))
    assert popped(queue) == ["default/p"]


def test_an_update_during_the_attempt_is_kept(queue, clock):
    queue.add(make_pod("p"))
    q = queue.pop(timeout=0)
    queue.update(make_pod("p", tolerations=[{"operator": "Exists"}]))
    queue.unschedulable(q, TAINT)
    assert queue.where("default/p") == "backoff", "it changed while being tried: retry, don't park"
    clock.now += 1
    again = queue.pop(timeout=0)
    assert again is not None and again.info.spec.get("tolerations") == [{"operator": "Exists"}]


def test_a_pod_deleted_during_its_attempt_does_not_come_back(queue):
    queue.add(make_pod("p"))
    q = queue.pop(timeout=0)
    queue.delete("default/p")
    queue.unschedulable(q, FIT)
    assert queue.where("default/p") is None
    assert queue.counts() == {"active": 0, "backoff": 0, "unschedulable": 0}


def test_deleted_pods_leave_every_part_of_the_queue(queue, clock):
    queue.add(make_pod("a"))
    queue.add(make_pod("b"))
    queue.unschedulable(queue.pop(timeout=0), FIT)
    queue.delete("default/a")
    queue.delete("default/b")
    queue.move_all("NodeAdd", INTERESTED)
    clock.now += 100
    assert popped(queue) == []


def test_no_pod_stays_parked_longer_than_max_unschedulable(clock):
    queue = SchedulingQueue(clock=clock, max_unschedulable=60)
    queue.add(make_pod("p"))
    queue.unschedulable(queue.pop(timeout=0), FIT)
    clock.now += 59
    assert queue.pop(timeout=0) is None
    clock.now += 2
    assert popped(queue) == ["default/p"]


def test_pop_waits_for_a_pod_and_close_wakes_it():
    import threading
    import time

    queue = SchedulingQueue()
    got = []
    t = threading.Thread(target=lambda: got.append(queue.pop(timeout=5)))
    t.start()
    time.sleep(0.1)
    queue.add(make_pod("p"))
    t.join(2)
    assert got and got[0] is not None and got[0].key == "default/p"
    t = threading.Thread(target=lambda: got.append(queue.pop(timeout=5)))
    t.start()
    started = time.monotonic()
    queue.close()
    t.join(2)
    assert got[-1] is None and time.monotonic() - started < 1.5


def test_a_pod_created_again_keeps_only_its_own_back_off(queue, clock):
    queue.add(make_pod("p"))
    queue.backoff(queue.pop(timeout=0))   # due at +1.0
    queue.delete("default/p")
    clock.now += 0.5
    queue.add(make_pod("p"))              # the same name, created again
    queue.backoff(queue.pop(timeout=0))   # due at +1.5
    clock.now += 0.6                      # +1.1: the first back-off is over, but it was the old pod's
    assert queue.pop(timeout=0) is None
    clock.now += 0.4
    assert popped(queue) == ["default/p"]
