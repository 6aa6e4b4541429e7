"""Simulated nodes (like kwok): many Nodes in one process, whose pods run nowhere.

Where it sits: ``python -m nodeagent --simulated --count 200 --node-name-prefix sim-``
runs :class:`SimulatedNodes` instead of a :class:`~nodeagent.agent.NodeAgent`. Each
simulated node registers, renews its Lease and posts status exactly as a real agent
does (the same :class:`~nodeagent.nodestatus.NodeStatus` and
:class:`~nodeagent.lease.NodeLease`), so the scheduler, the node lifecycle controller
and ``kubectl get nodes`` cannot tell the difference. Pods bound to them are marked
Running and Ready at once, with an IP from the node's pod range, and a deleted pod is
finished off with the same ``DELETE gracePeriodSeconds=0`` a kubelet sends. Nothing is
started: no processes, no logs, no exec. This is how a laptop shows a scheduler
spreading a Deployment over hundreds of nodes.

Pod CIDRs: node *i* gets the *i*-th range after ``--pod-cidr`` (10.244.100.0/24,
10.244.101.0/24, ...). Nodes carry the label ``kubeclass.io/simulated=true``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import logging
import threading
import time
from typing import Any

from controlplane.client import ApiError, Client, Informer, WorkQueue, is_conflict, is_not_found
from controlplane.client import resources as r

from . import podstatus
from .config import AgentConfig, capacity
from .events import EventRecorder
from .lease import NodeLease
from .network import _Allocator
from .nodestatus import NodeStatus

log = logging.getLogger(__name__)
Obj = dict[str, Any]
SIMULATED_LABEL = "kubeclass.io/simulated"
WORKERS = 4


@dataclasses.dataclass
class _Node:
    config: AgentConfig
    status: NodeStatus
    lease: NodeLease
    ips: _Allocator


class SimulatedNodes:
    def __init__(self, config: AgentConfig, *, count: int = 1, prefix: str = "sim-", client: Client | None = None) -> None:
        self.config = config
        self.names = [f"{prefix}{i}" for i in range(count)] if prefix else [config.node_name]
        self.client = client
        self.cold = False
        self.nodes: dict[str, _Node] = {}
        self.queue: WorkQueue[str] = WorkQueue("simulated-pods")
        self.pods: Informer | None = None
        self._threads: list[threading.Thread] = []

    def node_config(self, index: int, name: str) -> AgentConfig:
        base = ipaddress.ip_network(self.config.pod_cidr)
        cidr = ipaddress.ip_network((int(base.network_address) + index * base.num_addresses, base.prefixlen))
        labels = (*self.config.labels, (SIMULATED_LABEL, "true"))
        return dataclasses.replace(self.config, node_name=name, pod_cidr=str(cidr), labels=labels)

    def prepare(self) -> None:
        """Build each node's status, lease and address pool (no API calls yet)."""
        assert self.client is not None
        timing = self.config.timing
        for i, name in enumerate(self.names):
            config = self.node_config(i, name)
            status = NodeStatus(self.client, config, capacity(config), EventRecorder(None, name))
            lease = NodeLease(self.client, name, timing.lease_seconds, timing.lease_renew,
                              node_uid=lambda s=status: s.uid)
            self.nodes[name] = _Node(config, status, lease, _Allocator(ipaddress.ip_network(config.pod_cidr), 2))

    def initialize(self, stop: threading.Event) -> None:
        if self.client is None:
            self.client = Client.from_kubeconfig(self.config.kubeconfig, extra_servers=self.config.servers,
                                                 user_agent="kubeclass-nodeagent/simulated")
        self.prepare()
        for node in self.nodes.values():
            while not stop.is_set():
                try:
                    node.status.register()
                    break
                except Exception as e:  # noqa: BLE001 - the API server may not be up yet: keep trying
                    log.warning("cannot register simulated node %s yet: %s", node.config.node_name, e)
                    stop.wait(1.0)
        log.info("%d simulated node(s) registered: %s", len(self.nodes), ", ".join(self.names[:5]) +
                 (" ..." if len(self.names) > 5 else ""))
        self.pods = Informer(self.client, r.PODS)
        self.pods.add_event_handler(on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new),
                                    on_delete=self._forget)
        self.pods.start()
        for i in range(WORKERS):
            t = threading.Thread(target=self._work, name=f"simulated-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def _enqueue(self, pod: Obj) -> None:
        if (pod.get("spec") or {}).get("nodeName") in self.nodes:
            self.queue.add(r.object_key(pod))

    def _forget(self, pod: Obj) -> None:
        node = self.nodes.get((pod.get("spec") or {}).get("nodeName", ""))
        if node is not None:
            node.ips.release(pod["metadata"].get("uid", ""))

    def _work(self) -> None:
        while (key := self.queue.get()) is not None:
            try:
                self.reconcile(key)
            except Exception as e:  # noqa: BLE001 - any failure: retry with back-off
                log.info("simulated pod %s: %s", key, e)
                self.queue.add_rate_limited(key)
            else:
                self.queue.forget(key)
            finally:
                self.queue.done(key)

    def reconcile(self, key: str) -> None:
        assert self.client is not None and self.pods is not None
        pod = self.pods.cache.get(key)
        if pod is None:
            return
        meta, spec = pod["metadata"], pod.get("spec") or {}
        node = self.nodes.get(spec.get("nodeName", ""))
        if node is None:
            return
        if meta.get("deletionTimestamp"):
            try:
                self.client.delete(r.PODS, meta["name"], meta.get("namespace"), grace_period_seconds=0,
                                   preconditions={"uid": meta["uid"]})
            except ApiError as e:
                if not (is_not_found(e) or is_conflict(e)):
                    raise
            return
        status = pod.get("status") or {}
        if status.get("phase") in ("Running", "Succeeded", "Failed") and status.get("podIP"):
            return
        ip = node.ips.allocate(meta["uid"])
        now = time.time()
        self.client.patch(r.PODS, meta["name"], {"metadata": {"uid": meta["uid"]},
                                                 "status": simulated_status(pod, ip, node.config.address, now)},
                          meta.get("namespace"), subresource="status")

    def step(self, now: float) -> float:
        waits = [1.0]
        for node in self.nodes.values():
            waits.append(node.lease.step(now))
            waits.append(node.status.step(now))
        return min(waits)

    def shutdown(self) -> None:
        if self.pods is not None:
            self.pods.stop()
        self.queue.shutdown()
        for t in self._threads:
            t.join(timeout=5)


def simulated_status(pod: Obj, ip: str, host_ip: str, now: float) -> Obj:
    """Running and Ready: init containers completed, every container running since now."""
    spec = pod.get("spec") or {}

    def attempt(c: Obj, done: bool) -> podstatus.Attempt:
        cid = hashlib.sha256(f"{pod['metadata']['uid']}/{c['name']}".encode()).hexdigest()
        if done:
            return podstatus.Attempt(cid, now, now, 0, "Completed")
        return podstatus.Attempt(cid, now)

    def image_id(c: Obj) -> str:
        return f"{c.get('image', '')}@sha256:{hashlib.sha256(str(c.get('image')).encode()).hexdigest()}"

    init = [podstatus.ContainerSnapshot(c["name"], c.get("image", ""), image_id(c), attempt(c, True), ready=True)
            for c in spec.get("initContainers") or []]
    containers = [podstatus.ContainerSnapshot(c["name"], c.get("image", ""), image_id(c), attempt(c, False),
                                              ready=True, started=True) for c in spec.get("containers") or []]
    return podstatus.generate(pod, init=init, containers=containers, sandbox_ready=True, pod_ip=ip, host_ip=host_ip,
                              start_time=now, terminal=False, now=now)
