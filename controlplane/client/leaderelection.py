"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's ``tools/leaderelection``.

Where it sits: every master runs a controller manager and a scheduler, but two
managers acting at once would fight (both scale the same ReplicaSet). So each process
competes for one Lease (``kube-system/kube-controller-manager``,
``kube-system/kube-scheduler``) and only its holder works. ``kubectl get lease -n
kube-system`` shows who leads::

    spec:
      holderIdentity: master-1_0b6c0a3e-...      # <hostname>_<uuid>
      leaseDurationSeconds: 2
      acquireTime: "2026-11-22T18:28:02.123456Z"  # when this holder took it
      renewTime: "2026-11-22T18:28:09.623456Z"    # its last heartbeat
      leaseTransitions: 3                          # how often it changed hands

The rules (:meth:`LeaderElector.try_acquire_or_renew`):

* a candidate takes the Lease when it does not exist (create), has no holder (released),
  is its own, or has **expired**: ``renewTime + leaseDurationSeconds`` is in the past.
  Taking it from someone else counts one more ``leaseTransitions``;
* every write is a PUT carrying the ``resourceVersion`` last read, so when two
  candidates race, the API server accepts one and answers 409 Conflict to the other,
  which has simply lost this round;
* the leader renews every ``retry_period``. When it has not managed to renew for
  ``renew_deadline`` (less than the lease duration), it **stops leading** before anyone
  else may take over; the controller manager then exits non-zero and its supervisor
  restarts it as a candidate, as kube-controller-manager does;
* on a clean shutdown the leader **releases** the Lease (empty holder, 1 s duration),
  so a successor need not wait for it to expire.

Expiry is judged with this machine's clock against the holder's ``renewTime``, so
masters' clocks must agree to well within the lease duration (client-go instead times
how long the record has stayed unchanged locally, which tolerates skew but makes a
newcomer wait a full lease before taking an abandoned one).

:class:`LeaseElector` wraps all this in the small ``run(lead, stop)`` interface the
controller manager and the scheduler use, and :func:`add_flags` / :func:`elector_from_flags`
give both kube-controller-manager's command-line flags (``--leader-elect``,
``--leader-elect-lease-duration`` ...), defaulting from the timing profile.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import logging
import math
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from ..profiles import Profile
from . import errors
from . import resources as r
from .rest import Client

log = logging.getLogger(__name__)

WORK_STOP_TIMEOUT = 30.0  # seconds to wait for the leader's work to stop before giving up on it
JITTER = 1.2  # candidates wait retry_period * (1 + up to 1.2) between attempts, as client-go
Clock = Callable[[], float]
Sleep = Callable[[float, threading.Event], bool]


def micro_time(at: float) -> str:
    """A metav1.MicroTime: "2026-11-22T18:28:02.123456Z"."""
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str | None) -> float | None:
    """Seconds since the epoch from a metav1.Time or MicroTime; None if absent or unreadable."""
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def default_identity() -> str:
    """``<hostname>_<uuid>``: unique even for two processes on one machine. A local
    cluster's masters share one machine, so ``kubeclass up`` names each master's processes'
    host in KUBECLASS_HOSTNAME (``master-2_...``): ``kubeclass status`` then shows who leads."""
    return f"{os.environ.get('KUBECLASS_HOSTNAME') or socket.gethostname()}_{uuid.uuid4()}"


@dataclasses.dataclass(frozen=True)
class LeaderElectionRecord:
    """The part of a Lease's spec that election reads and writes (client-go's record)."""

    holder_identity: str = ""
    lease_duration_seconds: int = 0
    acquire_time: float | None = None
    renew_time: float | None = None
    leader_transitions: int = 0

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> LeaderElectionRecord:
        return cls(spec.get("holderIdentity") or "", int(spec.get("leaseDurationSeconds") or 0),
                   parse_time(spec.get("acquireTime")), parse_time(spec.get("renewTime")),
                   int(spec.get("leaseTransitions") or 0))

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"holderIdentity": self.holder_identity,
                                "leaseDurationSeconds": self.lease_duration_seconds,
                                "leaseTransitions": self.leader_transitions}
        if self.acquire_time is not None:
            spec["acquireTime"] = micro_time(self.acquire_time)
        if self.renew_time is not None:
            spec["renewTime"] = micro_time(self.renew_time)
        return spec

    def expired(self, now: float) -> bool:
        """Whether the holder has missed its renewal: renewTime + duration is past."""
        if self.renew_time is None:
            return True  # a holder that never renewed cannot prove it is alive
        return self.renew_time + self.lease_duration_seconds <= now


