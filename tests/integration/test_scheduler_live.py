"""The scheduler process against a real API server, checked with kubectl as a user would.

Starts ``python -m controlplane.api.server`` (SQLite, TLS, client certificates), registers
three Node objects by hand (no node agent runs here: two workers with 2 cpus, one
control-plane node with its NoSchedule taint), then runs ``python -m
controlplane.scheduler --leader-elect`` and checks:

* four pods of one ReplicaSet are bound two and two to the workers, never to the
  control-plane node, and ``kubectl describe pod`` shows ``Scheduled`` with the score;
* a pod too big for any worker gets ``FailedScheduling`` with upstream's message, in
  ``kubectl describe pod`` and as its PodScheduled=False condition;
* a new node big enough gets that pod bound to it, without anything else happening;
* the scheduler held the Lease kube-system/kube-scheduler, and SIGTERM ends it at
  once with status 0, releasing the Lease; of two schedulers only one schedules, and
  when it dies the other takes over;
* the throughput benchmark runs end to end (its figure is printed, not judged).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import pki
from pki import kubeconfig
from controlplane.client import resources as r
from controlplane.client.rest import Client
from controlplane.scheduler import bench
from controlplane.scheduler.testing import CONTROL_PLANE_TAINT, make_node, make_pod
from tests.livecluster import kubectl_binary

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TAINT = "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"
UNSCHEDULABLE = (f"0/3 nodes are available: 1 {TAINT}, 2 Insufficient cpu. preemption: 0/3 nodes are available: "
                 f"1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, cond: Callable[[], Any], timeout: float = 30.0, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := cond()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
    return result


class Live:
    def __init__(self, workdir: Path, client: Client) -> None:
        self.workdir = workdir
        self.client = client
        self.kubeconfig = str(workdir / "admin.kubeconfig")
        self.home = workdir / "home"
        self.home.mkdir(exist_ok=True)

    def kubectl(self, *args: str) -> str:
        result = subprocess.run([kubectl_binary("1.33"), "--kubeconfig", self.kubeconfig, *args],
                                capture_output=True, text=True, timeout=60, check=False, env={**os.environ, "HOME": str(self.home)})
        assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stdout}\n{result.stderr}"
        return result.stdout

    def pod(self, name: str) -> dict:
        return self.client.get(r.PODS, name, "default")

    def node_of(self, name: str) -> str:
        return self.pod(name)["spec"].get("nodeName") or ""

    def describe_once(self, pod: str, type: str, reason: str) -> str | None:
        """``kubectl describe pod`` if its Events list one of ``type`` and ``reason``, else None."""
        out = self.kubectl("describe", "pod", pod)
        return out if any(row.split()[:2] == [type, reason] for row in out.splitlines()) else None


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("scheduler-live")
    paths = pki.ensure_cluster_pki(str(workdir / "pki"), server_dns=["localhost"], server_ips=["127.0.0.1"])
    port = free_port()
    server = f"https://127.0.0.1:{port}"
    kubeconfig.write(str(workdir / "admin.kubeconfig"), kubeconfig.build(
        "kc", server, Path(paths["ca.crt"]).read_bytes(), cert_pem=Path(paths["admin.crt"]).read_bytes(),
        key_pem=Path(paths["admin.key"]).read_bytes(), user="kubeclass-admin"))
    with open(workdir / "apiserver.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "controlplane.api.server", "--store", f"sqlite:///{workdir}/db",
             "--bind", f"127.0.0.1:{port}", "--tls-cert-file", paths["apiserver.crt"],
             "--tls-private-key-file", paths["apiserver.key"], "--client-ca-file", paths["ca.crt"]],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        client = Client.from_kubeconfig(workdir / "admin.kubeconfig")

        def answers() -> bool:
            assert proc.poll() is None, (workdir / "apiserver.log").read_text()[-3000:]
            try:
                client.get(r.NAMESPACES, "default")
                return True
            except Exception:  # noqa: BLE001 - still starting
                return False

        wait_for("the API server", answers, timeout=60)
        yield Live(workdir, client)
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


@pytest.fixture(scope="module")
def scheduler(live: Live) -> Iterator[subprocess.Popen[bytes]]:
    live.client.create(r.NODES, make_node("master-1", cpu="4", memory="8Gi", taints=[CONTROL_PLANE_TAINT],
                                          labels={"node-role.kubernetes.io/control-plane": ""}))
    for name in ("worker-1", "worker-2"):
        live.client.create(r.NODES, make_node(name, cpu="2", memory="4Gi"))
    log_path = live.workdir / "scheduler.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "controlplane.scheduler", "--kubeconfig", live.kubeconfig,
                                 "--leader-elect"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_for("the scheduler to start scheduling",
                 lambda: proc.poll() is not None or "scheduling pods" in log_path.read_text(), timeout=30)
        assert proc.poll() is None, "the scheduler exited:\n" + log_path.read_text()
        yield proc
    finally:
        stop(proc)


def pod_body(name: str, cpu: str, owner: dict | None = None) -> dict:
    pod = make_pod(name, cpu=cpu, memory="128Mi", labels={"app": "web"} if owner else {})
    del pod["metadata"]["uid"], pod["status"]
    if owner:
        pod["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "controller": True,
                                               "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]}]
    return pod


def test_replicas_are_bound_and_spread_over_the_workers(live: Live, scheduler: subprocess.Popen[bytes]) -> None:
    # A ReplicaSet with no replicas wanted: it only owns the pods the test creates (no
    # controller runs here), as a ReplicaSet controller would have created them.
    rs = live.client.create(r.REPLICASETS, {
        "metadata": {"name": "web"}, "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                                              "template": {"metadata": {"labels": {"app": "web"}},
                                                           "spec": {"containers": [{"name": "web", "image": "x"}]}}}},
        "default")
    names = [f"web-{i}" for i in range(1, 5)]
    for name in names:
        live.client.create(r.PODS, pod_body(name, "200m", owner=rs), "default")

    wait_for("all four pods to be bound", lambda: all(live.node_of(n) for n in names))
    placement = {n: live.node_of(n) for n in names}
    assert sorted(placement.values()) == ["worker-1", "worker-1", "worker-2", "worker-2"], placement
    for name in names:
        conditions = live.pod(name)["status"]["conditions"]
        assert {"type": "PodScheduled", "status": "True"}.items() <= conditions[0].items()

    described = wait_for("the Scheduled event", lambda: live.describe_once("web-1", "Normal", "Scheduled"))
    assert "default-scheduler" in described
    assert f"Successfully assigned default/web-1 to {placement['web-1']} (score " in described


def test_a_pod_too_big_for_every_worker_is_explained(live: Live, scheduler: subprocess.Popen[bytes]) -> None:
    live.client.create(r.PODS, pod_body("big", "3"), "default")

    described = wait_for("the FailedScheduling event",
                         lambda: live.describe_once("big", "Warning", "FailedScheduling"))
    assert UNSCHEDULABLE in described, described
    condition = next(c for c in live.pod("big")["status"]["conditions"] if c["type"] == "PodScheduled")
    assert (condition["status"], condition["reason"], condition["message"]) == ("False", "Unschedulable",
                                                                                  UNSCHEDULABLE)
    assert "FailedScheduling" in live.kubectl("get", "events", "--field-selector", "involvedObject.name=big")
    assert not live.node_of("big")


def test_a_new_node_takes_the_waiting_pod(live: Live, scheduler: subprocess.Popen[bytes]) -> None:
    wait_for("big to be waiting", lambda: live.describe_once("big", "Warning", "FailedScheduling"))
    live.client.create(r.NODES, make_node("worker-3", cpu="4", memory="8Gi"))
    assert wait_for("big to be bound to worker-3", lambda: live.node_of("big"), timeout=20) == "worker-3"
    described = wait_for("its Scheduled event", lambda: live.describe_once("big", "Normal", "Scheduled"))
    assert "Successfully assigned default/big to worker-3 (score " in described
    assert "no other node fits)" in described


def test_the_scheduler_leads_and_leaves_cleanly(live: Live, scheduler: subprocess.Popen[bytes]) -> None:
    lease = live.client.get(r.LEASES, "kube-scheduler", "kube-system")
    assert lease["spec"]["holderIdentity"], "it scheduled while holding the Lease"
    started = time.monotonic()
    assert stop(scheduler) == 0, (live.workdir / "scheduler.log").read_text()[-3000:]
    assert time.monotonic() - started < 5, "SIGTERM ends it within seconds"
    assert not live.client.get(r.LEASES, "kube-scheduler", "kube-system")["spec"].get("holderIdentity"), \
        "the Lease is released for a successor"


def start_scheduler(live: Live, name: str) -> subprocess.Popen[bytes]:
    with open(live.workdir / f"{name}.log", "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "controlplane.scheduler", "--kubeconfig", live.kubeconfig,
                                 "--leader-elect"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_a_standby_takes_over_when_the_leader_dies(live: Live) -> None:
    first, second = start_scheduler(live, "scheduler-a"), start_scheduler(live, "scheduler-b")
    try:
        live.client.create(r.PODS, pod_body("before", "100m"), "default")
        wait_for("a leader to bind a pod", lambda: live.node_of("before"))
        holder = live.client.get(r.LEASES, "kube-scheduler", "kube-system")["spec"]["holderIdentity"]
        logs = {p: (live.workdir / f"{n}.log").read_text() for p, n in ((first, "scheduler-a"),
                                                                        (second, "scheduler-b"))}
        leaders = [p for p, text in logs.items() if "scheduling pods" in text]
        assert len(leaders) == 1, "exactly one of the two schedules"
        leader, standby = leaders[0], (second if leaders[0] is first else first)

        leader.kill()   # no goodbye: the standby must wait for the Lease to expire (2 s in class)
        leader.wait(5)
        live.client.create(r.PODS, pod_body("after", "100m"), "default")
        wait_for("the standby to bind a pod", lambda: live.node_of("after"), timeout=20)
        assert live.client.get(r.LEASES, "kube-scheduler", "kube-system")["spec"]["holderIdentity"] != holder
        assert standby.poll() is None
    finally:
        for proc in (first, second):
            stop(proc)


def test_the_benchmark_runs_end_to_end(live: Live) -> None:
    result = bench.measure(live.client, pods=60, nodes=6)
    print(result.summary())
    assert (result.pods, result.nodes) == (60, 6) and result.seconds > 0
    assert not [n for n in live.client.list(r.NODES)["items"] if n["metadata"]["name"].startswith("bench-")], \
        "the benchmark removes its nodes"
