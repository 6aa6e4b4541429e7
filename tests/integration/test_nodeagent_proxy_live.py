"""The service proxy in a real cluster: ClusterIPs and NodePorts reach real pods.

Starts a control plane of its own (an API server over TLS and a controller manager
running the EndpointSlice controller) and two ``python -m nodeagent`` processes, as
``test_nodeagent_live.py`` does: one with network namespaces (``--network netns``), one
with loopback addresses (``--network loopback``). It owns its processes rather than
sharing the session's ``kubeclass up`` cluster, so its agents, addresses and interfaces
are its own (a random cluster id prefixes every name). Needs root.

What a user would see is checked:

* two hello pods behind a ClusterIP Service (named targetPort): requests to
  ClusterIP:port from the host reach both pods; the address is on the agent's
  interface ``kc<id>s<n>``;
* a NodePort Service answers on ``<node address>:<nodePort>`` of both nodes (the
  loopback agent, which proxies no ClusterIP, relays to the other node's pods);
* from inside a pod's network namespace the ClusterIP answers (through the bridge);
* a pod that stops being ready stops getting traffic;
* deleting the Service closes its listener and removes its address;
* SIGTERM of the agent removes its interface and closes its NodePorts.

No connection is ever made to a ClusterIP the agent does not own at that moment: the
host has a default route, so such a packet would leave the machine.
"""

from __future__ import annotations

import http.client
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

import pki
from pki import kubeconfig
from controlplane.client import Client, is_not_found
from controlplane.client import resources as r
from nodeagent.proxy_rules import ENDPOINTSLICES
from nodeagent.proxy_userspace import interface_name
from tests.livecluster import wait_for

IS_ROOT = os.geteuid() == 0
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not IS_ROOT or not shutil.which("ip"),
                                 reason="ClusterIPs need root: network namespaces and an interface for the addresses")]

ROOT = Path(__file__).resolve().parents[2]
SERVICE_CIDR = "10.96.0.0/12"  # the API server's default --service-cluster-ip-range


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(ip: str, port: int, path: str = "/", timeout: float = 3.0) -> str | None:
    """One request with the standard library (no proxy from the environment); None if it fails."""
    conn = http.client.HTTPConnection(ip, port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().read().decode()
    except OSError:
        return None
    finally:
        conn.close()


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False).stdout


def listening(address: str, port: int) -> bool:
    """Is a TCP socket of this network namespace listening on address:port? (/proc/net/tcp)"""
    want = f"{socket.inet_aton(address)[::-1].hex().upper()}:{port:04X}"
    with open("/proc/net/tcp") as f:
        return any(fields[1] == want and fields[3] == "0A" for fields in (line.split() for line in f.readlines()[1:]))


class Proc:
    def __init__(self, name: str, argv: list[str], base: Path) -> None:
        self.name, self.log_path = name, base / f"{name}.log"
        with open(self.log_path, "wb") as log:
            self.popen = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 40) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        return self.popen.returncode


class Agent(Proc):
    def __init__(self, name: str, slot: int, mode: str, cluster_id: str, base: Path, kubeconfig_path: Path) -> None:
        self.node, self.address, self.mode, self.slot = name, f"127.0.1.{slot}", mode, slot
        self.pod_cidr = f"10.244.{slot}.0/24"
        self.interface = interface_name(cluster_id, slot, name)
        self.data_dir = base / name
        super().__init__(name, [
            sys.executable, "-m", "nodeagent", "--kubeconfig", str(kubeconfig_path), "--node-name", name,
            "--address", self.address, "--pod-cidr", self.pod_cidr, "--cluster-id", cluster_id,
            "--service-cidr", SERVICE_CIDR, "--network", mode, "--cpu", "2", "--memory", "2Gi",
            "--data-dir", str(self.data_dir), "--tls-cert-file", str(base / f"{name}.crt"),
            "--tls-private-key-file", str(base / f"{name}.key"), "-v"], base)


