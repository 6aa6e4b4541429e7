"""kubectl logs, exec and top (1.33 and 1.32) through a real API server to a node agent.

The cluster is the session's real ``kubeclass up`` (gunicorn, TLS, the kubelet client
certificate `up` makes); the node agent is the test double of tests/api/test_podproxy.py,
with a certificate the cluster's CA signed for its node, registered as a Node the way an
agent registers itself. Pods are placed on it directly (``spec.nodeName``) and tolerate
its missing heartbeats, so that neither the scheduler nor the node lifecycle controller
moves them while the tests run.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.api.test_podproxy import (
    CA,
    STAMP,
    FakeNodeAgent,
    closed_port,
    node_object,
    node_status,
    pod_status,
)
from tests.livecluster import KUBECTL_VERSIONS, Cluster, kubectl_binary

pytestmark = pytest.mark.slow

TOLERATE_ALL = [{"operator": "Exists", "effect": "NoExecute"}, {"operator": "Exists", "effect": "NoSchedule"}]


@dataclasses.dataclass
class World:
    cluster: Cluster
    agent: FakeNodeAgent
    down_node: str  # a registered node whose agent does not answer
    http: requests.Session

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.http.post(f"{self.cluster.server}{path}", json=body)
        assert r.status_code == 201, r.text
        return r.json()

    def patch_status(self, path: str, status: dict[str, Any]) -> dict[str, Any]:
        r = self.http.patch(f"{self.cluster.server}{path}/status", json=status,
                            headers={"Content-Type": "application/merge-patch+json"})
        assert r.status_code == 200, r.text
        return r.json()

    def run_pod(self, ns: str, name: str, node: str, containers: tuple[str, ...] = ("c",),
                waiting: str = "") -> dict[str, Any]:
        body = {"metadata": {"name": name, "labels": {"app": name}},
                "spec": {"nodeName": node, "tolerations": TOLERATE_ALL,
                         "containers": [{"name": c, "image": "kubeclass/hello:1"} for c in containers]}}
        self.create(f"/api/v1/namespaces/{ns}/pods", body)
        status = {"status": pod_status(containers, waiting)}
        return self.patch_status(f"/api/v1/namespaces/{ns}/pods/{name}", status)


@pytest.fixture(scope="module")
def world(cluster: Cluster, tmp_path_factory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("fake-agent")
    with open(cluster.ca, "rb") as f, open(cluster.local.path("pki", "ca.key"), "rb") as k:
        ca = CA(f.read(), k.read(), cluster.ca)
    http = requests.Session()
    http.cert = (cluster.local.path("pki", "admin.crt"), cluster.local.path("pki", "admin.key"))
    http.verify = cluster.ca
    http.trust_env = False  # REQUESTS_CA_BUNDLE would override the cluster's CA
    suffix = uuid.uuid4().hex[:6]
    with FakeNodeAgent(ca, f"fake-{suffix}", directory) as agent:
        w = World(cluster, agent, f"down-{suffix}", http)
        for name, port in ((agent.node, agent.port), (w.down_node, closed_port())):
            w.create("/api/v1/nodes", node_object(name, agent.host, port, {"kubeclass.test/fake": "true"}))
            w.patch_status(f"/api/v1/nodes/{name}", node_status(agent.host, port))
        yield w
        for name in (agent.node, w.down_node):
            http.delete(f"{cluster.server}/api/v1/nodes/{name}")


@pytest.fixture(scope="module", params=KUBECTL_VERSIONS)
def ns(request, world: World) -> Iterator[tuple[str, str]]:
    """(namespace, kubectl version): each version works in a namespace of its own."""
    version = request.param
    name = f"podproxy-{version.replace('.', '')}"
    world.create("/api/v1/namespaces", {"metadata": {"name": name}})
    web = world.run_pod(name, "web", world.agent.node, containers=("app", "sidecar"))
    world.run_pod(name, "starting", world.agent.node, waiting="ContainerCreating")
    world.run_pod(name, "stranded", world.down_node)
    agent = world.agent
    agent.logs[(name, "web", "app")] = ["hello from app", "second line", "third line"]
    agent.waiting[(name, "starting", "c")] = "ContainerCreating"
    agent.usage[(name, "web")] = (web["metadata"]["uid"], {"app": (1_500_000_000, 64 * 1024 * 1024),
                                                           "sidecar": (137_855_343, 2 * 1024 * 1024)})
    yield name, version
    world.http.delete(f"{world.cluster.server}/api/v1/namespaces/{name}")


def kubectl(world: World, version: str, *args: str, **kw: Any) -> subprocess.CompletedProcess:
    return world.cluster.kubectl(*args, version=version, **kw)


# -- logs ------------------------------------------------------------------------------------


def test_logs(world: World, ns: tuple[str, str]) -> None:
    name, version = ns
    out = kubectl(world, version, "logs", "-n", name, "web", "-c", "app")
    assert out.stdout == "hello from app\nsecond line\nthird line\n"
    out = kubectl(world, version, "logs", "-n", name, "web", "-c", "app", "--tail=1", "--timestamps")
    assert out.stdout == f"{STAMP} third line\n"
    # kubectl picks the first container itself (and says so) when there are several.
    out = kubectl(world, version, "logs", "-n", name, "web")
    assert out.stdout.startswith("hello from app")
    out = kubectl(world, version, "logs", "-n", name, "starting", check=False)
    assert out.returncode == 1
    assert out.stderr.strip() == ('Error from server (BadRequest): container "c" in pod "starting" '
                                  "is waiting to start: ContainerCreating")
    out = kubectl(world, version, "logs", "-n", name, "stranded", check=False)
    assert out.returncode == 1
    assert f'Error from server (ServiceUnavailable): the node agent on node "{world.down_node}" did not answer' \
        in out.stderr


def test_logs_follow_shows_lines_as_they_come(world: World, ns: tuple[str, str]) -> None:
    name, version = ns
    world.agent.release = threading.Event()
    world.agent.follow_lines = ["written later", "and the last"]
    proc = subprocess.Popen([kubectl_binary(version), "--kubeconfig", world.cluster.kubeconfig, "logs", "-f",
                             "-n", name, "web", "-c", "app"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "HOME": world.cluster.home})
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout
    reader = threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True)
    reader.start()
    try:
        # The first lines arrive while the agent still holds the rest back: nothing is buffered.
        assert [lines.get(timeout=20) for _ in range(3)] == ["hello from app\n", "second line\n", "third line\n"]
        world.agent.release.set()
        assert proc.wait(timeout=20) == 0
        reader.join(timeout=5)
        assert [lines.get_nowait() for _ in range(lines.qsize())] == ["written later\n", "and the last\n"]
    finally:
        world.agent.release.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_follower_who_leaves_releases_the_stream(world: World, ns: tuple[str, str]) -> None:
    """kubectl logs -f, then Ctrl-C while the container is silent: the API server must hang up
    on the agent at once, not hold a thread until the container next writes a line."""
    name, version = ns
    world.agent.release = threading.Event()
    proc = subprocess.Popen([kubectl_binary(version), "--kubeconfig", world.cluster.kubeconfig, "logs", "-f",
                             "-n", name, "web", "-c", "app"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env={**os.environ, "HOME": world.cluster.home})
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "hello from app\n"
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 10
    while (name, "web", "app") not in world.agent.abandoned:
        assert time.monotonic() < deadline, "the API server kept the agent's log stream open"
        time.sleep(0.05)


# -- exec ------------------------------------------------------------------------------------


def test_exec(world: World, ns: tuple[str, str]) -> None:
    name, version = ns
    out = kubectl(world, version, "exec", "-n", name, "web", "-c", "app", "--", "echo", "hi", "there")
    assert out.stdout == "hi there\n"
    path, query = world.agent.requests[-1]
    assert path == f"/exec/{name}/web/app" and query["command"] == ["echo", "hi", "there"]
    out = kubectl(world, version, "exec", "-i", "-n", name, "web", "-c", "app", "--", "cat",
                  input="piped in\nand more\n")
    assert out.stdout == "piped in\nand more\n"
    out = kubectl(world, version, "exec", "-n", name, "web", "-c", "app", "--", "fail", "3", check=False)
    assert out.returncode == 3
    assert "failing on purpose" in out.stderr and "command terminated with exit code 3" in out.stderr


def test_exec_is_interactive(world: World, ns: tuple[str, str]) -> None:
    """Each line typed comes back before the next is sent: the relay passes frames both ways at once."""
    name, version = ns
    proc = subprocess.Popen([kubectl_binary(version), "--kubeconfig", world.cluster.kubeconfig, "exec", "-i",
                             "-n", name, "web", "-c", "app", "--", "cat"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "HOME": world.cluster.home})
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for line in ("first\n", "second\n", "third\n"):
            proc.stdin.write(line)
            proc.stdin.flush()
            assert proc.stdout.readline() == line
        proc.stdin.close()
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_exec_with_a_large_output(world: World, ns: tuple[str, str]) -> None:
    name, version = ns
    out = kubectl(world, version, "exec", "-n", name, "web", "-c", "app", "--", "bytes", "3000000")
    assert out.stdout == "x" * 3_000_000


def test_exec_errors_reach_kubectl(world: World, ns: tuple[str, str]) -> None:
    name, version = ns
    # The WebSocket attempt fails, kubectl falls back to SPDY, and that answer names the problem.
    out = kubectl(world, version, "exec", "-n", name, "stranded", "--", "echo", "hi", check=False)
    assert out.returncode == 1
    assert f'Error from server (ServiceUnavailable): the node agent on node "{world.down_node}" did not answer' \
        in out.stderr
    # The agent refuses; kubectl falls back to SPDY; the API server names the reason from the pod's status.
    out = kubectl(world, version, "exec", "-n", name, "starting", "--", "echo", "hi", check=False)
    assert out.returncode == 1
    assert out.stderr.strip() == ('Error from server (BadRequest): container "c" in pod "starting" '
                                  "is waiting to start: ContainerCreating")
    out = kubectl(world, version, "exec", "-n", name, "web", "-c", "nope", "--", "echo", "hi", check=False)
    assert out.returncode == 1
    assert "Error from server (BadRequest): container nope is not valid for pod web" in out.stderr


def test_attach(world: World, ns: tuple[str, str]) -> None:
    name, version = ns
    out = kubectl(world, version, "attach", "-i", "-n", name, "web", "-c", "app", input="to the container\n")
    assert out.stdout == "to the container\n"


# -- top -------------------------------------------------------------------------------------


def test_top_nodes(world: World, ns: tuple[str, str]) -> None:
    _, version = ns
    out = kubectl(world, version, "top", "nodes", "-l", "kubeclass.test/fake=true")
    rows = [line.split() for line in out.stdout.splitlines()]
    assert rows[0] == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    # The node whose agent does not answer is left out of the metrics; kubectl still lists it.
    assert sorted(rows[1:]) == [[world.down_node, "<unknown>", "<unknown>", "<unknown>", "<unknown>"],
                                [world.agent.node, "250m", "12%", "120Mi", "2%"]]
    out = kubectl(world, version, "top", "node", world.down_node, check=False)
    assert out.returncode == 1
    assert out.stderr.strip() == ("Error from server (NotFound): "
                                  f'nodemetrics.metrics.k8s.io "{world.down_node}" not found')


def test_top_pods(world: World, ns: tuple[str, str]) -> None:
    name, version = ns
    out = kubectl(world, version, "top", "pods", "-n", name)
    assert [line.split() for line in out.stdout.splitlines()] == [
        ["NAME", "CPU(cores)", "MEMORY(bytes)"], ["web", "1638m", "66Mi"]]  # kubectl rounds up to millicores
    out = kubectl(world, version, "top", "pods", "-n", name, "--containers")
    assert [line.split() for line in out.stdout.splitlines()] == [
        ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"], ["web", "app", "1500m", "64Mi"],
        ["web", "sidecar", "138m", "2Mi"]]
    out = kubectl(world, version, "top", "pods", "-A", "-l", "app=web")
    rows = [line.split() for line in out.stdout.splitlines()]
    assert rows[0] == ["NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert [name, "web", "1638m", "66Mi"] in rows
    out = kubectl(world, version, "get", "podmetrics", "-n", name)
    assert [line.split() for line in out.stdout.splitlines()] == [
        ["NAME", "CPU", "MEMORY", "WINDOW"], ["web", "1637855343n", "66Mi", "10s"]]
    out = kubectl(world, version, "top", "pod", "-n", name, "starting", check=False)
    assert out.returncode == 1
    assert out.stderr.strip() == ("Error from server (NotFound): "
                                  f'podmetrics.metrics.k8s.io "{name}/starting" not found')


def test_python_client_exec(world: World, ns: tuple[str, str]) -> None:
    """The official Python client's stream() speaks the same WebSocket (it offers v4 and v5)."""
    from kubernetes import client, config
    from kubernetes.stream import stream

    name, _ = ns
    core = client.CoreV1Api(config.new_client_from_config(world.cluster.kubeconfig))
    out = stream(core.connect_get_namespaced_pod_exec, "web", name, container="app",
                 command=["echo", "from", "python"], stdin=False, stdout=True, stderr=True, tty=False)
    assert out == "from python\n"
