"""Rollouts with the real kubectl 1.33, and controller managers electing a leader.

Starts a real API server (TLS, SQLite store, a static admin token) and two controller
managers (``--controllers deployment,replicaset``, classroom timings but a 4 s lease) with
a kubeconfig for it, then drives the cluster as a user would:

* ``kubectl apply`` a Deployment, ``kubectl rollout status`` sees it finish;
* ``kubectl set image`` creates a second ReplicaSet and ``rollout history`` lists two
  revisions; ``rollout undo`` goes back to the first template, as revision 3;
* ``rollout pause`` holds a template change back (scaling still works), ``resume`` lets
  it roll; ``rollout restart`` rolls the same template out again; ``kubectl scale``
  resizes the ReplicaSet;
* exactly one manager leads, and the Lease names it; a leader frozen past its lease
  loses it, and exits non-zero when it wakes; a crashed leader is replaced within the
  lease time; a leader stopped cleanly releases the Lease.

There is no scheduler and no node agent here, so a small stand-in kubelet (a thread of
this test) marks every pod Running and Ready through ``pods/status``, as a node agent would.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

import pki
from tests.livecluster import kubectl_binary

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "rollout-admin-token"
NS = "rollouts"
LEASE = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager"
# Twice the classroom profile's 2 s Lease (renew deadline 3 s, not 1.5 s): these managers run
# without kubeclass's supervisor, so a leader that steps down because this busy machine's
# API server stalled for 1.5 s (seen once in CI) would never come back and fail every later test.
LEASE_SECONDS = 4.0
RENEW_DEADLINE = 3.0
Obj = dict[str, Any]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, cond: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = cond()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)  # in case a test left it frozen
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


class Cluster:
    """The API server over HTTPS with the admin token, kubectl, and the managers."""

    def __init__(self, workdir: Path, base: str, ca: str, kubeconfig: Path) -> None:
        self.workdir = workdir
        self.base = base
        self.kubeconfig = kubeconfig
        self.session = requests.Session()
        self.session.verify = ca
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE (or a proxy) from the environment must not apply
        self.session.headers["Authorization"] = f"Bearer {TOKEN}"
        self.managers: dict[str, subprocess.Popen[bytes]] = {}

    def call(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> tuple[int, Obj]:
        resp = self.session.request(method, self.base + path, data=None if body is None else json.dumps(body),
                                    headers={"Content-Type": content_type}, timeout=30)
        try:
            return resp.status_code, resp.json()
        except ValueError:
            return resp.status_code, {"raw": resp.text}

    def get(self, path: str) -> Obj:
        code, obj = self.call("GET", path)
        assert code == 200, f"GET {path} -> {code}: {obj}"
        return obj

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "HOME": str(self.workdir / "home")}
        result = subprocess.run([kubectl_binary("1.33"), "--kubeconfig", str(self.kubeconfig), "-n", NS, *args],
                                input=input, capture_output=True, text=True, env=env, timeout=timeout,
                                check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def replicasets(self) -> list[Obj]:
        items = self.get(f"/apis/apps/v1/namespaces/{NS}/replicasets")["items"]
        return sorted(items, key=lambda rs: int(rs["metadata"].get("annotations", {}).get(
            "deployment.kubernetes.io/revision", 0)))

    def deployment(self) -> Obj:
        return self.get(f"/apis/apps/v1/namespaces/{NS}/deployments/web")

    def holder(self) -> str:
        code, lease = self.call("GET", LEASE)
        return lease["spec"].get("holderIdentity", "") if code == 200 else ""

    # -- controller managers ---------------------------------------------------------------

    def start_manager(self, name: str) -> subprocess.Popen[bytes]:
        with open(self.workdir / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "controlplane.controllers.manager", "--kubeconfig", str(self.kubeconfig),
                 "--controllers", "deployment,replicaset", "--profile", "classroom",
                 "--leader-elect-lease-duration", f"{LEASE_SECONDS:g}s",
                 "--leader-elect-renew-deadline", f"{RENEW_DEADLINE:g}s"],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.managers[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text()

    def identity(self, name: str) -> str:
        """The manager's identity, from its log (every candidate logs who leads)."""
        for line in self.log(name).splitlines():
            if "successfully acquired lease" in line:
                return line.rsplit(" as ", 1)[1].strip()
        return ""

    def leader(self) -> str:
        """The name of the manager the Lease names."""
        holder = self.holder()
        return next((n for n in self.managers if holder and self.identity(n) == holder), "")


