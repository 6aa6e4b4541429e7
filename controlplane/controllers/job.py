"""The Job controller: run pods until enough of them succeed, or give up.

Where it sits: in the controller manager (data flow (A)), following Jobs and pods
through shared informers (upstream's ``pkg/controller/job``). Three helpers hold the
details: :mod:`.job_tracking` counts finished pods safely, :mod:`.job_failure` says when a
Job has failed and how long a replacement pod waits, :mod:`.job_indexes` keeps Indexed
mode's books.

Keys are ``namespace/name`` of a Job, or ``pod:namespace/name`` of an orphaned pod that
still carries the tracking finalizer (its Job is gone or finished): for those the only
work is to remove the finalizer, so the pod can be deleted.

``reconcile(key)`` for a Job, level-triggered:

1. a finished Job (``Complete`` or ``Failed``) is left alone;
2. count: active pods (neither finished nor being deleted), ready ones, terminating
   ones, and newly succeeded/failed pods on top of ``status.succeeded``/``failed``;
3. decide whether the Job has failed: more failed pods than ``backoffLimit`` (with
   ``restartPolicy: OnFailure``, container restarts count instead), or running longer
   than ``activeDeadlineSeconds`` since ``status.startTime``. A failing Job deletes its
   active pods;
4. otherwise manage the pods: a suspended Job deletes them all; else keep
   ``min(parallelism, completions - succeeded)`` running (Indexed: one per pending
   index), creating new ones only after the failure back-off (from 1 s in the classroom
   profile, 10 s upstream, doubling per failure since the last success);
5. succeeded ``completions`` times (or, without ``completions``, once with nothing still
   running): the Job is complete;
6. write status and release finished pods (:mod:`.job_tracking`).

Not done here: ``podFailurePolicy``, ``successPolicy``, ``backoffLimitPerIndex`` and
``managedBy`` (a Job with ``managedBy`` set is still managed), and
``ttlSecondsAfterFinished`` (upstream's separate TTL-after-finished controller).
"""

from __future__ import annotations

import copy
import datetime
import logging
from typing import Any

from ..client import errors
from ..client import informer as informers
from ..client import resources as r
from ..client.events import EventRecorder, Recorder
from ..client.rest import Client
from . import job_failure as jf
from . import job_indexes as ix
from . import job_tracking as jt
from . import podutil as pu
from .base import Controller, RequeueAfter
from .context import Context

log = logging.getLogger(__name__)

Obj = dict[str, Any]
COMPONENT = "job-controller"
ORPHAN_PREFIX = "pod:"
MAX_POD_CHANGES = 500  # creates or deletes per sync, as upstream
CACHE_RECHECK = 1.0  # seconds; the watch event of our own status write usually comes sooner
# (first, longest) wait before replacing a failed pod; upstream's is (10 s, 6 min). The
# classroom profile shortens it so a failing Job reaches its backoffLimit within a minute.
POD_FAILURE_BACKOFF = {"classroom": (1.0, 36.0), "kubernetes": (10.0, 360.0)}


