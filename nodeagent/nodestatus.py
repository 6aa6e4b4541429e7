"""The Node object: registering it, and keeping its status current.

Where it sits: the node agent calls :meth:`NodeStatus.register` once at start, then
:meth:`NodeStatus.step` from its loop. The Node is what ``kubectl get nodes`` shows and
what the scheduler reads (capacity, taints, labels); its ``Ready`` condition and the
node Lease (:mod:`nodeagent.lease`) are how the node lifecycle controller tells live
nodes from dead ones. Upstream parts: kubelet's ``registerWithAPIServer``
(``kubelet_node_status.go``) and the setters of ``pkg/kubelet/nodestatus``.

* **registration**: create the Node with labels (``kubernetes.io/hostname``, ``os``,
  ``arch``, their ``beta.`` twins, plus ``--labels``), ``spec.podCIDR(s)``, taints from
  ``--taints`` (only at creation, as ``--register-with-taints``), and a full status.
  If it exists (an agent restart), the default labels are reconciled and it is reused;
* **status**: ``capacity``/``allocatable`` (from flags or the machine), ``addresses``
  (InternalIP, Hostname), ``daemonEndpoints.kubeletEndpoint.Port``, ``nodeInfo`` (all
  ten fields: the Python client wants all or none), ``images`` (the kubeclass programs)
  and the conditions MemoryPressure, DiskPressure, PIDPressure and Ready with
  upstream's reasons and messages. It is recomputed every ``status_check`` seconds and
  PATCHed when it changed or ``status_report`` seconds have passed (kubelet:
  nodeStatusReportFrequency, 5 min): with Leases, the status no longer has to be the
  heartbeat.
"""

from __future__ import annotations

import datetime
import logging
import platform
import time
from typing import Any

from controlplane import KUBECLASS_VERSION, KUBERNETES_VERSION
from controlplane.client import ApiError, Client, is_already_exists
from controlplane.client import resources as r

from .config import AgentConfig
from .daemon import Every
from .events import EventRecorder
from .images import shipped_images

log = logging.getLogger(__name__)
Obj = dict[str, Any]

ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}

CONDITIONS = [
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
]


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read(path: str, default: str = "") -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"


def node_info() -> dict[str, str]:
    """``status.nodeInfo``: all ten fields."""
    machine_id = _read("/etc/machine-id") or _read("/var/lib/dbus/machine-id")
    return {
        "architecture": ARCH.get(platform.machine(), platform.machine()),
        "bootID": _read("/proc/sys/kernel/random/boot_id"),
        "containerRuntimeVersion": f"kubeclass://{KUBECLASS_VERSION}",
        "kernelVersion": platform.release(),
        "kubeProxyVersion": "",  # deprecated and left empty since 1.31
        "kubeletVersion": KUBERNETES_VERSION,
        "machineID": machine_id,
        "operatingSystem": "linux",
        "osImage": os_image(),
        "systemUUID": _read("/sys/class/dmi/id/product_uuid") or machine_id,
    }


def default_labels(config: AgentConfig) -> dict[str, str]:
    arch = ARCH.get(platform.machine(), platform.machine())
    labels = {"beta.kubernetes.io/arch": arch, "beta.kubernetes.io/os": "linux",
              "kubernetes.io/arch": arch, "kubernetes.io/hostname": config.node_name, "kubernetes.io/os": "linux"}
    return labels


def conditions(old: list[Obj], now: str) -> list[Obj]:
    result = []
    for type_, status, reason, message in CONDITIONS:
        prev = next((c for c in old if c.get("type") == type_), None)
        moved = prev is None or prev.get("status") != status
        result.append({"type": type_, "status": status, "reason": reason, "message": message,
                       "lastHeartbeatTime": now,
                       "lastTransitionTime": now if moved else prev.get("lastTransitionTime", now)})
    return result


class NodeStatus:
    def __init__(self, client: Client, config: AgentConfig, capacity: dict[str, str], events: EventRecorder) -> None:
        self.client = client
        self.config = config
        self.capacity = capacity
        self.events = events
        timing = config.timing
        self.check = Every(timing.status_check)
        self.report_every = timing.status_report
        self.node: Obj = {}
        self._last_reported: Obj | None = None
        self._reported_at = 0.0

    @property
    def uid(self) -> str:
        return (self.node.get("metadata") or {}).get("uid", "")

    def desired_status(self, old: Obj) -> Obj:
        return {
            "capacity": dict(self.capacity), "allocatable": dict(self.capacity),
            "conditions": conditions(list(old.get("conditions") or []), _now()),
            "addresses": [{"type": "InternalIP", "address": self.config.address},
                          {"type": "Hostname", "address": self.config.node_name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.config.port}},
            "nodeInfo": node_info(),
            "images": shipped_images(),
        }

    def initial_node(self) -> Obj:
        c = self.config
        labels = {**default_labels(c), **dict(c.labels)}
        spec: Obj = {"podCIDR": c.pod_cidr, "podCIDRs": [c.pod_cidr]}
        if c.taints:
            spec["taints"] = [t.to_api() for t in c.taints]
        return {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": c.node_name, "labels": labels,
                             "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                             "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
                "spec": spec, "status": self.desired_status({})}

    def register(self, now: float | None = None) -> Obj:
        """Create the Node, or adopt the existing one. Raises ApiError/ServerUnavailable."""
        body = self.initial_node()
        try:
            self.node = self.client.create(r.NODES, body)
            log.info("registered node %s", self.config.node_name)
            self.events.node_event("Normal", "Starting", "Starting kubelet.")
            self.events.node_event("Normal", "NodeReady", f"Node {self.config.node_name} status is now: NodeReady")
        except ApiError as e:
            if not is_already_exists(e):
                raise
            existing = self.client.get(r.NODES, self.config.node_name)
            labels = {**default_labels(self.config), **dict(self.config.labels)}
            patch: Obj = {"metadata": {"labels": labels}}
            if not (existing.get("spec") or {}).get("podCIDR"):
                patch["spec"] = {"podCIDR": self.config.pod_cidr, "podCIDRs": [self.config.pod_cidr]}
            self.node = self.client.patch(r.NODES, self.config.node_name, patch)
            log.info("node %s was registered before; using it", self.config.node_name)
            self.events.node_event("Normal", "Starting", "Starting kubelet.")
        if (self.node.get("spec") or {}).get("podCIDR") not in (None, "", self.config.pod_cidr):
            log.warning("node %s has podCIDR %s but this agent was given %s; pods get addresses from %s",
                        self.config.node_name, self.node["spec"]["podCIDR"], self.config.pod_cidr, self.config.pod_cidr)
        now = time.monotonic() if now is None else now
        self._post_status(now)
        self.check.done(now)
        return self.node

    def step(self, now: float) -> float:
        if self.check.due(now):
            try:
                self._post_status(now)
                self.check.done(now)
            except Exception as e:  # noqa: BLE001 - the API server may be away: try again soon
                log.warning("cannot update node status: %s", e)
                self.check.done(now, retry_in=1.0)
        return self.check.wait(now)

    def _post_status(self, now: float) -> None:
        status = self.desired_status(self.node.get("status") or {})
        comparable = {k: v for k, v in status.items() if k != "conditions"} | {
            "conditions": [(c["type"], c["status"], c["reason"]) for c in status["conditions"]]}
        if comparable == self._last_reported and now - self._reported_at < self.report_every:
            return
        self.node = self.client.patch(r.NODES, self.config.node_name, {"status": status}, subresource="status")
        self._last_reported, self._reported_at = comparable, now

