"""The node agent's settings: what its flags say, checked and filled in.

Where it sits: :mod:`nodeagent.cli` parses the command line into an :class:`AgentConfig`;
every other part of the agent receives it (or the piece of it it needs). Nothing here
talks to the cluster or the operating system beyond reading a few facts about the machine.

Timings come from the cluster's profile (``controlplane/profiles.py``) plus the two the
node agent alone cares about: the container restart back-off (kubelet: 10 s doubling to
5 min; classroom: 1 s doubling to 20 s) and how often the node re-posts an unchanged
status (kubelet's ``nodeStatusReportFrequency``, 5 min).
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import os
import re

from controlplane import profiles

from . import quantity

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"


@dataclasses.dataclass(frozen=True)
class Timing:
    """Every wait of the node agent, from one timing profile."""

    lease_seconds: int
    lease_renew: float
    status_check: float  # how often the node's status is recomputed (kubelet: 10 s)
    status_report: float  # an unchanged status is re-posted this often (kubelet: 5 min)
    backoff_initial: float  # CrashLoopBackOff: the first wait ...
    backoff_max: float  # ... doubling up to this
    pod_resync: float  # each pod worker looks again at least this often

    @classmethod
    def from_profile(cls, name: str) -> Timing:
        p = profiles.get(name)
        if name == "kubernetes":
            return cls(p.node_lease_seconds, p.node_renew_seconds, 10.0, 300.0, 10.0, 300.0, 10.0)
        return cls(p.node_lease_seconds, p.node_renew_seconds, 1.0, 60.0, 1.0, 20.0, 2.0)


@dataclasses.dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str

    def to_api(self) -> dict[str, str]:
        taint = {"key": self.key, "effect": self.effect}
        if self.value:
            taint["value"] = self.value
        return taint


@dataclasses.dataclass(frozen=True)
class AgentConfig:
    kubeconfig: str
    node_name: str
    address: str
    servers: tuple[str, ...] = ()  # API servers to fail over to, after the kubeconfig's
    port: int = 10250
    pod_cidr: str = ""
    cluster_id: str = ""
    cluster_cidr: str = "10.244.0.0/16"
    service_cidr: str = "10.96.0.0/16"
    cpu: str = ""  # "" = what the machine has
    memory: str = ""
    max_pods: int = 110
    labels: tuple[tuple[str, str], ...] = ()
    taints: tuple[Taint, ...] = ()
    data_dir: str = ""
    profile: str = "classroom"
    network: str = "auto"  # auto | netns | loopback
    proxy_mode: str = "userspace"  # userspace | none: who serves ClusterIPs and NodePorts
    pod_routes: bool = False  # route other nodes' pod CIDRs via their addresses (hosts of their own)
    tls_cert_file: str = ""
    tls_private_key_file: str = ""
    client_ca_file: str = ""

    @property
    def timing(self) -> Timing:
        return Timing.from_profile(self.profile)

    @property
    def node_index(self) -> int:
        """Which slice of the cluster's pod range this node has: 10.244.N.0/24 -> N.

        Bridge names and loopback pod addresses are built from it, so two nodes of one
        cluster on the same machine never collide."""
        return node_index(self.pod_cidr, self.cluster_cidr)


def node_index(pod_cidr: str, cluster_cidr: str) -> int:
    pod = ipaddress.ip_network(pod_cidr)
    cluster = ipaddress.ip_network(cluster_cidr)
    if not pod.subnet_of(cluster):  # type: ignore[arg-type]
        return int(pod.network_address) // pod.num_addresses % 256
    return (int(pod.network_address) - int(cluster.network_address)) // pod.num_addresses


def default_pod_cidr(address: str, cluster_cidr: str = "10.244.0.0/16") -> str:
    """Without ``--pod-cidr``: the /24 of the cluster range numbered like the node's address
    (127.0.1.12 -> 10.244.12.0/24), which is unique among the nodes of a local cluster."""
    cluster = ipaddress.ip_network(cluster_cidr)
    last = int(ipaddress.ip_address(address)) & 0xFF
    return str(ipaddress.ip_network((int(cluster.network_address) + last * 256, 24)))


def default_cluster_id(server: str) -> str:
    """Without ``--cluster-id``: four hex characters from the API server's address, the
    same for every node of one cluster."""
    return hashlib.sha256(server.encode()).hexdigest()[:4]


def default_data_dir(node_name: str) -> str:
    home = os.environ.get("KUBECLASS_HOME") or os.path.join(os.path.expanduser("~"), ".kubeclass", "local")
    return os.path.join(home, "nodes", node_name)


_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def parse_labels(text: str) -> tuple[tuple[str, str], ...]:
    """``k=v,k2=v2`` (kubelet's ``--node-labels``); a key alone means the value ""."""
    labels = []
    for item in filter(None, (s.strip() for s in (text or "").split(","))):
        key, _, value = item.partition("=")
        if not _LABEL_KEY.match(key):
            raise ValueError(f"invalid label key {key!r} in --labels")
        labels.append((key, value))
    return tuple(labels)


def parse_taints(text: str) -> tuple[Taint, ...]:
    """``key=value:Effect`` or ``key:Effect`` (kubelet's ``--register-with-taints``)."""
    taints = []
    for item in filter(None, (s.strip() for s in (text or "").split(","))):
        kv, sep, effect = item.rpartition(":")
        if not sep or effect not in TAINT_EFFECTS:
            raise ValueError(f"invalid taint {item!r}: write key=value:Effect with Effect one of "
                             f"{', '.join(TAINT_EFFECTS)}")
        key, _, value = kv.partition("=")
        if not _LABEL_KEY.match(key):
            raise ValueError(f"invalid taint key {key!r}")
        taints.append(Taint(key, value, effect))
    return tuple(taints)


def machine_cpus() -> int:
    return os.cpu_count() or 1


def machine_memory() -> int:
    """Bytes of memory this machine has (MemTotal)."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def capacity(config: AgentConfig) -> dict[str, str]:
    """The Node's ``status.capacity``: from flags, else from the machine (as kubelet)."""
    cpu = str(quantity.parse(config.cpu).normalize()) if config.cpu else str(machine_cpus())
    if config.memory:
        memory = quantity.format_kib(quantity.to_bytes(config.memory))
    else:
        memory = quantity.format_kib(machine_memory())
    st = os.statvfs(config.data_dir if os.path.isdir(config.data_dir) else "/")
    storage = quantity.format_kib(st.f_blocks * st.f_frsize)
    return {"cpu": cpu, "memory": memory, "pods": str(config.max_pods), "ephemeral-storage": storage,
            "hugepages-1Gi": "0", "hugepages-2Mi": "0"}
