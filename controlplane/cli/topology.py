"""The shape of a local cluster: its masters and workers, addresses, ranges and timing.

Where it sits: ``kubeclass up`` decides these once, writes them to ``cluster.yaml`` in
the cluster's data directory, and reads them back on every later ``up``, ``status`` and
``down``. The rest of the CLI only asks this module where things are.

A local cluster, as docs/workloads.md describes it: master *i* runs an API server on
``127.0.0.1:<port + i - 1>``, a controller manager, a scheduler and a node agent
(``master-i`` at ``127.0.<b>.i``); worker *j* runs a node agent (``worker-j`` at
``127.0.<b>.<10 + j>``), where the block *b* is the first whose node port is free (1 when
this is the only cluster). Every node gets a /24 of the cluster's pod range. The pod and
service ranges are chosen not to overlap anything already routed on this machine, so
that several clusters (the test suite starts a few) can run side by side.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import secrets
import shutil
import socket
import subprocess

import yaml

from .. import profiles

POD_RANGES = [f"10.{n}.0.0/16" for n in range(244, 255)]
SERVICE_RANGES = [f"10.{n}.0.0/16" for n in range(96, 112)]
NODE_PORT = 10250


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
        return [self.api_port + i for i in range(self.masters)]

    def servers(self) -> list[str]:
        return [f"https://127.0.0.1:{port}" for port in self.api_ports()]

    def nodes(self) -> list[Node]:
        masters = [Node(f"master-{i}", i, True, self.node_block) for i in range(1, self.masters + 1)]
        workers = [Node(f"worker-{j}", 10 + j, False, self.node_block) for j in range(1, self.workers + 1)]
        return masters + workers

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
    def new(cls, **options) -> Topology:
        """A fresh topology with ranges nothing on this machine routes yet."""
        used = _networks_in_use()
        pod = _first_free(POD_RANGES, used)
        service = _first_free(SERVICE_RANGES, used | {ipaddress.ip_network(pod)})
        return cls(id=secrets.token_hex(2), pod_cidr=pod, service_cidr=service, node_block=_free_block(),
                   **options)


def _free_block() -> int:
    """A block 127.0.<k>.x whose node port nobody listens on (another cluster's nodes would)."""
    for block in range(1, 255):
        if all(_port_free(f"127.0.{block}.{i}", NODE_PORT) for i in (1, 2, 3, 11, 12)):
            return block
    return 1


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


def _first_free(candidates: list[str], used: set[ipaddress.IPv4Network]) -> str:
    for candidate in candidates:
        network = ipaddress.ip_network(candidate)
        if not any(network.overlaps(u) for u in used if u.prefixlen > 0):
            return candidate
    return candidates[0]  # everything looks taken: let the user see the overlap in the routes
