"""The Deployment controller: rolls a Deployment's pod template out through ReplicaSets.

Where it sits: in the controller manager, above the ReplicaSet controller (upstream's
``pkg/controller/deployment/deployment_controller.go`` and ``sync.go``). It never
creates pods: it creates ReplicaSets and sets their ``replicas``; the ReplicaSet
controller does the rest. ``kubectl rollout status|history|undo|pause|resume|restart``
and ``kubectl scale`` all work through what this controller writes.

Each distinct pod template gets its own ReplicaSet, ``<deployment>-<hash>``, whose
selector, template and pods carry ``pod-template-hash=<hash>`` (the hash of the
template, :func:`~.deployment_util.compute_hash`), so ReplicaSets of one Deployment never
fight over pods. The one whose template equals the Deployment's is the **new**
ReplicaSet; the others are **old**. Every ReplicaSet is stamped with a revision
(``deployment.kubernetes.io/revision``): the new one gets the highest old revision + 1,
also when it is an old one coming back (``rollout undo``), and the Deployment carries
the new one's revision too.

Event handlers only enqueue the Deployment's key: for a ReplicaSet, the Deployment
named by its controller ownerReference (or, for an orphan, every Deployment whose
selector matches it: one may adopt it).

``reconcile(key)`` takes one step, in upstream's order of precedence:

1. gone: nothing to do. A selector that selects everything: refuse, with an event;
2. **claim** ReplicaSets (adopt matching orphans, release non-matching ones);
3. being deleted: only update status;
4. ``Progressing`` becomes Unknown (DeploymentPaused / DeploymentResumed) on pause and
   resume, so time spent paused never counts against ``progressDeadlineSeconds``;
5. paused, or ``spec.replicas`` changed: **scale** only (:meth:`~.deployment_rollout.Rollouts.sync`);
6. otherwise **roll out**: Recreate or RollingUpdate (:mod:`.deployment_rollout`).
"""

from __future__ import annotations

import copy
import datetime
import logging
from collections.abc import Callable
from typing import Any

from ..client import errors
from ..client import informer as informers
from ..client import resources as r
from ..client.cache import NAMESPACE_INDEX
from ..client.events import NORMAL, WARNING, EventRecorder, Recorder
from ..client.rest import Client
from . import deployment_util as du
from .base import Controller, RequeueAfter, meta
from .context import Context
from .deployment_rollout import Rollouts
from .replicaset import CONFLICT_RECHECK, RECORDER_STOP_TIMEOUT, ensure_namespace_index
from .replicaset_util import (
    ControllerRefManager,
    Selector,
    SelectorError,
    controller_of,
    controller_ref,
    now_utc,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]


