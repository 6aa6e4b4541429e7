"""NodePorts (Filter): two pods cannot listen on the same host port of one node.

A container port with ``hostPort`` is opened on the node itself, so only one pod per
node can have it (per protocol and address; an address of 0.0.0.0, the default,
means every address and clashes with any). The pods counted are those bound to the
node and those the scheduler has just assumed there.

Rejection is ``UNSCHEDULABLE``: evicting the pod that holds the port would free it,
so this is a case where preemption could help.
"""

from __future__ import annotations

from typing import Any

from ..framework import SUCCESS, Status
from ..nodeinfo import NodeInfo, PodInfo
from ..resources import ports_conflict

NAME = "NodePorts"
ERR_REASON = "node(s) didn't have free ports for the requested pod ports"
EVENTS = frozenset({"NodeAdd", "AssignedPodDelete"})


def fits(pod: PodInfo, node: NodeInfo) -> Status:
    for wanted in pod.host_ports:
        if ports_conflict(node.used_ports, wanted):
            return Status.unschedulable(ERR_REASON)
    return SUCCESS


class NodePorts:
    NAME = NAME
    EVENTS = EVENTS

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        return fits(pod, node)


def new(_args: dict[str, Any] | None = None) -> NodePorts:
    return NodePorts()
