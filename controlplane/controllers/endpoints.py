"""The Endpoints controller: for each Service with a selector, an Endpoints object listing its pods.

Where it sits: in the controller manager (data flow (A)), following Services, pods and
Endpoints through shared informers (upstream's ``pkg/controller/endpoint``). What it
writes is what ``kubectl get endpoints`` and ``kubectl describe service`` show, and the
older of the two shapes a service proxy can read (:mod:`.endpointslice` writes the
newer). Which pods count, and on which port, is :mod:`.endpoints_pods`'.

The key is ``namespace/name`` of a Service. ``reconcile(key)``:

1. the Service is gone: delete its Endpoints (they have no owner reference, so the
   garbage collector would not);
2. no selector, or ``type: ExternalName``: leave the Endpoints to whoever writes them;
3. build the subsets: one address per pod (IP, ``nodeName``, ``targetRef``, and the
   hostname when the pod names this Service as subdomain) under ``addresses`` if ready
   or ``notReadyAddresses`` if not, for each Service port the pod has; then *repack*
   them, so addresses serving the same set of ports share one subset;
4. write only if the subsets or labels differ from what is stored, with the
   ``last-change-trigger-time`` annotation; past 1000 addresses, truncate (ready ones
   first) and say so in ``endpoints.kubernetes.io/over-capacity``.

Endpoints left behind by a Service deleted while no controller ran are found once, at
start-up, and deleted then (upstream's checkLeftoverEndpoints).
"""

from __future__ import annotations

import copy
import logging
import math
from typing import Any

from ..client import errors
from ..client import informer as informers
from ..client import resources as r
from ..client.events import EventRecorder, Recorder
from ..client.rest import Client
from . import endpoints_pods as ep
from . import podutil as pu
from .base import Controller, RequeueAfter
from .context import Context

log = logging.getLogger(__name__)

Obj = dict[str, Any]
COMPONENT = "endpoint-controller"
ENDPOINTS = r.Resource("", "v1", "endpoints", "Endpoints",
                       verbs=frozenset({"create", "delete", "deletecollection", "get", "list", "patch", "update",
                                        "watch"}))
MAX_CAPACITY = 1000
OVER_CAPACITY_ANNOTATION = "endpoints.kubernetes.io/over-capacity"
LEADER_ANNOTATION = "control-plane.alpha.kubernetes.io/leader"
CACHE_RECHECK = 1.0  # seconds; the watch event of our own write usually brings the key back sooner


