"""Node agents against a real cluster, checked with the real kubectl 1.33.

Starts two ``python -m nodeagent`` processes against the session's local cluster (API
server + controller manager over TLS): one with network namespaces (``--network netns``,
needs root) and one with loopback addresses (``--network loopback``). Each has its own
client certificate (CN ``system:node:<name>``) and a serving certificate signed by the
cluster CA. No scheduler runs yet, so pods are created already bound (``spec.nodeName``).
What a student would see is checked:

* ``kubectl get nodes``: both Ready; their Leases renewed;
* hello pods Running with an IP, reachable over HTTP from the host, two on one port;
* a crashloop pod's restartCount rising, with CrashLoopBackOff;
* a failing liveness probe restarting its container;
* a ConfigMap as environment and as a volume, the file changing after the ConfigMap does;
* ``kubectl delete pod``: gone, after the agent's own final DELETE;
* the agent's own endpoint on :10250 (client certificate required): /healthz,
  /containerLogs (tail, timestamps, follow, errors), /exec over WebSocket, /stats/summary;
* on SIGTERM each agent stops its pods and removes its namespaces, bridge and cgroups.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from wsproto import WSConnection
from wsproto.connection import ConnectionType
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    RejectConnection,
    Request,
)

import pki
from pki import kubeconfig
from tests.livecluster import wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
IS_ROOT = os.geteuid() == 0


class Agent:
    def __init__(self, name: str, address: str, pod_cidr: str, mode: str, base: Path) -> None:
        self.name, self.address, self.pod_cidr, self.mode = name, address, pod_cidr, mode
        self.base = base
        self.proc: subprocess.Popen | None = None

    @property
    def log(self) -> str:
        return (self.base / f"{self.name}.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def agents(cluster, tmp_path_factory) -> Iterator[dict[str, Agent]]:
    base = tmp_path_factory.mktemp("nodeagents")
    ca = Path(cluster.local.path("pki", "ca.crt")).read_bytes()
    ca_key = Path(cluster.local.path("pki", "ca.key")).read_bytes()
    cluster_id = secrets.token_hex(2)
    suffix = secrets.token_hex(2)
    slot = 100 + secrets.randbelow(25) * 2  # two neighbouring /24s and loopback ranges, unlikely to be in use
    wanted = [("loopback", f"na-{suffix}-lo", slot)]
    if IS_ROOT:
        wanted.append(("netns", f"na-{suffix}-ns", slot + 1))
    found: dict[str, Agent] = {}
    try:
        for mode, name, index in wanted:
            address = f"127.0.1.{index}"
            agent = Agent(name, address, f"10.244.{index}.0/24", mode, base)
            cert, key = pki.new_cert(ca, ca_key, f"system:node:{name}", organizations=["system:nodes"], client=True)
            kubeconfig.write(str(base / f"{name}.kubeconfig"), kubeconfig.build(
                "kubeclass", cluster.server, ca, cert_pem=cert, key_pem=key, user=f"system:node:{name}"))
            scert, skey = pki.new_cert(ca, ca_key, f"system:node:{name}", organizations=["system:nodes"],
                                       dns_names=[name], ips=[address], server=True)
            (base / f"{name}.crt").write_bytes(scert)
            pki.write_private(str(base / f"{name}.key"), skey)
            log = open(base / f"{name}.log", "wb")
            agent.proc = subprocess.Popen(
                [sys.executable, "-m", "nodeagent", "--kubeconfig", str(base / f"{name}.kubeconfig"),
                 "--node-name", name, "--address", address, "--pod-cidr", agent.pod_cidr,
                 "--cluster-id", cluster_id, "--network", mode, "--cpu", "2", "--memory", "2Gi",
                 "--data-dir", str(base / name), "--tls-cert-file", str(base / f"{name}.crt"),
                 "--tls-private-key-file", str(base / f"{name}.key")],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            log.close()
            found[mode] = agent
        for agent in found.values():
            wait_for(f"node {agent.name} to register", lambda a=agent: a.name in cluster.kubectl(
                "get", "nodes", "-o", "name", check=False).stdout or a.proc.poll() is not None, timeout=60)
            assert agent.proc.poll() is None, f"the agent exited:\n{agent.log}"
        apply(cluster, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"na-{suffix}"}}])
        found["namespace"] = f"na-{suffix}"  # type: ignore[assignment]
        found["cluster_id"] = cluster_id  # type: ignore[assignment]
        yield found
    finally:
        for key in ("netns", "loopback"):
            agent = found.get(key)
            if agent is None or agent.proc is None:
                continue
            agent.proc.send_signal(signal.SIGTERM)
            try:
                agent.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(agent.proc.pid, signal.SIGKILL)
                agent.proc.wait()
            cluster.kubectl("delete", "node", agent.name, "--wait=false", check=False)
        if "namespace" in found:
            cluster.kubectl("delete", "namespace", str(found["namespace"]), "--wait=false", check=False)


@pytest.fixture(scope="module")
def ns(agents) -> str:
    return agents["namespace"]  # type: ignore[return-value]


def modes() -> list[str]:
    return ["loopback", "netns"] if IS_ROOT else ["loopback"]


def apply(cluster, manifest: str | list[dict], ns: str | None = None) -> None:
    text = manifest if isinstance(manifest, str) else yaml.safe_dump_all(manifest)
    cluster.kubectl("apply", *(["-n", ns] if ns else []), "-f", "-", input=text)


def get_pod(cluster, ns: str, name: str) -> dict | None:
    result = cluster.kubectl("get", "pod", name, "-n", ns, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def pod(name: str, node: str, containers: list[dict], **spec: Any) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 5, "containers": containers, **spec}}


def running(cluster, ns: str, name: str, timeout: float = 60) -> dict:
    def ready() -> dict | None:
        p = get_pod(cluster, ns, name)
        if p and p["status"].get("phase") == "Running" and all(
                s.get("ready") for s in p["status"].get("containerStatuses") or [{}]):
            return p
        return None
    return wait_for(f"pod {name} to be Running and ready", ready, timeout)


def http_get(url: str, timeout: float = 30) -> str:
    def fetch() -> str | None:
        try:
            return requests.get(url, timeout=2).text
        except requests.RequestException:
            return None
    return wait_for(f"an answer from {url}", fetch, timeout)


# -- the agent's own endpoint, with the admin's client certificate (signed by the cluster CA) --


def endpoint(cluster, agent: Agent, path: str, *, cert: bool = True, **kw: Any) -> requests.Response:
    pki_dir = cluster.local.path("pki")
    return requests.get(f"https://{agent.address}:10250{path}", verify=os.path.join(pki_dir, "ca.crt"),
                        cert=(os.path.join(pki_dir, "admin.crt"), os.path.join(pki_dir, "admin.key")) if cert else None,
                        timeout=30, **kw)


def ws_exec(cluster, agent: Agent, ns: str, pod_name: str, container: str, command: list[str],
            stdin: bytes | None = None) -> dict[int, bytes]:
    pki_dir = cluster.local.path("pki")
    ctx = ssl.create_default_context(cafile=os.path.join(pki_dir, "ca.crt"))
    ctx.load_cert_chain(os.path.join(pki_dir, "admin.crt"), os.path.join(pki_dir, "admin.key"))
    sock = ctx.wrap_socket(socket.create_connection((agent.address, 10250), timeout=30), server_hostname=agent.name)
    query = urllib.parse.urlencode([("command", c) for c in command] + [
        ("stdin", "true" if stdin is not None else "false"), ("stdout", "true"), ("stderr", "true")])
    ws = WSConnection(ConnectionType.CLIENT)
    sock.sendall(ws.send(Request(host=agent.address, target=f"/exec/{ns}/{pod_name}/{container}?{query}",
                                 subprotocols=["v5.channel.k8s.io", "v4.channel.k8s.io"])))
    out: dict[int, bytes] = {}
    try:
        while True:
            data = sock.recv(65536)
            ws.receive_data(data or None)
            for event in ws.events():
                if isinstance(event, AcceptConnection):
                    assert event.subprotocol == "v5.channel.k8s.io"
                    if stdin is not None:
                        sock.sendall(ws.send(BytesMessage(data=b"\x00" + stdin)))
                        sock.sendall(ws.send(BytesMessage(data=b"\xff\x00")))
                elif isinstance(event, RejectConnection):
                    raise AssertionError(f"exec refused: {event.status_code}")
                elif isinstance(event, BytesMessage):
                    out[event.data[0]] = out.get(event.data[0], b"") + bytes(event.data[1:])
                elif isinstance(event, CloseConnection):
                    sock.sendall(ws.send(event.response()))
                    return out
            if not data:
                return out
    finally:
        sock.close()


# -- the tests -------------------------------------------------------------------------------


def test_nodes_are_ready_with_leases(cluster, agents):
    for mode in modes():
        agent = agents[mode]
        out = cluster.kubectl("get", "node", agent.name).stdout
        assert " Ready " in out, out
        node = json.loads(cluster.kubectl("get", "node", agent.name, "-o", "json").stdout)
        assert node["spec"]["podCIDR"] == agent.pod_cidr
        assert {"type": "InternalIP", "address": agent.address} in node["status"]["addresses"]
        assert node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == 10250
        lease = json.loads(cluster.kubectl("get", "lease", agent.name, "-n", "kube-node-lease", "-o", "json").stdout)
        first = lease["spec"]["renewTime"]
        wait_for("the lease to be renewed", lambda a=agent, f=first: json.loads(cluster.kubectl(
            "get", "lease", a.name, "-n", "kube-node-lease", "-o", "json").stdout)["spec"]["renewTime"] != f, 10)


@pytest.mark.parametrize("mode", modes())
def test_hello_pods_run_reachable_and_share_a_port(cluster, agents, ns, mode):
    agent = agents[mode]
    names = [f"hello-{mode}-a", f"hello-{mode}-b"]
    apply(cluster, [pod(n, agent.name, [{"name": "web", "image": "kubeclass/hello:1",
                                         "ports": [{"containerPort": 8080}],
                                         "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080},
                                                            "periodSeconds": 1}}]) for n in names], ns)
    answers = []
    for n in names:
        p = running(cluster, ns, n)
        ip = p["status"]["podIP"]
        if mode == "netns":
            assert ip.startswith(agent.pod_cidr.rsplit(".", 2)[0] + ".")
        else:
            assert ip.startswith("127.")
        assert p["status"]["hostIP"] == agent.address
        answers.append(http_get(f"http://{ip}:8080/"))
    assert answers[0] != answers[1]
    for n, answer in zip(names, answers):
        assert answer.startswith("Hello from kubeclass/hello:1 on pod " + n)
    table = cluster.kubectl("get", "pods", "-n", ns, "-o", "wide").stdout
    assert all(f"{n} " in table for n in names) and "Running" in table


def test_crashloop_restarts_and_backs_off(cluster, agents, ns):
    agent = agents["loopback"]
    apply(cluster, [pod("crash", agent.name, [{"name": "c", "image": "kubeclass/crashloop",
                                               "env": [{"name": "CRASH_AFTER", "value": "0.2"}]}])], ns)
    seen: set[str] = set()

    def restarted() -> bool:
        p = get_pod(cluster, ns, "crash")
        s = (p or {}).get("status", {}).get("containerStatuses") or [{}]
        seen.add((s[0].get("state", {}).get("waiting") or {}).get("reason", ""))
        return s[0].get("restartCount", 0) >= 3 and "CrashLoopBackOff" in seen

    wait_for("restarts and CrashLoopBackOff", restarted, timeout=90)
    s = get_pod(cluster, ns, "crash")["status"]["containerStatuses"][0]
    assert s["lastState"]["terminated"]["exitCode"] == 1 and s["lastState"]["terminated"]["reason"] == "Error"
    previous = endpoint(cluster, agent, f"/containerLogs/{ns}/crash/c?previous=true")
    assert previous.status_code == 200 and "something went wrong" in previous.text


def test_a_failing_liveness_probe_restarts_the_container(cluster, agents, ns):
    agent = agents["netns" if IS_ROOT else "loopback"]
    apply(cluster, [pod("unhealthy", agent.name, [{
        "name": "web", "image": "kubeclass/hello:2", "env": [{"name": "HEALTHZ_FAIL_AFTER", "value": "2"}],
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1, "failureThreshold": 2}}])], ns)
    wait_for("a restart", lambda: ((get_pod(cluster, ns, "unhealthy") or {}).get("status", {})
                                   .get("containerStatuses") or [{}])[0].get("restartCount", 0) >= 1, timeout=60)
    events = cluster.kubectl("get", "events", "-n", ns, "--field-selector", "involvedObject.name=unhealthy").stdout
    assert "Liveness probe failed: HTTP probe failed with statuscode: 500" in events
    assert "failed liveness probe, will be restarted" in events


@pytest.mark.parametrize("mode", modes())
def test_config_map_as_env_and_as_a_volume_that_follows_updates(cluster, agents, ns, mode):
    agent = agents[mode]
    cm, name = f"settings-{mode}", f"reader-{mode}"
    apply(cluster, [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": cm},
                     "data": {"greeting": "hello-1"}},
                    pod(name, agent.name, [{
                        "name": "c", "image": "busybox",
                        "command": ["sh", "-c", "echo GREETING=$GREETING; while true; do sleep 1; done"],
                        "env": [{"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": cm, "key": "greeting"}}}],
                        "volumeMounts": [{"name": "config", "mountPath": "/etc/kubeclass-test-config"}]}],
                        volumes=[{"name": "config", "configMap": {"name": cm}}])], ns)
    running(cluster, ns, name)
    logs = wait_for("the first log line", lambda: endpoint(cluster, agent, f"/containerLogs/{ns}/{name}/c").text)
    assert "GREETING=hello-1" in logs
    if mode == "netns":  # as root the volume is at its mountPath, inside the container only
        read = lambda: ws_exec(cluster, agent, ns, name, "c", ["cat", "/etc/kubeclass-test-config/greeting"]).get(1, b"")
        assert not os.path.exists("/etc/kubeclass-test-config")
    else:  # without a mount namespace of its own, the volume is read where the agent keeps it
        uid = get_pod(cluster, ns, name)["metadata"]["uid"]
        path = agent.base / agent.name / "pods" / uid / "volumes" / "kubernetes.io~configmap" / "config" / "greeting"
        read = lambda: path.read_bytes() if path.exists() else b""
    assert wait_for("the volume", lambda: read() == b"hello-1", 20)
    cluster.kubectl("patch", "configmap", cm, "-n", ns, "-p", '{"data":{"greeting":"hello-2"}}')
    wait_for("the file to change", lambda: read() == b"hello-2", 30)


def test_kubectl_delete_pod_is_graceful_and_finished_by_the_agent(cluster, agents, ns):
    agent = agents["netns" if IS_ROOT else "loopback"]
    apply(cluster, [pod("doomed", agent.name, [{
        "name": "c", "image": "busybox",
        "command": ["sh", "-c", "trap 'echo got SIGTERM; exit 0' TERM; while true; do sleep 0.2; done"],
        "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "echo prestop"]}}}}],
        terminationGracePeriodSeconds=20)], ns)
    uid = running(cluster, ns, "doomed")["metadata"]["uid"]
    started = time.monotonic()
    cluster.kubectl("delete", "pod", "doomed", "-n", ns, timeout=60)  # waits until the pod is gone
    assert time.monotonic() - started < 15  # the trap exits at SIGTERM: no need to wait 20 s
    assert get_pod(cluster, ns, "doomed") is None
    assert f"{uid}" not in endpoint(cluster, agent, "/pods").text
    if agent.mode == "netns":
        assert not any(uid.replace("-", "")[:12] in n for n in os.listdir("/run/netns"))


def test_the_agents_own_endpoint(cluster, agents, ns):
    agent = agents["netns" if IS_ROOT else "loopback"]
    assert endpoint(cluster, agent, "/healthz").text == "ok"
    assert endpoint(cluster, agent, "/healthz", cert=False).status_code == 401
    apply(cluster, [pod("counter", agent.name, [{
        "name": "count", "image": "busybox",
        "command": ["sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done"]}])], ns)
    running(cluster, ns, "counter")
    wait_for("some lines", lambda: endpoint(cluster, agent, f"/containerLogs/{ns}/counter/count").text.count("\n") >= 5)
    tail = endpoint(cluster, agent, f"/containerLogs/{ns}/counter/count?tailLines=2&timestamps=true").text
    lines = tail.splitlines()
    assert len(lines) == 2 and all(line.split(" ", 1)[0].endswith("Z") and " line " in line for line in lines)
    assert len(endpoint(cluster, agent, f"/containerLogs/{ns}/counter/count?limitBytes=7").content) == 7
    missing = endpoint(cluster, agent, f"/containerLogs/{ns}/counter/nope")
    assert missing.status_code == 404 and missing.text == 'container "nope" not found in pod "counter"'
    assert endpoint(cluster, agent, f"/containerLogs/{ns}/nobody/c").text == 'pod "nobody" does not exist'
    previous = endpoint(cluster, agent, f"/containerLogs/{ns}/counter/count?previous=true")
    assert previous.status_code == 400 and "previous terminated container" in previous.text

    with endpoint(cluster, agent, f"/containerLogs/{ns}/counter/count?follow=true&tailLines=1", stream=True) as resp:
        assert resp.status_code == 200
        got = []
        for line in resp.iter_lines():
            got.append(line.decode())
            if len(got) >= 4:
                break
    numbers = [int(line.split()[1]) for line in got]
    assert numbers == list(range(numbers[0], numbers[0] + 4))  # streamed as written, none missing

    out = ws_exec(cluster, agent, ns, "counter", "count", ["sh", "-c", "echo $HOSTNAME; echo oops >&2; exit 3"])
    assert out[1] == b"counter\n" and out[2] == b"oops\n"
    status = json.loads(out[3])
    assert status["reason"] == "NonZeroExitCode" and status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    out = ws_exec(cluster, agent, ns, "counter", "count", ["cat"], stdin=b"piped through\n")
    assert out[1] == b"piped through\n" and json.loads(out[3])["status"] == "Success"

    summary = endpoint(cluster, agent, "/stats/summary").json()
    assert summary["node"]["nodeName"] == agent.name and summary["node"]["memory"]["workingSetBytes"] > 0
    pods = {p["podRef"]["name"]: p for p in summary["pods"]}
    assert "counter" in pods and pods["counter"]["containers"][0]["name"] == "count"
    assert "usageNanoCores" in pods["counter"]["containers"][0]["cpu"]


def test_exec_sessions_never_disturb_other_connections(cluster, agents, ns):
    """An exec's socket used to be read by a stray thread after it was closed; the next
    connection, given the same descriptor number, lost its handshake ("bad record mac")."""
    agent = agents["netns" if IS_ROOT else "loopback"]
    apply(cluster, [pod("sleeper", agent.name, [{
        "name": "c", "image": "busybox", "command": ["sh", "-c", "while true; do sleep 1; done"]}])], ns)
    running(cluster, ns, "sleeper")
    failures: list[str] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            try:
                endpoint(cluster, agent, "/healthz")
            except requests.RequestException as e:
                failures.append(repr(e))

    pollers = [threading.Thread(target=poll) for _ in range(3)]
    for t in pollers:
        t.start()
    try:
        for i in range(60):
            assert ws_exec(cluster, agent, ns, "sleeper", "c", ["cat"], stdin=f"{i}\n".encode())[1] == f"{i}\n".encode()
    finally:
        done.set()
        for t in pollers:
            t.join(timeout=60)
    assert failures == []


def test_simulated_nodes_register_and_run_pods_without_processes(cluster, ns, tmp_path):
    prefix = f"sim-{secrets.token_hex(2)}-"
    log = open(tmp_path / "sim.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "nodeagent", "--kubeconfig", cluster.kubeconfig, "--simulated",
                             "--count", "3", "--node-name-prefix", prefix, "--pod-cidr", "10.244.240.0/24",
                             "--address", "127.0.1.254", "--data-dir", str(tmp_path / "sim")],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    names = [f"{prefix}{i}" for i in range(3)]
    try:
        wait_for("three Ready nodes", lambda: cluster.kubectl("get", "nodes", *names, check=False).stdout.count(" Ready ") == 3)
        labels = cluster.kubectl("get", "nodes", "-l", "kubeclass.io/simulated=true", "-o", "name").stdout
        assert all(f"node/{n}" in labels for n in names)
        apply(cluster, [pod("simulated", names[2], [{"name": "c", "image": "nginx"}])], ns)
        p = running(cluster, ns, "simulated", timeout=30)
        assert p["status"]["podIP"] == "10.244.242.2"  # from the third node's range
        cluster.kubectl("delete", "pod", "simulated", "-n", ns, timeout=30)
        assert get_pod(cluster, ns, "simulated") is None
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        cluster.kubectl("delete", "nodes", *names, "--wait=false", check=False)
    assert proc.returncode == 0, (tmp_path / "sim.log").read_text()


def test_agents_clean_up_on_sigterm(cluster, agents, ns):
    """Last: stop the agents and look for anything they left behind."""
    for mode in modes():
        agent = agents[mode]
        assert agent.proc is not None
        agent.proc.send_signal(signal.SIGTERM)
        assert agent.proc.wait(timeout=40) == 0, agent.log
        assert "stopped" in agent.log
        assert not [p for p in os.listdir("/proc") if p.isdigit() and str(agent.base / agent.name).encode() in _cmdline(p)]
    if IS_ROOT:
        cid = agents["cluster_id"]
        assert not [n for n in os.listdir("/run/netns") if n.startswith(f"kc{cid}-")]
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=False).stdout
        assert f"kc{cid}" not in links
        leftovers = subprocess.run(["find", "/sys/fs/cgroup/memory", "-maxdepth", "4", "-name", f"kc{cid}-*"],
                                   capture_output=True, text=True, check=False).stdout
        assert leftovers == ""


def _cmdline(pid: str) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""