class Kubelet:
    """Stands in for node agents: every pod of the namespace becomes Running and Ready."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name="fake-kubelet", daemon=True)

    def run(self) -> None:
        while not self.stop.wait(0.2):
            try:
                code, pods = self.cluster.call("GET", f"/api/v1/namespaces/{NS}/pods")
                for pod in pods.get("items", []) if code == 200 else []:
                    if not any(c.get("type") == "Ready" and c.get("status") == "True"
                               for c in pod.get("status", {}).get("conditions", [])):
                        self.start(pod)
            except requests.RequestException:
                pass  # the API server is busy or restarting: try again

    def start(self, pod: Obj) -> None:
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        containers = pod["spec"]["containers"]
        status = {"phase": "Running", "startTime": now,
                  "conditions": [{"type": t, "status": "True", "lastTransitionTime": now}
                                 for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
                  "containerStatuses": [{"name": c["name"], "ready": True, "restartCount": 0, "image": c["image"],
                                         "imageID": f"docker.io/library/{c['image']}@sha256:{'0' * 64}",
                                         "started": True, "state": {"running": {"startedAt": now}}}
                                        for c in containers]}
        self.cluster.call("PATCH", f"/api/v1/namespaces/{NS}/pods/{pod['metadata']['name']}/status",
                          {"status": status}, content_type="application/merge-patch+json")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("rollout")
    (workdir / "home").mkdir()
    paths = pki.ensure_cluster_pki(str(workdir / "pki"), server_dns=["localhost"], server_ips=["127.0.0.1"])
    (workdir / "tokens.csv").write_text(f'{TOKEN},admin,admin-uid,"system:masters"\n')
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    kubeconfig = workdir / "admin.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "rollout",
        "clusters": [{"name": "rollout", "cluster": {
            "server": base, "certificate-authority-data": base64.b64encode(Path(paths["ca.crt"]).read_bytes()).decode()}}],
        "users": [{"name": "admin", "user": {"token": TOKEN}}],
        "contexts": [{"name": "rollout", "context": {"cluster": "rollout", "user": "admin"}}]}))
    with open(workdir / "apiserver.log", "wb") as log:
        api = subprocess.Popen(
            [sys.executable, "-m", "controlplane.api.server", "--store", f"sqlite:///{workdir}/db",
             "--bind", f"127.0.0.1:{port}", "--tls-cert-file", paths["apiserver.crt"],
             "--tls-private-key-file", paths["apiserver.key"], "--token-auth-file", str(workdir / "tokens.csv")],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    c = Cluster(workdir, base, paths["ca.crt"], kubeconfig)
    kubelet = Kubelet(c)
    try:
        def ready() -> bool:
            if api.poll() is not None:
                raise AssertionError("the API server exited:\n" + (workdir / "apiserver.log").read_text()[-3000:])
            try:
                return c.session.get(base + "/readyz", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for("the API server's /readyz", ready, timeout=60)
        c.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        c.start_manager("m1")
        c.start_manager("m2")
        kubelet.thread.start()
        yield c
    finally:
        kubelet.stop.set()
        for proc in c.managers.values():
            stop_process(proc)
        stop_process(api)
        if kubelet.thread.is_alive():
            kubelet.thread.join(5)


MANIFEST = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    kubernetes.io/change-cause: first version
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.26
"""


def rollout_status(c: Cluster) -> str:
    result = c.kubectl("rollout", "status", "deployment/web", "--timeout=90s", timeout=120)
    assert 'deployment "web" successfully rolled out' in result.stdout, result.stdout + result.stderr
    return result.stdout


def history(c: Cluster) -> list[tuple[int, str]]:
    out = c.kubectl("rollout", "history", "deployment/web").stdout
    rows = [line.split(None, 1) for line in out.splitlines()[2:] if line.strip()]
    return [(int(row[0]), row[1].strip() if len(row) > 1 else "") for row in rows]


