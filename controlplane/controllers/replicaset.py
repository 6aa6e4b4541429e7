"""The ReplicaSet controller: keeps ``spec.replicas`` pods running for every ReplicaSet.

Where it sits: in the controller manager, between the ReplicaSet and Pod informers and
the API server (upstream's ``pkg/controller/replicaset/replica_set.go``). A Deployment
never touches pods itself: it scales ReplicaSets, and this controller turns replica
counts into pods. The scheduler then places them and node agents run them.

Event handlers only enqueue the ReplicaSet's ``namespace/name`` key: for a pod, the
ReplicaSet named by its controller ownerReference, or every ReplicaSet whose selector
matches an orphan. They also feed the :mod:`expectations <.replicaset_expectations>`:
a pod appearing is a creation observed, a pod going is a deletion observed.

``reconcile(key)``, one step, safe to repeat:

1. the ReplicaSet is gone: forget its expectations; done;
2. **claim** its pods (:class:`~.replicaset_util.ControllerRefManager`): the active pods
   in its namespace it controls and its selector matches, adopting matching orphans and
   releasing its pods that no longer match;
3. if its expectations are **satisfied** (nothing asked for is still unseen) and it is
   not being deleted, **manage replicas**:

   - too few: create the difference (at most :data:`BURST_REPLICAS` per pass) named
     ``<rs>-<5 random characters>``, with the template's labels, annotations and spec
     and the ReplicaSet as controlling owner. Creates go in **slow-start** batches of
     1, 2, 4, ...: after a failing batch the rest is skipped, so a quota that refuses
     every pod costs one request, not a hundred;
   - too many: delete the surplus, least useful first
     (:func:`~.replicaset_util.rank_pods_for_deletion`: unscheduled, pending, not ready,
     ... before scheduled, running, ready);

4. write **status** (always, as pods come and go): ``replicas``, ``fullyLabeledReplicas``
   (pods with all the template's labels), ``readyReplicas``, ``availableReplicas`` (ready
   for ``minReadySeconds``), ``observedGeneration``, and the ``ReplicaFailure``
   condition while creating or deleting fails.

Each create and delete is told as an event on the ReplicaSet (``SuccessfulCreate``,
``FailedCreate``, ``SuccessfulDelete``, ``FailedDelete``), as ``kubectl describe rs``
shows them.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from ..client import errors
from ..client import informer as informers
from ..client import resources as r
from ..client.cache import NAMESPACE_INDEX, index_by_namespace
from ..client.events import NORMAL, WARNING, EventRecorder, Recorder
from ..client.rest import Client
from .base import Controller, RequeueAfter, meta
from .context import Context
from .replicaset_expectations import Expectations
from .replicaset_util import (
    ControllerRefManager,
    Selector,
    SelectorError,
    controller_of,
    controller_ref,
    format_time,
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    now_utc,
    pod_name,
    rank_pods_for_deletion,
    replicas,
    same_status,
    slow_start_batch,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]

BURST_REPLICAS = 500  # most pods created or deleted in one pass (upstream's BurstReplicas)
SLOW_START_INITIAL_BATCH = 1
CONFLICT_RECHECK = 0.25  # seconds before looking again at a ReplicaSet whose write met a conflict
RECORDER_STOP_TIMEOUT = 0.5  # seconds to write queued events at shutdown: the manager has a few in all


def ensure_namespace_index(inf: informers.Informer) -> None:
    """Index a (possibly shared) informer's cache by namespace, once."""
    try:
        inf.cache.add_indexers({NAMESPACE_INDEX: index_by_namespace})
    except ValueError:
        pass  # another controller sharing the informer added it already


