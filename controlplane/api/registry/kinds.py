"""Strategies of the built-in kinds that behave differently from the generic one.

Where it sits: the catalog (``registry/__init__.py``) builds one Strategy per
resource; these subclasses add what upstream's per-kind strategies add:

* Pod: a new pod starts ``Pending`` with its QoS class; a pod bound to a node is
  deleted gracefully (its node agent finishes the deletion);
* Node: may carry status on create (a node agent registers itself that way);
* Namespace: starts ``Active``; DELETE turns it ``Terminating`` and it stays until
  the namespace controller has emptied it and cleared ``spec.finalizers`` through
  the ``finalize`` subresource;
* events.k8s.io/v1 Event: the same objects as core/v1 events, converted field by
  field, as upstream stores one and serves both.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from ..resources import ResourceInfo
from .strategy import Strategy

# -- pods --------------------------------------------------------------------------

_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+|[a-zA-Z]*)$")
_SUFFIXES = {
    "": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}


def quantity_value(value: Any) -> float | None:
    """A resource quantity as a number ("500m" -> 0.5, "1Gi" -> 1073741824), None if malformed."""
    if isinstance(value, (int, float)):
        return float(value)
    m = _QUANTITY.match(str(value).strip())
    if not m:
        return None
    number, suffix = m.groups()
    try:
        if suffix[:1] in ("e", "E"):
            return float(number + suffix)
        return float(number) * _SUFFIXES[suffix]
    except (KeyError, ValueError):
        return None


def qos_class(spec: dict[str, Any]) -> str:
    """Guaranteed, Burstable or BestEffort, from the containers' requests and limits (upstream's GetPodQOS)."""
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    any_set, guaranteed = False, True
    for c in containers:
        resources = c.get("resources") or {}
        limits = {k: quantity_value(v) for k, v in (resources.get("limits") or {}).items() if k in ("cpu", "memory")}
        requests = {k: quantity_value(v) for k, v in (resources.get("requests") or {}).items() if k in ("cpu", "memory")}
        limits = {k: v for k, v in limits.items() if v}
        requests = {k: v for k, v in requests.items() if v}
        any_set = any_set or bool(limits) or bool(requests)
        if set(limits) != {"cpu", "memory"}:
            guaranteed = False
        elif any(requests.get(k, limits[k]) != limits[k] for k in limits):
            guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


class PodStrategy(Strategy):
    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj.get("spec") or {})}

    def graceful_period(self, obj: dict[str, Any], requested: int | None) -> int:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        # Nobody runs a pod that is not bound, or has finished: nothing to wait for.
        if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
            return 0
        if requested is not None:
            return max(requested, 0)
        return int(spec.get("terminationGracePeriodSeconds", 30))


# -- nodes -------------------------------------------------------------------------


class NodeStrategy(Strategy):
    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        """Nodes may set status on create: that is how a node agent registers."""


# -- namespaces --------------------------------------------------------------------


class NamespaceStrategy(Strategy):
    def __init__(self, info: ResourceInfo, deleting: Callable[[str], None] = lambda name: None) -> None:
        super().__init__(info)
        self.deleting = deleting  # told at once: admission must not wait for a watch to learn it

    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        obj["status"] = {"phase": "Active"}

    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        # spec.finalizers only change through the finalize subresource.
        super().prepare_for_update(new, old)
        new.setdefault("spec", {})["finalizers"] = copy.deepcopy((old.get("spec") or {}).get("finalizers", []))

    def prepare_for_subresource(self, subresource: str, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        if subresource != "finalize":
            return super().prepare_for_subresource(subresource, new, old)
        result = copy.deepcopy(old)
        result.setdefault("spec", {})["finalizers"] = list((new.get("spec") or {}).get("finalizers") or [])
        return result

    def prepare_for_delete(self, obj: dict[str, Any]) -> None:
        obj.setdefault("status", {})["phase"] = "Terminating"
        self.deleting(obj["metadata"]["name"])

    def blocks_deletion(self, obj: dict[str, Any]) -> bool:
        return bool((obj.get("spec") or {}).get("finalizers"))


# -- events ------------------------------------------------------------------------

# events.k8s.io/v1 field -> core/v1 field (upstream pkg/apis/events/v1/conversion.go)
_EVENT_FIELDS = {
    "regarding": "involvedObject",
    "note": "message",
    "reportingController": "reportingComponent",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
_CORE_TO_V1 = {core: v1 for v1, core in _EVENT_FIELDS.items()}


class EventsV1Strategy(Strategy):
    """events.k8s.io/v1 Event: stored as a core/v1 Event, served in the newer shape."""

    def to_storage(self, obj: dict[str, Any]) -> dict[str, Any]:
        out = {_EVENT_FIELDS.get(k, k): v for k, v in obj.items()}
        out["apiVersion"], out["kind"] = "v1", "Event"
        return out

    def from_storage(self, obj: dict[str, Any]) -> dict[str, Any]:
        out = {_CORE_TO_V1.get(k, k): v for k, v in obj.items()}
        out["apiVersion"], out["kind"] = "events.k8s.io/v1", "Event"
        return out
