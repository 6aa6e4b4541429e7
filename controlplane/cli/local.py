"""A local cluster on this machine: three masters and two workers, as processes.

Where it sits: behind ``kubeclass up``, ``down`` and ``status``. Everything lives in
one data directory (``~/.kubeclass/local`` unless ``KUBECLASS_HOME`` says otherwise):

    cluster.yaml          the topology: id, masters, workers, ranges, profile (topology.py)
    pki/, kubeconfigs/    every component's identity (credentials.py)
    store/cluster.db      the SQLite store the three API servers share (the cluster's state)
    etcd/<master>/        or, with --store etcd, each master's etcd member's data
    tokens.csv            static bearer tokens
    admin.kubeconfig      credentials of the cluster admin
    nodes/<node>/         each node agent's pods, volumes and container logs
    run/, logs/           the processes and their output (processes.py)

``up`` starts, in order: the etcd members (with ``--store etcd``), the API servers (waiting until each answers /readyz), the
controller managers and schedulers (they elect a leader each), and a node agent per
node; then it waits until every node is Ready. ``down`` stops them in the reverse
order, node agents first, so that they stop their pods and remove their network
namespaces and interfaces while the rest still runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import requests

from pki import kubeconfig

from . import loadbalancer
from .credentials import ADMIN, NAME, Credentials
from .processes import Process, Processes
from .topology import NODE_PORT, Topology, _port_free

READY_TIMEOUT = 60.0
NODES_TIMEOUT = 90.0

Progress = Callable[[str], None]


def etcd_binary() -> str | None:
    """etcd, from Debian's ``etcd-server`` package (or anywhere on PATH)."""
    return shutil.which("etcd") or ("/usr/bin/etcd" if os.access("/usr/bin/etcd", os.X_OK) else None)


def default_home() -> str:
    return os.environ.get("KUBECLASS_HOME") or os.path.join(os.path.expanduser("~"), ".kubeclass", "local")


class ClusterError(Exception):
    """A problem the user can act on; the message says what to do."""


