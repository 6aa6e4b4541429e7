"""Taints, tolerations and node conditions: the pure rules of node lifecycle.

Where it sits: shared by the node lifecycle controller (:mod:`.nodelifecycle`, which
puts taints on nodes from their conditions) and the taint eviction controller
(:mod:`.nodelifecycle_eviction`, which deletes the pods that do not tolerate a node's
``NoExecute`` taints). Nothing here does I/O: each function takes the API's dicts and
returns an answer, so every rule can be read, and tested, on its own.

The vocabulary, as upstream names it (``k8s.io/api/core/v1`` and
``pkg/controller/nodelifecycle``):

* a **taint** on a node is ``{key, value, effect, timeAdded}``; two taints are the same
  taint when key and effect match (value and time do not count);
* ``NoSchedule`` keeps new pods off a node; ``NoExecute`` also removes running pods
  that do not tolerate it;
* a **toleration** on a pod matches a taint by key (empty: every key), effect (empty:
  every effect) and operator (``Exists``, or ``Equal`` with the same value); a
  ``NoExecute`` toleration may carry ``tolerationSeconds``: how long the pod may stay.
"""

from __future__ import annotations

import datetime
from typing import Any

Obj = dict[str, Any]

NO_SCHEDULE = "NoSchedule"
NO_EXECUTE = "NoExecute"

TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"

# Which condition, in which state, earns which taint (upstream's
# nodeConditionToTaintKeyStatusMap, the heart of "TaintNodesByCondition").
CONDITION_TAINTS: dict[str, dict[str, str]] = {
    "Ready": {"False": TAINT_NOT_READY, "Unknown": TAINT_UNREACHABLE},
    "MemoryPressure": {"True": "node.kubernetes.io/memory-pressure"},
    "DiskPressure": {"True": "node.kubernetes.io/disk-pressure"},
    "NetworkUnavailable": {"True": "node.kubernetes.io/network-unavailable"},
    "PIDPressure": {"True": "node.kubernetes.io/pid-pressure"},
}
# The NoSchedule taints this controller owns; any other NoSchedule taint (a master's
# control-plane taint, one a student added with kubectl taint) is left alone.
OWNED_NO_SCHEDULE_KEYS = frozenset({key for by_status in CONDITION_TAINTS.values() for key in by_status.values()}
                                   | {TAINT_UNSCHEDULABLE})

# The conditions that go Unknown when a node falls silent. NetworkUnavailable is not
# among them: upstream leaves it to whoever manages the network.
SILENT_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")


# -- time ---------------------------------------------------------------------------------


def format_time(t: float) -> str:
    """A ``metav1.Time`` string: RFC 3339 in UTC, whole seconds."""
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> float | None:
    """Seconds since the epoch from a ``metav1.Time`` or ``MicroTime``; None if unset or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value)  # "Z" and fractions, since Python 3.11
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.timestamp()


# -- conditions ---------------------------------------------------------------------------


def condition(obj: Obj, kind: str) -> Obj | None:
    """The condition of type ``kind`` in ``obj["status"]["conditions"]`` (node or pod), or None."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond  # type: ignore[no-any-return]
    return None


def mark_silent(node: Obj, now: str) -> None:
    """Set every condition a node agent reports to Unknown, in place (upstream's
    tryUpdateNodeHealth once the grace period has passed). A condition never reported
    is added as Unknown with reason ``NodeStatusNeverUpdated``."""
    conditions = node.setdefault("status", {}).setdefault("conditions", [])
    for kind in SILENT_CONDITIONS:
        cond = condition(node, kind)
        if cond is None:
            conditions.append({"type": kind, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                               "message": "Kubelet never posted node status.",
                               "lastHeartbeatTime": (node.get("metadata") or {}).get("creationTimestamp"),
                               "lastTransitionTime": now})
        elif cond.get("status") != "Unknown":
            cond.update(status="Unknown", reason="NodeStatusUnknown",
                        message="Kubelet stopped posting node status.", lastTransitionTime=now)


def is_pod_ready(pod: Obj) -> bool:
    ready = condition(pod, "Ready")
    return ready is not None and ready.get("status") == "True"


# -- taints -------------------------------------------------------------------------------


def taint(key: str, effect: str) -> Obj:
    return {"key": key, "effect": effect}


def same_taint(a: Obj, b: Obj) -> bool:
    """Upstream's Taint.MatchTaint: the same key and effect (value and time do not count)."""
    return a.get("key") == b.get("key") and a.get("effect") == b.get("effect")


def has_taint(node: Obj, key: str, effect: str) -> bool:
    return any(same_taint(t, taint(key, effect)) for t in (node.get("spec") or {}).get("taints") or [])


def no_execute_taints(node: Obj | None) -> list[Obj]:
    return [t for t in ((node or {}).get("spec") or {}).get("taints") or [] if t.get("effect") == NO_EXECUTE]


def wanted_no_schedule_taints(node: Obj) -> list[Obj]:
    """The NoSchedule taints a node's conditions (and ``spec.unschedulable``) call for."""
    wanted = []
    for cond in (node.get("status") or {}).get("conditions") or []:
        key = CONDITION_TAINTS.get(cond.get("type", ""), {}).get(cond.get("status", ""))
        if key:
            wanted.append(taint(key, NO_SCHEDULE))
    if (node.get("spec") or {}).get("unschedulable"):
        wanted.append(taint(TAINT_UNSCHEDULABLE, NO_SCHEDULE))
    return wanted


def no_schedule_diff(node: Obj) -> tuple[list[Obj], list[Obj]]:
    """(taints to add, taints to remove) so the node's owned NoSchedule taints match its conditions."""
    wanted = wanted_no_schedule_taints(node)
    present = [t for t in (node.get("spec") or {}).get("taints") or []
               if t.get("effect") == NO_SCHEDULE and t.get("key") in OWNED_NO_SCHEDULE_KEYS]
    add = [w for w in wanted if not any(same_taint(w, p) for p in present)]
    remove = [p for p in present if not any(same_taint(p, w) for w in wanted)]
    return add, remove


def swapped_taints(node: Obj, add: list[Obj], remove: list[Obj], now: str) -> list[Obj] | None:
    """The node's taints with ``remove`` taken out and ``add`` put in (stamped with
    ``timeAdded``), or None if that changes nothing (upstream's SwapNodeControllerTaint)."""
    current = list((node.get("spec") or {}).get("taints") or [])
    kept = [t for t in current if not any(same_taint(t, r) for r in remove)]
    added = [{**a, "timeAdded": now} for a in add if not any(same_taint(a, k) for k in kept)]
    if len(kept) == len(current) and not added:
        return None
    return kept + added


# -- tolerations --------------------------------------------------------------------------


def tolerates(toleration: Obj, t: Obj) -> bool:
    """Upstream's Toleration.ToleratesTaint."""
    if toleration.get("effect") and toleration["effect"] != t.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != t.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (toleration.get("value") or "") == (t.get("value") or "")
    return False


def matching_tolerations(taints: list[Obj], tolerations: list[Obj]) -> tuple[bool, list[tuple[Obj, Obj]]]:
    """Whether every taint is tolerated, and for each taint the first toleration that
    tolerates it (upstream's GetMatchingTolerations)."""
    used = []
    for t in taints:
        match = next((tol for tol in tolerations if tolerates(tol, t)), None)
        if match is None:
            return False, []
        used.append((t, match))
    return True, used
