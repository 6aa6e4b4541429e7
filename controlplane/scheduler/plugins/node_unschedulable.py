"""NodeUnschedulable (Filter): a cordoned node takes no new pods.

``kubectl cordon`` sets ``spec.unschedulable: true``; from then on the scheduler
leaves the node out, unless the pod tolerates the taint that stands for it,
``node.kubernetes.io/unschedulable:NoSchedule`` (DaemonSet pods do: they must run
everywhere). Pods already on the node stay; ``kubectl drain`` is what evicts them.

Rejection is ``UNSCHEDULABLE_AND_UNRESOLVABLE``: evicting pods would not uncordon
the node, so preemption cannot help.
"""

from __future__ import annotations

from typing import Any

from ..framework import SUCCESS, Status
from ..matching import NO_SCHEDULE, UNSCHEDULABLE_TAINT, pod_tolerations, tolerated
from ..nodeinfo import NodeInfo, PodInfo

NAME = "NodeUnschedulable"
ERR_REASON = "node(s) were unschedulable"
EVENTS = frozenset({"NodeAdd", "NodeTaintChange"})


def fits(pod: PodInfo, node: NodeInfo) -> Status:
    if not node.spec.get("unschedulable"):
        return SUCCESS
    if tolerated(pod_tolerations(pod.pod), {"key": UNSCHEDULABLE_TAINT, "effect": NO_SCHEDULE}):
        return SUCCESS
    return Status.unresolvable(ERR_REASON)


class NodeUnschedulable:
    NAME = NAME
    EVENTS = EVENTS

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        return fits(pod, node)


def new(_args: dict[str, Any] | None = None) -> NodeUnschedulable:
    return NodeUnschedulable()
