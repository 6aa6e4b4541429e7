"""What the service proxy should be doing, computed from Services and their endpoints.

Where it sits: the agent's informers hand the service proxy
(:mod:`nodeagent.proxy_userspace`) every Service and every EndpointSlice (or Endpoints)
of the cluster; on each sync the proxy calls :func:`desired_state` and converges the
node to the answer. This is kube-proxy's ``ServiceChangeTracker`` and
``EndpointsChangeTracker`` folded into one pure function: no sockets, no ``ip``
commands, so a unit test can hand it dictionaries and read the result.

How a Service becomes routes::

    Service default/web  clusterIPs [10.96.0.10]  type NodePort
      ports: [{name: http, port: 80, targetPort: http, nodePort: 30080}]
    EndpointSlice web-x7k2p  (label kubernetes.io/service-name=web)
      ports: [{name: http, port: 8080}]       <- the controller resolved targetPort
      endpoints: 10.244.11.5 ready, 10.244.11.6 ready, 10.244.11.7 not ready

    routes:  10.96.0.10:80      -> 10.244.11.5:8080, 10.244.11.6:8080   (ClusterIP)
             127.0.1.11:30080   -> 10.244.11.5:8080, 10.244.11.6:8080   (NodePort, node address)
    addresses: {10.96.0.10}

The rules, as kube-proxy applies them:

* an endpoint port belongs to the service port **of the same name** (both "" when the
  Service has one unnamed port); the EndpointSlice controller already turned a named
  ``targetPort`` into the container's number;
* only **ready** endpoints count (``conditions.ready`` absent means ready); an
  EndpointSlice's first address is the endpoint's address (the others are fungible);
* EndpointSlices (``kubernetes.io/service-name``) are used when a Service has any;
  otherwise its Endpoints object (``subsets[].addresses``, never ``notReadyAddresses``):
  the API server writes only an Endpoints object for the ``kubernetes`` Service;
* ``internalTrafficPolicy: Local`` keeps only this node's endpoints for the ClusterIP,
  ``externalTrafficPolicy: Local`` only this node's for NodePorts;
* headless Services (``clusterIP: None``) and ``ExternalName`` Services get nothing;
* only TCP is proxied: UDP and SCTP ports are left out (and reported in ``skipped``);
  only IPv4 ClusterIPs (pods here have no IPv6).

A route with no ready backend stays in :attr:`Desired.routes` with an empty tuple: the
proxy then does not listen there, so the kernel refuses connections to it at once.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable
from typing import Any

from controlplane.client import Resource

Obj = dict[str, Any]
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
DEFAULT_AFFINITY_SECONDS = 10800  # upstream's default sessionAffinityConfig.clientIP.timeoutSeconds
ENDPOINTSLICES = Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice",
                          verbs=frozenset({"get", "list", "watch"}))
ENDPOINTS = Resource("", "v1", "endpoints", "Endpoints", verbs=frozenset({"get", "list", "watch"}))


@dataclasses.dataclass(frozen=True, order=True)
class Backend:
    """One ready endpoint: where a relayed connection is sent."""

    ip: str
    port: int
    node_name: str = dataclasses.field(default="", compare=False)

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


@dataclasses.dataclass(frozen=True)
class Route:
    """Where connections arriving at one listening address go."""

    service: str  # kube-proxy's ServicePortName, "namespace/name:port-name" (":port" dropped if unnamed)
    backends: tuple[Backend, ...]  # ready endpoints, sorted so round robin has a stable order
    affinity_seconds: int = 0  # sessionAffinity ClientIP: how long a client sticks; 0 = no affinity


@dataclasses.dataclass(frozen=True)
class Desired:
    """The whole answer: addresses to own and what to do with each listening address."""

    addresses: frozenset[str]  # ClusterIPs this node should own (on its services interface)
    routes: dict[tuple[str, int], Route]  # (ip, port) -> route, with or without backends
    skipped: tuple[str, ...] = ()  # what is deliberately not proxied, said once in the log

    def listening(self) -> dict[tuple[str, int], Route]:
        """The routes worth a listener: those with at least one ready backend."""
        return {key: route for key, route in self.routes.items() if route.backends}


def desired_state(services: Iterable[Obj], endpoints: Iterable[Obj], *, node_name: str, node_address: str,
                  cluster_ips: bool = True) -> Desired:
    """Routes and addresses for these Services and endpoint objects (EndpointSlices and/or Endpoints).

    ``cluster_ips=False`` (an unprivileged agent, which cannot own addresses) leaves the
    ClusterIPs out: only NodePorts on ``node_address`` are routed then.
    """
    slices, legacy = _index_endpoints(endpoints)
    addresses: set[str] = set()
    routes: dict[tuple[str, int], Route] = {}
    skipped: list[str] = []
    for svc in services:
        meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
        ns, name = meta.get("namespace") or "default", meta.get("name") or ""
        if spec.get("type") == "ExternalName":
            continue
        ips = _cluster_ips(spec)
        if not ips:  # headless (clusterIP None) or not allocated yet
            continue
        owned = [ip for ip in ips if ipaddress.ip_address(ip).version == 4]
        skipped.extend(f"{ns}/{name}: IPv6 ClusterIP {ip}" for ip in ips if ip not in owned)
        if cluster_ips:
            addresses.update(owned)
        affinity = _affinity_seconds(spec)
        found = slices.get((ns, name))
        for port in spec.get("ports") or []:
            protocol = port.get("protocol") or "TCP"
            port_name = port.get("name") or ""
            service = f"{ns}/{name}:{port_name}" if port_name else f"{ns}/{name}"
            if protocol != "TCP":
                skipped.append(f"{service}: {protocol} port {port.get('port')} (only TCP is proxied)")
                continue
            if found is not None:
                backends = _from_slices(found, port_name, protocol)
            else:
                backends = _from_endpoints(legacy.get((ns, name)), port_name, protocol)
            if cluster_ips:
                internal = _local_only(backends, node_name, spec.get("internalTrafficPolicy"))
                for ip in owned:
                    routes[(ip, int(port["port"]))] = Route(service, internal, affinity)
            if spec.get("type") in ("NodePort", "LoadBalancer") and port.get("nodePort"):
                external = _local_only(backends, node_name, spec.get("externalTrafficPolicy"))
                routes[(node_address, int(port["nodePort"]))] = Route(service, external, affinity)
    return Desired(frozenset(addresses), routes, tuple(skipped))


def _cluster_ips(spec: Obj) -> list[str]:
    ips = []
    for ip in spec.get("clusterIPs") or [spec.get("clusterIP") or ""]:
        try:
            ipaddress.ip_address(ip)
        except ValueError:  # "None" (headless), "" (not allocated yet)
            continue
        ips.append(ip)
    return ips


def _affinity_seconds(spec: Obj) -> int:
    if spec.get("sessionAffinity") != "ClientIP":
        return 0
    config = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
    return int(config.get("timeoutSeconds") or DEFAULT_AFFINITY_SECONDS)


def _local_only(backends: tuple[Backend, ...], node_name: str, policy: str | None) -> tuple[Backend, ...]:
    if policy != "Local":
        return backends
    return tuple(b for b in backends if b.node_name == node_name)


# -- endpoints ------------------------------------------------------------------------


def _index_endpoints(objects: Iterable[Obj]) -> tuple[dict[tuple[str, str], list[Obj]], dict[tuple[str, str], Obj]]:
    """EndpointSlices grouped by their Service, and Endpoints objects by name (= the Service's)."""
    slices: dict[tuple[str, str], list[Obj]] = {}
    legacy: dict[tuple[str, str], Obj] = {}
    for obj in objects:
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace") or "default"
        if obj.get("kind") == "Endpoints" or "subsets" in obj:
            legacy[(ns, meta.get("name") or "")] = obj
            continue
        service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if service:  # a slice without the label belongs to no Service (kube-proxy ignores it too)
            slices.setdefault((ns, service), []).append(obj)
    return slices, legacy


def _from_slices(slices: list[Obj], port_name: str, protocol: str) -> tuple[Backend, ...]:
    found: set[Backend] = set()
    for s in slices:
        if (s.get("addressType") or "IPv4") != "IPv4":
            continue
        numbers = [p.get("port") for p in s.get("ports") or []
                   if (p.get("name") or "") == port_name and (p.get("protocol") or "TCP") == protocol]
        if not numbers or numbers[0] is None:
            continue
        for e in s.get("endpoints") or []:
            ready = (e.get("conditions") or {}).get("ready")
            if ready is False or not e.get("addresses"):
                continue
            found.add(Backend(e["addresses"][0], int(numbers[0]), e.get("nodeName") or ""))
    return tuple(sorted(found))


def _from_endpoints(obj: Obj | None, port_name: str, protocol: str) -> tuple[Backend, ...]:
    found: set[Backend] = set()
    for subset in (obj or {}).get("subsets") or []:
        numbers = [p.get("port") for p in subset.get("ports") or []
                   if (p.get("name") or "") == port_name and (p.get("protocol") or "TCP") == protocol]
        if not numbers or numbers[0] is None:
            continue
        for address in subset.get("addresses") or []:  # notReadyAddresses never get traffic
            if address.get("ip"):
                found.add(Backend(address["ip"], int(numbers[0]), address.get("nodeName") or ""))
    return tuple(sorted(found))
