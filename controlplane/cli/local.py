"""A local cluster on this machine: its files, its processes, and how they start and stop.

Where it sits: behind ``kubeclass up``, ``down`` and ``status``. Everything lives in
one data directory (``~/.kubeclass/local`` unless ``KUBECLASS_HOME`` says otherwise):

    pki/                CA, API server certificate, client certificates
    store/cluster.db    the SQLite store (the cluster's whole state)
    tokens.csv          static bearer tokens
    admin.kubeconfig    credentials of the cluster admin
    run/<name>.pid      the processes this cluster runs
    logs/<name>.log     their output

Each process runs detached in its own session, so closing the terminal does not stop
the cluster; ``down`` stops each process group (gunicorn's master and its workers
together) with SIGTERM, then SIGKILL for whatever has not exited within the grace time.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import requests

from .. import pki
from . import kubeconfig

NAME = "kubeclass"
ADMIN = "kubeclass-admin"
STOP_GRACE = 10.0
READY_TIMEOUT = 60.0

Progress = Callable[[str], None]


def default_home() -> str:
    return os.environ.get("KUBECLASS_HOME") or os.path.join(os.path.expanduser("~"), ".kubeclass", "local")


class ClusterError(Exception):
    """A problem the user can act on; the message says what to do."""


@dataclasses.dataclass
class Process:
    name: str
    argv: list[str]


class LocalCluster:
    def __init__(self, home: str | None = None, port: int = 6443, host: str = "127.0.0.1") -> None:
        self.home = os.path.abspath(home or default_home())
        self.port = port
        self.host = host

    # -- paths ---------------------------------------------------------------------

    def path(self, *parts: str) -> str:
        return os.path.join(self.home, *parts)

    @property
    def server(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def admin_kubeconfig(self) -> str:
        return self.path("admin.kubeconfig")

    def _pidfile(self, name: str) -> str:
        return self.path("run", f"{name}.pid")

    # -- processes -----------------------------------------------------------------

    def running(self) -> dict[str, int]:
        """The cluster's processes that are alive, by name."""
        alive = {}
        run = self.path("run")
        for entry in sorted(os.listdir(run)) if os.path.isdir(run) else []:
            if entry.endswith(".pid"):
                pid, started = _read_pidfile(os.path.join(run, entry))
                if pid and _is_ours(pid, started):
                    alive[entry[:-4]] = pid
        return alive

    def _spawn(self, proc: Process) -> int:
        os.makedirs(self.path("logs"), exist_ok=True)
        os.makedirs(self.path("run"), exist_ok=True)
        log = open(self.path("logs", f"{proc.name}.log"), "ab")
        # Ctrl-C between starting the process and recording it would orphan it: defer the
        # interrupt until the pidfile exists. (A handler, not a blocked signal mask: the
        # child would inherit the mask, but handlers are reset by exec.)
        interrupted: list[int] = []
        previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum))
        try:
            child = subprocess.Popen(proc.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=self.home)
            with open(self._pidfile(proc.name), "w") as f:
                f.write(f"{child.pid} {_start_time(child.pid)}\n")
        finally:
            signal.signal(signal.SIGINT, previous)
            log.close()
        if interrupted:
            raise KeyboardInterrupt
        return child.pid

    def _processes(self) -> list[Process]:
        py = sys.executable
        return [
            Process("apiserver", [
                py, "-m", "controlplane.api.server",
                "--store", f"sqlite://{self.path('store', 'cluster.db')}",
                "--bind", f"{self.host}:{self.port}",
                "--advertise-address", self.host,
                "--tls-cert-file", self.path("pki", "apiserver.crt"),
                "--tls-private-key-file", self.path("pki", "apiserver.key"),
                "--client-ca-file", self.path("pki", "ca.crt"),
                "--token-auth-file", self.path("tokens.csv"),
                "--kubelet-client-certificate", self.path("pki", "apiserver-kubelet-client.crt"),
                "--kubelet-client-key", self.path("pki", "apiserver-kubelet-client.key"),
                "--kubelet-certificate-authority", self.path("pki", "ca.crt"),
            ]),
            Process("controller-manager", [
                py, "-m", "controlplane.controllers.manager",
                "--kubeconfig", self.path("controller-manager.kubeconfig"),
            ]),
        ]

    # -- up ------------------------------------------------------------------------

    def prepare(self) -> None:
        """Create the files a first start needs (PKI, tokens, kubeconfigs); keep existing ones."""
        os.makedirs(self.home, mode=0o700, exist_ok=True)
        os.makedirs(self.path("store"), exist_ok=True)
        paths = pki.ensure_cluster_pki(self.path("pki"), server_dns=["localhost", "kubernetes",
                                       "kubernetes.default", "kubernetes.default.svc"],
                                       server_ips=[self.host, "127.0.0.1", "10.96.0.1"], admin_user=ADMIN)
        tokens = self.path("tokens.csv")
        if not os.path.exists(tokens):
            pki.write_private(tokens, f'{secrets.token_hex(24)},{ADMIN},1,"system:masters"\n'.encode())
        ca = _read(paths["ca.crt"])
        admin = kubeconfig.build(NAME, self.server, ca, cert_pem=_read(paths["admin.crt"]),
                                 key_pem=_read(paths["admin.key"]), user=ADMIN)
        kubeconfig.write(self.admin_kubeconfig, admin)
        # The API server's identity towards node agents (logs, exec, metrics), as kubeadm's
        # apiserver-kubelet-client certificate.
        self._client_cert("apiserver-kubelet-client", "kube-apiserver-kubelet-client")
        cm_cert, cm_key = self._client_cert("controller-manager", "system:kube-controller-manager")
        kubeconfig.write(self.path("controller-manager.kubeconfig"),
                         kubeconfig.build(NAME, self.server, ca, cert_pem=cm_cert, key_pem=cm_key,
                                          user="system:kube-controller-manager"))

    def _client_cert(self, name: str, user: str) -> tuple[bytes, bytes]:
        crt, key = self.path("pki", f"{name}.crt"), self.path("pki", f"{name}.key")
        if not os.path.exists(crt):
            cert, k = pki.new_cert(_read(self.path("pki", "ca.crt")), _read(self.path("pki", "ca.key")),
                                   user, client=True)
            pki.write_private(key, k)
            pki.write_private(crt, cert)
        return _read(crt), _read(key)

    def up(self, progress: Progress) -> bool:
        """Start the cluster; False if it was running already. Raises ClusterError."""
        if self.running():
            return False
        if not _port_free(self.host, self.port):
            raise ClusterError(f"port {self.port} on {self.host} is in use: stop what uses it, "
                               f"or choose another with `kubeclass up --port N`")
        progress("Preparing certificates and credentials")
        self.prepare()
        for proc in self._processes():
            progress(f"Starting {proc.name}")
            self._spawn(proc)
            if proc.name == "apiserver":
                self._wait_ready(progress)
        time.sleep(1.0)  # a process that fails at start-up fails within this
        for proc in self._processes():
            if proc.name not in self.running():
                raise ClusterError(f"{proc.name} exited while starting; its log says:\n{self.log_tail(proc.name)}")
        progress("Writing the kubeclass context into your kubeconfig")
        kubeconfig.merge(kubeconfig.user_kubeconfig_path(), kubeconfig.build(
            NAME, self.server, _read(self.path("pki", "ca.crt")), cert_pem=_read(self.path("pki", "admin.crt")),
            key_pem=_read(self.path("pki", "admin.key")), user=ADMIN))
        return True

    def _wait_ready(self, progress: Progress) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        started = time.monotonic()
        while time.monotonic() < deadline:
            if "apiserver" not in self.running():
                raise ClusterError(f"the API server exited while starting; its log says:\n{self.log_tail('apiserver')}")
            try:
                r = requests.get(f"{self.server}/readyz", verify=self.path("pki", "ca.crt"), timeout=2)
                if r.status_code == 200:
                    return
            except requests.RequestException:
                pass
            progress(f"Waiting for the API server to answer /readyz ({time.monotonic() - started:.0f}s)")
            time.sleep(0.3)
        raise ClusterError(f"the API server did not become ready within {READY_TIMEOUT:.0f}s; "
                           f"see {self.path('logs', 'apiserver.log')}")

    def log_tail(self, name: str, lines: int = 20) -> str:
        try:
            with open(self.path("logs", f"{name}.log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- down ----------------------------------------------------------------------

    def down(self, progress: Progress) -> list[str]:
        """Stop every process of the cluster; returns the names stopped."""
        stopped = []
        for name, pid in self.running().items():
            progress(f"Stopping {name}")
            _stop_group(pid)
            stopped.append(name)
        for name in os.listdir(self.path("run")) if os.path.isdir(self.path("run")) else []:
            os.remove(self.path("run", name))
        return stopped

    def delete(self) -> None:
        """Forget the cluster: its data directory and its kubeconfig entries."""
        kubeconfig.remove(kubeconfig.user_kubeconfig_path(), NAME, ADMIN)
        shutil.rmtree(self.home, ignore_errors=True)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name, or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _start_time(pid: int) -> str:
    fields = _stat(pid)
    return fields[19] if fields else ""  # field 22 of stat: when the process started, in ticks


def _read_pidfile(path: str) -> tuple[int | None, str]:
    try:
        pid, _, started = open(path).read().strip().partition(" ")
        return int(pid), started
    except (OSError, ValueError):
        return None, ""


def _is_ours(pid: int, started: str) -> bool:
    """Alive, and the very process we started: a pid may since have been reused, and
    right after exec even its command line may not show yet, but its start time is fixed."""
    fields = _stat(pid)
    return bool(fields) and fields[0] != "Z" and fields[19] == started


def _stop_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_GRACE
    while time.monotonic() < deadline:
        if not _group_alive(pid):
            return
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    return True
            except (OSError, IndexError, ValueError):
                continue
    return False


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False
