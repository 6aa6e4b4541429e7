"""The EndpointSlice controller: a Service's endpoints as discovery.k8s.io/v1 EndpointSlices.

Where it sits: in the controller manager (data flow (A)), beside :mod:`.endpoints`, which
publishes the same facts as one core/v1 Endpoints object. Slices are what a modern
service proxy reads: many small objects (at most 100 endpoints each) instead of one
that must be rewritten whole for every pod that comes or goes (upstream's
``pkg/controller/endpointslice`` and ``k8s.io/endpointslice``).

The key is ``namespace/name`` of a Service. ``reconcile(key)``:

1. the Service is gone, has no selector or is ``ExternalName``: nothing to do (its
   slices name it as owner, so the garbage collector deletes them with it);
2. if the slice cache is behind our own last writes, retry later instead of planning
   from old facts (that is how duplicate slices are born);
3. desired endpoints, one per selected pod with an IP that has not finished:
   ``addresses``, ``conditions`` (``ready``: serving and not terminating; ``serving``:
   passing readiness; ``terminating``), ``nodeName``, ``zone`` (from the node's
   ``topology.kubernetes.io/zone`` label), ``hostname`` and ``targetRef``, grouped by
   the ports the pod serves;
4. :mod:`.endpointslice_plan` decides the creates, updates and deletes; every slice
   written carries ``kubernetes.io/service-name``, ``endpointslice.kubernetes.io/managed-by``,
   the Service's own labels, an owner reference to the Service, and the
   ``last-change-trigger-time`` annotation. Creates go first, deletes last, so a proxy
   never sees a moment with fewer endpoints than it should.
"""

from __future__ import annotations

import copy
import logging
import threading
from typing import Any

from ..client import errors
from ..client import informer as informers
from ..client import resources as r
from ..client.events import EventRecorder, Recorder
from ..client.rest import Client
from . import endpoints_pods as ep
from . import endpointslice_plan as planner
from . import podutil as pu
from .base import Controller, RequeueAfter
from .context import Context

log = logging.getLogger(__name__)

Obj = dict[str, Any]
COMPONENT = "endpointslice-controller"
ENDPOINTSLICES = r.Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice",
                            verbs=frozenset({"create", "delete", "deletecollection", "get", "list", "patch",
                                             "update", "watch"}))
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
ZONE_LABEL = "topology.kubernetes.io/zone"
SERVICE_INDEX = "service"
RESERVED_LABELS = (SERVICE_NAME_LABEL, MANAGED_BY_LABEL, ep.HEADLESS_LABEL)
NODE_RECHECK = 1.0  # seconds until we look again at a lagging cache (or a pod whose node it lacks)


def index_by_service(s: Obj) -> list[str]:
    labels = pu.meta(s).get("labels") or {}
    if labels.get(MANAGED_BY_LABEL) != CONTROLLER_NAME or not labels.get(SERVICE_NAME_LABEL):
        return []
    return [f"{pu.meta(s).get('namespace')}/{labels[SERVICE_NAME_LABEL]}"]