class DeploymentController(Rollouts, Controller):
    name = "deployment"

    def __init__(self, client: Client, factory: informers.InformerFactory, *, recorder: Recorder | None = None,
                 workers: int = 1, clock: Callable[[], datetime.datetime] = now_utc) -> None:
        super().__init__(workers=workers)
        self.client = client
        self.recorder: Recorder = recorder or EventRecorder(client, "deployment-controller")
        self.clock = clock
        self.deployments = factory.informer(r.DEPLOYMENTS)
        self.replicasets = factory.informer(r.REPLICASETS)
        self.pods = factory.informer(r.PODS)
        for inf in (self.deployments, self.replicasets, self.pods):
            ensure_namespace_index(inf)
        self.informers = [self.deployments, self.replicasets, self.pods]
        self.deployments.add_event_handler(on_add=self.enqueue_deployment,
                                           on_update=lambda old, new: self.enqueue_deployment(new),
                                           on_delete=self.enqueue_deployment)
        self.replicasets.add_event_handler(on_add=self.add_rs, on_update=self.update_rs, on_delete=self.delete_rs)
        self.pods.add_event_handler(on_delete=self.delete_pod)

    def now(self) -> datetime.datetime:
        return self.clock()

    def stop(self) -> None:
        super().stop()
        self.recorder.stop(timeout=RECORDER_STOP_TIMEOUT)

    # -- event handlers: only enqueue ---------------------------------------------------------

    def enqueue_deployment(self, d: Obj) -> None:
        self.enqueue(r.object_key(d))

    def add_rs(self, rs: Obj) -> None:
        if meta(rs).get("deletionTimestamp"):
            self.delete_rs(rs)
            return
        ref = controller_of(rs)
        if ref is not None:
            d = self.resolve_controller_ref(meta(rs).get("namespace", ""), ref)
            if d is not None:
                self.enqueue_deployment(d)
            return
        for d in self.deployments_for_rs(rs):  # an orphan: whoever matches may adopt it
            self.enqueue_deployment(d)

    def update_rs(self, old: Obj, cur: Obj) -> None:
        if meta(old).get("resourceVersion") == meta(cur).get("resourceVersion"):
            return
        cur_ref, old_ref = controller_of(cur), controller_of(old)
        if cur_ref != old_ref and old_ref is not None:
            d = self.resolve_controller_ref(meta(old).get("namespace", ""), old_ref)
            if d is not None:
                self.enqueue_deployment(d)
        if cur_ref is not None:
            d = self.resolve_controller_ref(meta(cur).get("namespace", ""), cur_ref)
            if d is not None:
                self.enqueue_deployment(d)
            return
        if meta(old).get("labels") != meta(cur).get("labels") or cur_ref != old_ref:
            for d in self.deployments_for_rs(cur):
                self.enqueue_deployment(d)

    def delete_rs(self, rs: Obj) -> None:
        ref = controller_of(rs)
        if ref is not None:
            d = self.resolve_controller_ref(meta(rs).get("namespace", ""), ref)
            if d is not None:
                self.enqueue_deployment(d)

    def delete_pod(self, pod: Obj) -> None:
        """A Recreate rollout waits for the old pods to be gone: look again when one goes."""
        rs_ref = controller_of(pod)
        if rs_ref is None or rs_ref.get("kind") != "ReplicaSet":
            return
        rs = self.replicasets.cache.get(f"{meta(pod).get('namespace', '')}/{rs_ref.get('name')}")
        ref = controller_of(rs) if rs is not None and meta(rs).get("uid") == rs_ref.get("uid") else None
        d = self.resolve_controller_ref(meta(pod).get("namespace", ""), ref) if ref is not None else None
        if d is not None and not du.is_rolling_update(d):
            self.enqueue_deployment(d)

    def resolve_controller_ref(self, namespace: str, ref: dict[str, Any]) -> Obj | None:
        if ref.get("kind") != "Deployment" or not str(ref.get("apiVersion", "")).startswith("apps/"):
            return None
        d = self.deployments.cache.get(f"{namespace}/{ref.get('name')}")
        return d if d is not None and meta(d).get("uid") == ref.get("uid") else None

    def deployments_for_rs(self, rs: Obj) -> list[Obj]:
        found = []
        for d in self.deployments.cache.by_index(NAMESPACE_INDEX, meta(rs).get("namespace", "")):
            try:
                selector = Selector((d.get("spec") or {}).get("selector"))
            except SelectorError:
                continue
            if not selector.empty and selector.matches(meta(rs).get("labels")):
                found.append(d)
        if len(found) > 1:
            log.warning("more than one Deployment selects ReplicaSet %s: %s", r.object_key(rs),
                        ", ".join(meta(d)["name"] for d in found))
        return found

    # -- reconcile ----------------------------------------------------------------------------

    def reconcile(self, key: str) -> None:
        try:
            self.sync_deployment(key)
        except errors.ApiError as e:
            if not errors.is_conflict(e):
                raise
            # Our cache was behind the server, usually behind our own last write (a status
            # update moments ago): nothing failed. Look again once the informer has caught up.
            raise RequeueAfter(CONFLICT_RECHECK, f"deployment {key} changed since our cache saw it") from e

    def sync_deployment(self, key: str) -> None:
        cached = self.deployments.cache.get(key)
        if cached is None:
            return
        d = copy.deepcopy(cached)  # the cache is shared: work on our own copy
        try:
            selector = Selector((d.get("spec") or {}).get("selector"))
        except SelectorError as e:
            log.warning("Deployment %s has an invalid selector: %s", key, e)
            return
        if selector.empty:
            self.recorder.event(d, WARNING, "SelectingAll",
                                "This deployment is selecting all pods. A non-empty selector is required.")
            if (d.get("status") or {}).get("observedGeneration", 0) < meta(d).get("generation", 0):
                d.setdefault("status", {})["observedGeneration"] = meta(d).get("generation", 0)
                self.update_deployment_status(d)
            return
        rs_list = self.claim_replica_sets(d, selector)
        if meta(d).get("deletionTimestamp"):
            new, old = self.get_all_replica_sets_and_sync_revision(d, rs_list, create=False)
            return self.sync_deployment_status([*old, new], new, d)
        self.check_paused_conditions(d)
        if (d.get("spec") or {}).get("paused") or self.is_scaling_event(d, rs_list):
            return self.sync(d, rs_list)
        if du.is_rolling_update(d):
            return self.rollout_rolling(d, rs_list)
        return self.rollout_recreate(d, rs_list, self.pod_map(d, selector, rs_list))

    def claim_replica_sets(self, d: Obj, selector: Selector) -> list[Obj]:
        candidates = self.replicasets.cache.by_index(NAMESPACE_INDEX, meta(d)["namespace"])
        return ControllerRefManager(self.client, d, selector, r.REPLICASETS, lambda: self._can_adopt(d)).claim(
            candidates)

    def _can_adopt(self, d: Obj) -> None:
        fresh = self.client.get(r.DEPLOYMENTS, meta(d)["name"], meta(d)["namespace"])
        if meta(fresh).get("uid") != meta(d)["uid"]:
            raise RuntimeError(f"Deployment {meta(d)['name']} was replaced (uid changed); not adopting")
        if meta(fresh).get("deletionTimestamp"):
            raise RuntimeError(f"Deployment {meta(d)['name']} is being deleted; not adopting")

    def pod_map(self, d: Obj, selector: Selector, rs_list: list[Obj]) -> dict[str, list[Obj]]:
        """The Deployment's pods by the uid of the ReplicaSet that controls them."""
        uids = {meta(rs)["uid"] for rs in rs_list}
        found: dict[str, list[Obj]] = {uid: [] for uid in uids}
        for pod in self.pods.cache.by_index(NAMESPACE_INDEX, meta(d)["namespace"]):
            owner = (controller_of(pod) or {}).get("uid")
            if owner in uids and selector.matches(meta(pod).get("labels")):
                found[owner].append(pod)
        return found

    def check_paused_conditions(self, d: Obj) -> None:
        if du.progress_deadline(d) is None:
            return
        cond = du.get_condition(d.get("status"), "Progressing")
        if cond is not None and cond.get("reason") == du.TIMED_OUT:
            return  # a reported failure stays, paused or not
        paused = bool((d.get("spec") or {}).get("paused"))
        shown = cond is not None and cond.get("reason") == du.PAUSED
        if paused == shown:
            return
        reason, message = (du.PAUSED, "Deployment is paused") if paused else (du.RESUMED, "Deployment is resumed")
        du.set_condition(d.setdefault("status", {}), du.new_condition("Progressing", "Unknown", reason, message,
                                                                      self.now()))
        self.update_deployment_status(d)

    def is_scaling_event(self, d: Obj, rs_list: list[Obj]) -> bool:
        """Whether ``spec.replicas`` differs from what the active ReplicaSets were sized for."""
        new, old = self.get_all_replica_sets_and_sync_revision(d, rs_list, create=False)
        for rs in du.active([*old, new]):
            desired = du.int_annotation(rs, du.DESIRED_REPLICAS)
            if desired is not None and desired != du.replicas(d):
                return True
        return False

    # -- the new ReplicaSet and revisions --------------------------------------------------------

    def get_all_replica_sets_and_sync_revision(self, d: Obj, rs_list: list[Obj],
                                               create: bool) -> tuple[Obj | None, list[Obj]]:
        old = du.find_old_rss(d, rs_list)
        return self.get_new_replica_set(d, rs_list, old, create), old

    def get_new_replica_set(self, d: Obj, rs_list: list[Obj], old: list[Obj], create: bool) -> Obj | None:
        """The new ReplicaSet with its revision brought up to date; created if asked and missing."""
        existing = du.find_new_rs(d, rs_list)
        new_revision = du.max_revision(old) + 1
        if existing is not None:
            rs = copy.deepcopy(existing)
            annotations_changed = du.set_new_rs_annotations(d, rs, new_revision, exists=True)
            if annotations_changed or du.min_ready_seconds(rs) != du.min_ready_seconds(d):
                rs["spec"]["minReadySeconds"] = du.min_ready_seconds(d)
                updated = self.client.update(r.REPLICASETS, rs)
                # Later steps of this pass read the list: give them the ReplicaSet as written.
                # (The Deployment's revision follows on the pass its update event triggers.)
                rs_list[:] = [updated if meta(x)["uid"] == meta(rs)["uid"] else x for x in rs_list]
                return updated
            self.set_deployment_revision(d, (meta(rs).get("annotations") or {}).get(du.REVISION, ""))
            if du.progress_deadline(d) is not None and du.get_condition(d.get("status"), "Progressing") is None:
                du.set_condition(d.setdefault("status", {}), du.new_condition(
                    "Progressing", "True", du.FOUND_NEW_RS, f'Found new replica set "{meta(rs)["name"]}"', self.now()))
                self.update_deployment_status(d)
            return rs
        if not create:
            return None
        return self.create_new_replica_set(d, old, new_revision)

    def create_new_replica_set(self, d: Obj, old: list[Obj], new_revision: int) -> Obj:
        status = d.setdefault("status", {})
        pod_template = copy.deepcopy(du.template(d))
        pod_hash = du.compute_hash(pod_template, status.get("collisionCount"))
        pod_template.setdefault("metadata", {})["labels"] = {
            **((pod_template.get("metadata") or {}).get("labels") or {}), du.HASH_LABEL: pod_hash}
        selector = copy.deepcopy((d.get("spec") or {}).get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), du.HASH_LABEL: pod_hash}
        rs: Obj = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{meta(d)['name']}-{pod_hash}", "namespace": meta(d)["namespace"],
                         "labels": dict(pod_template["metadata"]["labels"]), "ownerReferences": [controller_ref(d)]},
            "spec": {"replicas": 0, "minReadySeconds": du.min_ready_seconds(d), "selector": selector,
                     "template": pod_template},
        }
        rs["spec"]["replicas"] = du.new_rs_new_replicas(d, [*old, rs], rs)
        du.set_new_rs_annotations(d, rs, new_revision, exists=False)
        already_exists = False
        try:
            created = self.client.create(r.REPLICASETS, rs, meta(d)["namespace"])
        except errors.ApiError as e:
            if errors.is_already_exists(e):
                created = self._existing_or_collision(d, rs, e)
                already_exists = True
            elif errors.has_cause(e, "NamespaceTerminating"):
                raise
            else:
                message = f'Failed to create new replica set "{meta(rs)["name"]}": {e.message or e}'
                if du.progress_deadline(d) is not None:
                    du.set_condition(status, du.new_condition("Progressing", "False", du.FAILED_RS_CREATE, message,
                                                              self.now()))
                    try:
                        self.update_deployment_status(d)
                    except errors.ApiError:
                        pass  # the failure to create is what matters; it is raised below
                self.recorder.event(d, WARNING, du.FAILED_RS_CREATE, message)
                raise
        if not already_exists and du.replicas(rs) > 0:
            self.recorder.eventf(d, NORMAL, "ScalingReplicaSet", "Scaled up replica set %s from 0 to %d",
                                 meta(created)["name"], du.replicas(rs))
        self.set_deployment_revision(d, str(new_revision))
        if not already_exists and du.progress_deadline(d) is not None:
            du.set_condition(status, du.new_condition("Progressing", "True", du.NEW_RS_CREATED,
                                                      f'Created new replica set "{meta(created)["name"]}"', self.now()))
            self.update_deployment_status(d)
        return created

    def _existing_or_collision(self, d: Obj, rs: Obj, error: errors.ApiError) -> Obj:
        """A ReplicaSet of that name exists: ours (a lagging cache), or a hash collision."""
        found = self.client.get(r.REPLICASETS, meta(rs)["name"], meta(rs)["namespace"])
        ref = controller_of(found)
        if ref is not None and ref.get("uid") == meta(d)["uid"] and du.equal_ignore_hash(du.template(d),
                                                                                         du.template(found)):
            return found
        # Someone else's, or another template with the same hash: count a collision, which
        # changes the hash, and try again on the next pass.
        status = d.setdefault("status", {})
        status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
        self.update_deployment_status(d)
        log.info("hash collision for deployment %s: collisionCount is now %d", meta(d)["name"],
                 status["collisionCount"])
        raise error

    # -- writing the Deployment ------------------------------------------------------------------

    def set_deployment_revision(self, d: Obj, revision: str) -> None:
        """Copy the new ReplicaSet's revision onto the Deployment (the main resource: a status
        write does not change annotations here), conditional on its resourceVersion."""
        if not revision or (meta(d).get("annotations") or {}).get(du.REVISION) == revision:
            return
        patch = {"metadata": {"annotations": {du.REVISION: revision},
                              "resourceVersion": meta(d)["resourceVersion"]}}
        result = self.client.patch(r.DEPLOYMENTS, meta(d)["name"], patch, meta(d)["namespace"])
        d["metadata"]["annotations"] = (result.get("metadata") or {}).get("annotations") or {}
        d["metadata"]["resourceVersion"] = meta(result).get("resourceVersion", meta(d)["resourceVersion"])

    def update_deployment_status(self, d: Obj) -> Obj:
        """PUT ``d``'s status (conditional: a conflict raises and the key is retried)."""
        result = self.client.update(r.DEPLOYMENTS, d, subresource="status")
        d["metadata"]["resourceVersion"] = meta(result).get("resourceVersion", meta(d).get("resourceVersion"))
        return result


def make(ctx: Context) -> DeploymentController:
    return DeploymentController(ctx.client, ctx.informers, workers=ctx.workers)
