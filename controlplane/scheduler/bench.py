"""How many pods per second the scheduler places, through a real API server.

    python -m controlplane.scheduler.bench [--pods 500] [--nodes 50] [--strategy least|most]
                                           [--bind-workers 4] [--kubeconfig PATH] [--json]

Where it sits: beside the scheduler, for the project's benchmarks to call
(:func:`run_benchmark` returns a :class:`BenchResult`). It measures the whole path a
pod takes: the scheduler's informer lists the pending pods, each cycle filters and
scores every node, the Binding is POSTed, the ``Scheduled`` event is written, and
the informer delivers the bound pod back. The clock runs from the moment the
scheduler's caches are full until the last bound pod has come back through the
watch; creating the pods and nodes beforehand is not counted.

Without ``--kubeconfig`` it starts a throwaway API server (``python -m
controlplane.api.server``, SQLite in a temporary directory, plain HTTP, a token) and
stops it afterwards. With one, it works in a namespace and on nodes of its own, and
its pods name a scheduler of their own (``schedulerName``) and carry a nodeSelector for
its nodes, so neither a running scheduler nor real nodes are involved; it deletes what
it created.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator

import requests

from ..client import resources as r
from ..client.events import EventRecorder
from ..client.informer import InformerFactory
from ..client.kubeconfig import ConnectionConfig
from ..client.rest import Client
from .plugins import STRATEGIES, build_framework, default_profile
from .scheduler import Scheduler
from .testing import make_node, make_pod

READY_TIMEOUT = 60.0
Progress = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class BenchResult:
    pods: int
    nodes: int
    seconds: float            # caches full -> last bound pod seen by the informer
    strategy: str
    bind_workers: int

    @property
    def pods_per_second(self) -> float:
        return self.pods / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        return (f"scheduled {self.pods} pods onto {self.nodes} nodes in {self.seconds:.2f} s: "
                f"{self.pods_per_second:.0f} pods/s ({self.strategy}, {self.bind_workers} bind workers)")


def measure(client: Client, *, pods: int, nodes: int, strategy: str = "least", bind_workers: int = 4,
            timeout: float = 600.0, progress: Progress = lambda message: None) -> BenchResult:
    """Create ``nodes`` nodes and ``pods`` pending pods, schedule them all, time it, clean up."""
    run = secrets.token_hex(3)
    namespace, label = f"scheduler-bench-{run}", {"kubeclass.dev/scheduler-bench": run}
    name = f"bench-scheduler-{run}"
    node_names = [f"bench-{run}-node-{i:03d}" for i in range(nodes)]
    per_node = max(110, -(-pods // max(1, nodes)) + 10)
    client.create(r.NAMESPACES, {"metadata": {"name": namespace}})
    try:
        progress(f"creating {nodes} nodes and {pods} pods (namespace {namespace})")
        _parallel([lambda n=n: client.create(r.NODES, make_node(n, cpu="64", memory="256Gi", pods=per_node,
                                                                labels=label)) for n in node_names])
        _parallel([lambda i=i: client.create(r.PODS, _pod(i, namespace, name, label), namespace)
                   for i in range(pods)])
        recorder = EventRecorder(client, name)
        scheduler = Scheduler(client, build_framework(default_profile(strategy, name), client), recorder,
                              scheduler_name=name, bind_workers=bind_workers)
        informers = InformerFactory(client)
        scheduler.watch(informers)
        stop = threading.Event()
        informers.start()
        loop = threading.Thread(target=scheduler.run, args=(stop,), name="bench-scheduler", daemon=True)
        try:
            if not scheduler.wait_for_sync(READY_TIMEOUT, stop):
                raise RuntimeError("the scheduler's informers did not list within a minute")
            progress("scheduling")
            started = time.monotonic()
            loop.start()
            deadline = started + timeout
            names = set(node_names)
            while _bound(scheduler, names) < pods:  # a snapshot costs the scheduler too: not too often
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {_bound(scheduler, names)} of {pods} pods bound "
                                       f"within {timeout:.0f}s")
                time.sleep(0.05)
            seconds = time.monotonic() - started
        finally:
            stop.set()
            if loop.is_alive():
                loop.join(5)
            scheduler.shutdown(5)
            informers.stop()
            recorder.stop(5)
            informers.join(5)
        return BenchResult(pods, nodes, seconds, STRATEGIES[strategy], bind_workers)
    finally:
        progress("cleaning up")
        with contextlib.suppress(Exception):
            client.delete_collection(r.PODS, namespace)
        with contextlib.suppress(Exception):
            client.delete(r.NAMESPACES, namespace)
        _parallel([lambda n=n: client.delete(r.NODES, n) for n in node_names], ignore_errors=True)


def _pod(i: int, namespace: str, scheduler_name: str, label: dict[str, str]) -> dict:
    """A small pod for the bench's nodes only, spread by a soft constraint of its own (an
    ownerReference to a ReplicaSet that does not exist would bring the garbage collector)."""
    pod = make_pod(f"pod-{i:05d}", namespace=namespace, cpu="10m", memory="16Mi", labels={"app": "bench"},
                   node_selector=label, scheduler_name=scheduler_name)
    del pod["metadata"]["uid"], pod["status"]   # the API server assigns these
    pod["spec"]["topologySpreadConstraints"] = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                                 "whenUnsatisfiable": "ScheduleAnyway",
                                                 "labelSelector": {"matchLabels": {"app": "bench"}}}]
    return pod


def _bound(scheduler: Scheduler, node_names: set[str]) -> int:
    """Pods the informer has confirmed on the bench's nodes (assumed ones do not count yet)."""
    snapshot = scheduler.cache.snapshot()
    total = sum(len(info.pods) for info in snapshot.nodes if info.name in node_names)
    return total - scheduler.cache.assumed_count()