class SliceTracker:
    """Our writes the slice cache has not shown yet (upstream's EndpointSliceTracker).

    Per Service: names we created (stale until the cache has them), names we deleted
    (stale while it still has them) and, for names we updated, the resourceVersion we
    replaced (stale while the cache shows that one). The slice informer's handlers clear
    entries as the events arrive.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, dict[str, str | None]] = {}  # service key -> name -> replaced rv | None

    def wrote(self, key: str, name: str, replaced_rv: str | None) -> None:
        with self._lock:
            self._pending.setdefault(key, {})[name] = replaced_rv

    def observed(self, key: str, s: Obj, deleted: bool = False) -> None:
        with self._lock:
            pending = self._pending.get(key, {})
            name = pu.meta(s).get("name", "")
            if name in pending and (deleted or pending[name] != pu.meta(s).get("resourceVersion")):
                del pending[name]

    def stale(self, key: str, slices: list[Obj]) -> bool:
        by_name = {pu.meta(s)["name"]: s for s in slices}
        with self._lock:
            pending = self._pending.get(key, {})
            for name, replaced in list(pending.items()):
                current = by_name.get(name)
                if replaced == "deleted":
                    caught_up = current is None
                else:
                    caught_up = current is not None and pu.meta(current).get("resourceVersion") != replaced
                if caught_up:
                    del pending[name]
            return bool(pending)

    def forget(self, key: str) -> None:
        with self._lock:
            self._pending.pop(key, None)


class EndpointSliceController(Controller):
    name = "endpointslice"

    def __init__(self, client: Client, factory: informers.InformerFactory, *, workers: int = 1,
                 recorder: Recorder | None = None, max_per_slice: int = planner.MAX_ENDPOINTS_PER_SLICE) -> None:
        super().__init__(workers=workers)
        self.client = client
        self.recorder = recorder or EventRecorder(client, COMPONENT)
        self.max_per_slice = max_per_slice
        self.triggers = ep.TriggerTimeTracker()
        self.tracker = SliceTracker()
        self.services = factory.informer(r.SERVICES)
        self.pods = factory.informer(r.PODS)
        self.nodes = factory.informer(r.NODES)
        self.slices = factory.informer(ENDPOINTSLICES)
        pu.ensure_pod_indexes(self.pods)
        try:
            self.slices.cache.add_indexers({SERVICE_INDEX: index_by_service})
        except ValueError:
            pass  # another controller sharing this informer added it
        self.informers = [self.services, self.pods, self.nodes, self.slices]
        self.services.add_event_handler(on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new),
                                        on_delete=self._enqueue)
        self.pods.add_event_handler(on_add=self._pod_changed, on_update=self._pod_updated,
                                    on_delete=self._pod_changed)
        self.slices.add_event_handler(on_add=self._slice_changed,
                                      on_update=lambda old, new: self._slice_changed(new),
                                      on_delete=lambda s: self._slice_changed(s, deleted=True))

    # -- event handlers: they only enqueue keys (and note what the cache has caught up on) --

    def _enqueue(self, obj: Obj) -> None:
        self.enqueue(r.object_key(obj))

    def _pod_changed(self, pod: Obj) -> None:
        labels = pu.meta(pod).get("labels") or {}
        for service in self.services.cache.list():
            if pu.meta(service).get("namespace") != pu.meta(pod).get("namespace") or not ep.serves_endpoints(service):
                continue
            if all(labels.get(k) == v for k, v in ((service.get("spec") or {}).get("selector") or {}).items()):
                self._enqueue(service)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if pu.meta(old).get("resourceVersion") == pu.meta(new).get("resourceVersion"):
            return
        self._pod_changed(new)
        if pu.meta(old).get("labels") != pu.meta(new).get("labels"):
            self._pod_changed(old)

    def _slice_changed(self, s: Obj, deleted: bool = False) -> None:
        for key in index_by_service(s):
            self.tracker.observed(key, s, deleted)
            self.enqueue(key)  # someone may have edited or deleted "our" slice: put it right

    # -- reconcile -------------------------------------------------------------------------

    def reconcile(self, key: str) -> None:
        service = self.services.cache.get(key)
        if service is None:
            self.triggers.forget(key)
            self.tracker.forget(key)
            return
        if not ep.serves_endpoints(service):
            return
        existing = self.slices.cache.by_index(SERVICE_INDEX, key)
        if self.tracker.stale(key, existing):
            # Planning from a cache without our last writes is how duplicate slices are born.
            raise RequeueAfter(NODE_RECHECK, f"the EndpointSlice cache has not caught up with our writes for {key}")
        pods = ep.selected_pods(pu.pods_in(self.pods, pu.meta(service)["namespace"]), service)
        trigger = self.triggers.compute(key, service, pods)
        desired, missing_node = self.desired_endpoints(service, pods)
        plan = planner.plan(self.new_slice(service), existing, desired, self.max_per_slice)
        touched = {pu.meta(s).get("name") for s in plan.update + plan.delete}
        for s in existing:  # the Service's labels changed: its slices follow
            labels = pu.meta(s).get("labels") or {}
            if pu.meta(s)["name"] not in touched and slice_labels(service, labels) != labels:
                plan.update.append(copy.deepcopy(s))
        self.apply(key, service, plan, trigger)
        if missing_node:
            self.queue.add_after(key, NODE_RECHECK)  # its node should reach our cache soon

    def desired_endpoints(self, service: Obj, pods: list[Obj]) -> tuple[dict[str, tuple[list[Obj], list[Obj]]], bool]:
        """Endpoints grouped by port set; and whether a pod was left out for an unknown node."""
        desired: dict[str, tuple[list[Obj], list[Obj]]] = {}
        missing_node = False
        for pod in pods:
            if not ep.should_be_endpoint(pod, include_terminating=True):
                continue
            node_name = (pod.get("spec") or {}).get("nodeName") or ""
            node = self.nodes.cache.get(node_name) if node_name else None
            if node_name and node is None:
                missing_node = True  # upstream leaves the pod out until its node is known
                continue
            ports = []
            for service_port in (service.get("spec") or {}).get("ports") or []:
                number = ep.find_port(pod, service_port)
                if number is not None:
                    port = ep.endpoint_port(service_port, number)
                    port.setdefault("name", "")
                    ports.append(port)
            key = planner.ports_key(ports)
            desired.setdefault(key, (ports, []))[1].append(self.endpoint(service, pod, node))
        return desired, missing_node

    @staticmethod
    def endpoint(service: Obj, pod: Obj, node: Obj | None) -> Obj:
        publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
        serving = publish or pu.is_pod_ready(pod)
        terminating = pu.is_terminating(pod)
        endpoint: Obj = {"addresses": [ep.pod_ip(pod)],
                         # ready never says true for a terminating pod, unless the Service asked for all
                         "conditions": {"ready": publish or (serving and not terminating), "serving": serving,
                                        "terminating": terminating}}
        hostname = ep.hostname_for(pod, service)
        if hostname:
            endpoint["hostname"] = hostname
        endpoint["targetRef"] = ep.target_ref(pod)
        if node is not None:
            endpoint["nodeName"] = pu.meta(node)["name"]
            zone = (pu.meta(node).get("labels") or {}).get(ZONE_LABEL)
            if zone:
                endpoint["zone"] = zone
        return endpoint

    def new_slice(self, service: Obj) -> Obj:
        name = pu.meta(service)["name"]
        return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"generateName": f"{name[:57]}-", "namespace": pu.meta(service)["namespace"],
                             "labels": slice_labels(service, {}),
                             "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": name,
                                                  "uid": pu.meta(service)["uid"], "controller": True,
                                                  "blockOwnerDeletion": True}]},
                "addressType": "IPv4", "endpoints": [], "ports": []}

    # -- writes ------------------------------------------------------------------------------

    def apply(self, key: str, service: Obj, plan: planner.Plan, trigger: Any) -> None:
        namespace = pu.meta(service)["namespace"]
        for s in plan.create + plan.update:
            s_meta = s["metadata"]
            s_meta["labels"] = slice_labels(service, s_meta.get("labels") or {})
            annotations = dict(s_meta.get("annotations") or {})
            if trigger is not None:
                annotations[ep.TRIGGER_TIME_ANNOTATION] = ep.format_trigger_time(trigger)
            else:
                annotations.pop(ep.TRIGGER_TIME_ANNOTATION, None)
            s_meta["annotations"] = annotations
        if not pu.is_terminating(service):  # no new slices for a Service on its way out
            for s in plan.create:
                try:
                    created = self.client.create(ENDPOINTSLICES, s, namespace)
                except errors.ApiError as e:
                    if errors.has_cause(e, "NamespaceTerminating"):
                        return
                    self.recorder.event(service, "Warning", "FailedToUpdateEndpointSlices",
                                        f"Error updating Endpoint Slices for Service {key}: {e.message}")
                    raise
                self.tracker.wrote(key, pu.meta(created)["name"], None)
        for s in plan.update:
            replaced = pu.meta(s).get("resourceVersion")
            try:
                updated = self.client.update(ENDPOINTSLICES, s)
            except errors.ApiError as e:
                if errors.is_not_found(e):
                    continue  # deleted meanwhile: the delete event brings us back
                raise
            if pu.meta(updated).get("resourceVersion") != replaced:
                self.tracker.wrote(key, pu.meta(s)["name"], replaced)
        for s in plan.delete:
            try:
                self.client.delete(ENDPOINTSLICES, pu.meta(s)["name"], namespace,
                                   preconditions={"uid": pu.meta(s)["uid"]})
            except errors.ApiError as e:
                if not (errors.is_not_found(e) or errors.is_conflict(e)):
                    raise
            self.tracker.wrote(key, pu.meta(s)["name"], "deleted")

    def stop(self) -> None:
        super().stop()
        self.recorder.stop()


def slice_labels(service: Obj, current: dict[str, str]) -> dict[str, str]:
    """The slice's own labels, then the Service's, then the reserved ones on top."""
    labels = {k: v for k, v in current.items() if k not in RESERVED_LABELS}
    labels.update({k: v for k, v in (pu.meta(service).get("labels") or {}).items() if k not in RESERVED_LABELS})
    if ep.is_headless(service):
        labels[ep.HEADLESS_LABEL] = ""
    labels[SERVICE_NAME_LABEL] = pu.meta(service)["name"]
    labels[MANAGED_BY_LABEL] = CONTROLLER_NAME
    return labels


def make(ctx: Context) -> EndpointSliceController:
    return EndpointSliceController(ctx.client, ctx.informers, workers=ctx.workers)
