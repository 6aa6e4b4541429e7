"""Pod networking: every pod gets its own IP address, so two pods can listen on one port.

Where it sits: the process runtime asks the node's :class:`PodNetwork` for an attachment
when it creates a pod sandbox (kubelet's ``RunPodSandbox`` → CNI ``ADD``), and releases
it when the sandbox goes (CNI ``DEL``). Two implementations, chosen by ``--network``:

**netns** (as root, the default then), what the bridge CNI plugin does::

    host                                     pod network namespace kc<id>-<uid prefix>
    kc<id>b<n> (bridge, 10.244.n.1/24) ──── veth kc<id>v<uid> ═══ eth0 10.244.n.7/24
                                                                  lo  127.0.0.1
                                             routes: 10.244.0.0/16 and 10.96.0.0/16 via 10.244.n.1
                                             (no default route: pods reach the cluster, not the world)

The host reaches every pod through its bridge; forwarding is switched on for the
bridges only (``net.ipv4.conf.<bridge>.forwarding``), so pods on different nodes of
one machine reach each other through the host, and nothing else is forwarded. Commands
are plain ``ip`` invocations, the ones a student would type.

**loopback** (unprivileged): no namespaces; each pod gets an address of its own in
``127.<100+n>.0.0/16`` (all of 127/8 is local on Linux; n wraps around past 155) and is
told to bind it through
``POD_IP``. Programs that bind ``0.0.0.0`` still work but share the node's ports.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import os
import subprocess
import threading
from typing import Protocol

log = logging.getLogger(__name__)


class NetworkError(Exception):
    """The pod network could not be set up; the message says which command failed."""


@dataclasses.dataclass(frozen=True)
class Attachment:
    ip: str
    netns: str | None = None  # path of the network namespace, None in loopback mode


class PodNetwork(Protocol):
    mode: str

    def setup(self) -> None: ...
    def add_pod(self, uid: str) -> Attachment: ...
    def remove_pod(self, uid: str) -> None: ...
    def teardown(self) -> None: ...


class _Allocator:
    """Hands out the host addresses of a network, remembering which pod has which.

    Like the host-local IPAM plugin, it goes round: the next address after the last one
    handed out, so a just-freed address is not reused at once (neighbours may still have
    the old pod's MAC address for it in their ARP caches)."""

    def __init__(self, network: ipaddress.IPv4Network, skip: int) -> None:
        self.network = network
        self.skip = skip  # addresses at the start that are not for pods (network, gateway)
        self.by_uid: dict[str, str] = {}
        self._last = skip - 1
        self._lock = threading.Lock()

    def allocate(self, uid: str) -> str:
        with self._lock:
            if uid in self.by_uid:
                return self.by_uid[uid]
            used = set(self.by_uid.values())
            count = self.network.num_addresses - 1 - self.skip
            for step in range(1, count + 1):
                offset = self.skip + (self._last - self.skip + step) % count
                ip = self.network.network_address + offset
                if (int(ip) & 0xFF) in (0, 255) or str(ip) in used:
                    continue
                self.by_uid[uid] = str(ip)
                self._last = offset
                return str(ip)
        raise NetworkError(f"no free pod address left in {self.network}")

    def release(self, uid: str) -> None:
        with self._lock:
            self.by_uid.pop(uid, None)


class LoopbackNetwork:
    mode = "loopback"

    def __init__(self, node_index: int) -> None:
        # 127.100.0.0 to 127.255.255.255 holds 156 nodes' ranges; beyond that they wrap around.
        self.range = ipaddress.ip_network(f"127.{100 + node_index % 156}.0.0/16")
        self.pods = _Allocator(self.range, 2)

    def setup(self) -> None:
        """Nothing to create: Linux answers on all of 127.0.0.0/8."""

    def add_pod(self, uid: str) -> Attachment:
        return Attachment(self.pods.allocate(uid))

    def remove_pod(self, uid: str) -> None:
        self.pods.release(uid)

    def teardown(self) -> None:
        self.pods.by_uid.clear()


def run_ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {result.stderr.strip() or 'failed'}")
    return result


class NetnsNetwork:
    mode = "netns"

    def __init__(self, cluster_id: str, node_index: int, pod_cidr: str, cluster_cidr: str, service_cidr: str,
                 state_file: str, extra_routes: tuple[str, ...] = ()) -> None:
        self.cluster_id = cluster_id
        self.extra_routes = extra_routes  # e.g. the nodes' own network, so pods answer other hosts
        self.pod_cidr = ipaddress.ip_network(pod_cidr)
        self.gateway = str(self.pod_cidr.network_address + 1)
        self.cluster_cidr = cluster_cidr
        self.service_cidr = service_cidr
        self.bridge = f"kc{cluster_id}b{node_index}"
        if len(self.bridge) > 15:
            raise NetworkError(f"bridge name {self.bridge} is longer than Linux allows (15)")
        self.state_file = state_file
        self.pods = _Allocator(self.pod_cidr, 2)
        self._namespaces: dict[str, str] = {}  # uid -> namespace name
        self._lock = threading.Lock()

    def netns_name(self, uid: str) -> str:
        return f"kc{self.cluster_id}-{uid.replace('-', '')[:12]}"

    def veth_name(self, uid: str) -> str:
        return f"kc{self.cluster_id}v{uid.replace('-', '')[:8]}"

    # -- the node's bridge ----------------------------------------------------------

    def setup(self) -> None:
        self._remove_leftovers()
        if run_ip("link", "show", self.bridge, check=False).returncode != 0:
            run_ip("link", "add", self.bridge, "type", "bridge")
        addresses = run_ip("-o", "addr", "show", "dev", self.bridge).stdout
        if f" {self.gateway}/" not in addresses:
            run_ip("addr", "add", f"{self.gateway}/{self.pod_cidr.prefixlen}", "dev", self.bridge)
        run_ip("link", "set", self.bridge, "up")
        try:
            with open(f"/proc/sys/net/ipv4/conf/{self.bridge}/forwarding", "w") as f:
                f.write("1")
        except OSError as e:  # pods of this node still work; other nodes' pods are unreachable
            log.warning("cannot enable forwarding on %s: %s", self.bridge, e)

    def teardown(self) -> None:
        for uid in list(self._namespaces):
            self.remove_pod(uid)
        run_ip("link", "del", self.bridge, check=False)
        self._save()

    # -- pods -------------------------------------------------------------------------

    def add_pod(self, uid: str) -> Attachment:
        ns, veth = self.netns_name(uid), self.veth_name(uid)
        path = f"/run/netns/{ns}"
        with self._lock:
            if uid in self._namespaces and os.path.exists(path):
                return Attachment(self.pods.by_uid[uid], path)
        ip = self.pods.allocate(uid)
        try:
            if not os.path.exists(path):
                run_ip("netns", "add", ns)
            with self._lock:
                self._namespaces[uid] = ns
                self._save()
            run_ip("link", "del", veth, check=False)
            run_ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            run_ip("link", "set", veth, "master", self.bridge, "up")
            run_ip("-n", ns, "addr", "add", f"{ip}/{self.pod_cidr.prefixlen}", "dev", "eth0")
            run_ip("-n", ns, "link", "set", "eth0", "up")
            run_ip("-n", ns, "link", "set", "lo", "up")
            run_ip("neigh", "flush", "to", ip, "dev", self.bridge, check=False)  # a previous owner's MAC
            for cidr in dict.fromkeys([self.cluster_cidr, self.service_cidr, *self.extra_routes]):
                if not ipaddress.ip_network(cidr).subnet_of(self.pod_cidr):  # type: ignore[arg-type]
                    run_ip("-n", ns, "route", "add", cidr, "via", self.gateway)
        except NetworkError:
            self.remove_pod(uid)
            raise
        return Attachment(ip, path)

    def remove_pod(self, uid: str) -> None:
        with self._lock:
            ns = self._namespaces.pop(uid, None) or self.netns_name(uid)
            self._save()
        run_ip("netns", "del", ns, check=False)  # takes eth0 and so its veth peer with it
        run_ip("link", "del", self.veth_name(uid), check=False)
        self.pods.release(uid)

    # -- after a crash ----------------------------------------------------------------

    def _save(self) -> None:
        os.makedirs(os.path.dirname(self.state_file), exist_ok=True)
        tmp = self.state_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"bridge": self.bridge, "namespaces": sorted(self._namespaces.values())}, f)
        os.replace(tmp, self.state_file)

    def _remove_leftovers(self) -> None:
        """Namespaces a previous run of this agent created and could not remove (it was killed)."""
        try:
            with open(self.state_file) as f:
                state = json.load(f)
        except (OSError, ValueError):
            return
        for ns in state.get("namespaces") or []:
            log.info("removing network namespace %s left by a previous run", ns)
            run_ip("netns", "del", ns, check=False)


def choose(mode: str, *, cluster_id: str, node_index: int, pod_cidr: str, cluster_cidr: str,
           service_cidr: str, state_file: str, extra_routes: tuple[str, ...] = ()) -> PodNetwork:
    """``--network auto`` is netns when running as root, loopback otherwise."""
    if mode == "auto":
        mode = "netns" if os.geteuid() == 0 else "loopback"
    if mode == "netns":
        if os.geteuid() != 0:
            raise NetworkError("--network netns needs root (network namespaces and bridges); "
                               "use --network loopback")
        return NetnsNetwork(cluster_id, node_index, pod_cidr, cluster_cidr, service_cidr, state_file,
                            extra_routes)
    if mode == "loopback":
        return LoopbackNetwork(node_index)
    raise NetworkError(f"unknown --network {mode!r}: choose auto, netns or loopback")
