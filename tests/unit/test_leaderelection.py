"""Leader election on a Lease, with a clock the tests turn: acquire, renew, lose, steal, release.

The Lease is what ``kubectl get lease -n kube-system kube-controller-manager -o yaml``
shows; the tests look at it, and at which candidate leads.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
import requests

from controlplane import profiles
from controlplane.client import errors
from controlplane.client import resources as r
from controlplane.client.fake import FakeClient
from controlplane.client.leaderelection import (
    LeaderElector,
    LeadershipLost,
    LeaseElector,
    LeaseLock,
    default_identity,
    elector_from_flags,
    timings,
)
from controlplane.controllers import manager

T0 = 1795370882.0  # 2026-11-22T18:08:02Z
MICRO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
Obj = dict[str, Any]


class Clock:
    """Wall time the test controls; sleeping moves it on (and never really waits)."""

    def __init__(self) -> None:
        self.now = T0
        self.on_sleep: list[Any] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        self.now += seconds
        for hook in self.on_sleep:
            hook()
        return stop.is_set()


class Cluster(FakeClient):
    """One API server for every candidate; ``down`` makes it unreachable."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.after_get: list[Any] = []

    def get(self, res: r.Resource, name: str, namespace: str | None = None, **kw: Any) -> Obj:
        if self.down:
            raise errors.ServerUnavailable("no API server answered")
        obj = super().get(res, name, namespace, **kw)
        while self.after_get:
            self.after_get.pop(0)()
        return obj

    def update(self, res: r.Resource, body: Obj, namespace: str | None = None, **kw: Any) -> Obj:
        if self.down:
            raise errors.ServerUnavailable("no API server answered")
        return super().update(res, body, namespace, **kw)

    def lease(self) -> Obj:
        return self.stored(r.LEASES, "kube-controller-manager", "kube-system")  # type: ignore[return-value]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api() -> Cluster:
    return Cluster()


def candidate(api: Cluster, clock: Clock, identity: str, **callbacks: Any) -> LeaderElector:
    lock = LeaseLock(api, "kube-system", "kube-controller-manager", identity)
    callbacks.setdefault("on_started_leading", lambda leading: leading.wait(5))
    return LeaderElector(lock, lease_duration=2.0, renew_deadline=1.5, retry_period=0.5, clock=clock,
                         sleep=clock.sleep, **callbacks)


# -- one attempt at a time -------------------------------------------------------------------


def test_the_first_candidate_creates_the_lease_and_leads(api: Cluster, clock: Clock) -> None:
    a = candidate(api, clock, "master-1_aaa")
    assert a.try_acquire_or_renew() and a.is_leader()
    spec = api.lease()["spec"]
    assert spec["holderIdentity"] == "master-1_aaa"
    assert spec["leaseDurationSeconds"] == 2 and spec["leaseTransitions"] == 0
    assert MICRO.fullmatch(spec["acquireTime"]) and spec["acquireTime"] == spec["renewTime"]
    assert spec["renewTime"] == "2026-11-22T18:08:02.000000Z"


def test_renewing_moves_renew_time_and_keeps_acquire_time(api: Cluster, clock: Clock) -> None:
    a = candidate(api, clock, "a")
    a.try_acquire_or_renew()
    acquired = api.lease()["spec"]["acquireTime"]
    clock.now += 0.5
    assert a.try_acquire_or_renew()
    spec = api.lease()["spec"]
    assert spec["acquireTime"] == acquired and spec["renewTime"] == "2026-11-22T18:08:02.500000Z"
    assert spec["leaseTransitions"] == 0


def test_a_held_lease_is_not_taken_until_it_expires(api: Cluster, clock: Clock) -> None:
    a, b = candidate(api, clock, "a"), candidate(api, clock, "b")
    assert a.try_acquire_or_renew()
    clock.now += 1.9
    assert not b.try_acquire_or_renew(), "renewed 1.9 s ago, lasts 2 s: still a's"
    assert b.leader() == "a" and not b.is_leader()
    clock.now += 0.2  # a has missed its renewal: renewTime + 2 s is past
    assert b.try_acquire_or_renew() and b.is_leader()
    spec = api.lease()["spec"]
    assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1
    assert spec["acquireTime"] == spec["renewTime"] == "2026-11-22T18:08:04.100000Z"
    assert not a.try_acquire_or_renew() and a.leader() == "b", "a sees it lost the lease"


