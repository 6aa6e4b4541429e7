"""The node agent: one node of the cluster, from registration to the last pod's exit.

Where it sits: ``python -m nodeagent`` (:mod:`nodeagent.cli`) builds a :class:`NodeAgent`
from its flags and runs it as a daemon (:mod:`nodeagent.daemon`). The agent wires the
parts together, and talks to the cluster only through ``controlplane.client``::

    initialize:  network (bridge or loopback range) ─ cgroups ─ process runtime
                 register the Node ─ informers: pods bound here (fieldSelector
                 spec.nodeName=<node>), ConfigMaps, Secrets, Services, EndpointSlices,
                 Endpoints ─ HTTPS endpoint ─ service proxy (fed the last three)
    step(now):   renew the Lease ─ post node status when due ─ sample usage
                 (pods are synced by their own workers, woken by the informer)
    shutdown:    stop the endpoint and informers ─ stop every pod's containers ─ stop
                 the service proxy ─ remove pod network namespaces, the bridge, the
                 services interface and the cgroups it created

The pods themselves stay in the API as they are (kubelet does not delete pods when it
stops); the node lifecycle controller notices the Lease is no longer renewed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from controlplane.client import Client, Informer
from controlplane.client import resources as r

from . import config as cfg
from . import network as net
from . import proxy as svcproxy
from .backoff import Backoff
from .cgroups import Cgroups
from .daemon import Every
from .events import EventRecorder
from .lease import NodeLease
from .nodestatus import NodeStatus
from .objects import InformerSource
from .podroutes import PodRoutes, node_network
from .podworkers import PodWorkers
from .proxy_rules import ENDPOINTS, ENDPOINTSLICES
from .runtime import ProcessRuntime
from .server import KubeletServer, self_signed, tls_context
from .stats import AgentUsage, summary
from .sync import NodeContext, PodSync

log = logging.getLogger(__name__)
SHUTDOWN_GRACE = 5.0  # at most this long per container when the agent itself stops


class NodeAgent:
    def __init__(self, config: cfg.AgentConfig, client: Client | None = None,
                 proxy: svcproxy.ServiceProxy | None = None) -> None:
        self.config = config
        self.client = client
        self.proxy: svcproxy.ServiceProxy = proxy or svcproxy.NoProxy()
        self._own_proxy = proxy is None  # built in initialize, once the network mode is known
        self.cold = False  # a second SIGTERM: stop containers without grace
        self.started = time.time()
        self.network: net.PodNetwork | None = None
        self.cgroups: Cgroups | None = None
        self.runtime: ProcessRuntime | None = None
        self.events: EventRecorder | None = None
        self.node: NodeStatus | None = None
        self.lease: NodeLease | None = None
        self.workers: PodWorkers | None = None
        self.informers: list[Informer] = []
        self.server: KubeletServer | None = None
        self.usage = AgentUsage()
        self.sampling = Every(1.0, jitter=0.0)
        self.capacity: dict[str, str] = {}

    # -- initialize ----------------------------------------------------------------

    def initialize(self, stop: threading.Event) -> None:
        c = self.config
        os.makedirs(c.data_dir, exist_ok=True)
        if self.client is None:
            self.client = Client.from_kubeconfig(c.kubeconfig, extra_servers=c.servers,
                                                 user_agent=f"kubeclass-nodeagent/{c.node_name}")
        timing = c.timing
        self.network = net.choose(c.network, cluster_id=c.cluster_id, node_index=c.node_index, pod_cidr=c.pod_cidr,
                                  cluster_cidr=c.cluster_cidr, service_cidr=c.service_cidr,
                                  state_file=os.path.join(c.data_dir, "network.json"),
                                  extra_routes=self._node_routes())
        self.network.setup()
        if self._own_proxy:
            self.proxy = svcproxy.choose(c.proxy_mode, network_mode=self.network.mode, cluster_id=c.cluster_id,
                                         node_index=c.node_index, node_name=c.node_name, node_address=c.address,
                                         service_cidr=c.service_cidr)
        self.cgroups = Cgroups.create(f"kc{c.cluster_id}-{c.node_name}")
        if self.cgroups is not None:
            self.cgroups.remove_all()  # what a killed predecessor left
            self.cgroups = Cgroups.create(f"kc{c.cluster_id}-{c.node_name}")
        self.runtime = ProcessRuntime(c.data_dir, self.network, self.cgroups, use_rootfs=os.geteuid() == 0,
                                      node_name=c.node_name, host_ip=c.address)
        log.info("node %s: network %s, cgroups %s, pod CIDR %s", c.node_name, self.network.mode,
                 "yes" if self.cgroups else "no (limits from /proc)", c.pod_cidr)
        self.capacity = cfg.capacity(c)
        self.events = EventRecorder(self.client, c.node_name)
        self.events.start()
        self.node = NodeStatus(self.client, c, self.capacity, self.events)
        self._register(stop)
        self.lease = NodeLease(self.client, c.node_name, timing.lease_seconds, timing.lease_renew,
                               node_uid=lambda: self.node.uid if self.node else "")
        self._start_pods(timing)
        self._start_server()
        self.proxy.start()

    def _node_routes(self) -> tuple[str, ...]:
        """With --pod-routes, pods also reach the hosts' network (see podroutes)."""
        network = node_network(self.config.address) if self.config.pod_routes else None
        return (network,) if network else ()

    def _register(self, stop: threading.Event) -> None:
        assert self.node is not None
        delay = 0.5
        while not stop.is_set():
            try:
                self.node.register()
                return
            except Exception as e:  # noqa: BLE001 - the API server may not be up yet: keep trying
                log.warning("cannot register node %s yet: %s", self.config.node_name, e)
                stop.wait(delay)
                delay = min(delay * 2, 7.0)

    def _start_pods(self, timing: cfg.Timing) -> None:
        assert self.client is not None and self.runtime is not None and self.events is not None
        informer = {res.resource: Informer(self.client, res) for res in (r.CONFIGMAPS, r.SECRETS, r.SERVICES)}
        pods = Informer(self.client, r.PODS, field_selector=f"spec.nodeName={self.config.node_name}")
        source = InformerSource(self.client, informer["configmaps"], informer["secrets"], informer["services"])
        ctx = NodeContext(node_name=self.config.node_name, host_ip=self.config.address, client=self.client,
                          runtime=self.runtime, source=source, events=self.events,
                          backoff=Backoff(timing.backoff_initial, timing.backoff_max), resync=timing.pod_resync,
                          allocatable=dict(self.capacity))
        workers = self.workers = PodWorkers(lambda pod: PodSync(ctx, pod))
        ctx.wake = workers.wake
        def changed(obj: dict[str, Any]) -> None:  # its pods' volumes may need new content
            workers.wake_namespace((obj.get("metadata") or {}).get("namespace", ""))

        for kind in ("configmaps", "secrets"):
            informer[kind].add_event_handler(on_update=lambda old, new: changed(new), on_delete=changed)
        services = informer["services"]
        slices = informer["endpointslices"] = Informer(self.client, ENDPOINTSLICES)
        endpoints = informer["endpoints"] = Informer(self.client, ENDPOINTS)

        def resync_proxy(*args: Any) -> None:  # the proxy converges from the whole state, whatever changed
            self.proxy.sync(services.cache.list(), slices.cache.list() + endpoints.cache.list())

        for inf in (services, slices, endpoints):
            inf.add_event_handler(on_add=resync_proxy, on_update=resync_proxy, on_delete=resync_proxy)
        if self.config.pod_routes and self.network is not None and self.network.mode == "netns":
            routes = PodRoutes(self.config.node_name)
            nodes = informer["nodes"] = Informer(self.client, r.NODES)

            def resync_routes(*args: Any) -> None:
                routes.sync(nodes.cache.list())

            nodes.add_event_handler(on_add=resync_routes, on_update=resync_routes, on_delete=resync_routes)
        pods.add_event_handler(on_add=workers.update, on_update=lambda old, new: workers.update(new),
                               on_delete=workers.remove)
        self.informers = [*informer.values(), pods]
        for inf in informer.values():
            inf.start()
        for inf in informer.values():
            inf.wait_for_sync(10)  # so the first pods see their ConfigMaps; they fall back to GETs anyway
        pods.start()

    def _start_server(self) -> None:
        assert self.client is not None and self.runtime is not None
        c = self.config
        cert, key = c.tls_cert_file, c.tls_private_key_file
        if not (cert and key):
            cert, key = self_signed(os.path.join(c.data_dir, "pki"), c.node_name, c.address)
        client_ca = c.client_ca_file or self.client.config.ca_file
        self.server = KubeletServer(c.address, c.port, self, tls_context(cert, key, client_ca))
        self.server.start()
        log.info("serving logs, exec and stats on https://%s:%d", c.address, self.server.port)

    # -- what the HTTPS endpoint asks ------------------------------------------------

    def find_pod(self, namespace: str, name: str) -> PodSync | None:
        return self.workers.find(namespace, name) if self.workers else None

    def pods(self) -> list[dict[str, Any]]:
        return [s.pod for s in self.workers.syncs()] if self.workers else []

    def summary(self) -> dict[str, Any]:
        assert self.runtime is not None
        return summary(self.config.node_name, self.started, self.capacity.get("memory", ""),
                       self.workers.syncs() if self.workers else [], self.runtime, self.usage)

    # -- step --------------------------------------------------------------------------

    def step(self, now: float) -> float:
        waits = []
        if self.lease is not None:
            waits.append(self.lease.step(now))
        if self.node is not None:
            waits.append(self.node.step(now))
        if self.sampling.due(now) and self.runtime is not None:
            self.runtime.sample()
            self.usage.sample()
            self.sampling.done(now)
        waits.append(self.sampling.wait(now))
        return min(waits)

    # -- shutdown ------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop serving, stop every pod's processes, and remove what the agent created."""
        log.info("node agent %s stopping", self.config.node_name)
        if self.server is not None:
            self.server.stop()
        for inf in self.informers:
            inf.stop()
        if self.workers is not None:
            self.workers.shutdown(0.0 if self.cold else SHUTDOWN_GRACE, timeout=SHUTDOWN_GRACE + 15)
        self.proxy.stop()
        if self.network is not None:
            self.network.teardown()
        if self.cgroups is not None:
            self.cgroups.remove_all()
        if self.events is not None:
            self.events.stop()
        log.info("node agent %s stopped", self.config.node_name)
