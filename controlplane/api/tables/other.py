"""Tables for the smaller API groups: leases, endpoint slices, horizontal pod
autoscalers, pod disruption budgets, and RBAC bindings.

Where it sits: ``build_table`` looks these printers up in :data:`PRINTERS`. Columns and
cells follow upstream's ``pkg/printers/internalversion/printers.go``. Roles, cluster
roles and CRDs have no printer upstream either; they get the default Name/Created At
table from ``custom.py``.
"""

from __future__ import annotations

import datetime
from typing import Any

from controlplane.api.tables.columns import AGE, NAME, Printer, column, doc
from controlplane.api.tables.format import age, dig, int_or_string, list_with_more, name_of

MAX_LISTED = 3

# -- leases ---------------------------------------------------------------------------------

LEASE_COLUMNS = (NAME, column("Holder", doc("LeaseSpec.holderIdentity")), AGE)


def lease_cells(lease: dict[str, Any], now: datetime.datetime) -> list[Any]:
    return [name_of(lease), dig(lease, "spec", "holderIdentity", default=""), age(lease, now)]


# -- endpoint slices ------------------------------------------------------------------------

ENDPOINTSLICE_COLUMNS = (
    NAME,
    column("AddressType", doc("EndpointSlice.addressType")),
    column("Ports", doc("EndpointSlice.ports")),
    column("Endpoints", doc("EndpointSlice.endpoints")),
    AGE,
)


def _slice_port(port: dict[str, Any]) -> str:
    if port.get("port") is not None:
        return str(port["port"])
    return port.get("name") or "*"


def endpointslice_cells(endpoint_slice: dict[str, Any], now: datetime.datetime) -> list[Any]:
    ports = [_slice_port(p) for p in endpoint_slice.get("ports") or []]
    endpoints = endpoint_slice.get("endpoints") or []
    addresses = [a for endpoint in endpoints for a in endpoint.get("addresses") or []]
    return [
        name_of(endpoint_slice),
        endpoint_slice.get("addressType", ""),
        list_with_more(ports, len(ports), MAX_LISTED),
        list_with_more(addresses, len(addresses), MAX_LISTED),
        age(endpoint_slice, now),
    ]


# -- horizontal pod autoscalers (autoscaling/v2) ----------------------------------------------

HPA_COLUMNS = (
    NAME,
    column("Reference", doc("HorizontalPodAutoscalerSpec.scaleTargetRef")),
    column("Targets", doc("HorizontalPodAutoscalerSpec.metrics")),
    column("MinPods", doc("HorizontalPodAutoscalerSpec.minReplicas")),
    column("MaxPods", doc("HorizontalPodAutoscalerSpec.maxReplicas")),
    column("Replicas", doc("HorizontalPodAutoscalerStatus.currentReplicas")),
    AGE,
)
MAX_METRICS = 2
UNKNOWN_VALUE = "<unknown>"


def _quantity(value: Any) -> str:
    # Go prints a missing *Quantity as "<nil>"; kubeclass keeps quantities as written.
    return "<nil>" if value is None else str(value)


def _percent(value: Any) -> str | None:
    return None if value is None else f"{value}%"


def _resource_target(name: str, target: dict[str, Any], current: dict[str, Any] | None) -> str:
    """A resource metric: "cpu: 50%/80%" for utilization, "memory: 300Mi/500Mi" for a value."""
    if target.get("averageValue") is not None:
        now = UNKNOWN_VALUE if current is None else _quantity(current.get("averageValue"))
        return f"{name}: {now}/{_quantity(target['averageValue'])}"
    now = _percent(dig(current, "averageUtilization")) or UNKNOWN_VALUE
    wanted = _percent(target.get("averageUtilization")) or "<auto>"
    return f"{name}: {now}/{wanted}"


def _value_target(target: dict[str, Any], current: dict[str, Any] | None) -> str:
    """Pods, Object and External metrics: "<current>/<target>", "(avg)" for averages."""
    if target.get("averageValue") is not None:
        now = UNKNOWN_VALUE
        if current is not None and current.get("averageValue") is not None:
            now = _quantity(current["averageValue"])
        return f"{now}/{_quantity(target['averageValue'])} (avg)"
    now = UNKNOWN_VALUE if current is None else _quantity(current.get("value"))
    return f"{now}/{_quantity(target.get('value'))}"


def _metric(spec: dict[str, Any], status: dict[str, Any] | None) -> str:
    kind = spec.get("type", "")
    source_field = kind[:1].lower() + kind[1:]  # "ContainerResource" -> "containerResource"
    source = spec.get(source_field)
    if not isinstance(source, dict):
        return "<unknown type>"
    current = dig(status, source_field, "current") if status else None
    target = source.get("target") or {}
    if kind in ("Resource", "ContainerResource"):
        return _resource_target(source.get("name", ""), target, current)
    if kind == "Pods":
        # Pods metrics always compare averages, without the "(avg)" suffix.
        now = UNKNOWN_VALUE if current is None else _quantity(current.get("averageValue"))
        return f"{now}/{_quantity(target.get('averageValue'))}"
    if kind in ("Object", "External"):
        return _value_target(target, current)
    return "<unknown type>"