class Env:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.cluster_id = secrets.token_hex(2)
        self.ns = f"px-{secrets.token_hex(2)}"
        self.procs: list[Proc] = []
        self.agents: dict[str, Agent] = {}
        self.client: Client | None = None

    @property
    def netns(self) -> Agent:
        return self.agents["netns"]


def start_control_plane(env: Env) -> tuple[str, str]:
    base, port = env.base, free_port()
    paths = pki.ensure_cluster_pki(str(base / "pki"), server_dns=["localhost"], server_ips=["127.0.0.1"])
    server = f"https://127.0.0.1:{port}"
    ca = Path(paths["ca.crt"]).read_bytes()
    admin = base / "admin.kubeconfig"
    kubeconfig.write(str(admin), kubeconfig.build("proxy-test", server, ca, cert_pem=Path(paths["admin.crt"]).read_bytes(),
                                                  key_pem=Path(paths["admin.key"]).read_bytes(), user="admin"))
    api = Proc("apiserver", [sys.executable, "-m", "controlplane.api.server", "--store", f"sqlite://{base}/cluster.db",
                             "--bind", f"127.0.0.1:{port}", "--tls-cert-file", paths["apiserver.crt"],
                             "--tls-private-key-file", paths["apiserver.key"], "--client-ca-file", paths["ca.crt"],
                             "--workers", "1"], base)
    env.procs.append(api)

    def ready() -> bool:
        assert api.popen.poll() is None, f"the API server exited:\n{api.log}"
        try:
            return requests.get(f"{server}/readyz", verify=paths["ca.crt"], timeout=2,
                                cert=(paths["admin.crt"], paths["admin.key"])).status_code == 200
        except requests.RequestException:
            return False

    wait_for("the API server", ready, 60)
    env.procs.append(Proc("controller-manager", [
        sys.executable, "-m", "controlplane.controllers.manager", "--kubeconfig", str(admin), "--leader-elect=false",
        "--controllers", "endpointslice,endpoints,serviceaccount,namespace,garbagecollector"], base))
    return server, str(admin)


def start_agents(env: Env, server: str) -> None:
    base = env.base
    ca, ca_key = (base / "pki" / "ca.crt").read_bytes(), (base / "pki" / "ca.key").read_bytes()
    slot = 150 + secrets.randbelow(50) * 2  # two neighbouring /24s, away from test_nodeagent_live's 100..149
    for mode, index in (("netns", slot), ("loopback", slot + 1)):
        name = f"px-{env.cluster_id}-{mode[:2]}"
        cert, key = pki.new_cert(ca, ca_key, f"system:node:{name}", organizations=["system:nodes"], client=True)
        kubeconfig.write(str(base / f"{name}.kubeconfig"), kubeconfig.build(
            "proxy-test", server, ca, cert_pem=cert, key_pem=key, user=f"system:node:{name}"))
        scert, skey = pki.new_cert(ca, ca_key, f"system:node:{name}", organizations=["system:nodes"],
                                   dns_names=[name], ips=[f"127.0.1.{index}"], server=True)
        (base / f"{name}.crt").write_bytes(scert)
        pki.write_private(str(base / f"{name}.key"), skey)
        agent = Agent(name, index, mode, env.cluster_id, base, base / f"{name}.kubeconfig")
        env.agents[mode] = agent
        env.procs.append(agent)


