"""NodeResourcesFit (Filter and Score): does the pod fit in what the node has left?

Filter. A node can take the pod if, for every resource the pod requests,
``allocatable - requested by the pods already there >= the pod's request``, and if
one more pod stays within ``allocatable.pods``. "Already there" includes pods the
scheduler has assumed but the API server has not yet confirmed, so two pods decided
a millisecond apart cannot both take the last core. Requests, not usage, are what
count: a node where nothing runs but everything is reserved is full. One reason per
missing resource ("Insufficient cpu", "Insufficient memory", "Too many pods", ...);
the rejection is ``UNSCHEDULABLE``, because evicting pods would free room.

Score. With the pod added, how full would the node be, per resource (cpu and
memory, weight 1 each)?

* ``LeastAllocated`` (the default) prefers the emptiest node:
  ``(allocatable - requested) * 100 / allocatable`` - pods spread out;
* ``MostAllocated`` prefers the fullest node: ``requested * 100 / allocatable`` -
  bin packing, so that empty nodes can be switched off.

For the score, a container without a cpu or memory request counts as 100m / 200Mi
(upstream's "non-zero" requests); the filter counts requests as stated.
"""

from __future__ import annotations

from typing import Any

from ..framework import MAX_NODE_SCORE, SUCCESS, ScoreDefaults, Status
from ..nodeinfo import NodeInfo, PodInfo
from ..resources import CPU, EPHEMERAL_STORAGE, MEMORY, PODS

NAME = "NodeResourcesFit"
EVENTS = frozenset({"NodeAdd", "NodeAllocatableChange", "AssignedPodDelete"})
LEAST_ALLOCATED, MOST_ALLOCATED = "LeastAllocated", "MostAllocated"
DEFAULT_RESOURCES = ((CPU, 1), (MEMORY, 1))   # the scoring strategy's resources and weights


def insufficient(pod: PodInfo, node: NodeInfo) -> list[str]:
    """The reasons the pod does not fit, in upstream's order: pods, cpu, memory, storage, the rest."""
    reasons = []
    if len(node.pods) + 1 > node.allowed_pods:
        reasons.append("Too many pods")
    names = [CPU, MEMORY, EPHEMERAL_STORAGE] + sorted(n for n in pod.requests if n not in (CPU, MEMORY,
                                                                                       EPHEMERAL_STORAGE, PODS))
    for name in names:
        wanted = pod.requests.get(name, 0)
        if wanted > 0 and wanted > node.allocatable.get(name, 0) - node.requested.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return reasons


def fits(pod: PodInfo, node: NodeInfo) -> Status:
    reasons = insufficient(pod, node)
    return Status.unschedulable(*reasons) if reasons else SUCCESS


def least_requested(requested: int, capacity: int) -> int:
    """0..100: how much stays free."""
    if capacity == 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_NODE_SCORE // capacity


def most_requested(requested: int, capacity: int) -> int:
    """0..100: how much is taken (capped: pods without requests may push past capacity)."""
    if capacity == 0:
        return 0
    return min(requested, capacity) * MAX_NODE_SCORE // capacity


def score(pod: PodInfo, node: NodeInfo, strategy: str = LEAST_ALLOCATED,
          weights: tuple[tuple[str, int], ...] = DEFAULT_RESOURCES) -> int:
    """The node's score for this pod under ``strategy`` (already on 0..100)."""
    scorer = most_requested if strategy == MOST_ALLOCATED else least_requested
    total = weight_sum = 0
    for name, weight in weights:
        capacity = node.allocatable.get(name, 0)
        if capacity == 0:
            continue  # a resource the node does not have says nothing about it
        requested = node.non_zero_requested.get(name, 0) + pod.non_zero.get(name, 0)
        total += scorer(requested, capacity) * weight
        weight_sum += weight
    return total // weight_sum if weight_sum else 0


class NodeResourcesFit(ScoreDefaults):
    NAME = NAME
    EVENTS = EVENTS

    def __init__(self, strategy: str = LEAST_ALLOCATED) -> None:
        if strategy not in (LEAST_ALLOCATED, MOST_ALLOCATED):
            raise ValueError(f"scoring strategy {strategy} is not supported")
        self.strategy = strategy

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        return fits(pod, node)

    def score(self, state: dict[str, Any], pod: PodInfo, node: NodeInfo) -> int:
        return score(pod, node, self.strategy)


def new(args: dict[str, Any] | None = None) -> NodeResourcesFit:
    """``args``: ``{"scoringStrategy": {"type": "LeastAllocated" | "MostAllocated"}}``, as upstream's
    NodeResourcesFitArgs spell it."""
    strategy = ((args or {}).get("scoringStrategy") or {}).get("type") or LEAST_ALLOCATED
    return NodeResourcesFit(strategy)
