"""The shape of a local cluster: its masters and workers, addresses, ranges and timing.

Where it sits: ``kubeclass up`` decides these once, writes them to ``cluster.yaml`` in
the cluster's data directory, and reads them back on every later ``up``, ``status`` and
``down``. The rest of the CLI only asks this module where things are.

A local cluster, as docs/workloads.md describes it: haproxy listens on ``127.0.0.1:<port>``
(the endpoint kubectl uses) in front of the API servers; master *i* runs an API server on
``127.0.0.1:<port + i>``, a controller manager, a scheduler and a node agent
(``master-i`` at ``127.0.<b>.i``); worker *j* runs a node agent (``worker-j`` at
``127.0.<b>.<10 + j>``), where the block *b* is the first whose node port is free (1 when
this is the only cluster). Every node gets a /24 of the cluster's pod range. The pod and
service ranges are chosen not to overlap anything already routed on this machine, nor
what another cluster just claimed, so that several clusters (the test suite starts a
few) can run side by side.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable

import yaml

from .. import profiles

POD_RANGES = [f"10.{n}.0.0/16" for n in [*range(244, 255), *range(160, 244)]]  # 10.244 first, as kubeadm
SERVICE_RANGES = [f"10.{n}.0.0/16" for n in range(96, 112)]
NODE_PORT = 10250
ETCD_CLIENT_PORT, ETCD_PEER_PORT = 2379, 2380


@dataclasses.dataclass
class Node:
    name: str
    index: int  # 1..3 for masters, 11.. for workers: the last byte of its address
    master: bool
    block: int = 1  # the cluster's block of loopback addresses: 127.0.<block>.x

    @property
    def address(self) -> str:
        return f"127.0.{self.block}.{self.index}"


@dataclasses.dataclass
class Topology:
    id: str  # 4 hex characters: prefixes every network name this cluster creates
    masters: int = 3
    workers: int = 2
    profile: str = "classroom"
    store: str = "sqlite"  # or "etcd": a member on each master
    scoring: str = "least-allocated"  # the schedulers' NodeResourcesFit strategy: or most-allocated (bin packing)
    api_port: int = 6443
    pod_cidr: str = POD_RANGES[0]
    service_cidr: str = SERVICE_RANGES[0]
    node_block: int = 1  # node addresses are 127.0.<node_block>.x
    node_cpu: str = "2"
    node_memory: str = "4Gi"
    network: str = "auto"

    @property
    def timing(self) -> profiles.Profile:
        return profiles.get(self.profile)

    def api_ports(self) -> list[int]:
        """The API servers' ports; ``api_port`` itself is the load-balanced endpoint's."""
        return [self.api_port + 1 + i for i in range(self.masters)]

    def servers(self) -> list[str]:
        """The API servers, one per master (components fail over between them)."""
        return [f"https://127.0.0.1:{port}" for port in self.api_ports()]

    def endpoint(self) -> str:
        """The load-balanced endpoint in front of them (kubectl's)."""
        return f"https://127.0.0.1:{self.api_port}"

    def nodes(self) -> list[Node]:
        masters = [Node(f"master-{i}", i, True, self.node_block) for i in range(1, self.masters + 1)]
        workers = [Node(f"worker-{j}", 10 + j, False, self.node_block) for j in range(1, self.workers + 1)]
        return masters + workers

    def etcd_members(self) -> list[tuple[str, str, str]]:
        """(name, client URL, peer URL) of each master's etcd member, on the master's address."""
        return [(node.name, f"http://{node.address}:{ETCD_CLIENT_PORT}", f"http://{node.address}:{ETCD_PEER_PORT}")
                for node in self.nodes() if node.master]

    def home_server(self, node: Node) -> str:
        """The API server a node's agent talks to first (the others are its failover):
        a master's own, as on a kubeadm master; workers take turns, to spread the load."""
        servers = self.servers()
        return servers[(node.index - 1) % len(servers)] if node.master else servers[(node.index - 11) % len(servers)]

    def node_pod_cidr(self, node: Node) -> str:
        network = ipaddress.ip_network(self.pod_cidr)
        return str(ipaddress.ip_network(f"{network.network_address + node.index * 256}/24"))

    def kubernetes_service_ip(self) -> str:
        return str(ipaddress.ip_network(self.service_cidr).network_address + 1)

    # -- persistence ---------------------------------------------------------------

    def save(self, path: str) -> None:
        with open(path, "w") as f:
            yaml.safe_dump(dataclasses.asdict(self), f, sort_keys=False)

    @classmethod
    def load(cls, path: str) -> Topology | None:
        if not os.path.exists(path):
            return None
        with open(path) as f:
            data = yaml.safe_load(f) or {}
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def new(cls, home: str, **options) -> Topology:
        """A fresh topology with ranges nothing on this machine routes yet, and that no
        other cluster being created at the same moment has claimed (see :class:`Claims`)."""
        used = _networks_in_use()
        claims = Claims(home)
        pod = claims.first(POD_RANGES, lambda r: not _overlaps(r, used))
        service = claims.first(SERVICE_RANGES, lambda r: not _overlaps(r, used | {ipaddress.ip_network(pod)}))
        block = claims.first([str(b) for b in range(1, 255)], lambda b: all(
            _port_free(f"127.0.{b}.{i}", NODE_PORT) for i in (1, 2, 3, 11, 12)))
        return cls(id=secrets.token_hex(2), pod_cidr=pod, service_cidr=service, node_block=int(block), **options)


class Claims:
    """Which cluster took which range, for clusters created at the same time.

    Routes show the ranges of running clusters, but a cluster only routes its pod range
    once its node agents start; two clusters created within seconds of each other (test
    runs side by side) would pick the same one. So each choice is also claimed: a file
    ``<claims dir>/<range>`` created exclusively, naming the cluster's data directory. A
    claim whose cluster has since been deleted (or was never saved, after a minute) is free again.
    """

    def __init__(self, home: str) -> None:
        self.home = home
        self.dir = os.environ.get("KUBECLASS_CLAIMS_DIR") or os.path.join(tempfile.gettempdir(), "kubeclass-claims")

    def first(self, candidates: list[str], usable: Callable[[str], bool]) -> str:
        os.makedirs(self.dir, mode=0o1777, exist_ok=True)
        for candidate in candidates:
            if usable(candidate) and self._claim(candidate):
                return candidate
        return candidates[0]  # everything looks taken: let the user see the overlap in the routes

    def _claim(self, candidate: str) -> bool:
        path = os.path.join(self.dir, candidate.replace("/", "_"))
        for _ in range(2):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                if not self._stale(path):
                    return False
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(self.home)
            return True
        return False

    def _stale(self, path: str) -> bool:
        try:
            with open(path) as f:
                owner = f.read().strip()
            age = time.time() - os.stat(path).st_mtime
        except OSError:
            return True
        return owner == self.home or (not os.path.exists(os.path.join(owner, "cluster.yaml")) and age > 60)


def free_port(count: int = 4) -> int:
    """A port on 127.0.0.1 free together with the ``count - 1`` after it: a cluster's load
    balancer listens on port, its three API servers on port + 1 to port + 3 (for tests and
    benchmarks, which run clusters side by side)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + count <= 65535 and all(_port_free("127.0.0.1", p) for p in range(port, port + count)):
            return port
    raise RuntimeError("no free port range on 127.0.0.1")


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def _networks_in_use() -> set[ipaddress.IPv4Network]:
    """Every IPv4 network routed or assigned on this machine (empty without iproute2)."""
    if not shutil.which("ip"):
        return set()
    found: set[ipaddress.IPv4Network] = set()
    for cmd in (["ip", "-4", "route", "show", "table", "all"], ["ip", "-4", "-o", "addr", "show"]):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        for word in out.split():
            if word[:1].isdigit() and ("/" in word or word.count(".") == 3):
                try:
                    found.add(ipaddress.ip_network(word, strict=False))
                except ValueError:
                    continue
    return found


def _overlaps(candidate: str, used: set[ipaddress.IPv4Network]) -> bool:
    network = ipaddress.ip_network(candidate)
    return any(network.overlaps(u) for u in used if u.prefixlen > 0)
