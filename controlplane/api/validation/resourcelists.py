"""Resource names and amounts: a container's requests and limits, a node's capacity.

Where it sits: the container validator checks ``resources`` with
:func:`validate_resource_requirements`; the node validator checks ``status.capacity``
and ``status.allocatable`` with :func:`validate_resource_quantity_value`.

What it promises: upstream's rules for which names a container may ask for (``cpu``,
``memory``, ``ephemeral-storage``, ``hugepages-*`` or a domain-prefixed extended
resource such as ``nvidia.com/gpu``), that no request exceeds its limit, and that
extended resources, which cannot be overcommitted, ask for exactly their limit.
"""

from __future__ import annotations

from typing import Any

from ..fielderrors import FieldError, Path, forbidden, invalid, required
from . import quantity
from .meta import IS_NEGATIVE, is_qualified_name

_STANDARD_RESOURCES = {
    "cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory",
    "requests.ephemeral-storage", "limits.cpu", "limits.memory", "limits.ephemeral-storage",
    "pods", "resourcequotas", "services", "replicationcontrollers", "secrets", "configmaps",
    "persistentvolumeclaims", "storage", "requests.storage", "services.nodeports",
    "services.loadbalancers",
}
_STANDARD_CONTAINER_RESOURCES = {"cpu", "memory", "ephemeral-storage"}
_INTEGER_RESOURCES = {
    "pods", "resourcequotas", "services", "replicationcontrollers", "secrets", "configmaps",
    "persistentvolumeclaims", "services.nodeports", "services.loadbalancers",
}


def is_huge_pages(name: str) -> bool:
    return name.startswith("hugepages-")


def is_native(name: str) -> bool:
    """Unprefixed names and those under kubernetes.io/ belong to Kubernetes itself."""
    return "/" not in name or "kubernetes.io/" in name


def is_extended(name: str) -> bool:
    """A vendor's resource (``example.com/dongle``): counted in whole units, never overcommitted."""
    if is_native(name) or name.startswith("requests."):
        return False
    return not is_qualified_name("requests." + name)


def overcommit_allowed(name: str) -> bool:
    return is_native(name) and not is_huge_pages(name)


def _is_standard(name: str) -> bool:
    return name in _STANDARD_RESOURCES or name.startswith(("hugepages-", "requests.hugepages-"))


def validate_resource_name(name: str, path: Path) -> list[FieldError]:
    errs = [invalid(str(path), name, msg) for msg in is_qualified_name(name)]
    if errs:
        return errs
    if "/" not in name and not _is_standard(name):
        errs.append(invalid(str(path), name, "must be a standard resource type or fully qualified"))
    return errs


def validate_container_resource_name(name: str, path: Path) -> list[FieldError]:
    errs = validate_resource_name(name, path)
    if "/" not in name:
        if name not in _STANDARD_CONTAINER_RESOURCES and not is_huge_pages(name):
            errs.append(invalid(str(path), name, "must be a standard resource for containers"))
    elif not is_native(name) and not is_extended(name):
        errs.append(invalid(str(path), name, "doesn't follow extended resource name standard"))
    return errs


def validate_resource_quantity_value(name: str, q: quantity.Quantity,
                                     path: Path) -> list[FieldError]:
    errs = []
    if q.value < 0:
        errs.append(invalid(str(path), str(q), IS_NEGATIVE))
    if (name in _INTEGER_RESOURCES or is_extended(name)) and q.milli_value() % 1000 != 0:
        errs.append(invalid(str(path), str(q), "must be an integer"))
    return errs


def parse_resource_list(resources: Any,
                        path: Path) -> tuple[dict[str, quantity.Quantity], list[FieldError]]:
    """The quantities of a ResourceList by name, and errors for amounts that do not parse
    (upstream's decoder rejects those before validation, with the same message)."""
    parsed: dict[str, quantity.Quantity] = {}
    errs: list[FieldError] = []
    for name, raw in (resources or {}).items():
        try:
            parsed[name] = quantity.parse(raw)
        except quantity.QuantityError as e:
            errs.append(invalid(str(path.key(name)), raw, str(e)))
    return parsed, errs


def validate_resource_requirements(requirements: Any, path: Path) -> list[FieldError]:
    """A container's ``resources``: names, amounts, and every request within its limit."""
    requirements = requirements or {}
    lim_path, req_path = path.child("limits"), path.child("requests")
    limits, errs = parse_resource_list(requirements.get("limits"), lim_path)
    requests, req_errs = parse_resource_list(requirements.get("requests"), req_path)
    errs += req_errs
    huge_pages = cpu_or_memory = False
    for name, q in limits.items():
        errs += validate_container_resource_name(name, lim_path.key(name))
        errs += validate_resource_quantity_value(name, q, lim_path.key(name))
        huge_pages |= is_huge_pages(name)
        cpu_or_memory |= name in ("cpu", "memory")
    for name, q in requests.items():
        errs += validate_container_resource_name(name, req_path.key(name))
        errs += validate_resource_quantity_value(name, q, req_path.key(name))
        errs += _request_within_limit(name, q, limits.get(name), req_path, lim_path)
        huge_pages |= is_huge_pages(name)
        cpu_or_memory |= name in ("cpu", "memory")
    if huge_pages and not cpu_or_memory:
        errs.append(forbidden(str(path), "HugePages require cpu or memory"))
    return errs


def _request_within_limit(name: str, request: quantity.Quantity, limit: quantity.Quantity | None,
                          req_path: Path, lim_path: Path) -> list[FieldError]:
    if limit is None:
        if overcommit_allowed(name):
            return []
        return [required(str(lim_path), "Limit must be set for non overcommitable resources")]
    if request.value != limit.value and not overcommit_allowed(name):
        return [invalid(str(req_path), str(request), f"must be equal to {name} limit of {limit}")]
    if request.value > limit.value:
        return [invalid(str(req_path), str(request),
                        f"must be less than or equal to {name} limit of {limit}")]
    return []
