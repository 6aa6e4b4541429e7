"""The DaemonSet controller: one pod of the DaemonSet on every eligible node.

Where it sits: in the controller manager (data flow (A)), following DaemonSets, pods,
nodes and ControllerRevisions through shared informers (upstream's
``pkg/controller/daemon``). It never binds a pod itself: each daemon pod is pinned to its
node by a required node affinity term and the scheduler binds it there.

The key is ``namespace/name`` of a DaemonSet. ``reconcile(key)``, one step at a time:

1. **history**: find the ControllerRevision whose data is the current pod template, or
   create it (``kubectl rollout history ds/x`` lists these); its hash labels new pods;
2. **expectations**: if pods this controller created or deleted have not reached the
   pod cache yet, only refresh the status (counting now would create pods twice);
3. **manage**, node by node (:mod:`.daemonset_nodes` says where the daemon belongs):
   create the missing pod; delete pods on nodes it no longer belongs on; delete failed
   or succeeded pods (failed ones with a per-node back-off, as a node that keeps
   rejecting pods must not make this a hot loop); with more than one pod on a node keep
   the oldest (or, while surging, an old and a new one);
4. **update**: with ``RollingUpdate``, replace old pods within ``maxUnavailable`` /
   ``maxSurge`` (:mod:`.daemonset_update`); with ``OnDelete``, only pods a user deletes
   come back new;
5. **clean up** revisions beyond ``revisionHistoryLimit`` that no pod uses;
6. **status**: desired/current/misscheduled/ready/available/updated counts and
   ``observedGeneration``.
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
from . import daemonset_nodes as nodes_
from . import daemonset_update as update_
from . import podutil as pu
from . import podutil_revisions as rev_
from .base import Controller
from .context import Context

log = logging.getLogger(__name__)

Obj = dict[str, Any]
COMPONENT = "daemonset-controller"
BURST_REPLICAS = 250  # at most this many creates or deletes per sync, as upstream
FAILED_POD_BACKOFF = (1.0, 900.0)  # seconds: first and longest wait before deleting a failed pod again
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"


class DaemonSetController(Controller):
    name = "daemonset"

    def __init__(self, client: Client, factory: informers.InformerFactory, *, workers: int = 1,
                 recorder: Recorder | None = None, clock: pu.Clock = pu.utcnow) -> None:
        super().__init__(workers=workers)
        self.client = client
        self.recorder = recorder or EventRecorder(client, COMPONENT)
        self.clock = clock
        self.expectations = pu.Expectations()
        self._failed_backoff: dict[str, tuple[float, datetime.datetime]] = {}  # key -> (delay, last)
        self.daemonsets = factory.informer(r.DAEMONSETS)
        self.pods = factory.informer(r.PODS)
        self.nodes = factory.informer(r.NODES)
        self.revisions = factory.informer(rev_.CONTROLLERREVISIONS)
        pu.ensure_pod_indexes(self.pods)
        self.informers = [self.daemonsets, self.pods, self.nodes, self.revisions]
        self.daemonsets.add_event_handler(on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new),
                                          on_delete=self._enqueue)
        self.pods.add_event_handler(on_add=self._pod_added, on_update=self._pod_updated,
                                    on_delete=self._pod_deleted)
        self.nodes.add_event_handler(on_add=lambda node: self._enqueue_all(), on_update=self._node_updated,
                                     on_delete=lambda node: self._enqueue_all())
        self.revisions.add_event_handler(on_add=self._revision_changed,
                                         on_update=lambda old, new: self._revision_changed(new),
                                         on_delete=self._revision_changed)  # a deleted history entry comes back

    # -- event handlers: they only enqueue keys ------------------------------------------

    def _enqueue(self, ds: Obj) -> None:
        self.enqueue(r.object_key(ds))

    def _enqueue_all(self) -> None:
        for ds in self.daemonsets.cache.list():
            self._enqueue(ds)

    def _owner_key(self, pod: Obj) -> str | None:
        ref = pu.controller_ref(pod)
        if ref is None or ref.get("kind") != "DaemonSet":
            return None
        key = f"{pu.meta(pod).get('namespace')}/{ref.get('name')}"
        ds = self.daemonsets.cache.get(key)
        return key if ds is not None and pu.meta(ds).get("uid") == ref.get("uid") else None

    def _pod_added(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.enqueue(key)
        elif pu.controller_ref(pod) is None:
            self._enqueue_adopters(pod)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        key = self._owner_key(new)
        if key is not None and pu.is_terminating(new) and not pu.is_terminating(old):
            self.expectations.deletion_observed(key)  # graceful deletion starts: it counts as deleted
        old_key = self._owner_key(old)
        for k in {key, old_key} - {None}:
            self.enqueue(k)  # type: ignore[arg-type]
        if key is None and pu.controller_ref(new) is None:
            self._enqueue_adopters(new)

    def _pod_deleted(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            if not pu.is_terminating(pod):
                self.expectations.deletion_observed(key)
            self.enqueue(key)

    def _revision_changed(self, rev: Obj) -> None:
        ref = pu.controller_ref(rev)
        if ref is not None and ref.get("kind") == "DaemonSet":
            self.enqueue(f"{pu.meta(rev).get('namespace')}/{ref.get('name')}")

    def _enqueue_adopters(self, pod: Obj) -> None:
        labels = pu.meta(pod).get("labels") or {}
        for ds in self.daemonsets.cache.list():
            if (pu.meta(ds).get("namespace") == pu.meta(pod).get("namespace")
                    and pu.selector_matches((ds.get("spec") or {}).get("selector"), labels)):
                self._enqueue(ds)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        for ds in self.daemonsets.cache.list():
            template = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
            if nodes_.should_run(old, template) != nodes_.should_run(new, template):
                self._enqueue(ds)

    # -- reconcile -------------------------------------------------------------------------

    def reconcile(self, key: str) -> None:
        ds = self.daemonsets.cache.get(key)
        if ds is None:
            self.expectations.forget(key)
            return
        spec = ds.get("spec") or {}
        if pu.selects_everything(spec.get("selector")):
            self.recorder.event(ds, "Warning", "SelectingAll",
                                "This daemon set is selecting all pods. A non-empty selector is required.")
            return
        if pu.is_terminating(ds):
            return  # its revisions may be half gone; the garbage collector removes its pods
        node_list = sorted(self.nodes.cache.list(), key=lambda n: pu.meta(n).get("name", ""))
        current, old, collisions = self.construct_history(ds)
        hash_value = (pu.meta(current).get("labels") or {}).get(rev_.HASH_LABEL, "")
        if not self.expectations.satisfied(key):
            self.update_status(key, ds, node_list, hash_value, collisions, observed=False)
            return
        by_node = self.pods_by_node(ds)
        changed = self.manage(key, ds, node_list, by_node, hash_value)
        if not changed and (spec.get("updateStrategy") or {}).get("type") == "RollingUpdate":
            self.rolling_update(key, ds, node_list, by_node, hash_value)
        live = {(pu.meta(p).get("labels") or {}).get(rev_.HASH_LABEL, "") for pods in by_node.values() for p in pods}
        rev_.truncate_history(self.client, old, live, int(spec.get("revisionHistoryLimit", 10)))
        self.update_status(key, ds, node_list, hash_value, collisions, observed=True)

    # -- history ---------------------------------------------------------------------------

    def construct_history(self, ds: Obj) -> tuple[Obj, list[Obj], int]:
        """The revision holding the current template (created if missing), the older ones,
        and the collision count that named the current one."""
        revisions = rev_.owned_revisions(self.revisions.cache.list(), ds)
        data = rev_.template_patch(ds)
        current = [rev for rev in revisions if rev.get("data") == data]
        old = [rev for rev in revisions if rev.get("data") != data]
        number = max((rev_.revision_number(rev) for rev in old), default=0) + 1
        collisions = int((ds.get("status") or {}).get("collisionCount") or 0)
        template = (ds.get("spec") or {}).get("template") or {}
        if not current:
            rev, collisions = rev_.create_revision(self.client, ds, data, number,
                                                   lambda count: rev_.compute_hash(template, count), collisions)
            return rev, old, collisions
        keep = current[-1]  # the highest revision number; equal duplicates go
        for dup in current[:-1]:
            rev_.truncate_history(self.client, [dup], set(), 0)
        if rev_.revision_number(keep) < number:
            keep = rev_.set_revision_number(self.client, keep, number)  # a rollback: newest again
        return keep, old, collisions

    # -- manage: one pod per eligible node -----------------------------------------------------

    def pods_by_node(self, ds: Obj) -> dict[str, list[Obj]]:
        selector = (ds.get("spec") or {}).get("selector") or {}
        pods = pu.claim_pods(self.client, ds, pu.pods_in(self.pods, pu.meta(ds)["namespace"]), selector)
        by_node: dict[str, list[Obj]] = {}
        for pod in pods:
            node = nodes_.target_node(pod)
            if node is not None:
                by_node.setdefault(node, []).append(pod)
        for pods_on_node in by_node.values():
            pods_on_node.sort(key=_oldest_first)
        return by_node

    def manage(self, key: str, ds: Obj, node_list: list[Obj], by_node: dict[str, list[Obj]], hash_value: str) -> bool:
        """Create and delete pods so each eligible node runs one; True if it changed anything."""
        template = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
        create_on: list[str] = []
        delete: list[str] = []
        for node in node_list:
            name = pu.meta(node)["name"]
            run, keep = nodes_.should_run(node, template)
            c, d = self.pods_on_node(key, ds, name, run, keep, by_node.get(name, []), hash_value)
            create_on += c
            delete += d
        known = {pu.meta(n)["name"] for n in node_list}
        for node_name, pods in by_node.items():
            if node_name not in known:  # pinned to a node that is gone: it can never be scheduled
                delete += [pu.meta(p)["name"] for p in pods if not (p.get("spec") or {}).get("nodeName")]
        self.sync_nodes(key, ds, delete, create_on, hash_value)
        return bool(create_on or delete)

    def pods_on_node(self, key: str, ds: Obj, node: str, run: bool, keep: bool, pods: list[Obj],
                     hash_value: str) -> tuple[list[str], list[str]]:
        """``(nodes needing a pod, pods to delete)`` for one node (upstream's podsShouldBeOnNode)."""
        if run and not pods:
            return [node], []
        if not keep:
            return [], [pu.meta(p)["name"] for p in pods if not pu.is_terminating(p)]
        delete, running = [], []
        for pod in pods:
            if pu.is_terminating(pod):
                continue
            if pu.phase(pod) == "Failed":
                if self._failed_in_backoff(ds, node):
                    continue
                self.recorder.event(ds, "Warning", "FailedDaemonPod",
                                    f"Found failed daemon pod {pu.meta(pod)['namespace']}/{pu.meta(pod)['name']} "
                                    f"on node {node}, will try to kill it")
                delete.append(pu.meta(pod)["name"])
            elif pu.phase(pod) == "Succeeded":
                self.recorder.event(ds, "Normal", "SucceededDaemonPod",
                                    f"Found succeeded daemon pod {pu.meta(pod)['namespace']}/{pu.meta(pod)['name']} "
                                    f"on node {node}, will try to delete it")
                delete.append(pu.meta(pod)["name"])
            else:
                running.append(pod)
        if not update_.allows_surge(ds):
            return [], delete + [pu.meta(p)["name"] for p in running[1:]]  # keep the oldest
        if not running:
            return ([node] if run else []), delete
        # Surging: keep the oldest new and the oldest old pod, and the old one only while
        # it is still needed (the new one not yet available, and the old one ready).
        new = [p for p in running if update_.is_updated(p, hash_value)]
        old = [p for p in running if not update_.is_updated(p, hash_value)]
        delete += [pu.meta(p)["name"] for p in new[1:] + old[1:]]
        if new and old:
            min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
            if not pu.is_pod_ready(old[0]) or pu.is_pod_available(new[0], min_ready, self.clock()):
                delete.append(pu.meta(old[0])["name"])
        return [], delete

    def _failed_in_backoff(self, ds: Obj, node: str) -> bool:
        """Whether deleting a failed pod on ``node`` must wait; if not, start the next wait."""
        backoff_key = f"{pu.meta(ds)['uid']}/{(ds.get('status') or {}).get('observedGeneration', 0)}/{node}"
        now = self.clock()
        delay, last = self._failed_backoff.get(backoff_key, (0.0, now))
        if delay and (now - last).total_seconds() < delay:
            self.queue.add_after(r.object_key(ds), delay)
            return True
        first, longest = FAILED_POD_BACKOFF
        self._failed_backoff[backoff_key] = (min(longest, delay * 2) if delay else first, now)
        return False

    def sync_nodes(self, key: str, ds: Obj, delete: list[str], create_on: list[str], hash_value: str) -> None:
        create_on, delete = create_on[:BURST_REPLICAS], delete[:BURST_REPLICAS]
        if not create_on and not delete:
            return
        self.expectations.expect(key, adds=len(create_on), deletes=len(delete))
        namespace = pu.meta(ds)["namespace"]
        template = self.pod_template(ds, hash_value)
        failure: Exception | None = None
        for i, node in enumerate(create_on):
            pod = pu.pod_from_template(template, ds)
            pod["spec"] = nodes_.pin_to_node(pod["spec"], node)
            try:
                created = self.client.create(r.PODS, pod, namespace)
            except errors.ApiError as e:
                # Stop at the first failure (upstream's slow start): the rest would most
                # likely fail the same way. The informer will never see these pods.
                self.expectations.lower(key, adds=len(create_on) - i)
                if errors.has_cause(e, "NamespaceTerminating"):
                    return
                self.recorder.event(ds, "Warning", "FailedCreate", f"Error creating: {e.message}")
                failure = e
                break
            self.recorder.event(ds, "Normal", "SuccessfulCreate", f"Created pod: {pu.meta(created)['name']}")
        for name in delete:
            try:
                self.client.delete(r.PODS, name, namespace)
            except errors.ApiError as e:
                self.expectations.deletion_observed(key)
                if not errors.is_not_found(e):
                    self.recorder.event(ds, "Warning", "FailedDelete", f"Error deleting: {e.message}")
                    failure = failure or e
                continue
            self.recorder.event(ds, "Normal", "SuccessfulDelete", f"Deleted pod: {name}")
        if failure is not None:
            raise failure

    def pod_template(self, ds: Obj, hash_value: str) -> Obj:
        """The DaemonSet's template plus the daemon tolerations and the revision labels."""
        template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
        template["spec"] = nodes_.with_daemon_tolerations(template.get("spec") or {})
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        generation = (pu.meta(ds).get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION)
        if generation is not None:
            labels["pod-template-generation"] = generation
        if hash_value:
            labels[rev_.HASH_LABEL] = hash_value
        return template

    # -- update ----------------------------------------------------------------------------

    def rolling_update(self, key: str, ds: Obj, node_list: list[Obj], by_node: dict[str, list[Obj]],
                       hash_value: str) -> None:
        template = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
        should_run = {pu.meta(n)["name"]: nodes_.should_run(n, template)[0] for n in node_list}
        generation = (pu.meta(ds).get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION)
        try:
            delete, create_on = update_.rolling_update(ds, by_node, should_run, hash_value, self.clock(), generation)
        except ValueError as e:
            self.recorder.event(ds, "Warning", "InvalidUpdateStrategy", str(e))
            return  # retrying will not fix the spec; the next edit of the DaemonSet will
        self.sync_nodes(key, ds, delete, create_on, hash_value)

    # -- status ----------------------------------------------------------------------------

    def update_status(self, key: str, ds: Obj, node_list: list[Obj], hash_value: str, collisions: int, *,
                      observed: bool) -> None:
        spec, old = ds.get("spec") or {}, ds.get("status") or {}
        template = (spec.get("template") or {}).get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        generation = (pu.meta(ds).get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION)
        by_node = self._owned_by_node(ds)
        now = self.clock()
        counts = dict.fromkeys(("desiredNumberScheduled", "currentNumberScheduled", "numberMisscheduled",
                                "numberReady", "numberAvailable", "updatedNumberScheduled"), 0)
        for node in node_list:
            pods = by_node.get(pu.meta(node)["name"], [])
            if not nodes_.should_run(node, template)[0]:
                counts["numberMisscheduled"] += 1 if pods else 0
                continue
            counts["desiredNumberScheduled"] += 1
            if not pods:
                continue
            counts["currentNumberScheduled"] += 1
            pod = pods[0]  # the oldest speaks for the node
            if pu.is_pod_ready(pod):
                counts["numberReady"] += 1
                counts["numberAvailable"] += 1 if pu.is_pod_available(pod, min_ready, now) else 0
            counts["updatedNumberScheduled"] += 1 if update_.is_updated(pod, hash_value, generation) else 0
        status = dict(old)
        status.update(counts)
        status["numberUnavailable"] = counts["desiredNumberScheduled"] - counts["numberAvailable"]
        if collisions:
            status["collisionCount"] = collisions
        if observed:
            status["observedGeneration"] = pu.meta(ds).get("generation", 0)
        if status != old:
            pu.update_status(self.client, r.DAEMONSETS, ds, status)
        if min_ready > 0 and counts["numberReady"] != counts["numberAvailable"]:
            # A ready pod becomes available by time alone, with no event to wake us.
            self.queue.add_after(key, float(min_ready))

    def _owned_by_node(self, ds: Obj) -> dict[str, list[Obj]]:
        uid = pu.meta(ds)["uid"]
        by_node: dict[str, list[Obj]] = {}
        for pod in self.pods.cache.by_index(pu.CONTROLLER_INDEX, uid):
            node = nodes_.target_node(pod)
            if node is not None:
                by_node.setdefault(node, []).append(pod)
        for pods in by_node.values():
            pods.sort(key=_oldest_first)
        return by_node

    def stop(self) -> None:
        super().stop()
        self.recorder.stop()


def _oldest_first(pod: Obj) -> tuple[Any, ...]:
    """Bound pods first, then by creation time and name (upstream's podByCreationTimestampAndPhase)."""
    return (not (pod.get("spec") or {}).get("nodeName"), pu.meta(pod).get("creationTimestamp") or "",
            pu.meta(pod).get("name", ""))


def make(ctx: Context) -> DaemonSetController:
    return DaemonSetController(ctx.client, ctx.informers, workers=ctx.workers)