class JobController(Controller):
    name = "job"

    def __init__(self, client: Client, factory: informers.InformerFactory, *, workers: int = 1,
                 recorder: Recorder | None = None, clock: pu.Clock = pu.utcnow,
                 pod_failure_backoff: tuple[float, float] = POD_FAILURE_BACKOFF["kubernetes"]) -> None:
        super().__init__(workers=workers)
        self.client = client
        self.recorder = recorder or EventRecorder(client, COMPONENT)
        self.clock = clock
        self.pod_failure_backoff = pod_failure_backoff
        self.expectations = pu.Expectations()
        self.finalizers = jt.FinalizerExpectations()
        self.backoffs: dict[str, jf.Backoff] = {}
        self.written = pu.WrittenVersions()
        self.jobs = factory.informer(r.JOBS)
        self.pods = factory.informer(r.PODS)
        pu.ensure_pod_indexes(self.pods)
        self.informers = [self.jobs, self.pods]
        self.jobs.add_event_handler(on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new),
                                    on_delete=self._job_deleted)
        self.pods.add_event_handler(on_add=self._pod_added, on_update=self._pod_updated,
                                    on_delete=self._pod_deleted)

    # -- event handlers: they only enqueue keys (and note what they observed) --------------

    def _enqueue(self, job: Obj) -> None:
        self.enqueue(r.object_key(job))

    def _job_deleted(self, job: Obj) -> None:
        self._enqueue(job)
        for pod in self.pods.cache.by_index(pu.CONTROLLER_INDEX, pu.meta(job).get("uid", "")):
            if jt.has_finalizer(pod):
                self.enqueue(ORPHAN_PREFIX + r.object_key(pod))

    def _owner_key(self, pod: Obj) -> str | None:
        ref = pu.controller_ref(pod)
        if ref is None or ref.get("kind") != "Job" or not str(ref.get("apiVersion", "")).startswith("batch/"):
            return None
        return f"{pu.meta(pod).get('namespace')}/{ref.get('name')}"

    def _pod_added(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.enqueue(key)
        elif pu.controller_ref(pod) is None:
            if jt.has_finalizer(pod):
                self.enqueue(ORPHAN_PREFIX + r.object_key(pod))
            for job in self.jobs.cache.list():  # a Job may adopt it
                if pu.meta(job).get("namespace") == pu.meta(pod).get("namespace") and pu.selector_matches(
                        (job.get("spec") or {}).get("selector"), pu.meta(pod).get("labels")):
                    self._enqueue(job)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        key = self._owner_key(new)
        if key is not None:
            if pu.is_terminating(new) and not pu.is_terminating(old):
                self.expectations.deletion_observed(key)
            if jt.has_finalizer(old) and not jt.has_finalizer(new):
                self.finalizers.observed(key, pu.meta(new).get("uid", ""))
            self.enqueue(key)
        old_key = self._owner_key(old)
        if old_key is not None and old_key != key:
            self.enqueue(old_key)
        if key is None and jt.has_finalizer(new):
            self.enqueue(ORPHAN_PREFIX + r.object_key(new))

    def _pod_deleted(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            if not pu.is_terminating(pod):
                self.expectations.deletion_observed(key)
            self.finalizers.observed(key, pu.meta(pod).get("uid", ""))
            self.enqueue(key)

    # -- reconcile -------------------------------------------------------------------------

    def reconcile(self, key: str) -> None:
        if key.startswith(ORPHAN_PREFIX):
            self.release_orphan(key[len(ORPHAN_PREFIX):])
            return
        cached = self.jobs.cache.get(key)
        if cached is None:
            self.expectations.forget(key)
            self.finalizers.forget(key)
            self.backoffs.pop(key, None)
            return
        if jt.is_finished(cached):
            self.backoffs.pop(key, None)
            return
        if self.written.behind(key, cached):
            # Counting from the status we have just overwritten could count pods twice.
            raise RequeueAfter(CACHE_RECHECK, f"the Job cache has not caught up with our write to {key}")
        spec = cached.get("spec") or {}
        if spec.get("completionMode", "NonIndexed") not in ("NonIndexed", "Indexed"):
            self.recorder.event(cached, "Warning", "UnknownCompletionMode",
                                "Skipped Job sync because completion mode is unknown")
            return
        job = copy.deepcopy(cached)  # never change the cached object
        status = job.setdefault("status", {})
        uncounted = status.setdefault("uncountedTerminatedPods", {})
        # Look at expectations before counting, so a pod arriving meanwhile cannot sneak in.
        satisfied = self.expectations.satisfied(key)
        pods = pu.claim_pods(self.client, job, pu.pods_in(self.pods, pu.meta(job)["namespace"]),
                             spec.get("selector") or {}, finalizer=jt.FINALIZER)
        active = [p for p in pods if pu.is_active(p)]
        ctx = jt.SyncContext(key=key, job=job, pods=pods, active=active,
                             ready=sum(1 for p in active if pu.is_pod_ready(p)),
                             terminating=sum(1 for p in pods if pu.is_terminating(p) and not pu.is_terminal(p)),
                             uncounted_succeeded=set(uncounted.get("succeeded") or []),
                             uncounted_failed=set(uncounted.get("failed") or []),
                             expected_removals=self.finalizers.pending(key))
        new_succeeded, new_failed = jt.new_finished_pods(ctx)
        ctx.succeeded = int(status.get("succeeded") or 0) + len(new_succeeded) + len(ctx.uncounted_succeeded)
        ctx.failed = int(status.get("failed") or 0) + len(new_failed) + len(ctx.uncounted_failed)
        now = self.clock()
        suspended = bool(spec.get("suspend"))
        if not status.get("startTime") and not suspended:
            status["startTime"] = pu.format_time(now)
        backoff = jf.next_backoff(self.backoffs.get(key, jf.Backoff()), new_succeeded, new_failed, now)

        ctx.finished, deadline_in = jf.failure_condition(ctx.job, ctx.pods, ctx.failed, now)
        if deadline_in is not None:
            self.queue.add_after(key, deadline_in)  # no event will wake us when the deadline passes
        if ix.is_indexed(job):
            completions = int(spec.get("completions") or 0)
            ctx.prev_succeeded_indexes = ix.parse_indexes(status.get("completedIndexes"), completions)
            ctx.succeeded_indexes = ctx.prev_succeeded_indexes | {
                i for i in (ix.valid_index(p, completions) for p in new_succeeded) if i is not None}
            ctx.succeeded = len(ctx.succeeded_indexes)
        suspend_changed = False
        active_count = len(active)
        if ctx.finished is not None:
            deleted_ready, deleted = self.delete_active(job, active)
            if deleted != len(active) or not satisfied:
                ctx.finished = None  # pods may still hold finalizers, or be missing from the cache
            active_count -= deleted
            ctx.terminating += deleted
            ctx.ready -= deleted_ready
        else:
            managed = satisfied and not pu.is_terminating(job)
            if managed:
                active_count = self.manage(ctx, backoff)
            completions = spec.get("completions")
            done = ctx.succeeded > 0 if completions is None else ctx.succeeded >= int(completions)
            if done and active_count == 0:
                ctx.finished = jt.new_condition("SuccessCriteriaMet", "True", "CompletionsReached",
                                                "Reached expected number of succeeded pods", now)
            elif managed:
                suspend_changed = self.suspend_condition(job, suspended, now)
        needs_flush = suspend_changed or (active_count, ctx.ready, ctx.terminating) != (
            status.get("active", 0), status.get("ready"), status.get("terminating"))
        status.update(active=active_count, ready=ctx.ready, terminating=ctx.terminating)

        def store_backoff() -> None:
            self.backoffs[key] = backoff  # only once the failures it counts are in the status

        tracker = jt.Tracker(self.client, self.recorder, self.clock, self.finalizers, store_backoff, self.written)
        tracker.track(ctx, needs_flush)

    def suspend_condition(self, job: Obj, suspended: bool, now: datetime.datetime) -> bool:
        if suspended:
            changed = jt.ensure_condition(job, "Suspended", "True", "JobSuspended", "Job suspended", now)
            if changed:
                self.recorder.event(job, "Normal", "Suspended", "Job suspended")
            return changed
        changed = jt.ensure_condition(job, "Suspended", "False", "JobResumed", "Job resumed", now)
        if changed:
            self.recorder.event(job, "Normal", "Resumed", "Job resumed")
            # activeDeadlineSeconds counts continuous activity: a resumed Job starts afresh.
            job["status"]["startTime"] = pu.format_time(now)
        return changed

    # -- managing pods -----------------------------------------------------------------------

    def manage(self, ctx: jt.SyncContext, backoff: jf.Backoff) -> int:
        """Create or delete pods towards the wanted number; returns the active count after."""
        job, spec = ctx.job, ctx.job.get("spec") or {}
        active = len(ctx.active)
        if spec.get("suspend"):
            removed_ready, removed = self.delete_job_pods(ctx.key, job, sorted(ctx.active, key=pu.removal_order))
            ctx.terminating += removed
            ctx.ready -= removed_ready
            return active - removed
        parallelism, completions = int(spec.get("parallelism", 1)), spec.get("completions")
        if completions is None:
            want = active if ctx.succeeded > 0 else parallelism  # one success ends it: start no more
        else:
            want = max(0, min(parallelism, int(completions) - ctx.succeeded))
        remove: list[Obj] = []
        keep = ctx.active
        if ix.is_indexed(job):
            remove, keep = ix.duplicates_for_removal(ctx.active, int(completions or 0))
        extra = active - want - len(remove)
        if extra > 0:
            remove += sorted(keep, key=pu.removal_order)[:extra]
        if remove:
            removed_ready, removed = self.delete_job_pods(ctx.key, job, remove[:MAX_POD_CHANGES])
            ctx.terminating += removed
            ctx.ready -= removed_ready
            return active - removed  # deletions and creations never share a sync
        replacing = ctx.terminating if jt.only_replace_failed(job) else 0
        missing = want - replacing - active
        if missing <= 0:
            return active
        wait = jf.remaining(backoff, self.pod_failure_backoff, self.clock())
        if wait > 0:
            self.queue.add_after(ctx.key, wait)
            return active
        missing = min(missing, MAX_POD_CHANGES)
        indexes: list[int | None] = [None] * missing
        if ix.is_indexed(job):
            indexes = list(ix.first_pending(int(completions or 0), ctx.succeeded_indexes, ctx.active, missing))
        return active + self.create_pods(ctx.key, job, indexes)

    def create_pods(self, key: str, job: Obj, indexes: list[int | None]) -> int:
        template = copy.deepcopy((job.get("spec") or {}).get("template") or {})
        finalizers = template.setdefault("metadata", {}).setdefault("finalizers", [])
        if jt.FINALIZER not in finalizers:
            finalizers.append(jt.FINALIZER)
        self.expectations.expect(key, adds=len(indexes))
        name = pu.meta(job)["name"]
        created = 0
        for n, index in enumerate(indexes):
            if index is None:
                pod = pu.pod_from_template(template, job)
            else:
                pod = pu.pod_from_template(ix.with_index(template, name, index), job,
                                           generate_name=ix.generate_name(name, index))
            try:
                result = self.client.create(r.PODS, pod, pu.meta(job)["namespace"])
            except errors.ApiError as e:
                # Stop at the first failure (upstream's slow start): the rest would likely fail alike.
                self.expectations.lower(key, adds=len(indexes) - n)
                if errors.has_cause(e, "NamespaceTerminating"):
                    return created
                self.recorder.event(job, "Warning", "FailedCreate", f"Error creating: {e.message}")
                raise
            created += 1
            self.recorder.event(job, "Normal", "SuccessfulCreate", f"Created pod: {pu.meta(result)['name']}")
        return created

    def delete_job_pods(self, key: str, job: Obj, pods: list[Obj]) -> tuple[int, int]:
        """Delete pods the Job no longer wants, finalizer first: a pod removed on purpose is
        neither a success nor a failure. Returns ``(ready ones deleted, deleted)``."""
        self.expectations.expect(key, deletes=len(pods))
        tracker = jt.Tracker(self.client, self.recorder, self.clock, self.finalizers)
        ready = deleted = 0
        failure: Exception | None = None
        for pod in pods:
            try:
                tracker.remove_finalizer(pod)
                self.client.delete(r.PODS, pu.meta(pod)["name"], pu.meta(pod)["namespace"])
            except errors.ApiError as e:
                self.expectations.deletion_observed(key)
                if not errors.is_not_found(e):
                    failure = failure or e
                    continue
            deleted += 1
            ready += 1 if pu.is_pod_ready(pod) else 0
            self.recorder.event(job, "Normal", "SuccessfulDelete", f"Deleted pod: {pu.meta(pod)['name']}")
        if failure is not None:
            raise failure
        return ready, deleted

    def delete_active(self, job: Obj, pods: list[Obj]) -> tuple[int, int]:
        """Delete a failing Job's pods, finalizers kept: each is counted as failed first."""
        ready = deleted = 0
        for pod in pods:
            try:
                self.client.delete(r.PODS, pu.meta(pod)["name"], pu.meta(pod)["namespace"])
            except errors.ApiError as e:
                if not errors.is_not_found(e):
                    log.warning("%s: could not delete pod %s: %s", r.object_key(job), pu.meta(pod)["name"], e)
                    continue
            deleted += 1
            ready += 1 if pu.is_pod_ready(pod) else 0
        return ready, deleted

    # -- orphans ---------------------------------------------------------------------------

    def release_orphan(self, pod_key: str) -> None:
        """Remove the tracking finalizer from a pod no unfinished Job owns."""
        pod = self.pods.cache.get(pod_key)
        if pod is None or not jt.has_finalizer(pod):
            return
        ref = pu.controller_ref(pod)
        if ref is not None:
            if ref.get("kind") != "Job":
                return  # someone else's pod: not our finalizer to remove
            job = self.jobs.cache.get(f"{pu.meta(pod)['namespace']}/{ref.get('name')}")
            if job is not None and pu.meta(job).get("uid") == ref.get("uid") and not jt.is_finished(job):
                return  # its Job will count it
        try:
            jt.Tracker(self.client, self.recorder, self.clock, self.finalizers).remove_finalizer(pod)
        except errors.ApiError as e:
            if not errors.is_not_found(e):
                raise

    def stop(self) -> None:
        super().stop()
        self.recorder.stop()


def make(ctx: Context) -> JobController:
    backoff = POD_FAILURE_BACKOFF.get(ctx.profile.name, POD_FAILURE_BACKOFF["kubernetes"])
    return JobController(ctx.client, ctx.informers, workers=ctx.workers, pod_failure_backoff=backoff)