def test_when_two_candidates_race_the_api_server_picks_one(api: Cluster, clock: Clock) -> None:
    a, b = candidate(api, clock, "a"), candidate(api, clock, "b")
    a.try_acquire_or_renew()
    clock.now += 5  # expired: both may try
    api.after_get.append(lambda: a.try_acquire_or_renew())  # a writes between b's read and b's write
    assert not b.try_acquire_or_renew(), "b's write carries a stale resourceVersion: 409"
    assert api.lease()["spec"]["holderIdentity"] == "a"


def test_an_unreachable_api_server_is_a_failed_attempt_not_an_error(api: Cluster, clock: Clock) -> None:
    a = candidate(api, clock, "a")
    api.down = True
    assert not a.try_acquire_or_renew()


def test_a_renewal_that_times_out_is_a_failed_attempt(api: Cluster, clock: Clock) -> None:
    a = candidate(api, clock, "a")
    assert a.try_acquire_or_renew()

    def hang() -> None:
        raise requests.ReadTimeout("read timed out (read timeout=1.5)")

    api.after_get.append(hang)
    assert not a.try_acquire_or_renew()


def test_release_lets_a_successor_in_at_once(api: Cluster, clock: Clock) -> None:
    a, b = candidate(api, clock, "a"), candidate(api, clock, "b")
    a.try_acquire_or_renew()
    assert a.release()
    spec = api.lease()["spec"]
    assert spec["holderIdentity"] == "" and spec["leaseDurationSeconds"] == 1
    assert b.try_acquire_or_renew(), "no need to wait for the 2 s lease"
    assert api.lease()["spec"]["leaseTransitions"] == 1


def test_identities_are_hostname_and_a_uuid() -> None:
    first, second = default_identity(), default_identity()
    assert first != second
    assert re.fullmatch(r"[^_]+_[0-9a-f-]{36}", first)


def test_timings_that_could_give_two_leaders_are_refused(api: Cluster, clock: Clock) -> None:
    lock = LeaseLock(api, "kube-system", "x", "a")
    with pytest.raises(ValueError, match="greater than the renew deadline"):
        LeaderElector(lock, lease_duration=1, renew_deadline=1, retry_period=0.1, on_started_leading=print)
    with pytest.raises(ValueError, match="retry period"):
        LeaderElector(lock, lease_duration=3, renew_deadline=1, retry_period=1, on_started_leading=print)


# -- the loop ---------------------------------------------------------------------------------


def test_a_leader_that_cannot_renew_stops_leading_within_the_renew_deadline(api: Cluster, clock: Clock) -> None:
    seen: dict[str, Any] = {}

    def lead(leading: threading.Event) -> None:
        seen["started"] = clock.now
        seen["ended"] = leading.wait(5)

    a = candidate(api, clock, "a", on_started_leading=lead,
                  on_stopped_leading=lambda: seen.setdefault("stopped", clock.now))

    def outage() -> None:
        if clock.now >= T0 + 3:
            api.down = True

    clock.on_sleep.append(outage)
    lost = a.run(threading.Event())
    assert lost is True
    assert seen["started"] == T0 and seen["ended"] is True, "the work was told to stop"
    # Last renewal at T0 + 2.5; the round from T0 + 3 fails until its 1.5 s deadline.
    assert T0 + 4.5 <= seen["stopped"] <= T0 + 5.0
    assert api.lease()["spec"]["holderIdentity"] == "a", "a lost leader cannot release (and must not)"


