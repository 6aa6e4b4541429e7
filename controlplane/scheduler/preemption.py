"""Could preemption help? The "preemption: ..." half of a FailedScheduling message.

Where it sits: after Filter has found no node (upstream's PostFilter extension
point, where the DefaultPreemption plugin runs). Upstream would now look for
lower-priority pods to evict. **kubeclass does not evict**; it answers the same
question per node, with upstream's words, so the message a student reads is the one
a real cluster prints::

    0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: },
    2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for
    scheduling, 2 No preemption victims found for incoming pod.

Per node:

* rejected as ``UNSCHEDULABLE_AND_UNRESOLVABLE`` (a taint, a label, a cordon): evicting
  pods cannot change that - "Preemption is not helpful for scheduling";
* rejected as ``UNSCHEDULABLE`` (cpu, memory, ports) but no pod there has a lower
  ``priority`` than the incoming one - "No preemption victims found for incoming pod";
* even without every lower-priority pod the node is still rejected: that filter's
  reasons (e.g. "Insufficient memory");
* without them the pod *would* fit: upstream would preempt here; kubeclass says
  that it does not (:data:`NOT_IMPLEMENTED`).

A pod with ``preemptionPolicy: Never`` may not preempt at all, and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .framework import Code, Status, fit_error
from .nodeinfo import NodeInfo, PodInfo, Snapshot

NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_IMPLEMENTED = "Preemption would help, but kubeclass does not preempt pods"
NOT_ELIGIBLE = "not eligible due to preemptionPolicy=Never."


def explain(pod: PodInfo, snapshot: Snapshot, rejected: Mapping[str, Status],
            run_filters: Callable[[PodInfo, NodeInfo], Status]) -> str:
    """The PostFilter message for a pod that fits nowhere ("preemption: ...")."""
    if pod.spec.get("preemptionPolicy") == "Never":
        return f"preemption: {NOT_ELIGIBLE}"
    statuses: dict[str, Status] = {}
    for node in snapshot.nodes:
        status = rejected.get(node.name)
        if status is None or status.code is not Code.UNSCHEDULABLE:
            statuses[node.name] = Status.unresolvable(NOT_HELPFUL)
            continue
        victims = {p.key for p in node.pods if p.priority < pod.priority}
        if not victims:
            statuses[node.name] = Status.unresolvable(NO_VICTIMS)
            continue
        without = run_filters(pod, node.without_pods(victims))
        statuses[node.name] = without if not without.success else Status.unschedulable(NOT_IMPLEMENTED)
    return "preemption: " + fit_error(len(snapshot), statuses)
