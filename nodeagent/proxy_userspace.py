"""The service proxy: ClusterIPs and NodePorts served by the node agent itself.

Where it sits: the node agent (:mod:`nodeagent.agent`) creates one
:class:`UserspaceProxy` and calls :meth:`~UserspaceProxy.sync` with every Service,
EndpointSlice and Endpoints object its informers hold, whenever one changes. This is
kube-proxy's job, done the way its old userspace mode did it: the node really owns
each ClusterIP and a program accepts the connections. In a pod, ``curl
10.96.0.10:80`` goes::

    pod kc<id>-… eth0 10.244.11.7
      │ route 10.96.0.0/12 via 10.244.11.1 (network.py)
      ▼
    host bridge kc<id>b11 ── 10.96.0.10 is local: it is an address of kc<id>s11
      ▼
    this proxy, listening on 10.96.0.10:80 ── relays to 10.244.11.5:8080 (proxy_relay.py)

What a sync does, level-triggered (from the current state, never from the event that
woke it), on every change and every :data:`SYNC_PERIOD` seconds:

1. compute the desired routes and addresses (:func:`~nodeagent.proxy_rules.desired_state`);
2. add the missing ClusterIPs as ``/32`` to the agent's services interface
   ``kc<id>s<node index>`` (created again if someone deleted it), as kube-proxy's IPVS
   mode does with ``kube-ipvs0``; Linux accepts one local address on several
   interfaces, so agents sharing a machine never undo each other;
3. close listeners nobody wants, hand new backends to the others, open the missing
   ones: ``ClusterIP:port`` with ``SO_REUSEPORT`` (every agent on the machine listens,
   the kernel spreads the connections) and ``<node address>:<nodePort>``. A route
   without a ready backend gets no listener, so the kernel refuses its connections at
   once, as kube-proxy's REJECT rule does;
4. remove the ClusterIPs of deleted Services.

Unprivileged (``--network loopback``) the agent cannot own addresses: ClusterIPs are
not proxied (said once in the log) and only NodePorts are served. On :meth:`stop` the
listeners close, relayed connections are broken and the interface is deleted.

Some kernels are built without the ``dummy`` driver (the machines these tests were
written on among them); the interface is then a bridge with no ports, which holds
local addresses just as well (logged once).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import threading
from typing import Any

from .network import NetworkError, run_ip
from .proxy_relay import Listener, Relays
from .proxy_rules import Desired, Route, desired_state

log = logging.getLogger(__name__)

SYNC_PERIOD = 10.0  # seconds between two syncs when nothing changes (kube-proxy --sync-period: 30 s)
RETRY = 1.0  # after a failed sync


def interface_name(cluster_id: str, node_index: int, node_name: str) -> str:
    """``kc<cluster id>s<node index>``; a short hash of the node name where that passes 15 characters."""
    name = f"kc{cluster_id}s{node_index}"
    if len(name) <= 15:
        return name
    digest = hashlib.sha256(f"{cluster_id}/{node_name}".encode()).hexdigest()
    return f"kc{cluster_id}"[:10] + "s" + digest[:4]


class ServiceInterface:
    """The interface that holds this agent's ClusterIPs: ``ip link``/``ip addr`` commands, nothing else."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.kind = "dummy"

    def ensure(self) -> None:
        """Create it (or adopt the one a killed predecessor left); its addresses are synced later."""
        shown = run_ip("-d", "link", "show", self.name, check=False)
        if shown.returncode == 0:
            self.kind = "bridge" if " bridge " in shown.stdout else "dummy"
            return
        created = run_ip("link", "add", self.name, "type", "dummy", check=False)
        if created.returncode != 0:
            if "Unknown device type" not in created.stderr:
                raise NetworkError(f"ip link add {self.name} type dummy: {created.stderr.strip()}")
            log.info("this kernel has no dummy interfaces: %s is a bridge without ports instead", self.name)
            run_ip("link", "add", self.name, "type", "bridge")
            self.kind = "bridge"
        # Left down, like kube-ipvs0: local addresses work on a down interface, and
        # nothing is ever routed through it.

    def addresses(self) -> set[str]:
        out = run_ip("-o", "-4", "addr", "show", "dev", self.name).stdout
        return {line.split()[3].split("/")[0] for line in out.splitlines() if len(line.split()) > 3}

    def add(self, ip: str) -> None:
        run_ip("addr", "add", f"{ip}/32", "dev", self.name)

    def remove(self, ip: str) -> None:
        run_ip("addr", "del", f"{ip}/32", "dev", self.name, check=False)

    def delete(self) -> None:
        run_ip("link", "del", self.name, check=False)