def leftovers(env: Env) -> None:
    """Whatever a failed run left: processes under our data directories, our interfaces and namespaces."""
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if str(env.base).encode() in cmdline and int(pid) != os.getpid():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
    prefix = f"kc{env.cluster_id}"
    for ns in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
        if ns.startswith(prefix + "-"):
            subprocess.run(["ip", "netns", "del", ns], check=False)
    for line in ip("-o", "link").splitlines():
        name = line.split(": ")[1].split("@")[0] if ": " in line else ""
        if name.startswith(prefix):
            subprocess.run(["ip", "link", "del", name], check=False)


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[Env]:
    e = Env(tmp_path_factory.mktemp("proxy"))
    try:
        server, admin = start_control_plane(e)
        e.client = Client.from_kubeconfig(admin)
        start_agents(e, server)
        for agent in e.agents.values():
            def registered(a: Agent = agent) -> bool:
                assert a.popen.poll() is None, f"the agent exited:\n{a.log}"
                try:
                    e.client.get(r.NODES, a.node)
                    return True
                except Exception:  # noqa: BLE001 - not registered yet
                    return False
            wait_for(f"node {agent.node} to register", registered)
        e.client.create(r.NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": e.ns}})
        yield e
    finally:
        for proc in reversed(e.procs):  # agents first: they clean up while the API server still answers
            proc.stop()
        leftovers(e)


# -- helpers on the cluster ------------------------------------------------------------------------


def hello_pod(name: str, node: str, app: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 2, "containers": [{
                "name": "web", "image": "kubeclass/hello:1", "ports": [{"name": "http", "containerPort": 8080}],
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1,
                                   "failureThreshold": 1}}]}}


def service(name: str, app: str, **spec: Any) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": app}, **spec}}


def ready_pod(env: Env, name: str) -> dict | None:
    pod = env.client.get(r.PODS, name, env.ns)
    status = pod.get("status") or {}
    if status.get("phase") == "Running" and status.get("podIP") and all(
            s.get("ready") for s in status.get("containerStatuses") or [{}]):
        return pod
    return None


def ready_endpoints(env: Env, service_name: str) -> set[str]:
    slices = env.client.list(ENDPOINTSLICES, env.ns, label_selector=f"kubernetes.io/service-name={service_name}")
    return {e["addresses"][0] for s in slices["items"] for e in s.get("endpoints") or []
            if (e.get("conditions") or {}).get("ready", True)}


def owns(env: Env, address: str) -> bool:
    return f" {address}/32 " in ip("-o", "-4", "addr", "show", "dev", env.netns.interface)


def answers(ip_: str, port: int, count: int) -> list[str]:
    return [a for a in (http_get(ip_, port) for _ in range(count)) if a]


def pod_names(texts: list[str]) -> set[str]:
    return {t.split(" on pod ", 1)[1].split()[0] for t in texts if " on pod " in t}


@pytest.fixture(scope="module")
def pods(env) -> dict[str, dict]:
    app = f"hello-{env.cluster_id}"
    for name in ("hello-a", "hello-b"):
        env.client.create(r.PODS, hello_pod(name, env.netns.node, app), env.ns)
    found = {name: wait_for(f"pod {name} ready", lambda n=name: ready_pod(env, n), 90) for name in ("hello-a", "hello-b")}
    env.client.create(r.SERVICES, service("hello", app, ports=[{"name": "web", "port": 80, "targetPort": "http"}]),
                      env.ns)
    env.client.create(r.SERVICES, service("hello-np", app, type="NodePort",
                                          ports=[{"port": 8000, "targetPort": 8080}]), env.ns)
    ips = {p["status"]["podIP"] for p in found.values()}
    for name in ("hello", "hello-np"):
        wait_for(f"EndpointSlices of {name} with both pods", lambda n=name: ready_endpoints(env, n) == ips, 60)
    return found


@pytest.fixture(scope="module")
def cluster_ip(env, pods) -> str:
    address = env.client.get(r.SERVICES, "hello", env.ns)["spec"]["clusterIP"]
    wait_for(f"{address} on {env.netns.interface}", lambda: owns(env, address), 30)
    return address


# -- the tests -------------------------------------------------------------------------------------


def test_cluster_ip_reaches_both_pods_from_the_host(env, pods, cluster_ip):
    assert cluster_ip in env.client.get(r.SERVICES, "hello", env.ns)["spec"]["clusterIPs"]
    wait_for("answers from both pods through the ClusterIP",
             lambda: pod_names(answers(cluster_ip, 80, 6)) == {"hello-a", "hello-b"}, 30)
    for text in answers(cluster_ip, 80, 4):
        assert text.startswith("Hello from kubeclass/hello:1 on pod hello-")
    assert listening(cluster_ip, 80)
    assert "ClusterIPs are not proxied" not in env.netns.log
    np_ip = env.client.get(r.SERVICES, "hello-np", env.ns)["spec"]["clusterIP"]
    wait_for("the NodePort Service's ClusterIP too", lambda: owns(env, np_ip), 30)


