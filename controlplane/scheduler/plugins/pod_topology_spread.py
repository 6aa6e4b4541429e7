"""PodTopologySpread (Score): replicas of one workload spread across nodes and zones.

Three replicas of a web server on one node die together with that node. Upstream's
default behaviour, with no constraint written by anybody, is two soft rules for the
pods of one workload:

* across ``kubernetes.io/hostname`` (every node its own domain), ``maxSkew: 3``;
* across ``topology.kubernetes.io/zone``, ``maxSkew: 5`` (only nodes with a zone label).

"One workload" upstream is whatever the pod's Services, ReplicaSet or StatefulSet
select. kubeclass counts the pods that share the pod's controller (the
ownerReference with ``controller: true``), which is the same set for pods made by a
controller, and needs no extra informers. A pod with no controller is not spread.
Pods that state their own ``topologySpreadConstraints`` use their
``whenUnsatisfiable: ScheduleAnyway`` constraints instead, with their own selector.

Scoring (upstream's ``scoring.go``): a node's raw score is, per constraint, the
number of matching pods in its domain times ``log(domains + 2)`` plus
``maxSkew - 1``; fewer is better, so normalizing maps the lowest raw score to 100:
``100 * (max + min - score) / max``.

Arguments, as upstream's ``PodTopologySpreadArgs``: ``defaultingType: List`` with
``defaultConstraints`` replaces the system defaults (an empty list turns them off, which
the bin-packing profile does: spreading and packing pull in opposite directions).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..framework import MAX_NODE_SCORE, SKIP, SUCCESS, CycleState, Status
from ..matching import label_selector_matches, required_node_affinity_matches
from ..nodeinfo import NodeInfo, PodInfo, Snapshot

NAME = "PodTopologySpread"
HOSTNAME, ZONE = "kubernetes.io/hostname", "topology.kubernetes.io/zone"
SYSTEM_DEFAULT = ((HOSTNAME, 3), (ZONE, 5))   # (topologyKey, maxSkew)


@dataclass(frozen=True)
class Constraint:
    key: str
    max_skew: int
    selector: dict[str, Any] | None   # a LabelSelector; None with owner_uid means "same controller"
    owner_uid: str = ""

    def matches(self, pod: PodInfo, other: PodInfo) -> bool:
        if other.terminating or other.namespace != pod.namespace:
            return False
        if self.owner_uid:
            return other.controller_uid == self.owner_uid
        return label_selector_matches(self.selector, other.labels)


def constraints_for(pod: PodInfo, defaults: Sequence[tuple[str, int]] = SYSTEM_DEFAULT) -> list[Constraint]:
    """The soft constraints this pod is scored by: its own, else the defaults."""
    own = pod.spec.get("topologySpreadConstraints") or []
    if own:
        return [Constraint(c.get("topologyKey") or "", int(c.get("maxSkew") or 1), c.get("labelSelector"))
                for c in own if c.get("whenUnsatisfiable") == "ScheduleAnyway"]
    if not pod.controller_uid:
        return []
    return [Constraint(key, skew, None, pod.controller_uid) for key, skew in defaults]


def count_matching(constraint: Constraint, pod: PodInfo, node: NodeInfo) -> int:
    return sum(1 for other in node.pods if constraint.matches(pod, other))


@dataclass
class _State:
    constraints: list[Constraint]
    ignored: set[str]                      # feasible nodes lacking a required topology label
    domain_counts: list[dict[str, int]]    # per constraint: domain value -> matching pods
    weights: list[float]                   # per constraint: log(number of domains + 2)


class PodTopologySpread:
    NAME = NAME

    def __init__(self, defaults: Sequence[tuple[str, int]] = SYSTEM_DEFAULT) -> None:
        self.defaults = tuple(defaults)

    def pre_score(self, state: CycleState, pod: PodInfo, feasible: Sequence[NodeInfo],
                  snapshot: Snapshot) -> Status:
        constraints = constraints_for(pod, self.defaults)
        if not constraints:
            return SKIP
        # With the system defaults, a node without a zone label is still spread by hostname;
        # constraints the user wrote require every node scored to have all their keys.
        require_all = bool(pod.spec.get("topologySpreadConstraints"))
        ignored = {n.name for n in feasible if require_all and not all(c.key in n.labels for c in constraints)}
        domain_counts: list[dict[str, int]] = [{} for _ in constraints]
        for node in feasible:
            if node.name in ignored:
                continue
            for i, c in enumerate(constraints):
                if c.key != HOSTNAME:
                    domain_counts[i].setdefault(node.labels.get(c.key, ""), 0)
        # Count matching pods on every node of the cluster (not only feasible ones) whose
        # domain some feasible node shares, and which the pod could be placed on at all.
        for node in snapshot.nodes:
            if node.node is None or not required_node_affinity_matches(pod.pod, node.node):
                continue
            if require_all and not all(c.key in node.labels for c in constraints):
                continue
            for i, c in enumerate(constraints):
                value = node.labels.get(c.key, "")
                if c.key != HOSTNAME and value in domain_counts[i]:
                    domain_counts[i][value] += count_matching(c, pod, node)
        scored = len(feasible) - len(ignored)
        weights = [math.log((scored if c.key == HOSTNAME else len(domain_counts[i])) + 2)
                   for i, c in enumerate(constraints)]
        state[NAME] = _State(constraints, ignored, domain_counts, weights)
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        s: _State = state[NAME]
        if node.name in s.ignored:
            return 0
        raw = 0.0
        for i, c in enumerate(s.constraints):
            if c.key not in node.labels:
                continue
            if c.key == HOSTNAME:
                count = count_matching(c, pod, node)
            else:
                count = s.domain_counts[i].get(node.labels[c.key], 0)
            raw += count * s.weights[i] + (c.max_skew - 1)
        return math.floor(raw + 0.5)  # Go's math.Round: halves away from zero

    def normalize(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> None:
        s: _State = state[NAME]
        valid = [v for name, v in scores.items() if name not in s.ignored]
        lowest, highest = min(valid, default=0), max(valid, default=0)
        for name, raw in scores.items():
            if name in s.ignored:
                scores[name] = 0
            elif highest == 0:
                scores[name] = MAX_NODE_SCORE
            else:
                scores[name] = MAX_NODE_SCORE * (highest + lowest - raw) // highest


def new(args: dict[str, Any] | None = None) -> PodTopologySpread:
    args = args or {}
    if args.get("defaultingType", "System") == "System":
        return PodTopologySpread()
    return PodTopologySpread(tuple((c["topologyKey"], int(c.get("maxSkew") or 1))
                                   for c in args.get("defaultConstraints") or []
                                   if c.get("whenUnsatisfiable", "ScheduleAnyway") == "ScheduleAnyway"))
