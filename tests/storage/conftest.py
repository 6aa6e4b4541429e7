"""Backends under test. Every backend must pass the whole conformance suite.

A backend is described by a factory that opens a store, and by the command line
that opens a second handle on the *same* data in another process (for the tests of
watches that must see writes made elsewhere).

The etcd backend runs against a real three-member etcd cluster (Debian's
``etcd-server``), started once per test session on 127.0.0.1; each test gets its own
key prefix in it, so tests never see each other's objects. (Compaction is
cluster-wide, but every test reads revisions it wrote itself, never older ones.)
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Self

import pytest
import requests

from controlplane.storage import EtcdStore, SQLiteStore, Storage


@dataclasses.dataclass
class Backend:
    name: str
    open: Callable[[], Storage]
    url: str  # what another process passes to controlplane.storage.open_store


@pytest.fixture(params=["sqlite", "etcd"])
def backend(request: pytest.FixtureRequest, tmp_path) -> Iterator[Backend]:
    if request.param == "sqlite":
        path = str(tmp_path / "store.db")
        yield Backend("sqlite", lambda: SQLiteStore(path), f"sqlite://{path}")
    elif request.param == "etcd":
        cluster: EtcdCluster = request.getfixturevalue("etcd_cluster")
        prefix = f"/test-{uuid.uuid4().hex[:12]}/"
        yield Backend("etcd", lambda: EtcdStore(cluster.endpoints, prefix=prefix), cluster.url(prefix))


@pytest.fixture
def store(backend: Backend) -> Iterator[Storage]:
    s = backend.open()
    yield s
    s.close()


@pytest.fixture(scope="session")
def etcd_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    """One three-member etcd cluster shared by every conformance test of the session."""
    with EtcdCluster(tmp_path_factory.mktemp("etcd")) as cluster:
        yield cluster


PYTHON = sys.executable


# -- a real etcd cluster -----------------------------------------------------------------

_http = requests.Session()
_http.trust_env = False  # straight to 127.0.0.1, whatever proxy the environment names

def etcd_binary() -> str:
    path = shutil.which("etcd") or ("/usr/bin/etcd" if os.path.exists("/usr/bin/etcd") else None)
    if path is None:
        pytest.fail("the etcd tests need the etcd binary: install Debian's etcd-server package "
                    "(apt-get install -y etcd-server; ./dev test does it for you)", pytrace=False)
    return path


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports nobody listens on now, on 127.0.0.1."""
    sockets = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class EtcdCluster:
    """A real etcd cluster of ``size`` members on 127.0.0.1: its own data directories,
    free ports, a unique cluster token. Members can be killed and started again.

    Use it as a context manager: leaving it stops every member (SIGTERM, then SIGKILL),
    whatever happened inside."""

    START_TIMEOUT = 30.0

    def __init__(self, base: Path, size: int = 3) -> None:
        self.binary = etcd_binary()
        self.base = base
        self.token = f"kubeclass-test-{uuid.uuid4().hex[:12]}"
        ports = free_ports(2 * size)
        self.client_ports, self.peer_ports = ports[:size], ports[size:]
        self.names = [f"member{i}" for i in range(size)]
        self.procs: list[subprocess.Popen | None] = [None] * size

    @property
    def endpoints(self) -> list[str]:
        return [f"127.0.0.1:{port}" for port in self.client_ports]

    def url(self, prefix: str = "/registry/") -> str:
        return f"etcd://{','.join(self.endpoints)}{prefix}"

    def __enter__(self) -> Self:
        try:
            for i in range(len(self.names)):
                self.start_member(i, wait=False)
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start_member(self, i: int, *, wait: bool = True) -> None:
        """Start member ``i`` (again: a restart reuses its data directory and rejoins)."""
        peers = ",".join(f"{n}=http://127.0.0.1:{p}" for n, p in zip(self.names, self.peer_ports))
        client, peer = f"http://127.0.0.1:{self.client_ports[i]}", f"http://127.0.0.1:{self.peer_ports[i]}"
        cmd = [
            self.binary, "--name", self.names[i], "--data-dir", str(self.base / self.names[i]),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", peers, "--initial-cluster-state", "new",
            "--initial-cluster-token", self.token,
            "--logger", "zap", "--log-outputs", "stderr",
        ]
        with open(self.base / f"{self.names[i]}.log", "ab") as log:
            self.procs[i] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL)
        if wait:
            self.wait_healthy()

    def kill_member(self, i: int) -> None:
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        self.procs[i] = None

    def status(self, i: int) -> dict | None:
        """Member ``i``'s /v3/maintenance/status, or None if it does not answer."""
        try:
            resp = _http.post(f"http://{self.endpoints[i]}/v3/maintenance/status", data="{}",
                                 timeout=(0.5, 2))
            return resp.json() if resp.status_code == 200 else None
        except (requests.RequestException, ValueError):
            return None

    def leader(self) -> int | None:
        """The index of the member that leads now, if the running members agree on one."""
        statuses = {i: s for i in range(len(self.names)) if (s := self.status(i)) is not None}
        ids = {s.get("header", {}).get("member_id"): i for i, s in statuses.items()}
        leaders = {s.get("leader", "0") for s in statuses.values()}
        if len(leaders) == 1 and (leader := leaders.pop()) in ids:
            return ids[leader]
        return None

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        """Until every running member answers, all agree on a leader, and a
        linearizable read succeeds on each (that needs a quorum)."""
        deadline = time.monotonic() + timeout
        running = [i for i, p in enumerate(self.procs) if p is not None]
        while time.monotonic() < deadline:
            for i in running:
                if self.procs[i].poll() is not None:  # type: ignore[union-attr]
                    pytest.fail(f"etcd {self.names[i]} exited with {self.procs[i].returncode}:\n"  # type: ignore[union-attr]
                                f"{self.log_tail(i)}", pytrace=False)
            if self.leader() is not None and all(self._can_read(i) for i in running):
                return
            time.sleep(0.1)
        tails = "\n".join(f"--- {self.names[i]}:\n{self.log_tail(i)}" for i in running)
        pytest.fail(f"etcd cluster not healthy after {timeout:g}s:\n{tails}", pytrace=False)

    def _can_read(self, i: int) -> bool:
        try:
            resp = _http.post(f"http://{self.endpoints[i]}/v3/kv/range", json={"key": "Lw=="},
                                 timeout=(0.5, 2))
            return resp.status_code == 200
        except requests.RequestException:
            return False

    def log_tail(self, i: int, lines: int = 15) -> str:
        try:
            return "\n".join((self.base / f"{self.names[i]}.log").read_text().splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Stop every member: SIGTERM, then SIGKILL after 5 s.

        Followers first: a leader told to stop hands its leadership to a live peer
        first, and would wait for peers that are stopping too."""
        leader = self.leader()
        order = [i for i in range(len(self.procs)) if i != leader] + ([leader] if leader is not None else [])
        for group in (order[:-1], order[-1:]):
            for i in group:
                proc = self.procs[i]
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for i in group:
                proc = self.procs[i]
                if proc is None:
                    continue
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
                self.procs[i] = None