class LeaseLock:
    """One Lease object as a lock: read it, create it, or replace it conditionally."""

    def __init__(self, client: Client, namespace: str, name: str, identity: str) -> None:
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self._lease: dict[str, Any] | None = None  # as last read or written: its resourceVersion guards updates

    def describe(self) -> str:
        return f"{self.namespace}/{self.name}"

    def get(self) -> LeaderElectionRecord:
        """The current record; raises ApiError (NotFound when there is no Lease yet)."""
        self._lease = self.client.get(r.LEASES, self.name, self.namespace)
        return LeaderElectionRecord.from_spec(self._lease.get("spec") or {})

    def create(self, record: LeaderElectionRecord) -> None:
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace}, "spec": record.to_spec()}
        self._lease = self.client.create(r.LEASES, body, self.namespace)

    def update(self, record: LeaderElectionRecord) -> None:
        """Replace the spec; 409 Conflict if the Lease changed since we last saw it."""
        if self._lease is None:
            raise RuntimeError("update before get or create")
        body = dict(self._lease, spec={**(self._lease.get("spec") or {}), **record.to_spec()})
        self._lease = self.client.update(r.LEASES, body, self.namespace)


class LeaderElector:
    """Competes for a lock and calls back when this process starts or stops leading.

    ``run(stop)`` blocks: it tries to acquire until ``stop`` is set; once leading, it
    calls ``on_started_leading(leading)`` in a new thread, where ``leading`` is an Event
    set when leadership ends (lost, or ``stop``); it renews until then; it waits for that
    thread, releases the lock on a clean stop, and calls ``on_stopped_leading()``.
    ``on_new_leader(identity)`` hears about every change of holder it observes.
    """

    def __init__(self, lock: LeaseLock, *, lease_duration: float, renew_deadline: float, retry_period: float,
                 on_started_leading: Callable[[threading.Event], None],
                 on_stopped_leading: Callable[[], None] = lambda: None,
                 on_new_leader: Callable[[str], None] | None = None, release_on_cancel: bool = True,
                 clock: Clock = time.time, sleep: Sleep | None = None) -> None:
        if lease_duration <= renew_deadline:
            raise ValueError("the lease duration must be greater than the renew deadline")
        if renew_deadline <= JITTER * retry_period:
            raise ValueError(f"the renew deadline must be greater than {JITTER} x the retry period")
        self.lock = lock
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.on_new_leader = on_new_leader
        self.release_on_cancel = release_on_cancel
        self.clock = clock
        self.sleep: Sleep = sleep or (lambda seconds, stop: stop.wait(seconds))
        self.observed = LeaderElectionRecord()
        self._reported_leader: str | None = None

    # -- state -------------------------------------------------------------------------

    def is_leader(self) -> bool:
        return self.observed.holder_identity == self.lock.identity

    def leader(self) -> str:
        """The holder last observed ("" if none)."""
        return self.observed.holder_identity

    # -- one attempt -------------------------------------------------------------------

    def try_acquire_or_renew(self) -> bool:
        """One round: take or keep the lock if the rules allow; True if we hold it now."""
        now = self.clock()
        mine = LeaderElectionRecord(self.lock.identity, max(1, math.ceil(self.lease_duration)), now, now, 0)
        try:
            current = self.lock.get()
        except errors.ApiError as e:
            if not errors.is_not_found(e):
                log.warning("cannot read lease %s: %s", self.lock.describe(), e)
                return False
            return self._write(self.lock.create, mine, "create")
        except Exception as e:  # noqa: BLE001 - unreachable, timed out, ...: this attempt failed, the next may not
            log.warning("cannot read lease %s: %s", self.lock.describe(), e)
            return False
        self.observed = current
        if current.holder_identity and current.holder_identity != self.lock.identity and not current.expired(now):
            return False  # somebody else holds it, and renews it
        if current.holder_identity == self.lock.identity:
            mine = dataclasses.replace(mine, acquire_time=current.acquire_time,
                                       leader_transitions=current.leader_transitions)
        else:
            mine = dataclasses.replace(mine, leader_transitions=current.leader_transitions + 1)
        return self._write(self.lock.update, mine, "update")

    def _write(self, write: Callable[[LeaderElectionRecord], None], record: LeaderElectionRecord,
               verb: str) -> bool:
        try:
            write(record)
        except errors.ApiError as e:
            # AlreadyExists or Conflict: another candidate wrote first and won this round.
            level = logging.DEBUG if errors.is_conflict(e) or errors.is_already_exists(e) else logging.WARNING
            log.log(level, "cannot %s lease %s: %s", verb, self.lock.describe(), e)
            return False
        except Exception as e:  # noqa: BLE001 - unreachable, timed out, ...: this attempt failed
            log.warning("cannot %s lease %s: %s", verb, self.lock.describe(), e)
            return False
        self.observed = record
        return True

    def release(self) -> bool:
        """Give the lock up (if ours): no holder, a 1 s lease, so a successor takes it at once."""
        if not self.is_leader():
            return True
        now = self.clock()
        record = LeaderElectionRecord("", 1, now, now, self.observed.leader_transitions)
        if not self._write(self.lock.update, record, "release"):
            return False
        log.info("released lease %s", self.lock.describe())
        return True

    # -- the loops ---------------------------------------------------------------------

    def run(self, stop: threading.Event) -> bool:
        """Compete, lead, renew; returns True if leadership was lost, False after ``stop``."""
        if not self._acquire(stop):
            return False
        leading = threading.Event()
        worker = threading.Thread(target=self._lead, args=(leading,), name="leading", daemon=True)
        worker.start()
        lost = self._renew(stop)
        leading.set()
        # Wait for the work to stop before letting a successor in: two leaders at once is
        # what election is for preventing. (On loss the successor may already be in; the
        # work stops as fast as it can.)
        worker.join(WORK_STOP_TIMEOUT)
        if worker.is_alive():
            log.error("the leader's work did not stop within %.0fs", WORK_STOP_TIMEOUT)
        if not lost and self.release_on_cancel:
            self.release()
        self.on_stopped_leading()
        return lost

    def _lead(self, leading: threading.Event) -> None:
        try:
            self.on_started_leading(leading)
        except Exception:
            log.exception("the leader's work failed")

    def _acquire(self, stop: threading.Event) -> bool:
        log.info("attempting to acquire leader lease %s...", self.lock.describe())
        while not stop.is_set():
            acquired = self.try_acquire_or_renew()
            self._report_transition()
            if acquired:
                log.info("successfully acquired lease %s as %s", self.lock.describe(), self.lock.identity)
                return True
            if self.sleep(self.retry_period * (1 + random.random() * JITTER), stop):
                break
        return False

    def _renew(self, stop: threading.Event) -> bool:
        """Renew every retry_period; True once a round failed for renew_deadline."""
        while not stop.is_set():
            deadline = self.clock() + self.renew_deadline
            while not self.try_acquire_or_renew():
                self._report_transition()
                if not self.is_leader():
                    log.error("lease %s is now held by %s: leadership lost", self.lock.describe(), self.leader())
                    return True
                if self.clock() >= deadline:
                    log.error("failed to renew lease %s within %.1fs: leadership lost", self.lock.describe(),
                              self.renew_deadline)
                    return True
                if self.sleep(self.retry_period, stop):
                    return False
            self._report_transition()
            if self.sleep(self.retry_period, stop):
                return False
        return False

    def _report_transition(self) -> None:
        holder = self.observed.holder_identity
        if holder and holder != self._reported_leader:
            self._reported_leader = holder
            if self.on_new_leader is not None:
                try:
                    self.on_new_leader(holder)
                except Exception:
                    log.exception("on_new_leader failed")