def format_hpa_metrics(hpa: dict[str, Any]) -> str:
    """The TARGETS cell: "cpu: 50%/80%", "<unknown>" before the first measurement."""
    specs = dig(hpa, "spec", "metrics", default=[])
    if not specs:
        return "<none>"
    statuses = dig(hpa, "status", "currentMetrics", default=[])
    shown: list[str] = []
    for index, spec in enumerate(specs):
        status = statuses[index] if index < len(statuses) else None
        # Upstream pairs spec and status by position and checks the status's source.
        shown.append(_metric(spec, status))
    text = ", ".join(shown[:MAX_METRICS])
    if len(shown) > MAX_METRICS:
        return f"{text} + {len(shown) - MAX_METRICS} more..."
    return text


def hpa_cells(hpa: dict[str, Any], now: datetime.datetime) -> list[Any]:
    target = dig(hpa, "spec", "scaleTargetRef", default={})
    min_replicas = dig(hpa, "spec", "minReplicas")
    return [
        name_of(hpa),
        f"{target.get('kind', '')}/{target.get('name', '')}",
        format_hpa_metrics(hpa),
        "<unset>" if min_replicas is None else str(min_replicas),
        dig(hpa, "spec", "maxReplicas", default=0),
        dig(hpa, "status", "currentReplicas", default=0),
        age(hpa, now),
    ]


# -- pod disruption budgets -----------------------------------------------------------------

PDB_COLUMNS = (
    NAME,
    column("Min Available", "The minimum number of pods that must be available."),
    column("Max Unavailable", "The maximum number of pods that may be unavailable."),
    column(
        "Allowed Disruptions",
        "Calculated number of pods that may be disrupted at this time.",
        type="integer",
    ),
    AGE,
)


def pdb_cells(pdb: dict[str, Any], now: datetime.datetime) -> list[Any]:
    spec = pdb.get("spec") or {}
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    return [
        name_of(pdb),
        "N/A" if min_available is None else int_or_string(min_available),
        "N/A" if max_unavailable is None else int_or_string(max_unavailable),
        dig(pdb, "status", "disruptionsAllowed", default=0),
        age(pdb, now),
    ]


# -- role bindings and cluster role bindings ------------------------------------------------


def _binding_columns(kind: str) -> tuple[dict[str, Any], ...]:
    noun = kind[0].lower() + kind[1:]  # "roleBinding", as upstream writes it
    return (
        NAME,
        column("Role", doc(f"{kind}.roleRef")),
        AGE,
        column("Users", f"Users in the {noun}", priority=1),
        column("Groups", f"Groups in the {noun}", priority=1),
        column("ServiceAccounts", f"ServiceAccounts in the {noun}", priority=1),
    )


def binding_subjects(binding: dict[str, Any]) -> tuple[str, str, str]:
    """Users, groups and service accounts ("namespace/name"), each joined by ", "."""
    users: list[str] = []
    groups: list[str] = []
    accounts: list[str] = []
    for subject in binding.get("subjects") or []:
        kind, name = subject.get("kind"), subject.get("name", "")
        if kind == "ServiceAccount":
            accounts.append(f"{subject.get('namespace', '')}/{name}")
        elif kind == "User":
            users.append(name)
        elif kind == "Group":
            groups.append(name)
    return ", ".join(users), ", ".join(groups), ", ".join(accounts)


def binding_cells(binding: dict[str, Any], now: datetime.datetime) -> list[Any]:
    ref = binding.get("roleRef") or {}
    role = f"{ref.get('kind', '')}/{ref.get('name', '')}"
    return [name_of(binding), role, age(binding, now), *binding_subjects(binding)]


RBAC = "rbac.authorization.k8s.io"
PRINTERS = {
    ("coordination.k8s.io", "leases"): Printer(LEASE_COLUMNS, lease_cells),
    ("discovery.k8s.io", "endpointslices"): Printer(ENDPOINTSLICE_COLUMNS, endpointslice_cells),
    ("autoscaling", "horizontalpodautoscalers"): Printer(HPA_COLUMNS, hpa_cells),
    ("policy", "poddisruptionbudgets"): Printer(PDB_COLUMNS, pdb_cells),
    (RBAC, "rolebindings"): Printer(_binding_columns("RoleBinding"), binding_cells),
    (RBAC, "clusterrolebindings"): Printer(_binding_columns("ClusterRoleBinding"), binding_cells),
}
