"""Which pods back a Service, at which address and port: shared by Endpoints and EndpointSlices.

Where it sits: used by :mod:`.endpoints` (core/v1 Endpoints) and :mod:`.endpointslice`
(discovery.k8s.io/v1 EndpointSlices), which publish the same facts in two shapes for
the service proxy in every node agent (upstream's ``endpointslice/util`` and
``pkg/api/v1/pod.FindPort``).

The rules both follow:

* only Services with a ``spec.selector`` get endpoints from a controller (a Service
  without one has endpoints its owner writes by hand), and never ``ExternalName`` ones;
* a pod is an endpoint when it matches the selector, has an IP and has not finished
  (Succeeded/Failed). Endpoints leave out terminating pods too; EndpointSlices keep them,
  marked ``terminating``, so a proxy can drain connections;
* ready pods serve traffic; others are listed as not ready, unless the Service says
  ``publishNotReadyAddresses`` (DNS for a StatefulSet that must find its peers before
  they are ready);
* a port's ``targetPort`` is a number, or the *name* of a container port, looked up in
  each pod, so pods of two versions can serve one Service on different numbers.
"""

from __future__ import annotations

import datetime
import threading
from typing import Any

from .podutil import is_pod_ready, is_terminal, is_terminating, meta, parse_time

Obj = dict[str, Any]

TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
HEADLESS_LABEL = "service.kubernetes.io/headless"


def serves_endpoints(service: Obj) -> bool:
    spec = service.get("spec") or {}
    return spec.get("selector") is not None and spec.get("type") != "ExternalName"


def is_headless(service: Obj) -> bool:
    return (service.get("spec") or {}).get("clusterIP") in (None, "", "None")


def pod_ip(pod: Obj) -> str:
    status = pod.get("status") or {}
    if status.get("podIP"):
        return str(status["podIP"])
    ips = status.get("podIPs") or []
    return str(ips[0].get("ip", "")) if ips else ""


def should_be_endpoint(pod: Obj, include_terminating: bool) -> bool:
    if is_terminal(pod) or not pod_ip(pod):
        return False
    return include_terminating or not is_terminating(pod)


def selected_pods(pods: list[Obj], service: Obj) -> list[Obj]:
    """Pods in the Service's namespace whose labels include every selector pair."""
    selector = (service.get("spec") or {}).get("selector") or {}
    namespace = meta(service).get("namespace")
    chosen = []
    for pod in pods:
        labels = meta(pod).get("labels") or {}
        if meta(pod).get("namespace") == namespace and all(labels.get(k) == v for k, v in selector.items()):
            chosen.append(pod)
    return sorted(chosen, key=lambda p: meta(p).get("name", ""))


def is_ready_endpoint(pod: Obj, service: Obj) -> bool:
    return bool((service.get("spec") or {}).get("publishNotReadyAddresses")) or is_pod_ready(pod)


def hostname_for(pod: Obj, service: Obj) -> str | None:
    """A pod's hostname is published when it names this Service as its subdomain (the
    StatefulSet pattern: ``web-0.nginx``)."""
    spec = pod.get("spec") or {}
    if (spec.get("hostname") and spec.get("subdomain") == meta(service).get("name")
            and meta(pod).get("namespace") == meta(service).get("namespace")):
        return str(spec["hostname"])
    return None


def target_ref(pod: Obj) -> Obj:
    return {"kind": "Pod", "namespace": meta(pod).get("namespace", ""), "name": meta(pod).get("name", ""),
            "uid": meta(pod).get("uid", "")}


def find_port(pod: Obj, service_port: Obj) -> int | None:
    """The pod's port for a Service port: ``targetPort`` as a number, or the container
    port of that name and protocol. None if the pod has no such port."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol") or "TCP"
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                return int(port["containerPort"])
    return None


def endpoint_port(service_port: Obj, number: int) -> Obj:
    port: Obj = {"port": number, "protocol": service_port.get("protocol") or "TCP"}
    if service_port.get("name"):
        port["name"] = service_port["name"]
    if service_port.get("appProtocol"):
        port["appProtocol"] = service_port["appProtocol"]
    return port


class TriggerTimeTracker:
    """When did the change that this write publishes happen? (upstream's TriggerTimeTracker)

    Per Service it remembers each pod's trigger time (when its Ready condition last
    changed) and the Service's own (its creation). A sync's trigger time is the earliest
    of those that moved since the last sync; it goes into the
    ``endpoints.kubernetes.io/last-change-trigger-time`` annotation, from which one can
    measure how long a change took to reach the proxies. Zero (None) means nothing moved.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, tuple[dict[str, datetime.datetime], datetime.datetime | None]] = {}

    def compute(self, key: str, service: Obj, pods: list[Obj]) -> datetime.datetime | None:
        pod_times: dict[str, datetime.datetime] = {}
        for pod in pods:
            ready = next((c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"),
                         None)
            at = parse_time((ready or {}).get("lastTransitionTime"))
            if at is not None:
                pod_times[meta(pod).get("name", "")] = at
        service_time = parse_time(meta(service).get("creationTimestamp"))
        with self._lock:
            old_pods, old_service = self._states.get(key, ({}, None))
            self._states[key] = (pod_times, service_time)
        changed = [at for name, at in pod_times.items() if name not in old_pods or old_pods[name] < at]
        if service_time is not None and (old_service is None or old_service < service_time):
            changed.append(service_time)
        return min(changed) if changed else None

    def forget(self, key: str) -> None:
        with self._lock:
            self._states.pop(key, None)


def format_trigger_time(at: datetime.datetime) -> str:
    """RFC 3339 with fractions, as upstream writes this annotation (RFC3339Nano)."""
    return at.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
