"""The pods table: the one every student looks at first.

Where it sits: ``build_table`` uses :data:`PRINTERS` for ("", "pods"). The STATUS column
is not a field of the pod: like upstream's ``printPod`` (``pkg/printers/internalversion``)
it is worked out from the phase, the init containers and the containers, in this order:

1. start from ``status.reason`` or else ``status.phase`` ("Pending", "Running", ...);
2. a pod held back by scheduling gates says "SchedulingGated";
3. the first init container that has not finished successfully decides, if any:
   "Init:0/2" while it runs, "Init:CrashLoopBackOff" while it waits, "Init:Error" or
   "Init:ExitCode:1" when it failed;
4. otherwise the containers decide, the *first* container winning: a waiting reason
   ("ContainerCreating", "CrashLoopBackOff", "ErrImagePull"), else a terminated reason
   ("Completed", "Error", "OOMKilled"); a pod whose containers say "Completed" while one
   still runs is "Running" (or "NotReady" without the Ready condition);
5. a pod being deleted is "Terminating" (or "Unknown" when its node was lost).

RESTARTS adds up the restart counts and, when a container has restarted, says when the
most recent one ended: "3 (5m ago)".
"""

from __future__ import annotations

import datetime
from typing import Any

from controlplane.api.tables.columns import AGE, NAME, Printer, column, doc
from controlplane.api.tables.format import (
    NONE,
    age,
    aware,
    dig,
    human_duration,
    name_of,
    parse_time,
)

COLUMNS = (
    NAME,
    column("Ready", "The aggregate readiness state of this pod for accepting traffic."),
    column("Status", "The aggregate status of the containers in this pod."),
    column(
        "Restarts",
        "The number of times the containers in this pod have been restarted and when the "
        "last container in this pod has restarted.",
    ),
    AGE,
    column("IP", doc("PodStatus.podIP"), priority=1),
    column("Node", doc("PodSpec.nodeName"), priority=1),
    column("Nominated Node", doc("PodStatus.nominatedNodeName"), priority=1),
    column("Readiness Gates", doc("PodSpec.readinessGates"), priority=1),
)

# The reason the node lifecycle controller gives a pod on a node that stopped reporting.
NODE_UNREACHABLE_REASON = "NodeLost"
TERMINAL_PHASES = ("Succeeded", "Failed")


class _Restarts:
    """Restart count and the end of the most recent previous run, over some containers."""

    def __init__(self) -> None:
        self.count = 0
        self.last: datetime.datetime | None = None

    def add(self, status: dict[str, Any]) -> None:
        self.count += status.get("restartCount", 0)
        finished = parse_time(dig(status, "lastState", "terminated", "finishedAt"))
        if finished is not None and (self.last is None or finished > self.last):
            self.last = finished


def _is_sidecar(container: dict[str, Any] | None) -> bool:
    """A "restartable" init container (``restartPolicy: Always``) keeps running beside
    the app containers, so it counts towards READY like one of them."""
    return container is not None and container.get("restartPolicy") == "Always"


def _has_condition(pod: dict[str, Any], kind: str) -> bool:
    for condition in dig(pod, "status", "conditions", default=[]):
        if condition.get("type") == kind:
            return condition.get("status") == "True"
    return False


def _terminated_reason(terminated: dict[str, Any], prefix: str = "") -> str:
    if terminated.get("reason"):
        return prefix + terminated["reason"]
    if terminated.get("signal"):
        return f"{prefix}Signal:{terminated['signal']}"
    return f"{prefix}ExitCode:{terminated.get('exitCode', 0)}"


def _init_reason(
    pod: dict[str, Any], restarts: _Restarts, sidecars: _Restarts
) -> tuple[str | None, int]:
    """Walk the init containers in order; return (reason, ready sidecars).

    The reason is None when every init container has finished (or, for a sidecar, started).
    """
    init_containers = dig(pod, "spec", "initContainers", default=[])
    specs = {c.get("name"): c for c in init_containers}
    statuses = dig(pod, "status", "initContainerStatuses", default=[])
    ready = 0
    for index, status in enumerate(statuses):
        restarts.add(status)
        sidecar = _is_sidecar(specs.get(status.get("name")))
        if sidecar:
            sidecars.add(status)
        state = status.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and terminated.get("exitCode", 0) == 0:
            continue
        if sidecar and status.get("started"):
            ready += 1 if status.get("ready") else 0
            continue
        if terminated is not None:
            return _terminated_reason(terminated, "Init:"), ready
        if waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            return "Init:" + waiting["reason"], ready
        return f"Init:{index}/{len(init_containers)}", ready
    return None, ready


