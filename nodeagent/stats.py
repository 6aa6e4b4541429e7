"""``/stats/summary``: kubelet's Summary API, what ``kubectl top`` is ultimately built on.

Where it sits: the agent's HTTPS endpoint answers ``GET /stats/summary`` with
:func:`summary`; the API server reads it for ``metrics.k8s.io`` (as metrics-server does
from real kubelets). Numbers come from the process runtime: cgroup counters when the
agent is root, ``/proc`` otherwise; the agent samples them every second or so
(:meth:`nodeagent.runtime.ProcessRuntime.sample`), which is what turns cumulative CPU
time into a rate (``usageNanoCores``).

Shape (the fields metrics consumers read, with upstream names)::

    {"node": {"nodeName", "startTime", "cpu": {"time", "usageNanoCores", "usageCoreNanoSeconds"},
              "memory": {"time", "availableBytes", "usageBytes", "workingSetBytes", "rssBytes", ...}},
     "pods": [{"podRef": {"name", "namespace", "uid"}, "startTime",
               "containers": [{"name", "startTime", "cpu": {...}, "memory": {...}}],
               "cpu": {...}, "memory": {...}, "network": {...}}]}

The *node's* usage is its pods' plus the agent's own, not the whole machine's: several
nodes of a local cluster share one machine, and each should show what runs on it.
"""

from __future__ import annotations

import datetime
import os
import resource
import time
from typing import Any

from . import quantity
from .cgroups import ProcessGroupUsage
from .runtime import ProcessRuntime
from .sync import PodSync

Obj = dict[str, Any]


def _ts(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AgentUsage:
    """The node agent's own CPU rate and memory."""

    def __init__(self) -> None:
        self._sample: tuple[float, int] | None = None
        self.nano_cores = 0

    def sample(self) -> None:
        now = time.monotonic()
        times = os.times()
        cpu = int((times.user + times.system) * 1e9)
        if self._sample is not None and now > self._sample[0]:
            self.nano_cores = max(0, int((cpu - self._sample[1]) / (now - self._sample[0])))
        self._sample = (now, cpu)

    @property
    def cpu_ns(self) -> int:
        return self._sample[1] if self._sample else 0

    @staticmethod
    def rss() -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _cpu(now: str, nano_cores: int, total: int) -> Obj:
    return {"time": now, "usageNanoCores": nano_cores, "usageCoreNanoSeconds": total}


def _memory(now: str, usage: int, working_set: int, rss: int, available: int | None = None) -> Obj:
    mem = {"time": now, "usageBytes": usage, "workingSetBytes": working_set, "rssBytes": rss,
           "pageFaults": 0, "majorPageFaults": 0}
    if available is not None:
        mem["availableBytes"] = max(0, available)
    return mem


def _network(now: str, runtime: ProcessRuntime, uid: str) -> Obj | None:
    veth = getattr(runtime.network, "veth_name", None)
    if veth is None:
        return None
    base = f"/sys/class/net/{veth(uid)}/statistics"
    try:
        # The host end of the veth receives what the pod sends, and the other way round.
        with open(f"{base}/rx_bytes") as f:
            tx = int(f.read())
        with open(f"{base}/tx_bytes") as f:
            rx = int(f.read())
    except OSError:
        return None
    interface = {"name": "eth0", "rxBytes": rx, "rxErrors": 0, "txBytes": tx, "txErrors": 0}
    return {"time": now, **interface, "interfaces": [interface]}


def summary(node_name: str, started: float, memory_capacity: str, syncs: list[PodSync],
            runtime: ProcessRuntime, agent: AgentUsage) -> Obj:
    now = _ts(time.time())
    sessions = ProcessGroupUsage.sessions() if runtime.cgroups is None else None
    pods = []
    node_cores, node_cpu, node_ws, node_rss = agent.nano_cores, agent.cpu_ns, agent.rss(), agent.rss()
    for sync in sorted(syncs, key=lambda s: s.key):
        containers = []
        pod_cores = pod_cpu = pod_ws = pod_rss = 0
        for cp in sync.containers():
            if not cp.running:
                continue
            cpu, working_set, rss = runtime.usage(cp, sessions)
            containers.append({"name": cp.name, "startTime": _ts(cp.started_at or time.time()),
                               "cpu": _cpu(now, cp.nano_cores, cpu),
                               "memory": _memory(now, working_set, working_set, rss)})
            pod_cores, pod_cpu, pod_ws, pod_rss = (pod_cores + cp.nano_cores, pod_cpu + cpu,
                                                   pod_ws + working_set, pod_rss + rss)
        if not containers:
            continue
        pod: Obj = {"podRef": {"name": sync.name, "namespace": sync.namespace, "uid": sync.uid},
                    "startTime": _ts(sync.start_time), "containers": containers,
                    "cpu": _cpu(now, pod_cores, pod_cpu), "memory": _memory(now, pod_ws, pod_ws, pod_rss),
                    "volume": [], "ephemeral-storage": {"time": now}}
        network = _network(now, runtime, sync.uid)
        if network is not None:
            pod["network"] = network
        pods.append(pod)
        node_cores, node_cpu, node_ws, node_rss = (node_cores + pod_cores, node_cpu + pod_cpu,
                                                   node_ws + pod_ws, node_rss + pod_rss)
    capacity = quantity.to_bytes(memory_capacity) if memory_capacity else 0
    return {"node": {"nodeName": node_name, "startTime": _ts(started),
                     "cpu": _cpu(now, node_cores, node_cpu),
                     "memory": _memory(now, node_ws, node_ws, node_rss, capacity - node_ws),
                     "systemContainers": [{"name": "kubelet", "startTime": _ts(started),
                                           "cpu": _cpu(now, agent.nano_cores, agent.cpu_ns),
                                           "memory": _memory(now, agent.rss(), agent.rss(), agent.rss())}]},
            "pods": pods}
