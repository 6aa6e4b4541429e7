"""NodeAffinity (Filter and Score): the pod chooses nodes by their labels.

Two ways to require, one way to prefer:

* ``spec.nodeSelector: {disktype: ssd}`` - every pair must be a label of the node;
* ``affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution`` - node
  selector terms (ORed) of expressions (ANDed) with In, NotIn, Exists,
  DoesNotExist, Gt, Lt;
* ``preferredDuringSchedulingIgnoredDuringExecution`` - weighted terms; a node
  scores the sum of the weights of the terms it matches, scaled so the best node
  gets 100.

"IgnoredDuringExecution": a label removed later does not evict the pod. The filter's
rejection is ``UNSCHEDULABLE_AND_UNRESOLVABLE``: evicting pods changes no labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..framework import SKIP, SUCCESS, CycleState, Status, default_normalize
from ..matching import preferred_terms, required_node_affinity_matches, term_matches
from ..nodeinfo import NodeInfo, PodInfo, Snapshot

NAME = "NodeAffinity"
ERR_REASON = "node(s) didn't match Pod's node affinity/selector"
EVENTS = frozenset({"NodeAdd", "NodeLabelChange"})


def fits(pod: PodInfo, node: NodeInfo) -> Status:
    if required_node_affinity_matches(pod.pod, node.node or {}):
        return SUCCESS
    return Status.unresolvable(ERR_REASON)


def preferred_score(terms: list[dict[str, Any]], node: NodeInfo) -> int:
    """The sum of the weights of the preferred terms this node matches (before normalizing)."""
    return sum(int(t.get("weight") or 0) for t in terms if term_matches(t.get("preference") or {}, node.node or {}))


class NodeAffinity:
    NAME = NAME
    EVENTS = EVENTS

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        return fits(pod, node)

    def pre_score(self, state: CycleState, pod: PodInfo, feasible: Sequence[NodeInfo],
                  snapshot: Snapshot) -> Status:
        terms = preferred_terms(pod.pod)
        if not terms:
            return SKIP  # no preference: this plugin has no opinion on any node
        state[NAME] = terms
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return preferred_score(state[NAME], node)

    def normalize(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> None:
        default_normalize(scores)


def new(_args: dict[str, Any] | None = None) -> NodeAffinity:
    return NodeAffinity()
