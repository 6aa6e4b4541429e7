"""The pod status a node agent writes, computed as kubelet computes it.

Where it sits: at the end of every pod sync (:mod:`nodeagent.sync`) the agent turns what
it knows (each container's current and previous attempt, probe results, the sandbox)
into a ``PodStatus`` with :func:`generate`, and PATCHes ``pods/<name>/status`` when it
differs from what it wrote last. Everything here is a pure function of its arguments,
so unit tests can feed it situations directly.

What a student can read off the result:

* ``containerStatuses[]`` / ``initContainerStatuses[]``: ``state`` is one of
  ``waiting`` (ContainerCreating, PodInitializing, CrashLoopBackOff,
  CreateContainerConfigError, ImageNotRunnable ...), ``running`` or ``terminated``
  (Completed, Error, OOMKilled, StartError); ``lastState`` is the attempt before;
  ``restartCount``, ``ready``, ``started``, ``containerID`` (``kubeclass://<id>``),
  ``image``, ``imageID`` (always present: the Python client requires them);
* ``phase`` by upstream's ``getPhase``: Pending while an init container or any
  container has not run yet; Running once all started and one runs (or restarts);
  Succeeded/Failed when nothing will run again;
* kubelet's conditions ``PodReadyToStartContainers``, ``Initialized``, ``ContainersReady``,
  ``Ready`` with upstream's reasons and messages; conditions kubelet does not own
  (``PodScheduled``, readiness gates) are kept as the API has them;
* ``hostIP(s)``, ``podIP(s)``, ``startTime``; ``qosClass`` is the API server's and left alone.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

Obj = dict[str, Any]
KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready")
RUNTIME_PREFIX = "kubeclass://"


def timestamp(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One start of a container, running or finished."""

    container_id: str
    started_at: float
    finished_at: float | None = None
    exit_code: int | None = None
    reason: str = ""
    message: str = ""
    signal: int | None = None

    @property
    def running(self) -> bool:
        return self.finished_at is None

    def terminated(self) -> Obj:
        state: Obj = {"exitCode": self.exit_code if self.exit_code is not None else 0,
                      "reason": self.reason or ("Completed" if self.exit_code == 0 else "Error"),
                      "startedAt": timestamp(self.started_at),
                      "finishedAt": timestamp(self.finished_at or self.started_at),
                      "containerID": RUNTIME_PREFIX + self.container_id}
        if self.message:
            state["message"] = self.message
        if self.signal:
            state["signal"] = self.signal
        return state


@dataclasses.dataclass(frozen=True)
class ContainerSnapshot:
    """What the agent knows about one container when it writes status."""

    name: str
    image: str
    image_id: str = ""
    current: Attempt | None = None
    previous: Attempt | None = None
    restart_count: int = 0
    waiting_reason: str = ""  # why it is not running now (with current finished: it will restart)
    waiting_message: str = ""
    ready: bool = False  # running and passing readiness (an init container: completed with 0)
    started: bool = False  # running and past its startup probe


def container_status(snap: ContainerSnapshot) -> Obj:
    status: Obj = {"name": snap.name, "image": snap.image, "imageID": snap.image_id if snap.current else "",
                   "ready": snap.ready, "restartCount": snap.restart_count, "started": snap.started,
                   "lastState": {}}
    current, previous = snap.current, snap.previous
    if current is not None and current.running:
        status["state"] = {"running": {"startedAt": timestamp(current.started_at)}}
        if previous is not None:
            status["lastState"] = {"terminated": previous.terminated()}
    elif current is not None and not snap.waiting_reason:
        status["state"] = {"terminated": current.terminated()}
        if previous is not None:
            status["lastState"] = {"terminated": previous.terminated()}
    else:
        waiting: Obj = {"reason": snap.waiting_reason or "ContainerCreating"}
        if snap.waiting_message:
            waiting["message"] = snap.waiting_message
        status["state"] = {"waiting": waiting}
        last = current or previous
        if last is not None:
            status["lastState"] = {"terminated": last.terminated()}
    if current is not None:
        status["containerID"] = RUNTIME_PREFIX + current.container_id
    return status


# -- phase --------------------------------------------------------------------------


def get_phase(pod: Obj, init_statuses: list[Obj], statuses: list[Obj], terminal: bool) -> str:
    """Upstream's ``getPhase`` (without sidecar init containers)."""
    spec = pod.get("spec") or {}
    policy = spec.get("restartPolicy") or "Always"
    by_name = {s["name"]: s for s in init_statuses}
    pending_init = failed_init = 0
    for c in spec.get("initContainers") or []:
        s = by_name.get(c["name"])
        state = (s or {}).get("state") or {}
        if s is None or "running" in state:
            pending_init += 1
        elif "terminated" in state:
            if state["terminated"].get("exitCode", 0) != 0:
                failed_init += 1
        elif "waiting" in state:
            last = (s.get("lastState") or {}).get("terminated")
            if last is not None and last.get("exitCode", 0) != 0:
                failed_init += 1
            elif last is None:
                pending_init += 1
        else:
            pending_init += 1
    if failed_init and policy == "Never":
        return "Failed"
    if pending_init:
        return "Pending"

    by_name = {s["name"]: s for s in statuses}
    unknown = running = waiting = stopped = succeeded = 0
    for c in spec.get("containers") or []:
        s = by_name.get(c["name"])
        if s is None:
            unknown += 1
            continue
        state = s.get("state") or {}
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"].get("exitCode", 0) == 0
        elif "waiting" in state:
            if (s.get("lastState") or {}).get("terminated") is not None:
                stopped += 1
            else:
                waiting += 1
        else:
            unknown += 1
    if waiting:
        return "Pending"
    if running and not unknown:
        return "Running"
    if not running and stopped and not unknown:
        if terminal:
            return "Succeeded" if stopped == succeeded else "Failed"
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if policy == "Never" else "Running"
    return "Pending"