class EndpointsController(Controller):
    name = "endpoints"

    def __init__(self, client: Client, factory: informers.InformerFactory, *, workers: int = 1,
                 recorder: Recorder | None = None) -> None:
        super().__init__(workers=workers)
        self.client = client
        self.recorder = recorder or EventRecorder(client, COMPONENT)
        self.triggers = ep.TriggerTimeTracker()
        self.written = pu.WrittenVersions()
        self.services = factory.informer(r.SERVICES)
        self.pods = factory.informer(r.PODS)
        self.endpoints = factory.informer(ENDPOINTS)
        pu.ensure_pod_indexes(self.pods)
        self.informers = [self.services, self.pods, self.endpoints]
        self.services.add_event_handler(on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new),
                                        on_delete=self._enqueue)
        self.pods.add_event_handler(on_add=self._pod_changed, on_update=self._pod_updated,
                                    on_delete=self._pod_changed)
        self.endpoints.add_event_handler(on_delete=self._enqueue)  # recreate what a user deleted

    # -- event handlers: they only enqueue keys ------------------------------------------

    def _enqueue(self, obj: Obj) -> None:
        self.enqueue(r.object_key(obj))

    def _pod_changed(self, pod: Obj) -> None:
        labels = pu.meta(pod).get("labels") or {}
        for service in self.services.cache.list():
            if pu.meta(service).get("namespace") != pu.meta(pod).get("namespace") or not ep.serves_endpoints(service):
                continue
            selector = (service.get("spec") or {}).get("selector") or {}
            if all(labels.get(k) == v for k, v in selector.items()):
                self._enqueue(service)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if pu.meta(old).get("resourceVersion") == pu.meta(new).get("resourceVersion"):
            return  # a relist that changed nothing
        self._pod_changed(new)
        if pu.meta(old).get("labels") != pu.meta(new).get("labels"):
            self._pod_changed(old)  # services that selected it before the relabel

    def wait_for_sync(self) -> bool:
        if not super().wait_for_sync():
            return False
        for endpoints in self.endpoints.cache.list():  # leftovers of services deleted while we were down
            if LEADER_ANNOTATION not in (pu.meta(endpoints).get("annotations") or {}):
                self._enqueue(endpoints)
        return True

    # -- reconcile -------------------------------------------------------------------------

    def reconcile(self, key: str) -> None:
        namespace, name = r.split_key(key)
        service = self.services.cache.get(key)
        if service is None:
            self.triggers.forget(key)
            try:
                self.client.delete(ENDPOINTS, name, namespace)
            except errors.ApiError as e:
                if not errors.is_not_found(e):
                    raise
            return
        if not ep.serves_endpoints(service):
            return
        pods = ep.selected_pods(pu.pods_in(self.pods, namespace), service)
        trigger = self.triggers.compute(key, service, pods)
        subsets = build_subsets(service, pods)
        current = self.endpoints.cache.get(key)
        if self.written.behind(key, current):
            raise RequeueAfter(CACHE_RECHECK, f"the endpoints cache has not caught up with our write to {key}")
        labels = dict(pu.meta(service).get("labels") or {})
        if current is not None:
            stored_labels = {k: v for k, v in (pu.meta(current).get("labels") or {}).items() if k != ep.HEADLESS_LABEL}
            annotations = pu.meta(current).get("annotations") or {}
            if ((current.get("subsets") or []) == subsets and stored_labels == labels
                    and _capacity_annotation_correct(annotations, subsets)):
                return
        body = copy.deepcopy(current) if current is not None else {
            "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": namespace}}
        body_meta = body["metadata"]
        annotations = dict(body_meta.get("annotations") or {})
        if trigger is not None:
            annotations[ep.TRIGGER_TIME_ANNOTATION] = ep.format_trigger_time(trigger)
        else:
            annotations.pop(ep.TRIGGER_TIME_ANNOTATION, None)  # nothing moved: no time to claim
        if truncate(subsets):
            annotations[OVER_CAPACITY_ANNOTATION] = "truncated"
        else:
            annotations.pop(OVER_CAPACITY_ANNOTATION, None)
        body_meta["annotations"] = annotations
        if ep.is_headless(service):
            labels[ep.HEADLESS_LABEL] = ""
        body_meta["labels"] = labels
        body.pop("subsets", None)
        if subsets:
            body["subsets"] = subsets
        self.write(service, current, body)

    def write(self, service: Obj, current: Obj | None, body: Obj) -> None:
        key = r.object_key(service)
        try:
            if current is None:
                self.client.create(ENDPOINTS, body, pu.meta(service)["namespace"])
                return
            updated = self.client.update(ENDPOINTS, body)
        except errors.ApiError as e:
            if current is None and errors.has_cause(e, "NamespaceTerminating"):
                return  # every later create fails alike; the namespace is going
            verb = "create" if current is None else "update"
            reason = "FailedToCreateEndpoint" if current is None else "FailedToUpdateEndpoint"
            self.recorder.event(body, "Warning", reason, f"Failed to {verb} endpoint {key}: {e.message}")
            raise
        if pu.meta(updated).get("resourceVersion") != pu.meta(current).get("resourceVersion"):
            self.written.replaced(key, pu.meta(current).get("resourceVersion"))

    def stop(self) -> None:
        super().stop()
        self.recorder.stop()