def _parallel(calls: list[Callable[[], object]], *, workers: int = 16, ignore_errors: bool = False) -> None:
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(call) for call in calls]:
            try:
                future.result()
            except Exception:
                if not ignore_errors:
                    raise

# -- a throwaway API server ---------------------------------------------------------------


@contextlib.contextmanager
def throwaway_apiserver(progress: Progress = lambda message: None) -> Iterator[Client]:
    """``python -m controlplane.api.server`` on a free port, SQLite in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="kubeclass-scheduler-bench-") as tmp:
        token = secrets.token_hex(16)
        with open(os.path.join(tmp, "tokens.csv"), "w") as f:
            f.write(f'{token},bench-admin,bench-admin,"system:masters"\n')
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with open(os.path.join(tmp, "apiserver.log"), "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "controlplane.api.server", "--store",
                                     f"sqlite:///{tmp}/db", "--bind", f"127.0.0.1:{port}",
                                     "--token-auth-file", os.path.join(tmp, "tokens.csv")],
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            progress(f"starting a throwaway API server on {url}")
            deadline = time.monotonic() + READY_TIMEOUT
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the API server exited ({proc.returncode}); see its log in {tmp}")
                try:
                    if requests.get(url + "/readyz", timeout=2).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the API server did not answer /readyz within {READY_TIMEOUT:.0f}s")
                time.sleep(0.2)
            yield Client(ConnectionConfig(servers=(url,), token=token), user_agent="kubeclass-scheduler-bench")
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def run_benchmark(*, pods: int = 500, nodes: int = 50, strategy: str = "least", bind_workers: int = 4,
                  kubeconfig: str | None = None, progress: Progress = lambda message: None) -> BenchResult:
    """:func:`measure` against ``kubeconfig``'s cluster, or a throwaway API server."""
    if kubeconfig:
        return measure(Client.from_kubeconfig(kubeconfig), pods=pods, nodes=nodes, strategy=strategy,
                       bind_workers=bind_workers, progress=progress)
    with throwaway_apiserver(progress) as client:
        return measure(client, pods=pods, nodes=nodes, strategy=strategy, bind_workers=bind_workers,
                       progress=progress)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m controlplane.scheduler.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--pods", type=int, default=500)
    p.add_argument("--nodes", type=int, default=50)
    p.add_argument("--strategy", choices=("least", "most"), default="least")
    p.add_argument("--bind-workers", type=int, default=4)
    p.add_argument("--kubeconfig", help="use this cluster instead of a throwaway API server")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = run_benchmark(pods=args.pods, nodes=args.nodes, strategy=args.strategy, bind_workers=args.bind_workers,
                           kubeconfig=args.kubeconfig, progress=lambda m: print(m, file=sys.stderr))
    if args.json:
        print(json.dumps({**dataclasses.asdict(result), "pods_per_second": round(result.pods_per_second, 1)}))
    else:
        print(result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
