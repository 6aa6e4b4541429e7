"""NodeName (Filter): a pod that names its node may only go there.

A pod created with ``spec.nodeName`` set is already bound: the API server stores it
with its node and the scheduler never sees it as pending. This plugin is the rule
for the cases in between (upstream keeps it for the same reason): a pending pod
whose ``nodeName`` is set must not be placed anywhere else.
"""

from __future__ import annotations

from typing import Any

from ..framework import SUCCESS, Status
from ..nodeinfo import NodeInfo, PodInfo

NAME = "NodeName"
ERR_REASON = "node(s) didn't match the requested node name"
EVENTS = frozenset({"NodeAdd"})


def fits(pod: PodInfo, node: NodeInfo) -> Status:
    wanted = pod.spec.get("nodeName")
    if not wanted or wanted == node.name:
        return SUCCESS
    return Status.unresolvable(ERR_REASON)


class NodeName:
    NAME = NAME
    EVENTS = EVENTS

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        return fits(pod, node)


def new(_args: dict[str, Any] | None = None) -> NodeName:
    return NodeName()
