"""TaintToleration (Filter and Score): nodes repel pods that do not tolerate their taints.

A taint is ``key=value:effect`` on a node; a toleration on a pod lets it ignore a
taint. The effects:

* ``NoSchedule`` and ``NoExecute``: the node is out for a pod that does not tolerate
  the taint (Filter). The message names the first such taint, which is how a student
  learns why nothing lands on a control-plane node:
  "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }".
  (NoExecute also evicts running pods; that is the node lifecycle controller's job.)
* ``PreferNoSchedule``: the node stays feasible but scores lower, the more such
  taints the pod does not tolerate (Score, reversed so that fewer is better).

The filter's rejection is ``UNSCHEDULABLE_AND_UNRESOLVABLE``: evicting pods does not
remove a taint.
"""

from __future__ import annotations

from typing import Any

from ..framework import SUCCESS, CycleState, ScoreDefaults, Status, default_normalize
from ..matching import (
    NO_EXECUTE,
    NO_SCHEDULE,
    PREFER_NO_SCHEDULE,
    first_untolerated,
    node_taints,
    pod_tolerations,
    tolerated,
)
from ..nodeinfo import NodeInfo, PodInfo

NAME = "TaintToleration"
EVENTS = frozenset({"NodeAdd", "NodeTaintChange"})


def fits(pod: PodInfo, node: NodeInfo) -> Status:
    taint = first_untolerated(node_taints(node.node or {}), pod_tolerations(pod.pod), (NO_SCHEDULE, NO_EXECUTE))
    if taint is None:
        return SUCCESS
    return Status.unresolvable(f"node(s) had untolerated taint {{{taint.get('key') or ''}: {taint.get('value') or ''}}}")


def intolerable_prefer_no_schedule(pod: PodInfo, node: NodeInfo) -> int:
    """How many PreferNoSchedule taints the pod does not tolerate (the raw score: lower is better)."""
    # Only tolerations that could cover PreferNoSchedule count: empty effect, or that effect.
    tolerations = [t for t in pod_tolerations(pod.pod) if t.get("effect") in (None, "", PREFER_NO_SCHEDULE)]
    return sum(1 for taint in node_taints(node.node or {})
               if taint.get("effect") == PREFER_NO_SCHEDULE and not tolerated(tolerations, taint))


class TaintToleration(ScoreDefaults):
    NAME = NAME
    EVENTS = EVENTS

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        return fits(pod, node)

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return intolerable_prefer_no_schedule(pod, node)

    def normalize(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> None:
        default_normalize(scores, reverse=True)


def new(_args: dict[str, Any] | None = None) -> TaintToleration:
    return TaintToleration()
