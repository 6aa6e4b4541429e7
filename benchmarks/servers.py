"""The two servers a benchmark drives: a local kubeclass cluster and the trivial baseline.

Where it sits: ``benchmarks.apiserver`` (and ``benchmarks.profiling``) open
:class:`Servers` around their measurements. The cluster is the one ``kubeclass up``
starts (``LocalCluster.up``: API server and controller manager, TLS, tokens), in a
scratch directory on a free port, with KUBECONFIG pointed into the scratch directory
so the user's own kubeconfig is never touched. The trivial server runs the API
server's exact command line with its app swapped (see ``benchmarks.trivial``).

Both are stopped when the ``with`` block ends, however it ends; each runs in its own
process group, and stopping a group stops gunicorn's master and workers together.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable
from typing import Self

from controlplane.cli.local import LocalCluster, Process
from controlplane.cli.topology import free_port

from .load import Target

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
READY_TIMEOUT = 60.0
STOP_GRACE = 10.0

Progress = Callable[[str], None]


def filesystem_of(path: str) -> str:
    """The type of the filesystem holding ``path`` (the store's fsyncs depend on it)."""
    best, kind = "", "unknown"
    with open("/proc/mounts") as f:
        for line in f:
            fields = line.split()
            mount = fields[1]
            if (path == mount or path.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best):
                best, kind = mount, fields[2]
    return kind


class BenchCluster(LocalCluster):
    """``kubeclass up``'s API server and controller manager, started as it starts them.

    Only those two: a scheduler would spend the measurements working on the 10,000
    pending pods of the LIST figure, and node agents would only add noise.
    """

    def _processes(self) -> list[Process]:
        return [p for p in super()._processes() if p.name in ("apiserver-1", "controller-manager-1")]

    def _wait_nodes(self, progress: Progress) -> None:
        return None  # no node agents run


class Servers:
    """A kubeclass cluster and a trivial server beside it, both up inside ``with``."""

    def __init__(self, scratch: str, progress: Progress, *, cluster_class: type[LocalCluster] = BenchCluster,
                 trivial_launch: tuple[str, ...] = ("-m", "benchmarks.trivial"),
                 trivial_env: dict[str, str] | None = None) -> None:
        self.scratch = scratch
        self.progress = progress
        self.cluster = cluster_class(os.path.join(scratch, "cluster"), port=free_port(), masters=1, workers=0)
        self.trivial_port = free_port()
        self._trivial_launch = trivial_launch
        self._trivial_env = trivial_env or {}
        self._kubeconfig = os.environ.get("KUBECONFIG")
        self._trivial: subprocess.Popen[bytes] | None = None

    # -- what the measurements need --------------------------------------------------

    @property
    def ca_file(self) -> str:
        return self.cluster.path("pki", "ca.crt")

    @property
    def kubeclass(self) -> Target:
        return Target("127.0.0.1", self.cluster.topology.api_ports()[0], self.ca_file)  # apiserver-1 itself

    @property
    def trivial(self) -> Target:
        # The trivial server presents the API server's certificate (its SANs name 127.0.0.1).
        return Target("127.0.0.1", self.trivial_port, self.ca_file)

    def token(self) -> str:
        """The admin's bearer token, from the cluster's static token file."""
        with open(self.cluster.path("tokens.csv")) as f:
            return f.readline().split(",", 1)[0]

    def process_groups(self) -> dict[str, int]:
        """Process group of each server (its leader's pid: each was started in a new session)."""
        groups = dict(self.cluster.running())
        if self._trivial is not None:
            groups["trivial server"] = self._trivial.pid
        return groups

    # -- lifecycle -----------------------------------------------------------------

    def __enter__(self) -> Self:
        os.environ["KUBECONFIG"] = os.path.join(self.scratch, "user-kubeconfig")
        try:
            self.cluster.up(self.progress)
            self._start_trivial()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _apiserver_argv(self) -> list[str]:
        # The API server's command line exactly as `kubeclass up` runs it (LocalCluster's own
        # method, even when a subclass starts the API server differently).
        return next(p.argv for p in LocalCluster._processes(self.cluster) if p.name == "apiserver-1")

    def _start_trivial(self) -> None:
        self.progress("Starting the trivial server (the API server's gunicorn settings, a trivial app)")
        argv = self._apiserver_argv()
        module = argv.index("controlplane.api.server")  # [python, "-m", module, options...]
        argv = [*argv[:module - 1], *self._trivial_launch, *argv[module + 1:]]
        argv[argv.index("--bind") + 1] = f"127.0.0.1:{self.trivial_port}"
        env = {**os.environ, "KUBECLASS_BENCH_FANOUT": os.path.join(self.scratch, "fanout"),
               "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), **self._trivial_env}
        with open(os.path.join(self.scratch, "trivial.log"), "ab") as log:
            self._trivial = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                             start_new_session=True, cwd=ROOT, env=env)
        ctx = ssl.create_default_context(cafile=self.ca_file)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._trivial.poll() is not None:
                raise RuntimeError(f"the trivial server exited while starting; see {self.scratch}/trivial.log")
            try:
                with urllib.request.urlopen(f"{self.trivial.url()}/ping", context=ctx, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the trivial server did not answer within {READY_TIMEOUT:.0f}s")

    def stop(self) -> None:
        try:
            if self._trivial is not None:
                _stop_group(self._trivial)
                self._trivial = None
        finally:
            self.cluster.down(self.progress)
            if self._kubeconfig is None:
                os.environ.pop("KUBECONFIG", None)
            else:
                os.environ["KUBECONFIG"] = self._kubeconfig


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=STOP_GRACE)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the workers too, if the master left any behind
    except ProcessLookupError:
        pass
    proc.wait()
