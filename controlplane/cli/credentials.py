"""Who is who in a local cluster: certificates and kubeconfigs for every component.

Where it sits: ``kubeclass up`` calls :func:`prepare` before it starts anything. As
kubeadm does, every component gets its own identity, signed by the cluster CA:

    admin                    CN kubeclass-admin, O system:masters   (your kubeconfig)
    API servers              serving cert for 127.0.0.1, localhost, kubernetes.default, ...
    API server -> nodes      CN kube-apiserver-kubelet-client        (logs, exec, metrics)
    controller managers      CN system:kube-controller-manager
    schedulers               CN system:kube-scheduler
    node agent <n>           CN system:node:<n>, O system:nodes     (client and serving)

Existing files are kept, so a cluster keeps its identities across ``down`` and ``up``.
"""

from __future__ import annotations

import os
import secrets

import pki
from pki import kubeconfig
from .topology import Node, Topology

NAME = "kubeclass"
ADMIN = "kubeclass-admin"


class Credentials:
    def __init__(self, home: str, topology: Topology) -> None:
        self.home = home
        self.topology = topology
        self.endpoint = topology.servers()[0]  # what the admin's kubeconfig names; prepare() sets it

    def path(self, *parts: str) -> str:
        return os.path.join(self.home, *parts)

    def read(self, *parts: str) -> bytes:
        with open(self.path(*parts), "rb") as f:
            return f.read()

    def prepare(self, endpoint: str) -> None:
        """Every certificate and kubeconfig (kept if present); the admin's names ``endpoint``."""
        self.endpoint = endpoint
        os.makedirs(self.path("pki", "nodes"), mode=0o700, exist_ok=True)
        os.makedirs(self.path("kubeconfigs"), mode=0o700, exist_ok=True)
        pki.ensure_cluster_pki(
            self.path("pki"), admin_user=ADMIN,
            server_dns=["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                        "kubernetes.default.svc.cluster.local"],
            server_ips=["127.0.0.1", self.topology.kubernetes_service_ip()])
        if not os.path.exists(self.path("tokens.csv")):
            pki.write_private(self.path("tokens.csv"),
                              f'{secrets.token_hex(24)},{ADMIN},1,"system:masters"\n'.encode())
        self.write_kubeconfig(self.path("admin.kubeconfig"), "admin", ADMIN, endpoint)
        self.client_cert("apiserver-kubelet-client", "kube-apiserver-kubelet-client")
        servers = self.topology.servers()
        for component, user in (("controller-manager", "system:kube-controller-manager"),
                                ("scheduler", "system:kube-scheduler")):
            self.client_cert(component, user)
            for i, server in enumerate(servers, start=1):  # each master's talks to its own API server
                self.write_kubeconfig(self.path("kubeconfigs", f"{component}-{i}.kubeconfig"), component, user, server)
        for node in self.topology.nodes():
            self.node_credentials(node)

    def client_cert(self, name: str, user: str, groups: tuple[str, ...] = ()) -> None:
        crt, key = self.path("pki", f"{name}.crt"), self.path("pki", f"{name}.key")
        if not os.path.exists(crt):
            cert, k = pki.new_cert(self.read("pki", "ca.crt"), self.read("pki", "ca.key"), user,
                                   organizations=groups, client=True)
            pki.write_private(key, k)
            pki.write_private(crt, cert)

    def node_credentials(self, node: Node) -> None:
        """A node agent's client certificate (to call the API) and serving certificate
        (for the API server's calls to its :10250), both for system:node:<name>."""
        user = f"system:node:{node.name}"
        self.client_cert(f"nodes/{node.name}-client", user, ("system:nodes",))
        crt, key = self.path("pki", "nodes", f"{node.name}.crt"), self.path("pki", "nodes", f"{node.name}.key")
        if not os.path.exists(crt):
            cert, k = pki.new_cert(self.read("pki", "ca.crt"), self.read("pki", "ca.key"), user,
                                   organizations=("system:nodes",), dns_names=[node.name],
                                   ips=[node.address], server=True, client=True)
            pki.write_private(key, k)
            pki.write_private(crt, cert)
        self.write_kubeconfig(self.path("kubeconfigs", f"{node.name}.kubeconfig"), f"nodes/{node.name}-client", user,
                              self.topology.home_server(node))

    def write_kubeconfig(self, path: str, cert_name: str, user: str, server: str | None = None) -> None:
        config = kubeconfig.build(NAME, server or self.topology.servers()[0], self.read("pki", "ca.crt"),
                                  cert_pem=self.read("pki", f"{cert_name}.crt"),
                                  key_pem=self.read("pki", f"{cert_name}.key"), user=user)
        kubeconfig.write(path, config)

    def admin_config(self) -> dict:
        return kubeconfig.build(NAME, self.endpoint, self.read("pki", "ca.crt"),
                                cert_pem=self.read("pki", "admin.crt"), key_pem=self.read("pki", "admin.key"),
                                user=ADMIN)