def images(rs: Obj) -> list[str]:
    return [ctr["image"] for ctr in rs["spec"]["template"]["spec"]["containers"]]


# -- leadership first: the rollouts below need a leader --------------------------------------


def test_exactly_one_manager_leads_and_the_lease_names_it(cluster: Cluster) -> None:
    leader = wait_for("a leader", cluster.leader, timeout=30)
    follower = "m2" if leader == "m1" else "m1"
    wait_for("the follower to see the leader", lambda: "the leader of kube-system/kube-controller-manager is"
             in cluster.log(follower), timeout=10)
    assert cluster.identity(follower) == "", "the follower has not acquired the lease"
    spec = cluster.get(LEASE)["spec"]
    assert spec["leaseDurationSeconds"] == LEASE_SECONDS and spec["holderIdentity"].startswith(socket.gethostname() + "_")
    wait_for("the leader's controllers", lambda: "started controllers: deployment, replicaset" in cluster.log(leader))
    assert "started controllers" not in cluster.log(follower)


# -- rollouts as a kubectl user sees them ------------------------------------------------------


def test_rollout_status_finishes(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=MANIFEST)
    rollout_status(cluster)
    [rs] = cluster.replicasets()
    pod_hash = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{pod_hash}" and rs["status"]["readyReplicas"] == 3
    pods = cluster.get(f"/api/v1/namespaces/{NS}/pods")["items"]
    assert len(pods) == 3 and all(p["metadata"]["labels"]["pod-template-hash"] == pod_hash for p in pods)
    status = cluster.deployment()["status"]
    conditions = {c["type"]: c["reason"] for c in status["conditions"]}
    assert conditions == {"Available": "MinimumReplicasAvailable", "Progressing": "NewReplicaSetAvailable"}
    events = cluster.kubectl("describe", "deployment", "web").stdout
    assert f"Scaled up replica set web-{pod_hash} from 0 to 3" in events