class UserspaceProxy:
    """The :class:`~nodeagent.proxy.ServiceProxy` that serves traffic (see the module docstring)."""

    def __init__(self, *, node_name: str, node_address: str, cluster_ips: bool,
                 interface: ServiceInterface | None = None, service_cidr: str = "",
                 relays: Relays | None = None, sync_period: float = SYNC_PERIOD) -> None:
        self.node_name = node_name
        self.node_address = node_address
        self.cluster_ips = cluster_ips and interface is not None
        self.interface = interface
        self.service_cidr = ipaddress.ip_network(service_cidr) if service_cidr else None
        self.relays = relays or Relays()
        self.sync_period = sync_period
        self.listeners: dict[tuple[str, int], Listener] = {}
        self._inputs: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._said: set[str] = set()  # messages logged once
        self._failing: dict[tuple[str, int], str] = {}  # listeners that could not be opened, and why

    # -- the ServiceProxy protocol ------------------------------------------------------------

    def start(self) -> None:
        if self.interface is not None and self.cluster_ips:
            try:
                self.interface.ensure()
            except NetworkError as e:  # NodePorts still work; say why ClusterIPs do not
                log.error("service proxy: cannot create %s (%s): ClusterIPs are not proxied", self.interface.name, e)
                self.cluster_ips = False
        if not self.cluster_ips:
            log.info("service proxy: ClusterIPs are not proxied on this node: the agent owns no addresses in "
                     "loopback network mode (that needs root and --network netns); NodePorts are served on %s",
                     self.node_address)
        self._thread = threading.Thread(target=self._run, name="service-proxy", daemon=True)
        self._thread.start()

    def sync(self, services: list[dict[str, Any]], endpoints: list[dict[str, Any]]) -> None:
        """Remember the newest Services and endpoints and wake the sync loop (called on informer threads)."""
        with self._lock:
            self._inputs = (list(services), list(endpoints))
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
        for listener in self.listeners.values():
            listener.close()
        self.listeners.clear()
        self.relays.close_all()
        if self.interface is not None and self.cluster_ips:
            self.interface.delete()  # takes every ClusterIP of this agent with it

    # -- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            wait = self.sync_period
            try:
                self.converge()
            except Exception:  # a failed sync is retried soon; the loop must go on
                log.exception("service proxy: sync failed; retrying in %.0f s", RETRY)
                wait = RETRY
            self._wake.wait(wait)

    def desired(self) -> Desired:
        with self._lock:
            services, endpoints = self._inputs
        return desired_state(services, endpoints, node_name=self.node_name, node_address=self.node_address,
                             cluster_ips=self.cluster_ips)

    def converge(self) -> None:
        """One sync: make addresses and listeners match the desired state."""
        desired = self.desired()
        for message in desired.skipped:
            self._say_once(f"service proxy: not proxied: {message}")
        have: set[str] = set()
        if self.interface is not None and self.cluster_ips:
            self.interface.ensure()  # deleted by hand? back it comes, with its addresses below
            have = self.interface.addresses()
            for ip in sorted(desired.addresses - have):
                self._check_routable(ip)
                self.interface.add(ip)
        wanted = desired.listening()
        for key in [k for k in self.listeners if k not in wanted]:
            listener = self.listeners.pop(key)
            listener.close()
            log.info("service proxy: stopped listening on %s:%d (%s)", key[0], key[1], listener.route.service)
        for key, route in wanted.items():
            if key in self.listeners:
                if self.listeners[key].route != route:
                    self.listeners[key].update(route)
                    log.info("service proxy: %s:%d (%s) -> %s", key[0], key[1], route.service, _backends(route))
                continue
            self._open(key, route)
        for key in [k for k in self._failing if k not in wanted]:
            del self._failing[key]
        if self.interface is not None and self.cluster_ips:
            for ip in sorted(have - desired.addresses):
                self.interface.remove(ip)

    def _open(self, key: tuple[str, int], route: Route) -> None:
        ip, port = key
        try:
            self.listeners[key] = Listener(ip, port, route, self.relays, reuse_port=ip != self.node_address)
        except OSError as e:  # e.g. a NodePort some other program holds: try again next sync
            if self._failing.get(key) != str(e):
                log.warning("service proxy: cannot listen on %s:%d for %s: %s", ip, port, route.service, e)
            self._failing[key] = str(e)
            return
        self._failing.pop(key, None)
        log.info("service proxy: listening on %s:%d (%s) -> %s", ip, port, route.service, _backends(route))

    def _check_routable(self, ip: str) -> None:
        if self.service_cidr is not None and ipaddress.ip_address(ip) not in self.service_cidr:
            self._say_once(f"service proxy: ClusterIP {ip} is outside --service-cidr {self.service_cidr}: pods "
                           f"of this node have no route to it (give the agent the API server's "
                           f"--service-cluster-ip-range)", logging.WARNING)

    def _say_once(self, message: str, level: int = logging.INFO) -> None:
        if message not in self._said and len(self._said) < 1000:
            self._said.add(message)
            log.log(level, "%s", message)


def _backends(route: Route) -> str:
    return ", ".join(str(b) for b in route.backends) or "(none)"