class LocalCluster:
    def __init__(self, home: str | None = None, port: int | None = None, *, workers: int | None = None,
                 profile: str | None = None, masters: int | None = None, scoring: str | None = None,
                 store: str | None = None) -> None:
        self.home = os.path.abspath(home or default_home())
        self.processes = Processes(self.home)
        saved = Topology.load(self.path("cluster.yaml"))
        options = {k: v for k, v in (("api_port", port), ("workers", workers), ("profile", profile),
                                     ("masters", masters), ("scoring", scoring)) if v is not None}
        self.store_mismatch = saved is not None and store is not None and store != saved.store
        if saved is None:
            self.topology = Topology.new(self.home, **options, **({"store": store} if store else {}))
        else:
            # A cluster keeps its id and ranges; workers, timing and scoring may change between
            # runs (``up`` then restarts the processes whose settings changed).
            self.topology = saved
            for key, value in options.items():
                setattr(self.topology, key, value)
        self.credentials = Credentials(self.home, self.topology)

    # -- where things are ----------------------------------------------------------

    def path(self, *parts: str) -> str:
        return os.path.join(self.home, *parts)

    @property
    def load_balanced(self) -> bool:
        """Whether kubectl's endpoint is haproxy (installed) or, without it, master-1's API server."""
        return loadbalancer.haproxy() is not None

    @property
    def server(self) -> str:
        """What the admin's kubeconfig names."""
        return self.topology.endpoint() if self.load_balanced else self.topology.servers()[0]

    @property
    def admin_kubeconfig(self) -> str:
        return self.path("admin.kubeconfig")

    def running(self) -> dict[str, int]:
        return self.processes.running()

    def log_tail(self, name: str, lines: int = 20) -> str:
        return self.processes.tail(name, lines)

    # -- the processes -------------------------------------------------------------

    def _processes(self) -> list[Process]:
        """Every process of the cluster, in start order."""
        t, py = self.topology, sys.executable
        ca = self.path("pki", "ca.crt")
        servers = t.servers()

        def failover(first: str) -> list[str]:  # every other API server, as --server flags
            return [arg for s in servers if s != first for arg in ("--server", s)]
        procs = self._etcd_processes() if t.store == "etcd" else []
        for i, port in enumerate(t.api_ports(), start=1):
            procs.append(Process(f"apiserver-{i}", [
                py, "-m", "controlplane.api.server", "--store", self._store_url(i),
                "--bind", f"127.0.0.1:{port}", "--advertise-address", "127.0.0.1",
                "--tls-cert-file", self.path("pki", "apiserver.crt"),
                "--tls-private-key-file", self.path("pki", "apiserver.key"),
                "--client-ca-file", ca, "--token-auth-file", self.path("tokens.csv"),
                "--kubelet-client-certificate", self.path("pki", "apiserver-kubelet-client.crt"),
                "--kubelet-client-key", self.path("pki", "apiserver-kubelet-client.key"),
                "--kubelet-certificate-authority", ca,
                "--service-cluster-ip-range", t.service_cidr,
                "--default-not-ready-toleration-seconds", str(t.timing.default_toleration_seconds),
                "--default-unreachable-toleration-seconds", str(t.timing.default_toleration_seconds),
            ]))
        for i in range(1, t.masters + 1):
            host = {"KUBECLASS_HOSTNAME": f"master-{i}"}  # leader identities then name the master
            procs.append(Process(f"controller-manager-{i}", [
                py, "-m", "controlplane.controllers.manager", "--profile", t.profile,
                "--kubeconfig", self.path("kubeconfigs", f"controller-manager-{i}.kubeconfig"),
                *failover(servers[i - 1])], host))
            procs.append(Process(f"scheduler-{i}", [
                py, "-m", "controlplane.scheduler", "--leader-elect", "--profile", t.profile,
                "--scoring-strategy", t.scoring.removesuffix("-allocated"),
                "--kubeconfig", self.path("kubeconfigs", f"scheduler-{i}.kubeconfig"), *failover(servers[i - 1])], host))
        binary = loadbalancer.haproxy()
        if binary:
            procs.append(Process("loadbalancer", loadbalancer.argv(binary, self.path("loadbalancer", "haproxy.cfg"))))
        for node in t.nodes():
            argv = [
                py, "-m", "nodeagent", "--node-name", node.name, "--address", node.address,
                "--port", str(NODE_PORT), "--kubeconfig", self.path("kubeconfigs", f"{node.name}.kubeconfig"),
                "--pod-cidr", t.node_pod_cidr(node), "--cluster-cidr", t.pod_cidr, "--service-cidr", t.service_cidr,
                "--cluster-id", t.id, "--cpu", t.node_cpu, "--memory", t.node_memory, "--profile", t.profile,
                "--network", t.network, "--data-dir", self.path("nodes", node.name),
                "--tls-cert-file", self.path("pki", "nodes", f"{node.name}.crt"),
                "--tls-private-key-file", self.path("pki", "nodes", f"{node.name}.key"), "--client-ca-file", ca,
                *failover(t.home_server(node)),
            ]
            if node.master:  # masters are nodes too, kept for the control plane as kubeadm does
                argv += ["--labels", "node-role.kubernetes.io/control-plane=",
                         "--taints", "node-role.kubernetes.io/control-plane:NoSchedule"]
            procs.append(Process(f"node-{node.name}", argv))
        return procs

    def _store_url(self, master: int) -> str:
        """What API server ``master`` stores into: the SQLite file, or every etcd member
        (its own master's first, as on a kubeadm master)."""
        if self.topology.store != "etcd":
            return f"sqlite://{self.path('store', 'cluster.db')}"
        members = [client for _, client, _ in self.topology.etcd_members()]
        mine = members[master - 1]
        return "etcd://" + ",".join(m.removeprefix("http://") for m in [mine] + [m for m in members if m != mine])

    def _etcd_processes(self) -> list[Process]:
        """A member of a three-member etcd on each master, listening on the master's address."""
        binary = etcd_binary() or "etcd"  # up() says what to do when it is missing
        members = self.topology.etcd_members()
        initial = ",".join(f"{name}={peer}" for name, _, peer in members)
        return [Process(f"etcd-{i}", [
            binary, "--name", name, "--data-dir", self.path("etcd", name),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", initial, "--initial-cluster-state", "new",
            "--initial-cluster-token", f"kubeclass-{self.topology.id}",
            "--logger", "zap", "--log-level", "warn"]) for i, (name, client, peer) in enumerate(members, start=1)]

    # -- up ------------------------------------------------------------------------

    def prepare(self) -> None:
        """Create the files a first start needs; keep existing ones."""
        os.makedirs(self.home, mode=0o700, exist_ok=True)
        os.makedirs(self.path("store"), exist_ok=True)
        self.topology.save(self.path("cluster.yaml"))
        self.credentials.prepare(self.server)

    def _write_lb_config(self) -> bool:
        """Write haproxy.cfg; True if it changed (a running haproxy must then restart)."""
        config = loadbalancer.render(f"127.0.0.1:{self.topology.api_port}",
                                     [(f"apiserver-{i}", f"127.0.0.1:{port}")
                                      for i, port in enumerate(self.topology.api_ports(), start=1)],
                                     self.path("pki", "ca.crt"))
        path = self.path("loadbalancer", "haproxy.cfg")
        try:
            with open(path) as f:
                if f.read() == config:
                    return False
        except OSError:
            pass
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(path, "w") as f:
            f.write(config)
        return True

    def up(self, progress: Progress) -> bool:
        """Start whatever of the cluster is not running (everything, the first time);
        False if all of it was running already. Raises ClusterError."""
        if self.store_mismatch:
            raise ClusterError(f"this cluster keeps its state in {self.topology.store}: `kubeclass down --delete` "
                               f"forgets it (and its state), or give another --home for a second cluster")
        if self.topology.store == "etcd" and etcd_binary() is None:
            raise ClusterError("--store etcd needs etcd: install it with `apt-get install etcd-server` "
                               "(./dev test does), or use the default store")
        running = self.running()
        procs = self._processes()
        os.makedirs(self.home, mode=0o700, exist_ok=True)
        lb_changed = self._write_lb_config()
        changed = [p.name for p in procs if p.name in running and (
            self.processes.argv(p.name) != p.argv or (p.name == "loadbalancer" and lb_changed))]
        extra = [name for name in running if name not in {p.name for p in procs}]  # e.g. after --workers 1
        if running and all(p.name in running for p in procs) and not changed and not extra:
            return False
        if extra:
            progress(f"Stopping {', '.join(extra)}: no longer part of the cluster")
            self.processes.stop(extra)
        if changed:
            progress(f"Restarting {', '.join(changed)}: their settings changed")
            self.processes.stop(changed)
        running = self.running()
        self._check_ports(running)
        progress("Preparing certificates and credentials")
        self.prepare()
        for proc in procs:
            if proc.name in running:
                continue
            progress(f"Starting {proc.name}")
            self.processes.spawn(proc)
            if proc.name.startswith("apiserver-"):
                self._wait_ready(proc.name, int(proc.argv[proc.argv.index("--bind") + 1].rsplit(":", 1)[1]), progress)
            elif proc.name == "loadbalancer":
                self._wait_ready(proc.name, self.topology.api_port, progress)
        self._wait_nodes(progress)
        for proc in procs:
            if proc.name not in self.running():
                raise ClusterError(f"{proc.name} exited while starting; its log says:\n{self.log_tail(proc.name)}")
        progress("Writing the kubeclass context into your kubeconfig")
        kubeconfig.merge(kubeconfig.user_kubeconfig_path(), self.credentials.admin_config())
        return True

    def _check_ports(self, running: dict[str, int]) -> None:
        wanted = [("loadbalancer", self.topology.api_port)] if self.load_balanced else []
        wanted += [(f"apiserver-{i}", port) for i, port in enumerate(self.topology.api_ports(), start=1)]
        for name, port in wanted:
            if name not in running and not _port_free("127.0.0.1", port):
                raise ClusterError(f"port {port} on 127.0.0.1 is in use: stop what uses it, or choose other "
                                   f"ports with `kubeclass up --port N` (it uses N to N+{self.topology.masters})")
        if self.topology.store == "etcd":
            for i, (name, client, peer) in enumerate(self.topology.etcd_members(), start=1):
                for url in (client, peer):
                    host, port = url.removeprefix("http://").rsplit(":", 1)
                    if f"etcd-{i}" not in running and not _port_free(host, int(port)):
                        raise ClusterError(f"{host}:{port} (etcd on {name}) is in use: is another kubeclass "
                                           f"cluster running? `kubeclass down` stops it")
        for node in self.topology.nodes():
            if f"node-{node.name}" not in running and not _port_free(node.address, NODE_PORT):
                raise ClusterError(f"{node.address}:{NODE_PORT} (node {node.name}) is in use: is another "
                                   f"kubeclass cluster running? `kubeclass down` stops it")

    def _wait_ready(self, name: str, port: int, progress: Progress) -> None:
        started = time.monotonic()
        while time.monotonic() - started < READY_TIMEOUT:
            if name not in self.running():
                raise ClusterError(f"{name} exited while starting; its log says:\n{self.log_tail(name)}")
            try:
                r = requests.get(f"https://127.0.0.1:{port}/readyz", verify=self.path("pki", "ca.crt"), timeout=2)
                if r.status_code == 200:
                    return
            except requests.RequestException:
                pass
            progress(f"Waiting for {name} to answer /readyz ({time.monotonic() - started:.0f}s)")
            time.sleep(0.3)
        raise ClusterError(f"{name} did not become ready within {READY_TIMEOUT:.0f}s; see {self.processes.log(name)}")

    def _wait_nodes(self, progress: Progress) -> None:
        wanted = [n.name for n in self.topology.nodes()]
        started = time.monotonic()
        while time.monotonic() - started < NODES_TIMEOUT:
            ready = [n for n, ok, _ in self.nodes() if ok]
            missing = [n for n in wanted if n not in ready]
            if not missing:
                return
            for name in missing:
                if f"node-{name}" not in self.running():
                    raise ClusterError(f"the node agent of {name} exited; its log says:\n{self.log_tail('node-' + name)}")
            progress(f"Waiting for the nodes to be Ready: {len(wanted) - len(missing)}/{len(wanted)} "
                     f"({time.monotonic() - started:.0f}s)")
            time.sleep(0.5)
        raise ClusterError(f"nodes not Ready within {NODES_TIMEOUT:.0f}s: {', '.join(missing)}; "
                           f"see {self.processes.log_dir}")

    # -- what is there -------------------------------------------------------------

    def _get(self, path: str) -> Any:
        config = self.credentials
        cert = (config.path("pki", "admin.crt"), config.path("pki", "admin.key"))
        for server in self.topology.servers():
            try:
                r = requests.get(server + path, cert=cert, verify=config.path("pki", "ca.crt"), timeout=3)
                if r.status_code == 200:
                    return r.json()
            except requests.RequestException:
                continue
        return None

    def nodes(self) -> list[tuple[str, bool, str]]:
        """(name, Ready?, roles) of every Node the API knows, or [] when it does not answer."""
        listed = self._get("/api/v1/nodes") or {"items": []}
        out = []
        for node in listed["items"]:
            conditions = {c["type"]: c["status"] for c in (node.get("status") or {}).get("conditions") or []}
            roles = ",".join(k.split("/", 1)[1] for k in (node["metadata"].get("labels") or {})
                             if k.startswith("node-role.kubernetes.io/")) or "<none>"
            out.append((node["metadata"]["name"], conditions.get("Ready") == "True", roles))
        return out

    def leaders(self) -> dict[str, str]:
        """Who holds the controller manager's and the scheduler's leader Leases."""
        found = {}
        for lease in ("kube-controller-manager", "kube-scheduler"):
            obj = self._get(f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{lease}")
            found[lease] = ((obj or {}).get("spec") or {}).get("holderIdentity") or "(none)"
        return found

    # -- down ----------------------------------------------------------------------

    def down(self, progress: Progress) -> list[str]:
        """Stop every process of the cluster, node agents first; returns the names stopped."""
        running = self.running()
        stopped = []
        for prefix in ("node-", "scheduler-", "controller-manager-", "apiserver-", ""):
            names = [n for n in running if n.startswith(prefix) and n not in stopped]
            if names:
                progress(f"Stopping {', '.join(names)}")
                stopped += self.processes.stop(names)
        self._remove_network_leftovers()
        return stopped

    def machines(self) -> dict[str, list[str]]:
        """The processes of each machine: a master runs four, a worker one."""
        found: dict[str, list[str]] = {}
        for node in self.topology.nodes():
            found[node.name] = [f"node-{node.name}"]
            if node.master:
                components = ("etcd", "apiserver", "controller-manager", "scheduler")[self.topology.store != "etcd":]
                found[node.name] = [f"{c}-{node.index}" for c in components] + [f"node-{node.name}"]
        return found

    def stop(self, targets: list[str], progress: Progress, *, kill: bool = False) -> list[str]:
        """Stop some machines (``worker-1``: everything it runs) or components
        (``controller-manager-2``); ``kill`` is a power cut: SIGKILL, nothing cleans up.
        ``up`` starts them again. Raises ClusterError for a name that is neither."""
        machines, components = self.machines(), [p.name for p in self._processes()]
        names: list[str] = []
        for target in targets:
            if target not in machines and target not in components:
                raise ClusterError(f"no machine or component {target!r}: choose from {', '.join(machines)} "
                                   f"or a component `kubeclass status` lists")
            names += [n for n in machines.get(target, [target]) if n not in names]
        progress(f"{'Killing' if kill else 'Stopping'} {', '.join(names)}")
        return self.processes.stop(names, kill=kill)

    def _remove_network_leftovers(self) -> None:
        """Namespaces and interfaces a killed node agent could not remove (they carry our id)."""
        if os.geteuid() != 0 or not shutil.which("ip"):
            return
        prefix = f"kc{self.topology.id}"
        netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split("\n")
        for name in (line.split()[0] for line in netns if line.startswith(prefix)):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)
        links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
        for line in links.splitlines():
            name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
            if name.startswith(prefix):
                subprocess.run(["ip", "link", "delete", name], capture_output=True)

    def delete(self) -> None:
        """Forget the cluster: its data directory and its kubeconfig entries."""
        kubeconfig.remove(kubeconfig.user_kubeconfig_path(), NAME, ADMIN)
        shutil.rmtree(self.home, ignore_errors=True)

