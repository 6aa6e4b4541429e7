"""The StatefulSet controller: pods with stable names, created and replaced in order.

Where it sits: in the controller manager (data flow (A)), following StatefulSets, pods
and ControllerRevisions through shared informers (upstream's
``pkg/controller/statefulset``). :mod:`.statefulset_pods` knows what a member pod looks
like; this module decides what to do next.

The key is ``namespace/name`` of a StatefulSet. ``reconcile(key)``:

1. **revisions**: the *update* revision holds the current template (created, or an
   older equal one renumbered when a user rolls back); the *current* revision is the
   one ``status.currentRevision`` names;
2. **members**: the pods ``<set>-<start>`` .. ``<set>-<start+replicas-1>`` are replicas;
   other members (left over after a scale-down) are condemned;
3. **replicas**, lowest ordinal first. With ``OrderedReady`` (the default) the
   controller is *monotonic*: it creates one missing pod and waits until it is Running
   and Ready (and available for ``minReadySeconds``) before the next; a failed or
   succeeded pod is deleted and recreated under the same name. With ``Parallel`` it
   creates every missing pod at once;
4. **condemned**, highest ordinal first: deleted one at a time (monotonic) once its
   predecessors are healthy, or all at once (Parallel);
5. **rolling update** (``RollingUpdate``): the highest-ordinal pod not at the update
   revision is deleted (step 3 recreates it at the new revision); then the controller
   waits for it to be healthy before the next, down to ``partition``, below which pods
   keep the current revision. ``OnDelete`` updates a pod only when a user deletes it;
6. **status**: counts, revisions, ``observedGeneration``; once every pod is updated and
   ready, the update revision becomes the current one. Old revisions beyond
   ``revisionHistoryLimit`` that no pod runs are deleted.
"""

from __future__ import annotations

import logging
from typing import Any

from ..client import errors
from ..client import informer as informers
from ..client import resources as r
from ..client.events import EventRecorder, Recorder
from ..client.rest import Client
from . import podutil as pu
from . import podutil_revisions as rev_
from . import statefulset_pods as sp
from .base import Controller, RequeueAfter
from .context import Context

log = logging.getLogger(__name__)

Obj = dict[str, Any]
COMPONENT = "statefulset-controller"
CACHE_RECHECK = 1.0  # seconds; the watch event of the pod we created usually comes sooner


