"""A real local cluster for the integration and fuzz tests, and the real kubectl binaries.

The root conftest registers the ``cluster`` fixture from here, so that every tier of a
test run shares one cluster per session (``kubeclass up`` in a scratch directory, on a free port,
with TLS and client certificates, as a user gets it). Nothing touches the user's own
kubeconfig: KUBECONFIG points into the scratch directory for the whole session.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator

import pytest

from controlplane.cli.local import LocalCluster

KUBECTL_VERSIONS = ("1.33", "1.32")
SEARCH = ("/usr/lib/google-cloud-sdk/bin", "/usr/local/bin", "/usr/bin")


def kubectl_binary(version: str) -> str:
    """The kubectl binary of one minor version; the machine image ships 1.27 to 1.33."""
    name = f"kubectl.{version}"
    found = shutil.which(name) or next(
        (os.path.join(d, name) for d in SEARCH if os.access(os.path.join(d, name), os.X_OK)), None)
    if not found:
        pytest.fail(f"{name} is not installed: the tests drive kubectl {version} itself "
                    f"(looked in PATH and {', '.join(SEARCH)})")
    return found


def free_port(count: int = 4) -> int:
    """A port on 127.0.0.1 free together with the ``count - 1`` after it (a cluster's
    load balancer listens on port, its three API servers on port + 1 to port + 3)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + count <= 65535 and all(_free(p) for p in range(port, port + count)):
            return port
    raise RuntimeError("no free port range on 127.0.0.1")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


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


@pytest.fixture(scope="session")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("kubeclass")
    home = base / "home"
    home.mkdir()
    old = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = str(base / "user-kubeconfig")
    local = LocalCluster(str(base / "cluster"), port=free_port())
    try:
        local.up(lambda message: None)
        yield Cluster(local, str(home))
    finally:
        local.down(lambda message: None)
        if old is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = old
