"""The disruption controller: each PodDisruptionBudget's status says how many pods may go now.

Where it sits: in the controller manager (data flow (A)), following budgets, pods and
the workloads that own pods (ReplicaSets, Deployments, StatefulSets) through shared
informers (upstream's ``pkg/controller/disruption``). What it writes is what
``kubectl get pdb`` (ALLOWED DISRUPTIONS) and ``kubectl describe pdb`` show. The
decision to let an eviction through is the API server's (``pods/eviction``), made
with the same arithmetic, :mod:`controlplane.disruptionbudget`, at eviction time; so
evictions are safe even while this controller is down or behind, and this
controller's status is the published view of that arithmetic.

The key is ``namespace/name`` of a budget. ``reconcile(key)``:

1. the budget is gone: nothing to do;
2. select its pods (its label selector, in its namespace) and compute expectedPods,
   desiredHealthy, currentHealthy, disruptionsAllowed and the still-pending
   ``disruptedPods`` (see :mod:`controlplane.disruptionbudget`);
3. write ``status`` through ``/status`` only if it differs from what is stored, with
   ``observedGeneration`` and the ``DisruptionAllowed`` condition (``SufficientPods``
   or ``InsufficientPods``);
4. if a pod's controller cannot be found (a kind with no scale here, such as a
   DaemonSet or a Job, or a workload that is gone) the numbers cannot be computed:
   like upstream's failSafe, keep the stored numbers but set disruptionsAllowed to 0
   and the condition to ``SyncFailed`` with the reason, and emit a Warning event. A
   later change of the pods or of a workload in the namespace brings the key back;
5. while ``disruptedPods`` has entries, look again when the first one expires.

A write that meets a Conflict (the API server recorded an eviction meanwhile) is not
an error: the watch event of that write brings the key back.
"""

from __future__ import annotations

import copy
import datetime
import logging
from collections.abc import Callable
from typing import Any

from .. import disruptionbudget as db
from ..client import errors
from ..client import informer as informers
from ..client import resources as r
from ..client.events import EventRecorder, Recorder
from ..client.rest import Client
from . import podutil as pu
from .base import Controller, RequeueAfter
from .context import Context

log = logging.getLogger(__name__)

Obj = dict[str, Any]
COMPONENT = "controllermanager"  # upstream's disruption controller reports as this
PDBS = r.Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget",
                  verbs=frozenset({"create", "delete", "deletecollection", "get", "list", "patch", "update",
                                   "watch"}))
CACHE_RECHECK = 1.0  # seconds; the watch event of the write we raced with usually comes sooner