class ReplicaSetController(Controller):
    name = "replicaset"
    kind = "ReplicaSet"

    def __init__(self, client: Client, factory: informers.InformerFactory, *, recorder: Recorder | None = None,
                 workers: int = 1, burst_replicas: int = BURST_REPLICAS) -> None:
        super().__init__(workers=workers)
        self.client = client
        self.recorder: Recorder = recorder or EventRecorder(client, "replicaset-controller")
        self.burst_replicas = burst_replicas
        self.expectations = Expectations()
        self.replicasets = factory.informer(r.REPLICASETS)
        self.pods = factory.informer(r.PODS)
        for inf in (self.replicasets, self.pods):
            ensure_namespace_index(inf)
        self.informers = [self.replicasets, self.pods]
        self.replicasets.add_event_handler(on_add=self.enqueue_rs, on_update=self.update_rs, on_delete=self.delete_rs)
        self.pods.add_event_handler(on_add=self.add_pod, on_update=self.update_pod, on_delete=self.delete_pod)

    def stop(self) -> None:
        super().stop()
        self.recorder.stop(timeout=RECORDER_STOP_TIMEOUT)

    # -- event handlers: only enqueue (and count what expectations wait for) -----------------

    def enqueue_rs(self, rs: Obj) -> None:
        self.enqueue(r.object_key(rs))

    def update_rs(self, old: Obj, cur: Obj) -> None:
        if meta(old).get("uid") != meta(cur).get("uid"):
            self.delete_rs(old)  # deleted and re-created between two events
        # Any change, not just spec.replicas: a resync then also retries ReplicaSets
        # whose last creates failed, instead of leaving them stalled.
        self.enqueue_rs(cur)

    def delete_rs(self, rs: Obj) -> None:
        key = r.object_key(rs)
        self.expectations.delete(key)
        self.enqueue(key)

    def add_pod(self, pod: Obj) -> None:
        if meta(pod).get("deletionTimestamp"):
            # Seen for the first time already going (after a restart, say): not a creation.
            self.delete_pod(pod)
            return
        ref = controller_of(pod)
        if ref is not None:
            rs = self.resolve_controller_ref(meta(pod).get("namespace", ""), ref)
            if rs is not None:
                self.expectations.creation_observed(r.object_key(rs))
                self.enqueue_rs(rs)
            return
        for rs in self.pod_replica_sets(pod):  # an orphan: whoever matches may adopt it
            self.enqueue_rs(rs)

    def update_pod(self, old: Obj, cur: Obj) -> None:
        if meta(old).get("resourceVersion") == meta(cur).get("resourceVersion"):
            return  # a relist repeated what we had
        labels_changed = meta(old).get("labels") != meta(cur).get("labels")
        if meta(cur).get("deletionTimestamp"):
            # Graceful deletion has begun: replace it now, not when it finally goes.
            self.delete_pod(cur)
            if labels_changed:
                self.delete_pod(old)
            return
        cur_ref, old_ref = controller_of(cur), controller_of(old)
        if cur_ref != old_ref and old_ref is not None:
            rs = self.resolve_controller_ref(meta(old).get("namespace", ""), old_ref)
            if rs is not None:
                self.enqueue_rs(rs)
        if cur_ref is not None:
            rs = self.resolve_controller_ref(meta(cur).get("namespace", ""), cur_ref)
            if rs is None:
                return
            self.enqueue_rs(rs)
            min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
            if min_ready and not is_pod_ready(old) and is_pod_ready(cur):
                # Nothing will change when it becomes available: look again then (+1 s of skew).
                self.queue.add_after(r.object_key(rs), min_ready + 1.0)
            return
        if labels_changed or cur_ref != old_ref:
            for rs in self.pod_replica_sets(cur):
                self.enqueue_rs(rs)

    def delete_pod(self, pod: Obj) -> None:
        ref = controller_of(pod)
        if ref is None:
            return  # nobody waits for an orphan
        rs = self.resolve_controller_ref(meta(pod).get("namespace", ""), ref)
        if rs is None:
            return
        key = r.object_key(rs)
        self.expectations.deletion_observed(key, r.object_key(pod))
        self.enqueue(key)

    def resolve_controller_ref(self, namespace: str, ref: dict[str, Any]) -> Obj | None:
        """The cached ReplicaSet a controller ownerReference names, if it is really that one."""
        if ref.get("kind") != self.kind or not str(ref.get("apiVersion", "")).startswith("apps/"):
            return None
        rs = self.replicasets.cache.get(f"{namespace}/{ref.get('name')}")
        if rs is None or meta(rs).get("uid") != ref.get("uid"):
            return None  # the one it names is gone; this one only has its name
        return rs

    def pod_replica_sets(self, pod: Obj) -> list[Obj]:
        """ReplicaSets in the pod's namespace whose (non-empty) selector matches it."""
        found = []
        for rs in self.replicasets.cache.by_index(NAMESPACE_INDEX, meta(pod).get("namespace", "")):
            try:
                selector = Selector((rs.get("spec") or {}).get("selector"))
            except SelectorError:
                continue
            if not selector.empty and selector.matches(meta(pod).get("labels")):
                found.append(rs)
        return found

    # -- reconcile -------------------------------------------------------------------------

    def reconcile(self, key: str) -> None:
        try:
            self.sync_replica_set(key)
        except errors.ApiError as e:
            if not errors.is_conflict(e):
                raise
            # The ReplicaSet changed under us (the Deployment controller scaled it while we
            # wrote its status): nothing failed. Look again once the informer has caught up.
            raise RequeueAfter(CONFLICT_RECHECK, f"ReplicaSet {key} changed since our cache saw it") from e

    def sync_replica_set(self, key: str) -> None:
        rs = self.replicasets.cache.get(key)
        if rs is None:
            self.expectations.delete(key)
            return
        needs_sync = self.expectations.satisfied(key)
        try:
            selector = Selector((rs.get("spec") or {}).get("selector"))
        except SelectorError as e:
            log.warning("ReplicaSet %s has an invalid selector: %s", key, e)
            return  # retrying cannot fix the spec; a spec update enqueues it again
        namespace = meta(rs).get("namespace", "")
        active = [p for p in self.pods.cache.by_index(NAMESPACE_INDEX, namespace) if is_pod_active(p)]
        pods = ControllerRefManager(self.client, rs, selector, r.PODS, lambda: self._can_adopt(rs)).claim(active)
        manage_error: Exception | None = None
        if needs_sync and not meta(rs).get("deletionTimestamp"):
            manage_error = self.manage_replicas(rs, pods)
        updated = self.update_status(rs, calculate_status(rs, pods, manage_error))
        if manage_error is not None:
            raise manage_error
        spec, status = updated.get("spec") or {}, updated.get("status") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        if min_ready and status.get("readyReplicas", 0) == replicas(updated) \
                and status.get("availableReplicas", 0) != replicas(updated):
            # Every pod is ready, not all for long enough: check again once they are.
            raise RequeueAfter(float(min_ready), f"waiting {min_ready}s for pods of {key} to become available")

    def _can_adopt(self, rs: Obj) -> None:
        """Adopt only if the ReplicaSet, read fresh, is still this one and not being deleted."""
        fresh = self.client.get(r.REPLICASETS, meta(rs)["name"], meta(rs)["namespace"])
        if meta(fresh).get("uid") != meta(rs)["uid"]:
            raise RuntimeError(f"ReplicaSet {meta(rs)['name']} was replaced (uid changed); not adopting")
        if meta(fresh).get("deletionTimestamp"):
            raise RuntimeError(f"ReplicaSet {meta(rs)['name']} is being deleted; not adopting")

    # -- creating and deleting pods ---------------------------------------------------------

    def manage_replicas(self, rs: Obj, pods: list[Obj]) -> Exception | None:
        """Create or delete pods towards ``spec.replicas``; returns the first failure."""
        key = r.object_key(rs)
        diff = len(pods) - replicas(rs)
        if diff < 0:
            count = min(-diff, self.burst_replicas)
            self.expectations.expect_creations(key, count)
            log.info("ReplicaSet %s has too few replicas (%d of %d): creating %d", key, len(pods), replicas(rs), count)
            successes, error = slow_start_batch(count, SLOW_START_INITIAL_BATCH, lambda: self.create_pod(rs))
            # The pods never attempted (or refused) will not be seen by the informer.
            for _ in range(count - successes):
                self.expectations.creation_observed(key)
            return error
        if diff > 0:
            count = min(diff, self.burst_replicas)
            log.info("ReplicaSet %s has too many replicas (%d of %d): deleting %d", key, len(pods), replicas(rs), count)
            doomed = rank_pods_for_deletion(pods, self.related_pods(rs), now_utc())[:count]
            self.expectations.expect_deletions(key, [r.object_key(p) for p in doomed])
            first_error: Exception | None = None
            for pod in doomed:
                try:
                    self.delete_pod_of(rs, pod)
                except errors.ApiError as e:
                    self.expectations.deletion_observed(key, r.object_key(pod))  # it will not be seen going
                    if not errors.is_not_found(e) and first_error is None:
                        first_error = e
            return first_error
        return None

    def create_pod(self, rs: Obj) -> None:
        template = (rs.get("spec") or {}).get("template") or {}
        tmeta = template.get("metadata") or {}
        if not tmeta.get("labels"):
            raise ValueError("unable to create pods, no labels")
        name = pod_name(meta(rs)["name"])
        pod_meta: dict[str, Any] = {"name": name, "generateName": f"{meta(rs)['name']}-",
                                    "namespace": meta(rs)["namespace"], "labels": dict(tmeta["labels"]),
                                    "ownerReferences": [controller_ref(rs)]}
        for field in ("annotations", "finalizers"):
            if tmeta.get(field):
                pod_meta[field] = copy.deepcopy(tmeta[field])
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
                "spec": copy.deepcopy(template.get("spec") or {})}
        try:
            self.client.create(r.PODS, body, meta(rs)["namespace"])
        except errors.ApiError as e:
            if errors.has_cause(e, "NamespaceTerminating"):
                return  # every create will fail now, and the ReplicaSet is going anyway
            self.recorder.eventf(rs, WARNING, "FailedCreate", "Error creating: %s", e.message or e)
            raise
        self.recorder.eventf(rs, NORMAL, "SuccessfulCreate", "Created pod: %s", name)

    def delete_pod_of(self, rs: Obj, pod: Obj) -> None:
        try:
            self.client.delete(r.PODS, meta(pod)["name"], meta(pod)["namespace"])
        except errors.ApiError as e:
            if not errors.is_not_found(e):
                self.recorder.eventf(rs, WARNING, "FailedDelete", "Error deleting: %s", e.message or e)
            raise
        self.recorder.eventf(rs, NORMAL, "SuccessfulDelete", "Deleted pod: %s", meta(pod)["name"])

    def related_pods(self, rs: Obj) -> list[Obj]:
        """Pods of this ReplicaSet and of its siblings (same controlling owner): who shares
        a node with whom decides which pods are "doubled up"."""
        owner = controller_of(rs)
        family = {meta(rs)["uid"]}
        if owner is not None:
            for other in self.replicasets.cache.by_index(NAMESPACE_INDEX, meta(rs)["namespace"]):
                if (controller_of(other) or {}).get("uid") == owner.get("uid"):
                    family.add(meta(other)["uid"])
        return [p for p in self.pods.cache.by_index(NAMESPACE_INDEX, meta(rs)["namespace"])
                if (controller_of(p) or {}).get("uid") in family]

    # -- status ------------------------------------------------------------------------------

    def update_status(self, rs: Obj, status: dict[str, Any]) -> Obj:
        """Write ``status`` (with ``observedGeneration``) unless nothing changed; one retry on a
        conflict, with the ReplicaSet read fresh."""
        generation = meta(rs).get("generation", 0)
        if same_status(rs.get("status"), {**status, "observedGeneration": generation}):
            return rs
        body = copy.deepcopy(rs)
        body["status"] = {**status, "observedGeneration": generation}
        try:
            return self.client.update(r.REPLICASETS, body, subresource="status")
        except errors.ApiError as e:
            if not errors.is_conflict(e):
                raise
        fresh = self.client.get(r.REPLICASETS, meta(rs)["name"], meta(rs)["namespace"])
        fresh["status"] = {**status, "observedGeneration": meta(fresh).get("generation", 0)}
        return self.client.update(r.REPLICASETS, fresh, subresource="status")


