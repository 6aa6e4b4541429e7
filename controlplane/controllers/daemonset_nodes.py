"""Which nodes a DaemonSet's pod belongs on: node selector, required node affinity, taints.

Where it sits: used by :mod:`.daemonset` to decide, node by node, whether a daemon pod
should run there (upstream's ``NodeShouldRunDaemonPod``, which borrows the scheduler's
NodeName, NodeAffinity and TaintToleration predicates). The scheduler makes the same
checks when it binds the pod; the controller makes them first so it only creates pods
that can be placed.

Two answers per node, as upstream gives them:

* ``should_run``: a daemon pod should be created here if there is none;
* ``should_continue_running``: a daemon pod already here may stay. A node that gains a
  ``NoSchedule`` taint keeps its pod (only new pods are kept off); a ``NoExecute`` taint
  the pod does not tolerate evicts it.

Daemon pods tolerate node trouble by design (a log shipper must not be evicted because
its node is under memory pressure): :data:`DAEMON_TOLERATIONS` are added to every daemon
pod, and to the pod these predicates imagine.
"""

from __future__ import annotations

import copy
from typing import Any

Obj = dict[str, Any]

NODE_NAME_FIELD = "metadata.name"

# upstream's AddOrUpdateDaemonPodTolerations: survive taint-based eviction when the node
# goes not-ready or unreachable, and ignore the conditions the node lifecycle controller
# turns into NoSchedule taints.
DAEMON_TOLERATIONS: list[Obj] = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]
HOST_NETWORK_TOLERATION: Obj = {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists",
                                "effect": "NoSchedule"}


def with_daemon_tolerations(pod_spec: Obj) -> Obj:
    """A copy of ``pod_spec`` with the daemon tolerations added (or replacing ones with the
    same key and effect, as upstream's AddOrUpdateTolerationInPodSpec does)."""
    spec = copy.deepcopy(pod_spec)
    wanted = DAEMON_TOLERATIONS + ([HOST_NETWORK_TOLERATION] if spec.get("hostNetwork") else [])
    tolerations = list(spec.get("tolerations") or [])
    for toleration in wanted:
        same = [i for i, t in enumerate(tolerations)
                if t.get("key") == toleration["key"] and t.get("effect") == toleration["effect"]]
        if same:
            tolerations[same[0]] = dict(toleration)
        else:
            tolerations.append(dict(toleration))
    spec["tolerations"] = tolerations
    return spec


def tolerates(toleration: Obj, taint: Obj) -> bool:
    """One toleration against one taint (an empty key with ``Exists`` tolerates every taint)."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    if toleration.get("operator") == "Exists":
        return True
    return (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated_taint(taints: list[Obj], tolerations: list[Obj], effects: tuple[str, ...]) -> Obj | None:
    """The first taint with one of ``effects`` that no toleration tolerates."""
    for taint in taints:
        if taint.get("effect") in effects and not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None


def _requirement_holds(req: Obj, value: str | None) -> bool:
    op, values = req.get("operator"), req.get("values") or []
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and len(values) == 1:
        try:
            have, want = int(value), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def term_matches(term: Obj, node: Obj) -> bool:
    """A nodeSelectorTerm: all its label expressions and field expressions hold. A term
    with neither matches no node (upstream treats it as "select nothing")."""
    exprs, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not exprs and not fields:
        return False
    labels = (node.get("metadata") or {}).get("labels") or {}
    node_fields = {NODE_NAME_FIELD: (node.get("metadata") or {}).get("name")}
    return (all(_requirement_holds(req, labels.get(req.get("key", ""))) for req in exprs)
            and all(_requirement_holds(req, node_fields.get(req.get("key", ""))) for req in fields))


def affinity_matches(pod_spec: Obj, node: Obj) -> bool:
    """``nodeSelector`` (every pair) and required node affinity (any one term)."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    for key, value in (pod_spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required is None:
        return True
    return any(term_matches(term, node) for term in required.get("nodeSelectorTerms") or [])


def should_run(node: Obj, template_spec: Obj) -> tuple[bool, bool]:
    """``(should_run, should_continue_running)`` for a daemon pod of this template on ``node``."""
    spec = with_daemon_tolerations(template_spec)
    node_name = (node.get("metadata") or {}).get("name")
    if spec.get("nodeName") and spec["nodeName"] != node_name:
        return False, False
    if not affinity_matches(spec, node):
        return False, False
    taints = (node.get("spec") or {}).get("taints") or []
    tolerations = spec.get("tolerations") or []
    if untolerated_taint(taints, tolerations, ("NoSchedule", "NoExecute")) is None:
        return True, True
    # Kept off new nodes by a NoSchedule taint, a pod already there may stay; NoExecute evicts.
    return False, untolerated_taint(taints, tolerations, ("NoExecute",)) is None


def pin_to_node(pod_spec: Obj, node_name: str) -> Obj:
    """A copy of ``pod_spec`` whose required node affinity selects exactly ``node_name``.

    This is how a daemon pod is placed: not by setting ``spec.nodeName`` but by an
    affinity term the scheduler honours (``matchFields: metadata.name In [node]``), so the
    scheduler still checks resources and binds it (upstream's
    ReplaceDaemonSetPodNodeNameNodeAffinity; other terms are safe to drop because the
    controller has checked them already).
    """
    spec = copy.deepcopy(pod_spec)
    affinity = spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    required = node_affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    required["nodeSelectorTerms"] = [
        {"matchFields": [{"key": NODE_NAME_FIELD, "operator": "In", "values": [node_name]}]}]
    return spec


def target_node(pod: Obj) -> str | None:
    """The node a daemon pod is for: ``spec.nodeName`` once bound, else its affinity pin."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in required.get("nodeSelectorTerms") or []:
        for req in term.get("matchFields") or []:
            if req.get("key") == NODE_NAME_FIELD and req.get("operator") == "In" and len(req.get("values") or []) == 1:
                return str(req["values"][0])
    return None
