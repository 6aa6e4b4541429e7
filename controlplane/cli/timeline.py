"""``kubeclass status --watch``: the failover timeline, printed as it happens.

Where it sits: ``kubeclass status --watch`` (:mod:`controlplane.cli.main`) runs a
:class:`Timeline` over the local cluster until Ctrl-C (or ``--seconds``). The sources in
:mod:`controlplane.cli.timeline_sources` observe processes, etcd members, API servers,
leader Leases, Nodes and Pods; each change becomes one line::

    14:02:11.204  +0.00 s  process    master-1 stopped (all it runs: etcd-1, apiserver-1, ...)
    14:02:11.395  +0.19 s  store      etcd member on master-1 unreachable
    14:02:11.396  +0.19 s  store      etcd leader lost (master-1); 2 of 3 members reachable, 2 needed ...
    14:02:12.650  +1.45 s  store      etcd leader elected: master-3 (term 4) after 1.25 s without one
    14:02:13.030  +1.83 s  leader     kube-controller-manager: master-2 took the Lease from master-1

The second column counts from the first change of an incident: a change after
:data:`QUIET` seconds without any starts a new one at +0.00 s.
"""

from __future__ import annotations

import datetime
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..client.rest import Client
from .local import LocalCluster
from .timeline_sources import ApiServers, Leases, Nodes, Pods, Processes, StoreMembers

QUIET = 20.0  # seconds without a change that end an incident
SYNC_TIMEOUT = 10.0


@dataclass(frozen=True)
class Happening:
    when: float  # time.time()
    topic: str  # process, store, apiserver, leader, node, taint, evict, pod
    text: str


class Timeline:
    """Every source of one local cluster, feeding one queue of happenings in time order."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.happenings: queue.Queue[Happening] = queue.Queue()
        t = cluster.topology
        client = Client.from_kubeconfig(cluster.admin_kubeconfig, extra_servers=t.servers())
        self.nodes = Nodes(self.say, client)
        self.leases = Leases(self.say, client)
        self.pods = Pods(self.say, client, self.nodes)
        self.informers = [self.nodes.informer, self.leases.informer, self.pods.informer]
        names = [f"apiserver-{i}" for i in range(1, t.masters + 1)]
        self.pollers = [Processes(self.say, cluster.running, cluster.machines()),
                        ApiServers(self.say, list(zip(names, t.servers())), cluster.path("pki", "ca.crt"))]
        if t.store == "etcd":
            self.pollers.append(StoreMembers(self.say, [(name, url) for name, url, _ in t.etcd_members()]))
        self._new_incident = threading.Event()

    def new_incident(self) -> None:
        """Count the next happening from +0.00 s (a benchmark calls it just before it kills)."""
        self._new_incident.set()

    def say(self, topic: str, text: str) -> None:
        self.happenings.put(Happening(time.time(), topic, text))

    def start(self) -> None:
        """Start every source; wait (bounded) for the watches' first lists, so that what
        already exists is the starting point, not a flood of "created" lines."""
        for informer in self.informers:
            informer.start()
        deadline = time.monotonic() + SYNC_TIMEOUT
        for informer in self.informers:
            informer.wait_for_sync(max(0.0, deadline - time.monotonic()))
        for poller in self.pollers:
            poller.start()

    def stop(self) -> None:
        for informer in self.informers:
            informer.stop()
        for poller in self.pollers:
            poller.stop()

    def run(self, write: Callable[[str], None], seconds: float | None = None,
            until: threading.Event | None = None) -> None:
        """Write a line per happening until ``seconds`` have passed or ``until`` is set (or
        forever: the caller's Ctrl-C ends it)."""
        deadline = None if seconds is None else time.monotonic() + seconds
        origin, last, tick = 0.0, 0.0, 0.0
        while (deadline is None or time.monotonic() < deadline) and not (until and until.is_set()):
            if time.monotonic() - tick >= 0.5:
                self.leases.check_expiry()
                tick = time.monotonic()
            try:
                h = self.happenings.get(timeout=0.2)
            except queue.Empty:
                continue
            if h.when - last > QUIET or self._new_incident.is_set():
                self._new_incident.clear()
                origin = h.when
            last = h.when
            clock = datetime.datetime.fromtimestamp(h.when).strftime("%H:%M:%S.%f")[:-3]
            write(f"{clock}  +{h.when - origin:5.2f} s  {h.topic:<9}  {h.text}")

    def summary(self) -> list[str]:
        """Where things stand now: call it before :meth:`start`, it sets the store's baseline."""
        lines = []
        store = self.cluster.topology.store
        if store == "etcd":
            members = next(p for p in self.pollers if isinstance(p, StoreMembers))
            members.look()
            lines.append(f"store: etcd, {len(members.reachable or ())} of {len(members.members)} members "
                         f"reachable, leader {members.leader or '(none)'}")
        else:
            lines.append("store: one SQLite file (no members, no election)")
        for name, holder in self.cluster.leaders().items():
            lines.append(f"leader: {name} held by {holder.split('_', 1)[0]}")
        nodes = self.cluster.nodes()
        not_ready = [name for name, ready, _ in nodes if not ready]
        lines.append(f"nodes: {len(nodes)}, NotReady: {', '.join(not_ready) or 'none'}")
        return lines
