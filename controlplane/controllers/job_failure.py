"""When a Job has failed, and how long the replacement of a failed pod waits.

Where it sits: pure functions used by :mod:`.job`'s ``reconcile`` (upstream's
``pastBackoffLimitOnFailure``, ``pastActiveDeadline`` and ``backoff_utils.go``). A Job fails
in one of three ways:

* more pods failed than ``spec.backoffLimit`` (6 by default): ``BackoffLimitExceeded``;
* with ``restartPolicy: OnFailure`` a crashing container is restarted in its pod, which
  never fails, so the restarts of running pods are counted against the same limit;
* it ran longer than ``spec.activeDeadlineSeconds`` since ``status.startTime`` (time spent
  suspended does not count: resuming restarts the clock): ``DeadlineExceeded``.

Between failures the controller waits before starting a replacement pod: ``first`` after
the first failure since the last success, doubling per failure up to ``longest``, so a
pod that crashes at once does not make the Job a tight loop of pod creations.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from . import job_tracking as jt
from . import podutil as pu

Obj = dict[str, Any]


@dataclasses.dataclass
class Backoff:
    """Failures since the last success, and when the latest one happened."""

    failures: int = 0
    last_failure: datetime.datetime | None = None


def failure_condition(job: Obj, pods: list[Obj], failed: int,
                      now: datetime.datetime) -> tuple[Obj | None, float | None]:
    """``(condition the Job is heading for, seconds until its deadline)``.

    The condition is the interim ``FailureTarget`` of a newly failing Job, the final
    ``Failed`` of one that failed in an earlier sync, the ``SuccessCriteriaMet`` of one
    that succeeded earlier, or None. The seconds are None without a pending deadline.
    """
    spec = job.get("spec") or {}
    met = jt.condition_true(job, "SuccessCriteriaMet")
    if met is not None:
        return dict(met), None  # success was decided in an earlier sync
    target = jt.condition_true(job, "FailureTarget")
    if target is not None:
        return jt.new_condition("Failed", "True", target.get("reason", ""), target.get("message", ""), now), None
    if failed > int(spec.get("backoffLimit", 6)) or past_backoff_on_failure(job, pods):
        return jt.new_condition("FailureTarget", "True", "BackoffLimitExceeded",
                                "Job has reached the specified backoff limit", now), None
    deadline = spec.get("activeDeadlineSeconds")
    started = pu.parse_time((job.get("status") or {}).get("startTime"))
    if deadline is None or started is None or spec.get("suspend"):
        return None, None
    left = float(deadline) - (now - started).total_seconds()
    if left <= 0:
        return jt.new_condition("FailureTarget", "True", "DeadlineExceeded",
                                "Job was active longer than specified deadline", now), None
    return None, left


def past_backoff_on_failure(job: Obj, pods: list[Obj]) -> bool:
    """With ``restartPolicy: OnFailure``: the container restarts of running (or pending)
    pods reach ``backoffLimit`` (any restart at all when the limit is 0)."""
    spec = job.get("spec") or {}
    if ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy") != "OnFailure":
        return False
    restarts = 0
    for pod in pods:
        if pu.phase(pod) in ("Running", "Pending"):
            status = pod.get("status") or {}
            for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
                restarts += int(container.get("restartCount") or 0)
    limit = int(spec.get("backoffLimit", 6))
    return restarts > 0 if limit == 0 else restarts >= limit


def finished_at(pod: Obj, now: datetime.datetime) -> datetime.datetime:
    """When a pod finished: its last container's ``finishedAt``, else its deletion, else now."""
    times = [pu.parse_time(((s.get("state") or {}).get("terminated") or {}).get("finishedAt"))
             for s in (pod.get("status") or {}).get("containerStatuses") or []]
    found = [t for t in times if t is not None]
    if found:
        return max(found)
    return pu.parse_time(pu.meta(pod).get("deletionTimestamp")) or now


def next_backoff(record: Backoff, succeeded: list[Obj], failed: list[Obj], now: datetime.datetime) -> Backoff:
    """The record after this sync's newly finished pods: a success resets the count, except
    for failures that came after it (upstream's newBackoffRecord)."""
    if succeeded:
        last_success = max(finished_at(p, now) for p in succeeded)
        later = [t for t in (finished_at(p, now) for p in failed) if t > last_success]
        return Backoff(len(later), max(later) if later else None)
    if failed:
        return Backoff(record.failures + len(failed), max(finished_at(p, now) for p in failed))
    return dataclasses.replace(record)


def remaining(record: Backoff, limits: tuple[float, float], now: datetime.datetime) -> float:
    """Seconds still to wait before the next pod may start (0: start it now)."""
    if record.failures == 0 or record.last_failure is None:
        return 0.0
    first, longest = limits
    delay = min(longest, first * 2 ** (record.failures - 1))
    elapsed = (now - record.last_failure).total_seconds()
    return max(0.0, delay - max(elapsed, 0.0))