# -- conditions ---------------------------------------------------------------------


def _names(items: list[str]) -> str:
    return "[" + " ".join(items) + "]"  # Go's fmt of a []string


def _containers_ready(pod: Obj, statuses: list[Obj], phase: str) -> Obj:
    if phase in ("Succeeded", "Failed"):
        return {"type": "ContainersReady", "status": "False",
                "reason": "PodCompleted" if phase == "Succeeded" else "PodFailed"}
    by_name = {s["name"]: s for s in statuses}
    unknown, unready = [], []
    for c in (pod.get("spec") or {}).get("containers") or []:
        s = by_name.get(c["name"])
        if s is None:
            unknown.append(c["name"])
        elif not s.get("ready"):
            unready.append(c["name"])
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: {_names(unknown)}")
    if unready:
        messages.append(f"containers with unready status: {_names(unready)}")
    if messages:
        return {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady",
                "message": ", ".join(messages)}
    return {"type": "ContainersReady", "status": "True"}


def _ready(pod: Obj, containers_ready: Obj, existing: list[Obj]) -> Obj:
    if containers_ready["status"] != "True":
        return {**containers_ready, "type": "Ready"}
    problems = []
    for gate in (pod.get("spec") or {}).get("readinessGates") or []:
        cond = next((c for c in existing if c.get("type") == gate.get("conditionType")), None)
        if cond is None:
            problems.append(f'corresponding condition of pod readiness gate "{gate.get("conditionType")}" does not exist.')
        elif cond.get("status") != "True":
            problems.append(f'the status of pod readiness gate "{gate.get("conditionType")}" is not "True", '
                            f'but {cond.get("status")}')
    if problems:
        return {"type": "Ready", "status": "False", "reason": "ReadinessGatesNotReady", "message": ", ".join(problems)}
    return {"type": "Ready", "status": "True"}


def _initialized(pod: Obj, init_statuses: list[Obj], statuses: list[Obj], phase: str) -> Obj:
    init = (pod.get("spec") or {}).get("initContainers") or []
    if phase == "Succeeded" and init:
        return {"type": "Initialized", "status": "True", "reason": "PodCompleted"}
    if any("running" in (s.get("state") or {}) or (s.get("state") or {}).get("terminated") or
           (s.get("lastState") or {}).get("terminated") for s in statuses):
        return {"type": "Initialized", "status": "True"}  # a regular container has run: initialized before
    by_name = {s["name"]: s for s in init_statuses}
    unknown = [c["name"] for c in init if c["name"] not in by_name]
    incomplete = [c["name"] for c in init if c["name"] in by_name and not by_name[c["name"]].get("ready")]
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: {_names(unknown)}")
    if incomplete:
        messages.append(f"containers with incomplete status: {_names(incomplete)}")
    if messages:
        return {"type": "Initialized", "status": "False", "reason": "ContainersNotInitialized",
                "message": ", ".join(messages)}
    return {"type": "Initialized", "status": "True"}


def _with_times(new: Obj, old: list[Obj], now: str) -> Obj:
    """``lastTransitionTime`` moves only when the status changes; ``lastProbeTime`` stays null."""
    prev = next((c for c in old if c.get("type") == new["type"]), None)
    changed = prev is None or prev.get("status") != new["status"]
    return {**new, "lastProbeTime": None,
            "lastTransitionTime": now if changed else prev.get("lastTransitionTime") or now}


# -- the whole status -----------------------------------------------------------------


def generate(pod: Obj, *, init: list[ContainerSnapshot], containers: list[ContainerSnapshot],
             sandbox_ready: bool, pod_ip: str, host_ip: str, start_time: float, terminal: bool,
             now: float) -> Obj:
    """The ``status`` to write for ``pod`` (without ``qosClass``, which the API server owns)."""
    old = pod.get("status") or {}
    old_conditions = list(old.get("conditions") or [])
    init_statuses = [container_status(s) for s in init]
    statuses = [container_status(s) for s in containers]
    phase = get_phase(pod, init_statuses, statuses, terminal)
    if old.get("phase") in ("Succeeded", "Failed"):
        phase = old["phase"]  # pods never leave a terminal phase
    stamp = timestamp(now)
    containers_ready = _containers_ready(pod, statuses, phase)
    conditions = [
        {"type": "PodReadyToStartContainers", "status": "True" if sandbox_ready else "False"},
        _initialized(pod, init_statuses, statuses, phase),
        _ready(pod, containers_ready, old_conditions),
        containers_ready,
    ]
    result_conditions = [_with_times(c, old_conditions, stamp) for c in conditions]
    for c in old_conditions:  # keep what others own (PodScheduled, readiness gates, DisruptionTarget)
        if c.get("type") not in KUBELET_CONDITIONS:
            result_conditions.append(c)
    if not any(c.get("type") == "PodScheduled" for c in result_conditions):
        result_conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                                  "lastTransitionTime": stamp})
    status: Obj = {"phase": phase, "conditions": result_conditions,
                   "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
                   "startTime": old.get("startTime") or timestamp(start_time),
                   "containerStatuses": statuses}
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    if init:
        status["initContainerStatuses"] = init_statuses
    for key in ("reason", "message", "nominatedNodeName"):
        if old.get(key) and phase == old.get("phase"):
            status[key] = old[key]
    return status


def comparable(status: Obj) -> Obj:
    """The status without what changes on its own (heartbeat-like times), for "did it change?"."""
    return {k: v for k, v in status.items() if k != "conditions"} | {
        "conditions": sorted((c.get("type"), c.get("status"), c.get("reason"), c.get("message"))
                             for c in status.get("conditions") or [])}
