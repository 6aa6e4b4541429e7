"""Tables for the core/v1 kinds besides pods and events: nodes, services, endpoints,
namespaces, config maps, secrets and service accounts.

Where it sits: ``build_table`` looks these printers up in :data:`PRINTERS`. Columns and
cells follow upstream's ``pkg/printers/internalversion/printers.go``. The apiserver
always prints "wide", so the priority-1 columns are filled here and kubectl shows them
only for ``-o wide``.
"""

from __future__ import annotations

import datetime
from typing import Any

from controlplane.api.tables.columns import AGE, NAME, Printer, column, doc
from controlplane.api.tables.format import NONE, UNKNOWN, age, dig, format_labels, name_of

# -- nodes ----------------------------------------------------------------------------------

NODE_ROLE_PREFIX = "node-role.kubernetes.io/"
LEGACY_ROLE_LABEL = "kubernetes.io/role"

NODE_COLUMNS = (
    NAME,
    column("Status", "The status of the node"),
    column("Roles", "The roles of the node"),
    AGE,
    column("Version", doc("NodeSystemInfo.kubeletVersion")),
    column("Internal-IP", doc("NodeStatus.addresses"), priority=1),
    column("External-IP", doc("NodeStatus.addresses"), priority=1),
    column("OS-Image", doc("NodeSystemInfo.osImage"), priority=1),
    column("Kernel-Version", doc("NodeSystemInfo.kernelVersion"), priority=1),
    column("Container-Runtime", doc("NodeSystemInfo.containerRuntimeVersion"), priority=1),
)


def node_status(node: dict[str, Any]) -> str:
    """The STATUS cell: Ready, NotReady, or Unknown when there is no Ready condition yet;
    a cordoned node adds ",SchedulingDisabled"."""
    status = "Unknown"
    for condition in dig(node, "status", "conditions", default=[]):
        if condition.get("type") == "Ready":
            status = "Ready" if condition.get("status") == "True" else "NotReady"
    if dig(node, "spec", "unschedulable"):
        status += ",SchedulingDisabled"
    return status


def node_roles(node: dict[str, Any]) -> str:
    """Roles come from labels: ``node-role.kubernetes.io/<role>`` (any value) and the
    older ``kubernetes.io/role=<role>``."""
    roles: set[str] = set()
    for key, value in (dig(node, "metadata", "labels") or {}).items():
        if key.startswith(NODE_ROLE_PREFIX) and key != NODE_ROLE_PREFIX:
            roles.add(key[len(NODE_ROLE_PREFIX):])
        elif key == LEGACY_ROLE_LABEL and value:
            roles.add(value)
    return ",".join(sorted(roles)) or NONE


def _node_address(node: dict[str, Any], kind: str) -> str:
    for address in dig(node, "status", "addresses", default=[]):
        if address.get("type") == kind:
            return address.get("address", "")
    return NONE


def node_cells(node: dict[str, Any], now: datetime.datetime) -> list[Any]:
    info = dig(node, "status", "nodeInfo", default={})
    return [
        name_of(node),
        node_status(node),
        node_roles(node),
        age(node, now),
        info.get("kubeletVersion", ""),
        _node_address(node, "InternalIP"),
        _node_address(node, "ExternalIP"),
        info.get("osImage") or UNKNOWN,
        info.get("kernelVersion") or UNKNOWN,
        info.get("containerRuntimeVersion") or UNKNOWN,
    ]


# -- services -------------------------------------------------------------------------------

SERVICE_COLUMNS = (
    NAME,
    column("Type", doc("ServiceSpec.type")),
    column("Cluster-IP", doc("ServiceSpec.clusterIP")),
    column("External-IP", doc("ServiceSpec.externalIPs")),
    column("Port(s)", doc("ServiceSpec.ports")),
    AGE,
    column("Selector", doc("ServiceSpec.selector"), priority=1),
)


def _load_balancer_addresses(service: dict[str, Any]) -> list[str]:
    ingress = dig(service, "status", "loadBalancer", "ingress", default=[])
    found = {entry.get("ip") or entry.get("hostname") for entry in ingress}
    return sorted(address for address in found if address)


def service_external_ip(service: dict[str, Any]) -> str:
    """What EXTERNAL-IP says: "<none>", the external IPs, a load balancer's address, or
    "<pending>" while a LoadBalancer service waits for one."""
    spec = service.get("spec") or {}
    external = spec.get("externalIPs") or []
    kind = spec.get("type") or "ClusterIP"
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or NONE
    if kind == "LoadBalancer":
        addresses = _load_balancer_addresses(service) + external
        return ",".join(addresses) or "<pending>"
    if kind == "ExternalName":
        return spec.get("externalName", "")
    return UNKNOWN