def calculate_status(rs: Obj, pods: list[Obj], manage_error: Exception | None) -> dict[str, Any]:
    """The status ``pods`` (the ReplicaSet's active pods) call for."""
    status = copy.deepcopy(rs.get("status") or {})
    template_labels = (((rs.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
    now = now_utc()
    fully_labeled = sum(1 for p in pods if all((meta(p).get("labels") or {}).get(k) == v
                                               for k, v in template_labels.items()))
    ready = [p for p in pods if is_pod_ready(p)]
    available = sum(1 for p in ready if is_pod_available(p, min_ready, now))
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "ReplicaFailure"]
    failure = next((c for c in status.get("conditions") or [] if c.get("type") == "ReplicaFailure"), None)
    if manage_error is not None:
        if failure is None:
            reason = "FailedCreate" if len(pods) < replicas(rs) else "FailedDelete"
            message = manage_error.message if isinstance(manage_error, errors.ApiError) else str(manage_error)
            failure = {"type": "ReplicaFailure", "status": "True", "lastTransitionTime": format_time(now),
                       "reason": reason, "message": message}
        conditions.append(failure)
    status.update(replicas=len(pods), fullyLabeledReplicas=fully_labeled, readyReplicas=len(ready),
                  availableReplicas=available)
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)
    return status


def make(ctx: Context) -> ReplicaSetController:
    return ReplicaSetController(ctx.client, ctx.informers, workers=ctx.workers)