class StatefulSetController(Controller):
    name = "statefulset"

    def __init__(self, client: Client, factory: informers.InformerFactory, *, workers: int = 1,
                 recorder: Recorder | None = None, clock: pu.Clock = pu.utcnow) -> None:
        super().__init__(workers=workers)
        self.client = client
        self.recorder = recorder or EventRecorder(client, COMPONENT)
        self.clock = clock
        self.sets = factory.informer(r.STATEFULSETS)
        self.pods = factory.informer(r.PODS)
        self.revisions = factory.informer(rev_.CONTROLLERREVISIONS)
        pu.ensure_pod_indexes(self.pods)
        self.informers = [self.sets, self.pods, self.revisions]
        self.sets.add_event_handler(on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new),
                                    on_delete=self._enqueue)
        self.pods.add_event_handler(on_add=self._pod_changed, on_update=lambda old, new: self._pod_changed(new, old),
                                    on_delete=self._pod_changed)

    # -- event handlers: they only enqueue keys ------------------------------------------

    def _enqueue(self, sts: Obj) -> None:
        self.enqueue(r.object_key(sts))

    def _pod_changed(self, pod: Obj, old: Obj | None = None) -> None:
        for p in (pod, old):
            ref = pu.controller_ref(p) if p is not None else None
            if ref is not None and ref.get("kind") == "StatefulSet":
                self.enqueue(f"{pu.meta(p).get('namespace')}/{ref.get('name')}")  # type: ignore[arg-type]
        if pu.controller_ref(pod) is None:  # an orphan: a set may adopt it
            for sts in self.sets.cache.list():
                if pu.meta(sts).get("namespace") == pu.meta(pod).get("namespace") and sp.is_member_of(sts, pod):
                    self._enqueue(sts)

    # -- reconcile -------------------------------------------------------------------------

    def reconcile(self, key: str) -> None:
        sts = self.sets.cache.get(key)
        if sts is None:
            return
        spec = sts.get("spec") or {}
        if pu.selects_everything(spec.get("selector")):
            self.recorder.event(sts, "Warning", "SelectingAll",
                                "This statefulset is selecting all pods. A non-empty selector is required.")
            return
        members = [p for p in pu.pods_in(self.pods, pu.meta(sts)["namespace"]) if sp.is_member_of(sts, p)]
        pods = pu.claim_pods(self.client, sts, members, spec.get("selector") or {})
        revisions = rev_.owned_revisions(self.revisions.cache.list(), sts)
        current, update, collisions = self.choose_revisions(sts, revisions)
        if not pu.is_terminating(sts):
            self.update_set(sts, pods, current, update)
        self.update_status(key, sts, pods, current, update, collisions)
        live = {sp.pod_revision(p) for p in pods} | {pu.meta(current)["name"], pu.meta(update)["name"]}
        history = [rev for rev in revisions if pu.meta(rev)["name"] not in live]
        rev_.truncate_history(self.client, history, set(), int(spec.get("revisionHistoryLimit", 10)))

    def choose_revisions(self, sts: Obj, revisions: list[Obj]) -> tuple[Obj, Obj, int]:
        """``(current, update, collision count)`` (upstream's getStatefulSetRevisions)."""
        status = sts.get("status") or {}
        collisions = int(status.get("collisionCount") or 0)
        data = rev_.template_patch(sts)
        number = rev_.next_revision(revisions)
        equal = [rev for rev in revisions if rev.get("data") == data]
        if equal and equal[-1] is revisions[-1]:
            update = revisions[-1]  # the newest revision is the current template: nothing changed
        elif equal:
            update = rev_.set_revision_number(self.client, equal[-1], number)  # rolled back to it
        else:
            update, collisions = rev_.create_revision(self.client, sts, data, number,
                                                      lambda count: rev_.compute_hash(data, count), collisions)
        current = next((rev for rev in revisions if pu.meta(rev)["name"] == status.get("currentRevision")), update)
        return current, update, collisions

    # -- one step towards the spec -----------------------------------------------------------

    def update_set(self, sts: Obj, pods: list[Obj], current: Obj, update: Obj) -> None:
        spec = sts.get("spec") or {}
        start, count = sp.start_ordinal(sts), int(spec.get("replicas", 1))
        monotonic = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        replicas: list[Obj | None] = [None] * count
        condemned: list[Obj] = []
        for pod in pods:
            ordinal = sp.parent_and_ordinal(pod)[1]
            if start <= ordinal < start + count:
                replicas[ordinal - start] = pod
            elif ordinal >= 0:
                condemned.append(pod)
        condemned.sort(key=lambda p: sp.parent_and_ordinal(p)[1], reverse=True)
        unhealthy = [p for p in [*filter(None, replicas), *condemned] if not sp.is_healthy(p)]
        first_unhealthy = min(unhealthy, key=lambda p: sp.parent_and_ordinal(p)[1], default=None)

        blocked = False
        for i in range(count):
            if self.process_replica(sts, replicas, i, start + i, current, update, monotonic):
                blocked = True
                if monotonic:
                    return
        if blocked:
            return
        for pod in condemned:
            if self.process_condemned(sts, pod, first_unhealthy, monotonic):
                return
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type") == "OnDelete":
            return  # pods are updated when a user deletes them
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        for i in range(count - 1, partition - 1, -1):
            pod = replicas[i]
            if pod is None:
                return
            if sp.pod_revision(pod) != pu.meta(update)["name"] and not pu.is_terminating(pod):
                self.delete_pod(sts, pod, "update")
                return
            if not sp.is_healthy(pod):
                return  # one at a time: wait until the pod just replaced is healthy

    def process_replica(self, sts: Obj, replicas: list[Obj | None], i: int, ordinal: int, current: Obj,
                        update: Obj, monotonic: bool) -> bool:
        """Bring replica ``i`` one step closer; True if the set must wait for it."""
        pod = replicas[i]
        min_ready = int((sts.get("spec") or {}).get("minReadySeconds") or 0)
        if pod is None or not sp.is_created(pod):
            self.create_pod(sts, ordinal, sp.revision_for_new_pod(sts, ordinal, current, update))
            return monotonic
        if pu.phase(pod) in ("Failed", "Succeeded"):
            # Whatever ended it (a crash, an eviction, a node reboot), the set wants it running.
            if not pu.is_terminating(pod):
                what = "failed" if pu.phase(pod) == "Failed" else "terminated"
                self.recorder.event(sts, "Warning", f"Recreating{what.capitalize()}Pod",
                                    f"StatefulSet {r.object_key(sts)} is recreating {what} Pod {pu.meta(pod)['name']}")
                self.delete_pod(sts, pod, "recreate")
            return True  # the new pod comes once the old one is gone
        if monotonic and (pu.is_terminating(pod) or not sp.is_running_and_ready(pod)
                          or not sp.is_running_and_available(pod, min_ready, self.clock())):
            if min_ready and sp.is_running_and_ready(pod):
                self.queue.add_after(r.object_key(sts), float(min_ready))  # available by time alone
            return True
        if not sp.identity_matches(sts, pod):
            labels = sp.identity_labels(sts, ordinal)
            self.client.patch(r.PODS, pu.meta(pod)["name"], {"metadata": {"labels": labels}},
                              pu.meta(pod)["namespace"])
        return False

    def process_condemned(self, sts: Obj, pod: Obj, first_unhealthy: Obj | None, monotonic: bool) -> bool:
        """Delete one condemned pod if its turn has come; True if the set must wait."""
        min_ready = int((sts.get("spec") or {}).get("minReadySeconds") or 0)
        if pu.is_terminating(pod):
            return monotonic
        if monotonic and pod is not first_unhealthy and not (
                sp.is_running_and_ready(pod) and sp.is_running_and_available(pod, min_ready, self.clock())):
            return True
        self.delete_pod(sts, pod, "scale down")
        return monotonic

    # -- writes --------------------------------------------------------------------------

    def create_pod(self, sts: Obj, ordinal: int, revision: Obj) -> None:
        source = sts if revision.get("data") == rev_.template_patch(sts) else sp.with_template(sts, revision)
        pod = sp.new_pod(source, ordinal, pu.meta(revision)["name"])
        name, kind = pu.meta(pod)["name"], f"StatefulSet {pu.meta(sts)['name']}"
        try:
            self.client.create(r.PODS, pod, pu.meta(sts)["namespace"])
        except errors.ApiError as e:
            if errors.has_cause(e, "NamespaceTerminating"):
                return
            if errors.is_already_exists(e) and self._ours(sts, name):
                # We created it a moment ago and our pod cache has not seen it yet.
                raise RequeueAfter(CACHE_RECHECK, f"pod {name} is not in our cache yet") from e
            self.recorder.event(sts, "Warning", "FailedCreate", f"create Pod {name} in {kind} failed error: {e.message}")
            raise
        self.recorder.event(sts, "Normal", "SuccessfulCreate", f"create Pod {name} in {kind} successful")
        for claim in sp.claim_names(sts, ordinal):
            self.recorder.event(sts, "Warning", "PersistentVolumeClaimNotCreated",
                                f"kubeclass has no persistent volumes: claim {claim} was not created; "
                                f"Pod {name} mounts an emptyDir instead, and its data goes with the pod")

    def _ours(self, sts: Obj, name: str) -> bool:
        try:
            return pu.is_controlled_by(self.client.get(r.PODS, name, pu.meta(sts)["namespace"]), sts)
        except errors.ApiError as e:
            if errors.is_not_found(e):
                return False
            raise

    def delete_pod(self, sts: Obj, pod: Obj, why: str) -> None:
        name, kind = pu.meta(pod)["name"], f"StatefulSet {pu.meta(sts)['name']}"
        try:
            self.client.delete(r.PODS, name, pu.meta(pod)["namespace"], preconditions={"uid": pu.meta(pod)["uid"]})
        except errors.ApiError as e:
            if errors.is_not_found(e) or errors.is_conflict(e):
                return  # gone already, or a new pod of that name: the next sync looks again
            self.recorder.event(sts, "Warning", "FailedDelete", f"delete Pod {name} in {kind} failed error: {e.message}")
            raise
        log.info("%s: deleted pod %s (%s)", r.object_key(sts), name, why)
        self.recorder.event(sts, "Normal", "SuccessfulDelete", f"delete Pod {name} in {kind} successful")

    def update_status(self, key: str, sts: Obj, pods: list[Obj], current: Obj, update: Obj, collisions: int) -> None:
        spec, old = sts.get("spec") or {}, sts.get("status") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        counts = sp.replica_status(pods, min_ready, self.clock(), pu.meta(current)["name"], pu.meta(update)["name"])
        status = dict(old)
        status.update(counts)
        status.update(observedGeneration=pu.meta(sts).get("generation", 0), currentRevision=pu.meta(current)["name"],
                      updateRevision=pu.meta(update)["name"], collisionCount=collisions)
        rolling = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"
        if rolling and counts["updatedReplicas"] == counts["replicas"] == counts["readyReplicas"]:
            # Every pod runs the update revision and is ready: the rollout is complete.
            status["currentRevision"] = status["updateRevision"]
            status["currentReplicas"] = counts["updatedReplicas"]
        if status != old:
            pu.update_status(self.client, r.STATEFULSETS, sts, status)
        if min_ready and counts["readyReplicas"] != counts["availableReplicas"]:
            self.queue.add_after(key, float(min_ready))

    def stop(self) -> None:
        super().stop()
        self.recorder.stop()


def make(ctx: Context) -> StatefulSetController:
    return StatefulSetController(ctx.client, ctx.informers, workers=ctx.workers)