def test_set_image_creates_a_second_replicaset_and_a_second_revision(cluster: Cluster) -> None:
    cluster.kubectl("set", "image", "deployment/web", "web=nginx:1.27")
    rollout_status(cluster)
    first, second = cluster.replicasets()
    assert images(first) == ["nginx:1.26"] and images(second) == ["nginx:1.27"]
    assert (first["spec"]["replicas"], second["spec"]["replicas"]) == (0, 3)
    assert history(cluster) == [(1, "first version"), (2, "first version")]
    assert cluster.deployment()["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"


def test_rollout_undo_goes_back_as_revision_3(cluster: Cluster) -> None:
    before = cluster.replicasets()
    cluster.kubectl("rollout", "undo", "deployment/web")
    rollout_status(cluster)
    after = cluster.replicasets()
    assert len(after) == 2, "the first ReplicaSet is reused, not copied"
    back = after[-1]
    assert back["metadata"]["uid"] == before[0]["metadata"]["uid"] and images(back) == ["nginx:1.26"]
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert [rev for rev, _ in history(cluster)] == [2, 3]
    d = cluster.deployment()
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"


def test_pause_holds_a_change_back_and_resume_rolls_it_out(cluster: Cluster) -> None:
    cluster.kubectl("rollout", "pause", "deployment/web")
    cluster.kubectl("set", "image", "deployment/web", "web=nginx:1.28")
    wait_for("the paused condition", lambda: any(
        c["reason"] == "DeploymentPaused" for c in cluster.deployment()["status"].get("conditions", [])))
    time.sleep(1.5)
    assert len(cluster.replicasets()) == 2, "no new ReplicaSet while paused"
    cluster.kubectl("scale", "deployment/web", "--replicas=4")
    wait_for("scaling while paused", lambda: [rs["spec"]["replicas"] for rs in cluster.replicasets()] == [0, 4])

    cluster.kubectl("rollout", "resume", "deployment/web")
    rollout_status(cluster)
    rss = cluster.replicasets()
    assert len(rss) == 3 and images(rss[-1]) == ["nginx:1.28"] and rss[-1]["spec"]["replicas"] == 4


def test_rollout_restart_rolls_the_same_template_out_again(cluster: Cluster) -> None:
    before = {rs["metadata"]["uid"] for rs in cluster.replicasets()}
    cluster.kubectl("rollout", "restart", "deployment/web")
    rollout_status(cluster)
    rss = cluster.replicasets()
    new = [rs for rs in rss if rs["metadata"]["uid"] not in before]
    assert len(new) == 1 and images(new[0]) == ["nginx:1.28"]
    assert "kubectl.kubernetes.io/restartedAt" in new[0]["spec"]["template"]["metadata"]["annotations"]
    assert new[0]["spec"]["replicas"] == 4 and sum(rs["spec"]["replicas"] for rs in rss) == 4
    wait_for("only the restarted pods", lambda: len(cluster.get(f"/api/v1/namespaces/{NS}/pods")["items"]) == 4)
    pods = cluster.get(f"/api/v1/namespaces/{NS}/pods")["items"]
    assert {p["metadata"]["ownerReferences"][0]["uid"] for p in pods} == {new[0]["metadata"]["uid"]}


def test_scale_changes_the_replicaset(cluster: Cluster) -> None:
    cluster.kubectl("scale", "deployment/web", "--replicas=2")
    rollout_status(cluster)
    current = cluster.replicasets()[-1]
    assert current["spec"]["replicas"] == 2
    wait_for("two pods", lambda: len(cluster.get(f"/api/v1/namespaces/{NS}/pods")["items"]) == 2)
    events = cluster.kubectl("get", "events", "--field-selector", f"involvedObject.name={current['metadata']['name']}",
                             "-o", "json").stdout
    reasons = {e["reason"] for e in json.loads(events)["items"]}
    assert {"SuccessfulCreate", "SuccessfulDelete"} <= reasons


# -- failover ------------------------------------------------------------------------------


def test_a_frozen_leader_loses_the_lease_and_exits_nonzero_when_it_wakes(cluster: Cluster) -> None:
    leader = wait_for("a leader", cluster.leader)
    follower = "m2" if leader == "m1" else "m1"
    proc = cluster.managers[leader]
    proc.send_signal(signal.SIGSTOP)
    try:
        wait_for("the follower to take over", lambda: cluster.leader() == follower, timeout=15)
    finally:
        proc.send_signal(signal.SIGCONT)
    assert proc.wait(15) == 1, cluster.log(leader)[-2000:]
    assert "is now held by" in cluster.log(leader) and "leadership lost" in cluster.log(leader)


def test_a_crashed_leader_is_replaced_within_the_lease_time(cluster: Cluster) -> None:
    leader = wait_for("a leader", cluster.leader)
    standby = cluster.start_manager("m3")
    wait_for("m3 to be a candidate", lambda: "the leader of kube-system/kube-controller-manager is"
             in cluster.log("m3"), timeout=30)
    crashed = cluster.managers[leader]
    crashed.send_signal(signal.SIGKILL)  # no release: the successor must wait for the lease to expire
    killed = time.monotonic()
    crashed.wait(5)
    wait_for("m3 to lead", lambda: cluster.leader() == "m3", timeout=10, interval=0.05)
    took = time.monotonic() - killed
    # Expiry (at most the lease after the last renewal), plus one retry (0.5 s x up to 2.2).
    assert took <= LEASE_SECONDS + 1.1 + 0.5, f"took {took:.1f}s"
    assert standby.poll() is None
    cluster.kubectl("scale", "deployment/web", "--replicas=3")
    rollout_status(cluster)
    assert cluster.replicasets()[-1]["spec"]["replicas"] == 3, "the new leader's controllers work"


def test_a_leader_stopped_cleanly_releases_the_lease(cluster: Cluster) -> None:
    leader = wait_for("a leader", cluster.leader)
    proc = cluster.managers[leader]
    started = time.monotonic()
    assert stop_process(proc) == 0
    assert time.monotonic() - started < 8, "stops within a few seconds"
    spec = cluster.get(LEASE)["spec"]
    assert spec["holderIdentity"] == "" and spec["leaseDurationSeconds"] == 1
    assert "released lease kube-system/kube-controller-manager" in cluster.log(leader)
