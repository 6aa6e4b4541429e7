"""How a Job counts its finished pods without losing or double-counting one.

Where it sits: the second half of :mod:`.job`'s ``reconcile`` (upstream's
``trackJobStatusAndRemoveFinalizers``). Every pod a Job creates carries the finalizer
``batch.kubernetes.io/job-tracking``, so it cannot vanish before the Job has counted it
(a pod deleted by a user, or by the garbage collector, would otherwise just disappear
from ``status.succeeded``/``failed``). Counting one finished pod takes three writes,
and any of them may be the last before a crash:

1. its uid goes into ``status.uncountedTerminatedPods.succeeded`` (or ``failed``);
2. the finalizer is removed from the pod (the pod may now go away);
3. its uid leaves ``uncountedTerminatedPods`` and ``status.succeeded`` (or ``failed``)
   goes up by one.

After a crash between 1 and 3 the next sync still knows the pod, by uid, and finishes
the job. Uids whose finalizer removal we sent but have not yet seen in the cache are
held in :class:`FinalizerExpectations`, so a lagging cache cannot count them twice.

Terminal conditions come in two steps, as in Kubernetes 1.33: first the interim
``SuccessCriteriaMet`` (or ``FailureTarget``) is written, then, once every pod has been
counted and none is still terminating, ``Complete`` (or ``Failed``) with the same reason.
"""

from __future__ import annotations

import dataclasses
import datetime
import threading
from typing import Any

from ..client import errors
from ..client import resources as r
from ..client.events import Recorder
from ..client.rest import Client
from . import job_indexes as ix
from . import podutil as pu

Obj = dict[str, Any]

FINALIZER = "batch.kubernetes.io/job-tracking"
MAX_UNCOUNTED = 500  # uids per status write, so .status stays small and big Jobs do not starve others


@dataclasses.dataclass
class SyncContext:
    """What one sync of one Job knows; ``job`` is a private copy whose status is rewritten."""

    key: str
    job: Obj
    pods: list[Obj]
    active: list[Obj]
    ready: int
    terminating: int
    uncounted_succeeded: set[str]
    uncounted_failed: set[str]
    expected_removals: set[str]
    succeeded: int = 0
    failed: int = 0
    finished: Obj | None = None  # the terminal (or interim) condition this sync arrived at
    prev_succeeded_indexes: set[int] = dataclasses.field(default_factory=set)
    succeeded_indexes: set[int] = dataclasses.field(default_factory=set)

    @property
    def status(self) -> Obj:
        return self.job.setdefault("status", {})

    @property
    def uncounted(self) -> Obj:
        return self.status.setdefault("uncountedTerminatedPods", {})


