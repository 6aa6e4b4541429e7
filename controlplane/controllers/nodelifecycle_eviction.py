"""The taint eviction controller: pods leave nodes whose NoExecute taints they do not tolerate.

Where it sits: in the controller manager, next to the node lifecycle controller
(:mod:`.nodelifecycle`), which puts ``node.kubernetes.io/unreachable:NoExecute`` or
``not-ready:NoExecute`` on nodes that stopped answering. A student's ``kubectl taint
node worker-1 key=value:NoExecute`` is handled the same way. Upstream:
``pkg/controller/tainteviction`` (the "taint manager").

The key is a pod (``namespace/name``). ``reconcile(key)`` looks at the pod and the
NoExecute taints of its node:

* no NoExecute taint, or the pod is gone, unscheduled or already terminating: nothing
  to do (a deletion planned earlier is cancelled, with a ``TaintManagerEviction``
  "Cancelling deletion" event);
* a taint the pod does not tolerate: the pod is deleted **at once**;
* every taint tolerated, some only for ``tolerationSeconds``: the pod is deleted once
  that time has passed, counted from the taint's ``timeAdded`` (the smallest such
  deadline wins); until then the key comes back at the deadline (:class:`RequeueAfter`);
* tolerated without ``tolerationSeconds``: the pod stays, however long the taint does.

Every pod gets the API server's default tolerations for ``not-ready`` and
``unreachable`` (``default_toleration_seconds`` of the profile: 2 s in a classroom,
300 s upstream), which is why a dead node's pods go after that delay, not at once.

Deleting: a ``TaintManagerEviction`` event ("Marking for deletion Pod ns/name"), a
``DisruptionTarget`` condition on the pod (reason ``DeletionByTaintManager``), then an
ordinary DELETE with the pod's uid as precondition. On a node that is unreachable the
pod then stays ``Terminating`` until its node agent comes back (or the node is
deleted), as in Kubernetes; its ReplicaSet has already made a replacement.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ..client import errors
from ..client import informer as informers
from ..client import resources as r
from ..client.events import NORMAL, EventRecorder, Recorder
from ..client.resources import object_key
from ..client.rest import Client
from .base import Controller, RequeueAfter, meta
from .context import Context
from .nodelifecycle import NODE_NAME_INDEX, index_pods_by_node
from .nodelifecycle_taints import (
    condition,
    format_time,
    matching_tolerations,
    no_execute_taints,
    parse_time,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]

COMPONENT = "taint-eviction-controller"


class TaintEvictionController(Controller):
    name = "tainteviction"

    def __init__(self, client: Client, factory: informers.InformerFactory, *, recorder: Recorder | None = None,
                 clock: Callable[[], float] = time.time, workers: int = 1) -> None:
        super().__init__(workers=workers)
        self.client = client
        self.recorder: Recorder = recorder or EventRecorder(client, COMPONENT)
        self.clock = clock  # wall-clock seconds, compared with the taints' timeAdded
        self.nodes = factory.informer(r.NODES)
        self.pods = factory.informer(r.PODS)
        index_pods_by_node(self.pods)
        self.informers = [self.nodes, self.pods]
        self._lock = threading.Lock()
        self._planned: dict[str, float] = {}  # pod key -> when it is to be deleted (for the cancel event)
        # When this controller first saw a taint that carries no timeAdded (a hand-written
        # one): (node, key, effect) -> time. Upstream counts every toleration from then.
        self._first_seen: dict[tuple[str, str, str], float] = {}
        self.nodes.add_event_handler(on_add=lambda n: self._node_changed(None, n), on_update=self._node_changed)
        self.pods.add_event_handler(on_add=lambda p: self._pod_changed(None, p), on_update=self._pod_changed,
                                    on_delete=lambda p: self.enqueue(object_key(p)))

    def stop(self) -> None:
        super().stop()
        self.recorder.stop()

    # -- handlers: only enqueue -----------------------------------------------------------

    def _node_changed(self, old: Obj | None, new: Obj) -> None:
        if old is not None and no_execute_taints(old) == no_execute_taints(new):
            return
        for pod in self.pods.cache.by_index(NODE_NAME_INDEX, meta(new).get("name", "")):
            self.enqueue(object_key(pod))

    def _pod_changed(self, old: Obj | None, new: Obj) -> None:
        spec, old_spec = new.get("spec") or {}, (old or {}).get("spec") or {}
        if old is not None and spec.get("nodeName") == old_spec.get("nodeName") \
                and spec.get("tolerations") == old_spec.get("tolerations"):
            return
        if spec.get("nodeName"):
            self.enqueue(object_key(new))

    # -- reconcile ----------------------------------------------------------------------

    def reconcile(self, key: str) -> None:
        pod = self.pods.cache.get(key)
        now = self.clock()
        deadline = self.deadline(pod, now) if pod is not None else None
        if deadline is None:
            self._cancel(key)
            return
        if deadline > now:
            with self._lock:
                self._planned[key] = deadline
            raise RequeueAfter(deadline - now, f"pod {key} tolerates its node's taints until then")
        assert pod is not None
        self.evict(pod)

    def deadline(self, pod: Obj, now: float) -> float | None:
        """When the pod must leave its node: ``now`` for an untolerated taint, the earliest
        ``timeAdded + tolerationSeconds``, or None if it may stay."""
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name or meta(pod).get("deletionTimestamp"):
            return None
        taints = no_execute_taints(self.nodes.cache.get(node_name))
        self._forget_untainted(node_name, taints)
        if not taints:
            return None
        tolerated, used = matching_tolerations(taints, (pod.get("spec") or {}).get("tolerations") or [])
        if not tolerated:
            return now
        deadlines = []
        for taint, toleration in used:
            seconds = toleration.get("tolerationSeconds")
            if seconds is None:
                continue  # tolerated for as long as the taint lasts
            if seconds <= 0:
                return now
            deadlines.append(self._added(node_name, taint, now) + seconds)
        return min(deadlines) if deadlines else None

    def _added(self, node_name: str, taint: Obj, now: float) -> float:
        added = parse_time(taint.get("timeAdded"))
        if added is not None:
            return added
        with self._lock:
            return self._first_seen.setdefault((node_name, taint.get("key", ""), taint.get("effect", "")), now)

    def _forget_untainted(self, node_name: str, taints: list[Obj]) -> None:
        present = {(t.get("key", ""), t.get("effect", "")) for t in taints}
        with self._lock:
            for seen in [s for s in self._first_seen if s[0] == node_name and s[1:] not in present]:
                del self._first_seen[seen]

    def _cancel(self, key: str) -> None:
        with self._lock:
            planned = self._planned.pop(key, None)
        if planned is None:
            return
        namespace, _, name = key.rpartition("/")
        ref = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace}}
        self.recorder.event(ref, NORMAL, "TaintManagerEviction", f"Cancelling deletion of Pod {key}")

    # -- the eviction ---------------------------------------------------------------------

    def evict(self, pod: Obj) -> None:
        key = object_key(pod)
        with self._lock:
            self._planned.pop(key, None)
        log.info("deleting pod %s: it does not tolerate (any longer) the NoExecute taints of node %s",
                 key, pod["spec"]["nodeName"])
        self.recorder.event(pod, NORMAL, "TaintManagerEviction", f"Marking for deletion Pod {key}")
        try:
            self._mark_disruption_target(pod)
            self.client.delete(r.PODS, meta(pod)["name"], meta(pod).get("namespace"),
                               preconditions={"uid": meta(pod)["uid"]})
        except errors.ApiError as e:
            if errors.is_not_found(e):
                return  # gone already: what we wanted
            raise  # a conflict: the pod changed (or was replaced); look again with the new one

    def _mark_disruption_target(self, pod: Obj) -> None:
        """Say why the pod is going (upstream's addConditionAndDeletePod), so its controller
        and ``kubectl describe`` can tell an eviction from a crash."""
        target = condition(pod, "DisruptionTarget")
        if target is not None and target.get("status") == "True" and target.get("reason") == "DeletionByTaintManager":
            return
        conditions = [c for c in copy.deepcopy((pod.get("status") or {}).get("conditions") or [])
                      if c.get("type") != "DisruptionTarget"]
        conditions.append({"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
                           "message": "Taint manager: deleting due to NoExecute taint",
                           "lastTransitionTime": format_time(self.clock())})
        # The resourceVersion makes this a compare-and-swap: the node agent writes status too.
        patch = {"metadata": {"resourceVersion": meta(pod).get("resourceVersion")},
                 "status": {"conditions": conditions}}
        self.client.patch(r.PODS, meta(pod)["name"], patch, meta(pod).get("namespace"), subresource="status")


def make(ctx: Context) -> TaintEvictionController:
    return TaintEvictionController(ctx.client, ctx.informers, workers=ctx.workers)