class DisruptionController(Controller):
    name = "disruption"

    def __init__(self, client: Client, factory: informers.InformerFactory, *, workers: int = 1,
                 recorder: Recorder | None = None, clock: Callable[[], datetime.datetime] = pu.utcnow) -> None:
        super().__init__(workers=workers)
        self.client = client
        self.recorder = recorder or EventRecorder(client, COMPONENT)
        self.clock = clock
        self.written = pu.WrittenVersions()
        self.pdbs = factory.informer(PDBS)
        self.pods = factory.informer(r.PODS)
        self.workloads = {"ReplicaSet": factory.informer(r.REPLICASETS),
                          "Deployment": factory.informer(r.DEPLOYMENTS),
                          "StatefulSet": factory.informer(r.STATEFULSETS)}
        pu.ensure_pod_indexes(self.pods)
        self.informers = [self.pdbs, self.pods, *self.workloads.values()]
        self.pdbs.add_event_handler(on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new),
                                    on_delete=self._enqueue)
        self.pods.add_event_handler(on_add=self._pod_changed, on_update=self._pod_updated,
                                    on_delete=self._pod_changed)
        for workload in self.workloads.values():
            workload.add_event_handler(on_add=self._workload_changed, on_update=self._workload_updated,
                                       on_delete=self._workload_changed)

    # -- event handlers: they only enqueue keys ------------------------------------------

    def _enqueue(self, obj: Obj) -> None:
        self.enqueue(r.object_key(obj))

    def _budgets_in(self, namespace: str) -> list[Obj]:
        return [b for b in self.pdbs.cache.list() if pu.meta(b).get("namespace") == namespace]

    def _pod_changed(self, pod: Obj) -> None:
        labels = pu.meta(pod).get("labels") or {}
        for budget in self._budgets_in(pu.meta(pod).get("namespace", "")):
            if pu.selector_matches((budget.get("spec") or {}).get("selector"), labels):
                self._enqueue(budget)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if pu.meta(old).get("resourceVersion") == pu.meta(new).get("resourceVersion"):
            return  # a relist that changed nothing
        self._pod_changed(new)
        if pu.meta(old).get("labels") != pu.meta(new).get("labels"):
            self._pod_changed(old)  # budgets that selected it before the relabel

    def _workload_changed(self, workload: Obj) -> None:
        # A workload's scale counts only for budgets sized by scale. Upstream watches no
        # workloads and waits for a pod to change; looking again here costs little.
        for budget in self._budgets_in(pu.meta(workload).get("namespace", "")):
            if db.uses_scale(budget.get("spec") or {}):
                self._enqueue(budget)

    def _workload_updated(self, old: Obj, new: Obj) -> None:
        if (old.get("spec") or {}).get("replicas") != (new.get("spec") or {}).get("replicas") \
                or pu.meta(old).get("ownerReferences") != pu.meta(new).get("ownerReferences"):
            self._workload_changed(new)

    # -- reconcile -------------------------------------------------------------------------

    def lookup(self, kind: str, namespace: str, name: str) -> Obj | None:
        """A workload from the caches, for :func:`controlplane.disruptionbudget.evaluate`.
        ReplicationControllers are not served by kubeclass, so they are never found."""
        workload = self.workloads.get(kind)
        return workload.cache.get(f"{namespace}/{name}") if workload is not None else None

    def reconcile(self, key: str) -> None:
        budget = self.pdbs.cache.get(key)
        if budget is None:
            return
        if self.written.behind(key, budget):
            raise RequeueAfter(CACHE_RECHECK, f"the budget cache has not caught up with our write to {key}")
        pods = selected_pods(pu.pods_in(self.pods, pu.meta(budget).get("namespace", "")), budget)
        now = self.clock()
        try:
            numbers = db.evaluate(budget, pods, self.lookup, now)
        except (db.NoController, ValueError) as e:
            if self.write(key, budget, failed_status(budget, str(e), now)):
                self.recorder.event(budget, "Warning", "CalculateExpectedPodCountFailed",
                                    f"Failed to calculate the number of expected pods: {e}")
            return
        if self.write(key, budget, computed_status(budget, numbers, now)):
            self._explain(budget, pods, numbers)
        if numbers.recheck_at is not None:
            self.queue.add_after(key, max(0.0, (numbers.recheck_at - now).total_seconds()))

    def _explain(self, budget: Obj, pods: list[Obj], numbers: db.Budget) -> None:
        """Upstream's events, sent only when the status changed (upstream sends them on
        every sync)."""
        if not pods:
            self.recorder.event(budget, "Normal", "NoPods", "No matching pods found")
        if numbers.unmanaged:
            self.recorder.event(
                budget, "Warning", "UnmanagedPods",
                "Pods selected by this PodDisruptionBudget were found to be unmanaged: "
                f"{', '.join(sorted(numbers.unmanaged))}. As a result, the status of the PDB cannot be calculated "
                'correctly, which may result in undefined behavior. To account for these pods please set '
                '".spec.minAvailable" field of the PDB to an integer value.')

    def write(self, key: str, budget: Obj, status: Obj) -> bool:
        """PUT ``status`` if it differs from the stored one; True if it was written."""
        if same_status(budget.get("status") or {}, status):
            return False
        body = copy.deepcopy(budget)
        body["status"] = status
        try:
            updated = self.client.update(PDBS, body, subresource="status")
        except errors.ApiError as e:
            if errors.is_not_found(e):
                return False
            if errors.is_conflict(e):
                raise RequeueAfter(CACHE_RECHECK, f"{key} changed while we computed its status") from None
            raise
        if pu.meta(updated).get("resourceVersion") != pu.meta(budget).get("resourceVersion"):
            self.written.replaced(key, pu.meta(budget).get("resourceVersion"))
        log.debug("%s: disruptionsAllowed=%s", key, status.get("disruptionsAllowed"))
        return True

    def stop(self) -> None:
        super().stop()
        self.recorder.stop()


# -- the status, as pure functions ------------------------------------------------------

def selected_pods(pods: list[Obj], budget: Obj) -> list[Obj]:
    """The pods (of the budget's namespace) that its selector selects; a budget without a
    selector selects none, an empty selector all."""
    selector = (budget.get("spec") or {}).get("selector")
    return [p for p in pods if pu.selector_matches(selector, pu.meta(p).get("labels"))]


def computed_status(budget: Obj, numbers: db.Budget, now: datetime.datetime) -> Obj:
    """The status to store for ``budget`` (upstream's updatePdbStatus)."""
    generation = pu.meta(budget).get("generation")
    allowed = numbers.allowed
    old = budget.get("status") or {}
    return {
        "observedGeneration": generation,
        "disruptedPods": dict(numbers.disrupted),
        "disruptionsAllowed": allowed,
        "currentHealthy": numbers.healthy,
        "desiredHealthy": numbers.desired,
        "expectedPods": numbers.expected,
        "conditions": db.allowed_condition(old.get("conditions"), allowed, generation, now),
    }


def failed_status(budget: Obj, why: str, now: datetime.datetime) -> Obj:
    """The stored status with no disruptions allowed and a ``SyncFailed`` condition
    (upstream's failSafe): evictions must stop while the budget cannot be computed."""
    status = copy.deepcopy(budget.get("status") or {})
    status["disruptionsAllowed"] = 0
    status["conditions"] = db.set_condition(status.get("conditions"), allowed=False, reason=db.SYNC_FAILED,
                                            message=why, observed_generation=status.get("observedGeneration"),
                                            now=now)
    return status


def same_status(stored: Obj, wanted: Obj) -> bool:
    """Whether writing ``wanted`` would change nothing; an absent ``disruptedPods`` is the
    same as an empty one, and the other numbers default to 0."""
    def normal(status: Obj) -> Obj:
        out = dict(status)
        out["disruptedPods"] = status.get("disruptedPods") or {}
        for name in ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"):
            out[name] = status.get(name) or 0
        return out
    return normal(stored) == normal(wanted)


def make(ctx: Context) -> DisruptionController:
    return DisruptionController(ctx.client, ctx.informers, workers=ctx.workers)