def build_subsets(service: Obj, pods: list[Obj]) -> list[Obj]:
    """The repacked, sorted subsets for ``service`` over its selected ``pods``."""
    ports = (service.get("spec") or {}).get("ports") or []
    entries: list[tuple[Obj, bool, Obj | None]] = []  # (address, ready, port or None)
    for pod in pods:
        if not ep.should_be_endpoint(pod, include_terminating=False):
            continue
        address: Obj = {"ip": ep.pod_ip(pod)}
        hostname = ep.hostname_for(pod, service)
        if hostname:
            address["hostname"] = hostname
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            address["nodeName"] = node
        address["targetRef"] = ep.target_ref(pod)
        ready = ep.is_ready_endpoint(pod, service)
        if not ports:
            if ep.is_headless(service):  # a headless Service may have no ports: DNS only
                entries.append((address, ready, None))
            continue
        for service_port in ports:
            number = ep.find_port(pod, service_port)
            if number is not None:
                entries.append((address, ready, ep.endpoint_port(service_port, number)))
    return repack(entries)


def repack(entries: list[tuple[Obj, bool, Obj | None]]) -> list[Obj]:
    """Group addresses that serve exactly the same ports into one subset (upstream's
    RepackSubsets), with addresses and ports in a stable order."""
    def addr_key(address: Obj) -> tuple[str, str]:
        return address["ip"], address.get("targetRef", {}).get("uid", "")

    ports_of: dict[tuple[tuple[str, str], bool], list[Obj]] = {}
    addresses: dict[tuple[str, str], Obj] = {}
    for address, ready, port in entries:
        addresses[addr_key(address)] = address
        held = ports_of.setdefault((addr_key(address), ready), [])
        if port is not None and port not in held:
            held.append(port)
    groups: dict[str, tuple[list[Obj], list[tuple[tuple[str, str], bool]]]] = {}
    for (key, ready), held in ports_of.items():
        ordered = sorted(held, key=lambda p: (p.get("name", ""), p["port"], p["protocol"]))
        group = groups.setdefault(repr(ordered), (ordered, []))
        group[1].append((key, ready))
    subsets = []
    for ordered, members in groups.values():
        subset: Obj = {}
        ready_addrs = sorted((addresses[k] for k, ready in members if ready), key=addr_key)
        not_ready = sorted((addresses[k] for k, ready in members if not ready), key=addr_key)
        if ready_addrs:
            subset["addresses"] = ready_addrs
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        if ordered:
            subset["ports"] = ordered
        subsets.append(subset)
    return sorted(subsets, key=lambda s: (repr(s.get("ports")), repr([a["ip"] for a in s.get("addresses", [])])))


def truncate(subsets: list[Obj]) -> bool:
    """Cut the subsets to :data:`MAX_CAPACITY` addresses, in place: not-ready ones first,
    each subset keeping its share. True if anything was cut."""
    total_ready = sum(len(s.get("addresses") or []) for s in subsets)
    total_not_ready = sum(len(s.get("notReadyAddresses") or []) for s in subsets)
    if total_ready + total_not_ready <= MAX_CAPACITY:
        return False
    cut_ready = total_ready > MAX_CAPACITY
    room = MAX_CAPACITY if cut_ready else MAX_CAPACITY - total_ready
    total = total_ready if cut_ready else total_not_ready
    left = room
    for subset in subsets:
        field = "addresses" if cut_ready else "notReadyAddresses"
        have = subset.get(field) or []
        share = min(left, math.ceil(len(have) / total * room)) if total else 0
        subset[field] = have[:share]
        if cut_ready:
            subset.pop("notReadyAddresses", None)
        left -= len(subset[field])
        if not subset[field]:
            subset.pop(field)
    return True


def _capacity_annotation_correct(annotations: dict[str, str], subsets: list[Obj]) -> bool:
    count = sum(len(s.get("addresses") or []) + len(s.get("notReadyAddresses") or []) for s in subsets)
    return count <= MAX_CAPACITY and OVER_CAPACITY_ANNOTATION not in annotations


def make(ctx: Context) -> EndpointsController:
    return EndpointsController(ctx.client, ctx.informers, workers=ctx.workers)