def service_ports(service: dict[str, Any]) -> str:
    """The PORT(S) cell: "80/TCP", or "80:30080/TCP" once a node port is allocated."""
    pieces: list[str] = []
    for port in dig(service, "spec", "ports", default=[]):
        protocol = port.get("protocol") or "TCP"
        node_port = port.get("nodePort") or 0
        if node_port > 0:
            pieces.append(f"{port.get('port', 0)}:{node_port}/{protocol}")
        else:
            pieces.append(f"{port.get('port', 0)}/{protocol}")
    return ",".join(pieces) or NONE


def service_cells(service: dict[str, Any], now: datetime.datetime) -> list[Any]:
    spec = service.get("spec") or {}
    # The apiserver defaults type and fills clusterIPs from clusterIP; read both the same way.
    cluster_ip = dig(spec, "clusterIPs", 0) or spec.get("clusterIP") or NONE
    return [
        name_of(service),
        spec.get("type") or "ClusterIP",
        cluster_ip,
        service_external_ip(service),
        service_ports(service),
        age(service, now),
        format_labels(spec.get("selector")),
    ]


# -- endpoints ------------------------------------------------------------------------------

ENDPOINTS_COLUMNS = (NAME, column("Endpoints", doc("Endpoints.subsets")), AGE)
MAX_LISTED = 3


def format_endpoints(endpoints: dict[str, Any]) -> str:
    """The ENDPOINTS cell, one entry per address and port: "10.0.0.5:80 + 2 more..."."""
    subsets = endpoints.get("subsets") or []
    if not subsets:
        return NONE
    listed: list[str] = []
    total = 0
    for subset in subsets:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or []]
        ports = subset.get("ports") or []
        if not ports:  # a headless service may have no ports: list bare addresses
            total += len(addresses)
            listed.extend(addresses)
            continue
        for port in ports:
            total += len(addresses)
            listed.extend(_host_port(ip, port.get("port", 0)) for ip in addresses)
    text = ",".join(listed[:MAX_LISTED])
    return f"{text} + {total - MAX_LISTED} more..." if total > MAX_LISTED else text


def _host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"  # IPv6 needs brackets


def endpoints_cells(endpoints: dict[str, Any], now: datetime.datetime) -> list[Any]:
    return [name_of(endpoints), format_endpoints(endpoints), age(endpoints, now)]


# -- namespaces, config maps, secrets, service accounts ---------------------------------------

NAMESPACE_COLUMNS = (NAME, column("Status", "The status of the namespace"), AGE)
CONFIGMAP_COLUMNS = (NAME, column("Data", doc("ConfigMap.data")), AGE)
SECRET_COLUMNS = (NAME, column("Type", doc("Secret.type")), column("Data", doc("Secret.data")), AGE)
SERVICEACCOUNT_COLUMNS = (NAME, column("Secrets", doc("ServiceAccount.secrets")), AGE)


def namespace_cells(namespace: dict[str, Any], now: datetime.datetime) -> list[Any]:
    return [name_of(namespace), dig(namespace, "status", "phase", default=""), age(namespace, now)]


def configmap_cells(configmap: dict[str, Any], now: datetime.datetime) -> list[Any]:
    keys = len(configmap.get("data") or {}) + len(configmap.get("binaryData") or {})
    return [name_of(configmap), keys, age(configmap, now)]


def secret_cells(secret: dict[str, Any], now: datetime.datetime) -> list[Any]:
    keys = len(secret.get("data") or {})
    return [name_of(secret), secret.get("type", ""), keys, age(secret, now)]


def serviceaccount_cells(account: dict[str, Any], now: datetime.datetime) -> list[Any]:
    return [name_of(account), len(account.get("secrets") or []), age(account, now)]


PRINTERS = {
    ("", "nodes"): Printer(NODE_COLUMNS, node_cells),
    ("", "services"): Printer(SERVICE_COLUMNS, service_cells),
    ("", "endpoints"): Printer(ENDPOINTS_COLUMNS, endpoints_cells),
    ("", "namespaces"): Printer(NAMESPACE_COLUMNS, namespace_cells),
    ("", "configmaps"): Printer(CONFIGMAP_COLUMNS, configmap_cells),
    ("", "secrets"): Printer(SECRET_COLUMNS, secret_cells),
    ("", "serviceaccounts"): Printer(SERVICEACCOUNT_COLUMNS, serviceaccount_cells),
}
