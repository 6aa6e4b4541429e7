"""A real local cluster for the integration and fuzz tests, and the real kubectl binaries.

The root conftest registers the ``cluster`` fixture from here, so that every tier of a
test run shares one cluster per session (``kubeclass up`` in a scratch directory, on a free port,
with TLS and client certificates, as a user gets it). Nothing touches the user's own
kubeconfig: KUBECONFIG points into the scratch directory for the whole session.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from controlplane.cli.local import LocalCluster
from controlplane.cli.topology import free_port

KUBECTL_VERSIONS = ("1.33", "1.32")
SEARCH = ("/usr/lib/google-cloud-sdk/bin", "/usr/local/bin", "/usr/bin")


def wait_for(what: str, cond: Callable[[], Any], timeout: float = 60.0, interval: float = 0.3) -> Any:
    """`cond()`'s first true result, polled every `interval` seconds for at most `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = cond()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def kubectl_binary(version: str) -> str:
    """The kubectl binary of one minor version; the machine image ships 1.27 to 1.33."""
    name = f"kubectl.{version}"
    found = shutil.which(name) or next(
        (os.path.join(d, name) for d in SEARCH if os.access(os.path.join(d, name), os.X_OK)), None)
    if not found:
        pytest.fail(f"{name} is not installed: the tests drive kubectl {version} itself "
                    f"(looked in PATH and {', '.join(SEARCH)})")
    return found


@dataclasses.dataclass
class Cluster:
    local: LocalCluster
    home: str  # a HOME for kubectl, so its discovery cache is this session's own

    @property
    def kubeconfig(self) -> str:
        return self.local.admin_kubeconfig

    @property
    def server(self) -> str:
        return self.local.server

    @property
    def ca(self) -> str:
        return self.local.path("pki", "ca.crt")

    @property
    def token(self) -> str:
        with open(self.local.path("tokens.csv")) as f:
            return f.readline().split(",", 1)[0]

    def kubectl(self, *args: str, version: str = "1.33", input: str | None = None,
                check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        cmd = [kubectl_binary(version), "--kubeconfig", self.kubeconfig, *args]
        env = {**os.environ, "HOME": self.home}
        result = subprocess.run(cmd, input=input, capture_output=True, text=True, env=env, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result


@contextlib.contextmanager
def own_cluster(base: Path, **options: Any) -> Iterator[Cluster]:
    """``kubeclass up`` in ``base`` on free ports (``options`` as LocalCluster takes them, and
    ``network``), with KUBECONFIG pointed into ``base`` meanwhile so nobody's own kubeconfig
    is touched; ``down`` at the end, whatever happens."""
    home = base / "home"
    home.mkdir(exist_ok=True)
    old = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = str(base / "user-kubeconfig")
    network = options.pop("network", None)
    local = LocalCluster(str(base / "cluster"), port=free_port(), **options)
    if network:
        local.topology.network = network
    try:
        local.up(lambda message: None)
        yield Cluster(local, str(home))
    finally:
        local.down(lambda message: None)
        if old is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = old


@pytest.fixture(scope="session")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    with own_cluster(tmp_path_factory.mktemp("kubeclass")) as session_cluster:
        yield session_cluster


def kubeclass(cluster: Cluster, *args: str) -> subprocess.CompletedProcess:
    """The ``kubeclass`` command on this cluster's data directory, run from its scratch home."""
    return subprocess.run([sys.executable, "-m", "controlplane.cli.main", "--home", cluster.local.home, *args],
                          capture_output=True, text=True, timeout=180, cwd=cluster.home)


class Timeline:
    """``kubeclass status --watch`` running in the background, its lines as they come."""

    def __init__(self, cluster: Cluster) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "controlplane.cli.main", "--home", cluster.local.home, "status", "--watch"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cluster.home)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def started(self) -> bool:
        return any(line.startswith("watching:") for line in self.lines)

    def stop(self) -> None:
        """Ctrl-C, as a user ends it; it must exit 0 and say nothing more."""
        self.proc.send_signal(signal.SIGINT)
        assert self.proc.wait(timeout=20) == 0, "\n".join(self.lines)
        self._reader.join(timeout=10)

    def first(self, *words: str) -> int:
        """The index of the first change line holding every one of ``words``; -1 if none."""
        return next((i for i, line in enumerate(self.lines) if all(w in line for w in words)), -1)

    def in_order(self, *steps: tuple[str, ...]) -> bool:
        """True if a line for each step is there, each after the one before."""
        found = [self.first(*step) for step in steps]
        return -1 not in found and found == sorted(found)

    def text(self) -> str:
        return "\n".join(self.lines)