def test_a_leader_whose_lease_was_taken_stops_at_once(api: Cluster, clock: Clock) -> None:
    a, b = candidate(api, clock, "a"), candidate(api, clock, "b")

    def b_steals() -> None:
        if clock.now >= T0 + 2 and not b.is_leader():
            clock.now += 10  # a was frozen (a long GC pause, say) and its lease expired
            b.try_acquire_or_renew()

    clock.on_sleep.append(b_steals)
    assert a.run(threading.Event()) is True
    assert api.lease()["spec"]["holderIdentity"] == "b"


def test_a_clean_stop_releases_the_lease(api: Cluster, clock: Clock) -> None:
    stop = threading.Event()
    leaders: list[str] = []
    a = candidate(api, clock, "a", on_new_leader=leaders.append)
    clock.on_sleep.append(lambda: stop.set() if clock.now >= T0 + 3 else None)
    assert a.run(stop) is False
    assert api.lease()["spec"]["holderIdentity"] == "", "released for a successor"
    assert leaders == ["a"]


def test_a_candidate_waits_its_turn_then_leads(api: Cluster, clock: Clock) -> None:
    holder = candidate(api, clock, "a")
    holder.try_acquire_or_renew()
    leaders: list[str] = []
    started: list[float] = []
    stop = threading.Event()

    def lead(leading: threading.Event) -> None:
        started.append(clock.now)
        stop.set()

    b = candidate(api, clock, "b", on_started_leading=lead, on_new_leader=leaders.append)
    assert b.run(stop) is False
    assert leaders == ["a", "b"] and started and started[0] > T0 + 2, "b took over once a's lease expired"


def test_the_lease_elector_raises_when_leadership_is_lost(api: Cluster, clock: Clock) -> None:
    elector = LeaseElector(api, "kube-system", "kube-controller-manager", lease_duration=2, renew_deadline=1.5,
                           retry_period=0.5, identity="master-1_x", clock=clock, sleep=clock.sleep)
    clock.on_sleep.append(lambda: setattr(api, "down", clock.now > T0 + 1))
    ran = []
    with pytest.raises(LeadershipLost, match="kube-system/kube-controller-manager"):
        elector.run(lambda leading: ran.append(leading.wait(5)), threading.Event())
    assert ran == [True]


# -- the controller manager's flags ---------------------------------------------------------


def test_leader_election_is_on_by_default_with_the_profiles_timings(api: Cluster) -> None:
    args = manager.parse_args(["--kubeconfig", "/k"])
    assert args.leader_elect is True
    assert timings(args, profiles.CLASSROOM) == (2.0, 1.5, 0.5)
    elector = elector_from_flags(api, args, profiles.CLASSROOM)
    assert elector is not None and elector.lock.describe() == "kube-system/kube-controller-manager"
    assert elector.timings == {"lease_duration": 2.0, "renew_deadline": 1.5, "retry_period": 0.5}
    args = manager.parse_args(["--kubeconfig", "/k", "--profile", "kubernetes"])
    assert timings(args, profiles.KUBERNETES) == (15.0, 10.0, 2.0)
    assert elector_from_flags(api, manager.parse_args(["--kubeconfig", "/k", "--leader-elect=false"]),
                              profiles.CLASSROOM) is None


@pytest.mark.parametrize("flags, want", [
    (["--leader-elect=false"], False),
    (["--leader-elect", "false"], False),
    (["--leader-elect"], True),
    (["--leader-elect=true"], True),
])
def test_leader_elect_takes_gos_boolean_syntax(flags: list[str], want: bool) -> None:
    assert manager.parse_args(["--kubeconfig", "/k", *flags]).leader_elect is want


def test_timings_from_flags_as_go_durations() -> None:
    args = manager.parse_args(["--kubeconfig", "/k", "--leader-elect-lease-duration", "15s",
                               "--leader-elect-renew-deadline", "10s", "--leader-elect-retry-period", "500ms"])
    assert timings(args, profiles.CLASSROOM) == (15.0, 10.0, 0.5)


def test_inconsistent_timings_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        manager.parse_args(["--kubeconfig", "/k", "--leader-elect-renew-deadline", "5s"])
    assert "lease duration > renew deadline" in capsys.readouterr().err