class LeadershipLost(Exception):
    """This process led, then could not renew its Lease in time."""


class LeaseElector:
    """The ``run(lead, stop)`` interface of the controller manager (and scheduler) on a Lease.

    ``lead(leading)`` runs while this process leads and must return soon after
    ``leading`` is set. :meth:`run` returns when ``stop`` is set (after releasing the
    Lease), and raises :class:`LeadershipLost` if leadership was lost: the caller is
    expected to exit non-zero.
    """

    def __init__(self, client: Client, namespace: str, name: str, *, lease_duration: float,
                 renew_deadline: float, retry_period: float, identity: str | None = None,
                 clock: Clock = time.time, sleep: Sleep | None = None) -> None:
        self.identity = identity or default_identity()
        self.lock = LeaseLock(client, namespace, name, self.identity)
        self.timings = {"lease_duration": lease_duration, "renew_deadline": renew_deadline,
                        "retry_period": retry_period}
        self.clock = clock
        self.sleep = sleep

    def run(self, lead: Callable[[threading.Event], None], stop: threading.Event) -> None:
        def new_leader(identity: str) -> None:
            if identity == self.identity:
                log.info("this process (%s) is the leader of %s", identity, self.lock.describe())
            else:
                log.info("the leader of %s is %s", self.lock.describe(), identity)

        elector = LeaderElector(self.lock, **self.timings, on_started_leading=lead, on_new_leader=new_leader,
                                clock=self.clock, sleep=self.sleep)
        if elector.run(stop):
            raise LeadershipLost(f"lost the lease {self.lock.describe()}")