class FinalizerExpectations:
    """Per Job, the uids of pods whose tracking finalizer we removed but whose update the
    pod cache has not shown yet (upstream's ``uidTrackingExpectations``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._uids: dict[str, set[str]] = {}

    def expect(self, key: str, uids: list[str]) -> None:
        with self._lock:
            self._uids.setdefault(key, set()).update(uids)

    def observed(self, key: str, uid: str) -> None:
        with self._lock:
            self._uids.get(key, set()).discard(uid)

    def pending(self, key: str) -> set[str]:
        with self._lock:
            return set(self._uids.get(key, set()))

    def forget(self, key: str) -> None:
        with self._lock:
            self._uids.pop(key, None)


# -- reading pods and conditions ------------------------------------------------------------

def has_finalizer(pod: Obj) -> bool:
    return FINALIZER in (pu.meta(pod).get("finalizers") or [])


def only_replace_failed(job: Obj) -> bool:
    spec = job.get("spec") or {}
    return spec.get("podReplacementPolicy") == "Failed" or spec.get("podFailurePolicy") is not None


def is_pod_failed(pod: Obj, job: Obj) -> bool:
    """Failed, or deleted before it succeeded: a pod that never got to finish counts as a
    failure (unless the Job replaces only pods that really failed)."""
    if pu.phase(pod) == "Failed":
        return True
    if only_replace_failed(job):
        return False
    return pu.is_terminating(pod) and pu.phase(pod) != "Succeeded"


def condition_true(job: Obj, kind: str) -> Obj | None:
    c = pu.condition(job, kind)
    return c if c is not None and c.get("status") == "True" else None


def is_finished(job: Obj) -> bool:
    return condition_true(job, "Complete") is not None or condition_true(job, "Failed") is not None


def new_condition(kind: str, status: str, reason: str, message: str, now: datetime.datetime) -> Obj:
    at = pu.format_time(now)
    return {"type": kind, "status": status, "lastProbeTime": at, "lastTransitionTime": at,
            "reason": reason, "message": message}


def ensure_condition(job: Obj, kind: str, status: str, reason: str, message: str, now: datetime.datetime) -> bool:
    """Set a condition; a new one with status False is not worth adding. True if changed."""
    conditions = job.setdefault("status", {}).setdefault("conditions", [])
    for i, c in enumerate(conditions):
        if c.get("type") == kind:
            if (c.get("status"), c.get("reason"), c.get("message")) == (status, reason, message):
                return False
            conditions[i] = new_condition(kind, status, reason, message, now)
            return True
    if status == "False":
        return False
    conditions.append(new_condition(kind, status, reason, message, now))
    return True


def new_finished_pods(ctx: SyncContext) -> tuple[list[Obj], list[Obj]]:
    """Finished pods not yet counted anywhere: ``(succeeded, failed)``."""
    completions = int((ctx.job.get("spec") or {}).get("completions") or 0)
    succeeded, failed = [], []
    for pod in ctx.pods:
        uid = pu.meta(pod).get("uid", "")
        if not has_finalizer(pod) or uid in ctx.expected_removals:
            continue
        if ix.is_indexed(ctx.job) and ix.valid_index(pod, completions) is None:
            continue
        if pu.phase(pod) == "Succeeded" and uid not in ctx.uncounted_succeeded:
            succeeded.append(pod)
        elif is_pod_failed(pod, ctx.job) and uid not in ctx.uncounted_failed:
            failed.append(pod)
    return succeeded, failed


# -- the tracking step ---------------------------------------------------------------------

class Tracker:
    """Writes a Job's status and removes finalizers, in the crash-safe order above."""

    def __init__(self, client: Client, recorder: Recorder, clock: pu.Clock, expectations: FinalizerExpectations,
                 on_flush: Any = None, written: pu.WrittenVersions | None = None) -> None:
        self.client = client
        self.recorder = recorder
        self.clock = clock
        self.expectations = expectations
        self.on_flush = on_flush  # called after the first successful write (the back-off record)
        self.written = written  # told which versions of the Job our writes replace

    def track(self, ctx: SyncContext, needs_flush: bool) -> None:
        indexed = ix.is_indexed(ctx.job)
        completions = int((ctx.job.get("spec") or {}).get("completions") or 0)
        pods = sorted(ctx.pods, key=lambda p: ix.completion_index(p) or 0) if indexed else ctx.pods
        with_finalizer = {pu.meta(p)["uid"] for p in pods
                          if has_finalizer(p) and pu.meta(p)["uid"] not in ctx.expected_removals}
        needs_flush |= self.clean_uncounted(ctx, with_finalizer)
        uncounted = ctx.uncounted
        to_release: list[Obj] = []
        new_indexes: list[int] = []
        reached_max = False
        for pod in pods:
            uid = pu.meta(pod)["uid"]
            if not has_finalizer(pod) or uid in ctx.expected_removals:
                continue  # counted in an earlier sync
            failed = is_pod_failed(pod, ctx.job)
            job_ending = pu.is_terminating(ctx.job) or ctx.finished is not None
            if not (job_ending or pu.phase(pod) == "Succeeded" or failed):
                continue  # still running: keep the finalizer
            to_release.append(pod)
            if pu.phase(pod) == "Succeeded" and uid not in ctx.uncounted_failed:
                if indexed:
                    index = ix.valid_index(pod, completions)
                    if index is not None and index not in ctx.prev_succeeded_indexes:
                        new_indexes.append(index)
                        needs_flush = True
                elif uid not in ctx.uncounted_succeeded:
                    uncounted.setdefault("succeeded", []).append(uid)
                    needs_flush = True
            elif ((failed or (ctx.finished is not None and ctx.finished["type"] != "SuccessCriteriaMet"))
                  and uid not in ctx.uncounted_failed
                  and (not indexed or ix.valid_index(pod, completions) is not None)):
                # When the Job is failing, every pod it still had counts as failed.
                uncounted.setdefault("failed", []).append(uid)
                needs_flush = True
            if len(new_indexes) + len(uncounted.get("succeeded") or []) + len(uncounted.get("failed") or []) \
                    >= MAX_UNCOUNTED:
                reached_max = True  # the status and pod writes wake us for the rest
                break
        if indexed:
            ctx.succeeded_indexes |= set(new_indexes)
            text = ix.format_indexes(ctx.succeeded_indexes)
            needs_flush |= text != (ctx.status.get("completedIndexes") or "")
            ctx.status["completedIndexes"] = text
            ctx.status["succeeded"] = len(ctx.succeeded_indexes)
        needs_flush |= self.interim_condition(ctx)
        needs_flush = self.flush_and_release(ctx, to_release, with_finalizer, needs_flush)
        finished_now = not reached_max and self.enact_finished(ctx)
        if needs_flush or finished_now:
            ctx.job = self.write(ctx.job)
            if finished_now:
                self.record_finished(ctx)

    def interim_condition(self, ctx: SyncContext) -> bool:
        """Write FailureTarget/SuccessCriteriaMet now; aim for Failed/Complete afterwards."""
        finished, now = ctx.finished, self.clock()
        if finished is None:
            return False
        if finished["type"] == "FailureTarget":
            ctx.status.setdefault("conditions", []).append(finished)
            ctx.finished = new_condition("Failed", "True", finished["reason"], finished["message"], now)
            return True
        if finished["type"] == "SuccessCriteriaMet":
            added = condition_true(ctx.job, "SuccessCriteriaMet") is None
            if added:
                ctx.status.setdefault("conditions", []).append(finished)
            ctx.finished = new_condition("Complete", "True", finished["reason"], finished["message"], now)
            return added
        return False

    def flush_and_release(self, ctx: SyncContext, pods: list[Obj], with_finalizer: set[str],
                          needs_flush: bool) -> bool:
        """Steps 1-3 of the module doc; returns whether status changes are still unwritten."""
        if needs_flush:
            ctx.job = self.write(ctx.job)
            needs_flush = False
            if self.on_flush is not None:
                self.on_flush()
        failure: Exception | None = None
        if pods:
            self.expectations.expect(ctx.key, [pu.meta(p)["uid"] for p in pods])
        for pod in pods:
            try:
                self.remove_finalizer(pod)
            except errors.ApiError as e:
                self.expectations.observed(ctx.key, pu.meta(pod)["uid"])  # no update will come
                if not errors.is_not_found(e):
                    failure = failure or e
                    continue
            with_finalizer.discard(pu.meta(pod)["uid"])
        needs_flush |= self.clean_uncounted(ctx, with_finalizer)
        if failure is not None:
            if needs_flush:
                ctx.job = self.write(ctx.job)  # keep the progress we made before giving up
            raise failure
        return needs_flush

    def remove_finalizer(self, pod: Obj) -> None:
        finalizers = pu.meta(pod).get("finalizers") or []
        if FINALIZER not in finalizers:
            return
        i = finalizers.index(FINALIZER)
        # "test" first: if the list changed since we read it, index i may be another finalizer.
        self.client.patch(r.PODS, pu.meta(pod)["name"], [
            {"op": "test", "path": f"/metadata/finalizers/{i}", "value": FINALIZER},
            {"op": "remove", "path": f"/metadata/finalizers/{i}"}], pu.meta(pod)["namespace"], patch_type="json")

    @staticmethod
    def clean_uncounted(ctx: SyncContext, with_finalizer: set[str]) -> bool:
        """Move uids whose pods no longer hold the finalizer from the uncounted lists into the counters."""
        changed = False
        for kind in ("succeeded", "failed"):
            uids = ctx.uncounted.get(kind) or []
            kept = [uid for uid in uids if uid in with_finalizer]
            if len(kept) != len(uids):
                ctx.status[kind] = int(ctx.status.get(kind) or 0) + len(uids) - len(kept)
                ctx.uncounted[kind] = kept
                changed = True
        return changed

    def enact_finished(self, ctx: SyncContext) -> bool:
        """Add Complete/Failed once nothing is left uncounted or terminating."""
        finished = ctx.finished
        if finished is None or finished["type"] not in ("Complete", "Failed"):
            return False
        if ctx.uncounted.get("succeeded") or ctx.uncounted.get("failed") or ctx.terminating > 0:
            return False
        now = self.clock()
        ensure_condition(ctx.job, finished["type"], "True", finished["reason"], finished["message"], now)
        if finished["type"] == "Complete":
            ctx.status["completionTime"] = pu.format_time(now)
        return True

    def record_finished(self, ctx: SyncContext) -> None:
        finished = ctx.finished or {}
        if finished.get("type") == "Complete":
            completions = (ctx.job.get("spec") or {}).get("completions")
            if completions is not None and int(ctx.status.get("succeeded") or 0) > int(completions):
                self.recorder.event(ctx.job, "Warning", "TooManySucceededPods",
                                    "Too many succeeded pods running after completion count reached")
            self.recorder.event(ctx.job, "Normal", "Completed", "Job completed")
        else:
            self.recorder.event(ctx.job, "Warning", finished.get("reason", ""), finished.get("message", ""))

    def write(self, job: Obj) -> Obj:
        """PUT the status. No retry on conflict: counters computed from a stale copy must
        not overwrite newer ones; the work queue retries with a fresh read."""
        result = self.client.update(r.JOBS, job, subresource="status")
        if self.written is not None:
            self.written.replaced(r.object_key(job), pu.meta(job).get("resourceVersion"))
        return result