def _container_reason(pod: dict[str, Any], reason: str, restarts: _Restarts) -> tuple[str, int]:
    """Let the app containers speak; return (reason, ready containers)."""
    ready = 0
    running = False
    # Walked backwards so that the first container's state is the one left in `reason`.
    for status in reversed(dig(pod, "status", "containerStatuses", default=[])):
        restarts.add(status)
        state = status.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if waiting and waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated is not None:
            reason = _terminated_reason(terminated)
        elif status.get("ready") and state.get("running") is not None:
            running = True
            ready += 1
    if reason == "Completed" and running:
        reason = "Running" if _has_condition(pod, "Ready") else "NotReady"
    return reason, ready


def pod_status(pod: dict[str, Any]) -> tuple[str, int, _Restarts]:
    """The STATUS text, the number of ready containers, and the restarts to show."""
    status = pod.get("status") or {}
    phase = status.get("phase", "")
    reason = status.get("reason") or phase
    for condition in status.get("conditions") or []:
        gated = condition.get("reason") == "SchedulingGated"
        if condition.get("type") == "PodScheduled" and gated:
            reason = "SchedulingGated"

    restarts, sidecars = _Restarts(), _Restarts()
    init_reason, ready = _init_reason(pod, restarts, sidecars)
    if init_reason is not None:
        reason = init_reason
    if init_reason is None or _has_condition(pod, "Initialized"):
        # Once the pod is initialized only the sidecars' restarts still matter.
        restarts = sidecars
        reason, running_ready = _container_reason(pod, reason, restarts)
        ready += running_ready

    if dig(pod, "metadata", "deletionTimestamp"):
        if status.get("reason") == NODE_UNREACHABLE_REASON:
            reason = "Unknown"
        elif phase not in TERMINAL_PHASES:
            reason = "Terminating"
    return reason, ready, restarts


def _pod_ip(pod: dict[str, Any]) -> str:
    # The apiserver fills podIPs from podIP when only the latter is set; do the same.
    return dig(pod, "status", "podIPs", 0, "ip") or dig(pod, "status", "podIP") or NONE


def _readiness_gates(pod: dict[str, Any]) -> str:
    gates = dig(pod, "spec", "readinessGates", default=[])
    if not gates:
        return NONE
    conditions = dig(pod, "status", "conditions", default=[])
    passed = 0
    for gate in gates:
        match = next((c for c in conditions if c.get("type") == gate.get("conditionType")), None)
        passed += 1 if match is not None and match.get("status") == "True" else 0
    return f"{passed}/{len(gates)}"


def pod_cells(pod: dict[str, Any], now: datetime.datetime) -> list[Any]:
    reason, ready, restarts = pod_status(pod)
    containers = dig(pod, "spec", "containers", default=[])
    sidecars = [c for c in dig(pod, "spec", "initContainers", default=[]) if _is_sidecar(c)]
    restarts_text = str(restarts.count)
    if restarts.count and restarts.last is not None:
        restarts_text += f" ({human_duration(aware(now) - restarts.last)} ago)"
    return [
        name_of(pod),
        f"{ready}/{len(containers) + len(sidecars)}",
        reason,
        restarts_text,
        age(pod, now),
        _pod_ip(pod),
        dig(pod, "spec", "nodeName") or NONE,
        dig(pod, "status", "nominatedNodeName") or NONE,
        _readiness_gates(pod),
    ]


def pod_conditions(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """Upstream marks finished pods' rows ``Completed`` so clients can tell them apart."""
    phase = dig(pod, "status", "phase")
    if phase == "Succeeded":
        message = "The pod has completed successfully."
    elif phase == "Failed":
        message = "The pod failed."
    else:
        return []
    return [{"type": "Completed", "status": "True", "reason": phase, "message": message}]


PRINTERS = {("", "pods"): Printer(COLUMNS, pod_cells, pod_conditions)}