# -- command-line flags, shared by the controller manager and the scheduler ------------------


def parse_bool(value: str) -> bool:
    """Go's flag syntax for booleans: ``--leader-elect=false``."""
    lowered = value.lower()
    if lowered in ("true", "t", "1", "yes"):
        return True
    if lowered in ("false", "f", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {value!r}")


def parse_duration(value: str) -> float:
    """Seconds, from "15s", "1.5s", "500ms", "1m" (Go durations) or a plain number."""
    text = value.strip()
    units = (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0))
    try:
        for suffix, scale in units:
            if text.endswith(suffix):
                seconds = float(text[:-len(suffix)]) * scale
                break
        else:
            seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {value!r} (use e.g. 15s or 500ms)") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"a duration must be positive: {value!r}")
    return seconds


def add_flags(parser: argparse.ArgumentParser, lease_name: str, lease_namespace: str = "kube-system") -> None:
    """kube-controller-manager's leader election flags; the timings default to the profile's."""
    parser.add_argument("--leader-elect", type=parse_bool, nargs="?", const=True, default=True,
                        help="compete for a Lease and work only while holding it (default: true; "
                             "--leader-elect=false works at once)")
    parser.add_argument("--leader-elect-lease-duration", type=parse_duration,
                        help="how long a leader's Lease lasts without renewal (default: from --profile)")
    parser.add_argument("--leader-elect-renew-deadline", type=parse_duration,
                        help="how long the leader keeps trying to renew before it gives up (default: from --profile)")
    parser.add_argument("--leader-elect-retry-period", type=parse_duration,
                        help="how often candidates try and the leader renews (default: from --profile)")
    parser.add_argument("--leader-elect-resource-namespace", default=lease_namespace)
    parser.add_argument("--leader-elect-resource-name", default=lease_name)


def timings(args: argparse.Namespace, profile: Profile) -> tuple[float, float, float]:
    """(lease duration, renew deadline, retry period): the flags, else the profile's."""
    return (args.leader_elect_lease_duration or profile.leader_lease_seconds,
            args.leader_elect_renew_deadline or profile.leader_renew_deadline,
            args.leader_elect_retry_period or profile.leader_retry_period)


def check_flags(parser: argparse.ArgumentParser, args: argparse.Namespace, profile: Profile) -> None:
    """Refuse timings that could let two processes lead at once (``parser.error`` exits)."""
    if args.leader_elect:
        lease, renew, retry = timings(args, profile)
        if not lease > renew > JITTER * retry:
            parser.error(f"leader election needs lease duration > renew deadline > {JITTER} x retry period "
                         f"(got {lease}s, {renew}s, {retry}s)")


def elector_from_flags(client: Client, args: argparse.Namespace, profile: Profile) -> LeaseElector | None:
    """The elector the flags ask for; None with ``--leader-elect=false``."""
    if not args.leader_elect:
        return None
    lease, renew, retry = timings(args, profile)
    # Its own client, whose requests give up after the renew deadline: a renewal stuck on a
    # hung connection must not keep us "leading" past the point a successor may take over.
    election_client = Client(client.config, timeout=renew, user_agent=f"{client.user_agent}/leader-election")
    return LeaseElector(election_client, args.leader_elect_resource_namespace, args.leader_elect_resource_name,
                        lease_duration=lease, renew_deadline=renew, retry_period=retry)