def test_node_port_answers_on_every_nodes_address(env, pods):
    node_port = env.client.get(r.SERVICES, "hello-np", env.ns)["spec"]["ports"][0]["nodePort"]
    for agent in env.agents.values():
        wait_for(f"answers from both pods on {agent.address}:{node_port}",
                 lambda a=agent: pod_names(answers(a.address, node_port, 6)) == {"hello-a", "hello-b"}, 30)
    loopback = env.agents["loopback"]
    assert "ClusterIPs are not proxied on this node" in loopback.log
    assert not ip("-o", "link", "show", loopback.interface)  # an unprivileged agent owns no interface


def test_a_pod_reaches_the_cluster_ip_through_its_bridge(env, pods, cluster_ip):
    pod = pods["hello-a"]
    netns = f"kc{env.cluster_id}-{pod['metadata']['uid'].replace('-', '')[:12]}"
    gateway = env.netns.pod_cidr.rsplit(".", 1)[0] + ".1"
    assert f"{SERVICE_CIDR} via {gateway}" in ip("-n", netns, "route")
    probe = ("import http.client, sys\n"
             "c = http.client.HTTPConnection(sys.argv[1], 80, timeout=5)\n"
             "c.request('GET', '/')\n"
             "print(c.getresponse().read().decode())\n")
    seen: list[str] = []

    def fetched() -> bool:
        out = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", probe, cluster_ip],
                             check=False, capture_output=True, text=True, timeout=30)
        seen.append(out.stdout + out.stderr)
        return out.returncode == 0 and "Hello from kubeclass/hello:1 on pod hello-" in out.stdout

    wait_for("an answer inside the pod's namespace", fetched, 20)
    assert pod_names(seen[-1:]) <= {"hello-a", "hello-b"}


def test_a_pod_that_is_not_ready_gets_no_traffic(env, pods, cluster_ip):
    pod_ip = pods["hello-a"]["status"]["podIP"]
    assert http_get(pod_ip, 8080, "/fail") is not None  # from now on its readiness probe fails
    wait_for("hello-a to leave the EndpointSlice", lambda: ready_endpoints(env, "hello") == {
        pods["hello-b"]["status"]["podIP"]}, 30)
    wait_for("only hello-b answering", lambda: pod_names(answers(cluster_ip, 80, 8)) == {"hello-b"}, 20)
    assert pod_names(answers(cluster_ip, 80, 10)) == {"hello-b"}


def test_deleting_the_service_closes_its_listener_and_removes_its_address(env, pods, cluster_ip):
    np_ip = env.client.get(r.SERVICES, "hello-np", env.ns)["spec"]["clusterIP"]
    env.client.delete(r.SERVICES, "hello", env.ns)

    def gone() -> bool:
        try:
            env.client.get(r.SERVICES, "hello", env.ns)
            return False
        except Exception as e:  # noqa: BLE001
            return is_not_found(e)

    wait_for("the Service to be deleted", gone, 30)
    wait_for(f"{cluster_ip} to leave {env.netns.interface}", lambda: not owns(env, cluster_ip), 30)
    wait_for("the listener to close", lambda: not listening(cluster_ip, 80), 10)
    assert owns(env, np_ip)  # the other Service keeps its address
    assert f"stopped listening on {cluster_ip}:80" in env.netns.log


def test_sigterm_removes_the_interface_and_closes_node_ports(env, pods):
    node_port = env.client.get(r.SERVICES, "hello-np", env.ns)["spec"]["ports"][0]["nodePort"]
    agent = env.netns
    assert ip("-o", "link", "show", agent.interface)
    assert listening(agent.address, node_port)
    assert agent.stop() == 0, agent.log
    assert not ip("-o", "link", "show", agent.interface)
    assert not listening(agent.address, node_port)
    assert f"kc{env.cluster_id}" not in ip("-o", "link")
