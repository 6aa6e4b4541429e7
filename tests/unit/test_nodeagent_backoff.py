"""CrashLoopBackOff's schedule: the first restart at once, then initial, doubling, capped, and a fresh start."""

from __future__ import annotations

import pytest

from nodeagent.backoff import Backoff
from nodeagent.config import Timing
from nodeagent.sync import format_duration, should_restart


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def waits(backoff: Backoff, clock: Clock, exits: int, run_for: float = 1.0) -> list[float]:
    """Simulate a container that runs ``run_for`` seconds and exits, ``exits`` times; return
    how long each restart had to wait after the exit."""
    key, result = "pod/c", []
    for _ in range(exits):
        clock.now += run_for
        exited = clock.now
        waited = backoff.remaining(key, exited) if backoff.in_backoff_since(key, exited) else 0.0
        clock.now += waited
        assert not backoff.in_backoff_since(key, exited)
        backoff.next(key, exited)
        result.append(waited)
    return result


def test_kubernetes_profile_schedule():
    t = Timing.from_profile("kubernetes")
    clock = Clock()
    assert waits(Backoff(t.backoff_initial, t.backoff_max, clock), clock, 8) == [0, 10, 20, 40, 80, 160, 300, 300]


def test_classroom_profile_schedule():
    t = Timing.from_profile("classroom")
    clock = Clock()
    assert waits(Backoff(t.backoff_initial, t.backoff_max, clock), clock, 7) == [0, 1, 2, 4, 8, 16, 20]


def test_in_backoff_until_the_window_has_passed():
    clock = Clock()
    b = Backoff(10, 300, clock)
    b.next("k", clock.now)             # first restart
    exited = clock.now = clock.now + 5  # it ran 5 s and exited again
    assert b.in_backoff_since("k", exited)
    assert b.remaining("k", exited) == pytest.approx(10)
    clock.now += 9.5
    assert b.in_backoff_since("k", exited)
    clock.now += 0.6
    assert not b.in_backoff_since("k", exited)


def test_a_container_that_ran_long_enough_starts_over():
    clock = Clock()
    b = Backoff(10, 300, clock)
    assert waits(b, clock, 5) == [0, 10, 20, 40, 80]
    # ran for more than twice the maximum: the next exit is treated like the first
    assert waits(b, clock, 1, run_for=601) == [0]
    assert waits(b, clock, 2) == [10, 20]


def test_keys_are_independent_and_forgotten_per_pod():
    clock = Clock()
    b = Backoff(10, 300, clock)
    b.next("uid-a/c", clock.now)
    b.next("uid-b/c", clock.now)
    b.forget_prefix("uid-a/")
    assert b.get("uid-a/c") == 0 and b.get("uid-b/c") == 10


@pytest.mark.parametrize("seconds, text", [(10, "10s"), (59.6, "1m0s"), (80, "1m20s"), (300, "5m0s"), (3725, "1h2m5s")])
def test_durations_print_as_go_does(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize("policy, code, restart", [
    ("Always", 0, True), ("Always", 1, True), ("OnFailure", 0, False), ("OnFailure", 137, True),
    ("Never", 1, False), ("Never", 0, False)])
def test_restart_policy(policy, code, restart):
    assert should_restart(policy, code) is restart
