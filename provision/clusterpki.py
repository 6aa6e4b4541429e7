"""The cluster's identities, made on the controller machine before any host is touched.

Data flow (B): inventory ─▶ **clusterpki** (CA and every certificate and kubeconfig, in
`<cluster dir>/pki` and `<cluster dir>/hosts/NAME/`) ─▶ the cluster playbook copies each
host its own files ─▶ etcd, API servers, controller managers, schedulers, node agents.

The CA's key never leaves this machine, as with kubeadm's external-CA mode. Every file
is made once and kept, so a second run changes nothing on the hosts; a host added to
the inventory later gets its files on the next run. What is made, and for whom:

    ca.crt / ca.key                     the cluster CA (etcd's too)
    admin                               CN kubeclass-admin, O system:masters
    tokens.csv                          a bearer token for the admin (as `kubeclass up`)
    masters:  etcd.crt                  etcd server and peer, SANs: name, address, 127.0.0.1
              etcd-client.crt           the API server's client certificate for etcd
              apiserver.crt             SANs: every master, the virtual IP, kubernetes.default...
              apiserver-kubelet-client  the API server's calls to node agents
              controller-manager, scheduler kubeconfigs (their own master's API server)
    all:      node.crt                  CN system:node:NAME, serving :10250 and client
              node.kubeconfig
"""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path

import pki
from pki import kubeconfig
from provision.inventory import Host, Inventory

ADMIN = "kubeclass-admin"
API_PORT = 6443


class ClusterError(ValueError):
    """The inventory cannot make a cluster; the message says what to add."""


def cluster_vars(inventory: Inventory) -> dict:
    """Cluster-wide settings from the inventory's vars, with defaults."""
    first = next(iter(inventory.hosts.values()), None)
    v = dict(first.vars) if first else {}
    if not inventory.groups.get("masters"):
        raise ClusterError(f"{inventory.source}: the group `masters` is empty: a cluster needs "
                           "one or three masters")
    vip = v.get("cluster_vip")
    if not vip:
        raise ClusterError(f"{inventory.source}: set vars.cluster_vip to a free address on the "
                           "hosts' network (kubectl reaches the API servers through it)")
    return {
        "cluster_name": v.get("cluster_name", "kubeclass"),
        "cluster_vip": str(vip),
        "cluster_interface": v.get("cluster_interface", "eth1"),
        "pod_cidr": v.get("pod_cidr", "10.244.0.0/16"),
        "service_cidr": v.get("service_cidr", "10.96.0.0/16"),
        "profile": v.get("profile", "classroom"),
    }


def host_vars(inventory: Inventory, cv: dict) -> dict[str, dict]:
    """Per host: its index in the inventory, its pod range, its role."""
    masters = inventory.groups.get("masters", [])
    pod_net = ipaddress.ip_network(cv["pod_cidr"])
    out = {}
    for index, name in enumerate(inventory.hosts, start=1):
        cidr = ipaddress.ip_network((int(pod_net.network_address) + index * 256, 24))
        out[name] = {"node_index": index, "node_pod_cidr": str(cidr),
                     "is_master": name in masters,
                     "master_index": masters.index(name) + 1 if name in masters else 0}
    return out


class ClusterPKI:
    def __init__(self, directory: Path, inventory: Inventory, cv: dict) -> None:
        self.dir = directory
        self.inventory = inventory
        self.cv = cv
        self.masters = [inventory.hosts[n] for n in inventory.groups.get("masters", [])]

    def path(self, *parts: str) -> Path:
        return self.dir.joinpath(*parts)

    def ensure(self) -> None:
        self.path("pki").mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.path("pki", "ca.crt").exists():
            cert, key = pki.new_ca(f"{self.cv['cluster_name']}-ca")
            pki.write_private(str(self.path("pki", "ca.key")), key)
            pki.write_private(str(self.path("pki", "ca.crt")), cert)
        self._cert(self.path("pki", "admin"), ADMIN, groups=("system:masters",), client=True)
        if not self.path("pki", "tokens.csv").exists():
            pki.write_private(str(self.path("pki", "tokens.csv")),
                              f'{secrets.token_hex(24)},{ADMIN},1,"system:masters"\n'.encode())
        for host in self.inventory.hosts.values():
            self._host(host)

    def admin_kubeconfig(self) -> dict:
        return kubeconfig.build(self.cv["cluster_name"], f"https://{self.cv['cluster_vip']}:{API_PORT}",
                                self._read("pki", "ca.crt"), cert_pem=self._read("pki", "admin.crt"),
                                key_pem=self._read("pki", "admin.key"), user=ADMIN)

    # -- per host ----------------------------------------------------------------------

    def _host(self, host: Host) -> None:
        d = self.path("hosts", host.name)
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        own = f"https://{host.address}:{API_PORT}"
        user = f"system:node:{host.name}"
        self._cert(d / "node", user, groups=("system:nodes",), dns=[host.name], ips=[host.address],
                   server=True, client=True)
        self._kubeconfig(d / "node.kubeconfig", d / "node", user,
                         own if host in self.masters else self._first_master())
        if host not in self.masters:
            return
        addresses = [m.address for m in self.masters]
        self._cert(d / "etcd", host.name, dns=[host.name, "localhost"],
                   ips=[host.address, "127.0.0.1"], server=True, client=True)
        self._cert(d / "etcd-client", "kube-apiserver-etcd-client", client=True)
        self._cert(d / "apiserver", "kube-apiserver", server=True,
                   dns=["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                        "kubernetes.default.svc.cluster.local", *[m.name for m in self.masters]],
                   ips=["127.0.0.1", self.cv["cluster_vip"], *addresses, self._service_ip()])
        self._cert(d / "apiserver-kubelet-client", "kube-apiserver-kubelet-client",
                   groups=("system:masters",), client=True)
        for component, cn in (("controller-manager", "system:kube-controller-manager"),
                              ("scheduler", "system:kube-scheduler")):
            self._cert(d / component, cn, client=True)
            self._kubeconfig(d / f"{component}.kubeconfig", d / component, cn, own)

    def _first_master(self) -> str:
        """Where a worker's agent goes first (it fails over to the others by itself)."""
        return f"https://{self.masters[0].address}:{API_PORT}"

    def _service_ip(self) -> str:
        return str(ipaddress.ip_network(self.cv["service_cidr"]).network_address + 1)

    # -- files ---------------------------------------------------------------------------

    def _read(self, *parts: str) -> bytes:
        return self.path(*parts).read_bytes()

    def _cert(self, stem: Path, cn: str, *, groups: tuple[str, ...] = (), dns: list[str] | None = None,
              ips: list[str] | None = None, server: bool = False, client: bool = False) -> None:
        crt, key = stem.with_suffix(".crt"), stem.with_suffix(".key")
        if crt.exists() and key.exists():
            return
        cert, k = pki.new_cert(self._read("pki", "ca.crt"), self._read("pki", "ca.key"), cn,
                               organizations=groups, dns_names=dns or [], ips=ips or [],
                               server=server, client=client)
        pki.write_private(str(key), k)
        pki.write_private(str(crt), cert)

    def _kubeconfig(self, path: Path, stem: Path, user: str, server: str) -> None:
        config = kubeconfig.build(self.cv["cluster_name"], server, self._read("pki", "ca.crt"),
                                  cert_pem=stem.with_suffix(".crt").read_bytes(),
                                  key_pem=stem.with_suffix(".key").read_bytes(), user=user)
        text = kubeconfig.dump(config)
        if not path.exists() or path.read_text() != text:
            pki.write_private(str(path), text.encode())
