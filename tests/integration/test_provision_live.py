"""Issue 5's "Done means", tried as a user would: `kubeclass bundle build`, `kubeclass
labhosts up`, then `kubeclass provision --bundle FILE` onto five lab hosts, with the real
kubectl through the virtual IP.

Every provisioning run happens in a network namespace of its own whose one link is into
the lab's bridge: the controller machine has no network beyond the lab, as in a closed
classroom, and the lab hosts never had a route out. The bundle is built beforehand, with
the network, as an instructor would on a connected machine.

The tests run in file order and build on each other: the first run meets worker-2 switched
off, the second finishes the job, then reruns, a hand edit, a Deployment, a sixth host
added, drained and removed, wiped, and last a master switched off.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.livecluster import kubectl_binary, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("systemd-nspawn"),
                       reason="lab hosts need root and systemd-nspawn (./dev test installs them)"),
]

LAB = "p"
POLL = 1.0  # seconds between two looks while waiting (each look runs kubectl)
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


@dataclass
class Run:
    code: int
    out: str
    recap: dict[str, dict[str, int]]
    seconds: float

    def __str__(self) -> str:
        return f"exit {self.code} after {self.seconds:.1f}s\n{self.out[-6000:]}"


@dataclass
class Lab:
    home: Path          # KUBECLASS_LABHOSTS_HOME
    user_home: Path     # HOME of the user who runs kubeclass and kubectl
    bundle: Path
    netns: str          # the controller's closed network

    @property
    def dir(self) -> Path:
        return self.home / LAB

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "cluster" / "admin.kubeconfig"

    def env(self) -> dict[str, str]:
        """kubectl finds the cluster in ~/.kube/config, where `kubeclass provision` merged it."""
        env = {**os.environ, "KUBECLASS_LABHOSTS_HOME": str(self.home), "HOME": str(self.user_home)}
        env.pop("KUBECONFIG", None)
        return env

    def labhosts(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "controlplane.cli.main", "labhosts", "--lab", LAB,
                               *args], capture_output=True, text=True, env=self.env(), timeout=600)

    def provision(self, *args: str) -> Run:
        """`kubeclass provision --bundle FILE ...` on a controller with no network but the lab's."""
        argv = ["ip", "netns", "exec", self.netns, sys.executable, "-m", "controlplane.cli.main",
                "provision", "-i", str(self.dir / "inventory.yaml"), "--bundle", str(self.bundle), *args]
        started = time.monotonic()
        res = subprocess.run(argv, capture_output=True, text=True, env=self.env(), timeout=900)
        out = res.stdout + res.stderr
        recap = {m[0]: {"ok": int(m[1]), "changed": int(m[2]), "unreachable": int(m[3]),
                        "failed": int(m[4])} for m in RECAP.findall(out.split("PLAY RECAP")[-1])}
        return Run(res.returncode, out, recap, time.monotonic() - started)

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> str:
        res = subprocess.run([kubectl_binary("1.33"), *args], capture_output=True, text=True,
                             env=self.env(), timeout=120, input=input)
        if check:
            assert res.returncode == 0, f"kubectl {' '.join(args)}: {res.stderr}"
        return res.stdout

    def ssh(self, host: str, command: str) -> subprocess.CompletedProcess[str]:
        address = self.address(host)
        return subprocess.run(
            ["ssh", "-i", str(self.dir / "id_ed25519"), "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5",
             f"vagrant@{address}", command], capture_output=True, text=True, timeout=60)

    def address(self, host: str) -> str:
        for entry in json.loads((self.dir / "lab.json").read_text())["hosts"]:
            if entry["name"] == host:
                return entry["address"]
        raise KeyError(host)

    def nodes(self) -> dict[str, bool]:
        """{node: Ready?} as kubectl sees it through the virtual IP."""
        res = subprocess.run([kubectl_binary("1.33"), "get", "nodes", "-o", "json", "--request-timeout=5s"],
                             capture_output=True, text=True, env=self.env(), timeout=30)
        if res.returncode:
            return {}
        return {n["metadata"]["name"]: any(c["type"] == "Ready" and c["status"] == "True"
                                           for c in n["status"].get("conditions", []))
                for n in json.loads(res.stdout)["items"]}


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    tag = uuid.uuid4().hex[:6]
    work = tmp_path_factory.mktemp("provision")
    (work / "user").mkdir()
    lab = Lab(home=Path(f"/tmp/kcprov-{tag}"), user_home=work / "user", bundle=Path(), netns=f"kcctl{tag}")
    try:
        build = subprocess.run([sys.executable, "-m", "controlplane.cli.main", "bundle", "build", "-o",
                                str(work)], capture_output=True, text=True, env=lab.env(), timeout=900)
        assert build.returncode == 0, build.stderr
        lab.bundle = next(work.glob("kubeclass-bundle-*.tar*"))
        up = lab.labhosts("up")
        assert up.returncode == 0, up.stderr
        _closed_controller(lab, tag)
        yield lab
    finally:
        lab.labhosts("down")
        subprocess.run(["ip", "netns", "del", lab.netns], capture_output=True)
        shutil.rmtree(lab.home, ignore_errors=True)


def _closed_controller(lab: Lab, tag: str) -> None:
    """A network namespace for `kubeclass provision`: loopback and one veth into the lab's
    bridge at .2, no default route. From in there nothing but the lab can be reached."""
    state = json.loads((lab.dir / "lab.json").read_text())
    prefix = state["subnet"].rsplit(".", 1)[0]
    outer, inner = f"kcco{tag}", f"kcci{tag}"
    for argv in (["netns", "add", lab.netns],
                 ["link", "add", outer, "type", "veth", "peer", "name", inner],
                 ["link", "set", inner, "netns", lab.netns],
                 ["link", "set", outer, "master", state["bridge"], "up"],
                 ["-n", lab.netns, "addr", "add", f"{prefix}.2/24", "dev", inner],
                 ["-n", lab.netns, "link", "set", inner, "up"],
                 ["-n", lab.netns, "link", "set", "lo", "up"]):
        subprocess.run(["ip", *argv], check=True, capture_output=True)
    probe = subprocess.run(["ip", "netns", "exec", lab.netns, sys.executable, "-c",
                            "import socket; socket.create_connection(('151.101.2.132', 443), timeout=3)"],
                           capture_output=True, text=True)
    assert "Network is unreachable" in probe.stderr, probe.stderr


# -- from nothing to a cluster ------------------------------------------------------------


def test_with_one_host_switched_off_the_others_converge(lab: Lab) -> None:
    assert lab.labhosts("stop", "worker-2").returncode == 0
    run = lab.provision()
    assert run.code == 2, run
    assert run.recap["worker-2"]["unreachable"] == 1, run
    assert all(c["failed"] == 0 and c["unreachable"] == 0 for h, c in run.recap.items() if h != "worker-2"), run
    assert "did not converge: worker-2" in run.out
    # the four others make a cluster already; its kubeconfig came back from master-1
    wait_for("four nodes Ready", lambda: lab.nodes() == dict.fromkeys(
        ["master-1", "master-2", "master-3", "worker-1"], True), timeout=90, interval=POLL)


def test_a_rerun_finishes_the_job(lab: Lab) -> None:
    assert lab.labhosts("up").returncode == 0  # worker-2 is back
    run = lab.provision()
    assert run.code == 0, run
    assert set(run.recap) == {"master-1", "master-2", "master-3", "worker-1", "worker-2"}
    assert run.recap["worker-2"]["changed"] > 10, run
    wait_for("five nodes Ready", lambda: lab.nodes() == dict.fromkeys(
        ["master-1", "master-2", "master-3", "worker-1", "worker-2"], True), timeout=90, interval=POLL)
    # masters keep to the control plane
    taints = json.loads(lab.kubectl("get", "node", "master-2", "-o", "json"))["spec"].get("taints", [])
    assert {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"} in taints
    # the kubeconfig is the one on the first master, and it is the user's now
    on_master = lab.ssh("master-1", "sudo cat /etc/kubeclass/admin.kubeconfig")
    assert on_master.returncode == 0 and on_master.stdout == lab.kubeconfig.read_text()
    user = (lab.user_home / ".kube" / "config").read_text()
    assert f"https://{json.loads((lab.dir / 'lab.json').read_text())['subnet'].rsplit('.', 1)[0]}.10:6443" in user


def test_a_second_run_and_a_check_run_change_nothing(lab: Lab) -> None:
    for extra in ((), ("--check",)):
        run = lab.provision(*extra)
        assert run.code == 0, run
        assert len(run.recap) == 5 and all(c["changed"] == 0 and c["failed"] == 0
                                           for c in run.recap.values()), run


def test_a_hand_edited_unit_is_reported_and_put_back(lab: Lab) -> None:
    unit = "/etc/systemd/system/kubeclass-nodeagent.service"
    before = lab.ssh("worker-1", f"cat {unit}").stdout
    assert "ExecStart=" in before
    edit = lab.ssh("worker-1", f"sudo sed -i 's/^RestartSec=1$/RestartSec=30/' {unit}")
    assert edit.returncode == 0 and "RestartSec=30" in lab.ssh("worker-1", f"cat {unit}").stdout
    check = lab.provision("--check", "--diff", "--limit", "worker-1")
    assert check.code == 0 and check.recap["worker-1"]["changed"] >= 1, check
    assert "-RestartSec=30" in check.out and "+RestartSec=1" in check.out, check
    assert "RestartSec=30" in lab.ssh("worker-1", f"cat {unit}").stdout  # --check changed nothing
    fix = lab.provision("--limit", "worker-1")
    assert fix.code == 0 and fix.recap["worker-1"]["changed"] >= 1, fix
    assert re.search(r"changed: \[worker-1\]", fix.out.split("TASK [the node agent's unit]")[1].split("TASK")[0])
    assert lab.ssh("worker-1", f"cat {unit}").stdout == before
    wait_for("worker-1 Ready again", lambda: lab.nodes().get("worker-1"), timeout=60, interval=POLL)


# -- the cluster at work ----------------------------------------------------------------

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: hello, namespace: default}
spec:
  replicas: 4
  selector: {matchLabels: {app: hello}}
  template:
    metadata: {labels: {app: hello}}
    spec: {containers: [{name: hello, image: "kubeclass/hello:1"}]}
---
apiVersion: v1
kind: Service
metadata: {name: hello, namespace: default}
spec:
  type: NodePort
  selector: {app: hello}
  ports: [{port: 80, targetPort: 8080}]
"""


def hello_pods(lab: Lab) -> list[dict]:
    items = json.loads(lab.kubectl("get", "pods", "-l", "app=hello", "-o", "json"))["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def ready_hello_pods(lab: Lab, count: int) -> list[dict] | None:
    found = hello_pods(lab)
    ok = len(found) == count and all(any(c["type"] == "Ready" and c["status"] == "True"
                                         for c in p["status"].get("conditions", [])) for p in found)
    return found if ok else None


ASK = ("python3 -c \"import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1], timeout=5)"
       ".read().decode())\" {url}")


def test_a_deployment_spreads_over_both_workers_and_its_service_answers_from_every_host(lab: Lab) -> None:
    lab.kubectl("apply", "-f", "-", input=DEPLOYMENT)
    pods = wait_for("4 ready hello pods", lambda: ready_hello_pods(lab, 4), timeout=120, interval=POLL)
    assert {p["spec"]["nodeName"] for p in pods} == {"worker-1", "worker-2"}
    service = json.loads(lab.kubectl("get", "service", "hello", "-o", "json"))["spec"]
    for host in ("master-1", "master-2", "master-3", "worker-1", "worker-2"):
        answered = lab.ssh(host, ASK.format(url=f"http://{service['clusterIP']}/"))
        assert answered.returncode == 0 and "Hello from kubeclass/hello:1" in answered.stdout, \
            (host, answered.stderr)
        # and its NodePort from this machine
        reply = requests.get(f"http://{lab.address(host)}:{service['ports'][0]['nodePort']}/", timeout=5)
        assert "Hello from kubeclass/hello:1" in reply.text, host


# -- a sixth host, added, drained away, wiped ------------------------------------------------


def test_the_add_worker_playbook_brings_a_sixth_host_into_the_cluster(lab: Lab) -> None:
    up = lab.labhosts("up", "--workers", "3")
    assert up.returncode == 0 and "worker-3" in (lab.dir / "inventory.yaml").read_text(), up.stderr
    run = lab.provision("add-worker")
    assert run.code == 0, run
    assert set(run.recap) == {"worker-1", "worker-2", "worker-3"}, run  # masters untouched
    assert run.recap["worker-1"]["changed"] == 0 and run.recap["worker-3"]["changed"] > 10, run
    assert lab.nodes().get("worker-3") is True  # the playbook waited for it


def test_remove_node_drains_it_first(lab: Lab) -> None:
    lab.kubectl("rollout", "restart", "deployment/hello")
    lab.kubectl("rollout", "status", "deployment/hello", "--timeout=120s")
    on_three = [p["metadata"]["name"] for p in hello_pods(lab) if p["spec"]["nodeName"] == "worker-3"]
    assert on_three, "the spreading put none of 4 replicas on the new worker"
    refused = lab.provision("remove-node")
    assert refused.code == 1 and "--limit" in refused.out
    run = lab.provision("remove-node", "--limit", "worker-3")
    assert run.code == 0, run
    assert "worker-3" not in lab.nodes()
    pods = wait_for("4 ready hello pods elsewhere", lambda: ready_hello_pods(lab, 4), timeout=120, interval=POLL)
    assert "worker-3" not in {p["spec"]["nodeName"] for p in pods}
    log = json.loads((lab.dir / "cluster" / "last-run.json").read_text())
    drained = next(e for e in log if e["task"].startswith("the node is drained"))
    assert drained["status"] == "changed" and set(drained["data"]["evicted"]) == {f"default/{p}" for p in on_three}


def test_reset_host_leaves_nothing_of_kubeclass(lab: Lab) -> None:
    run = lab.provision("reset-host", "--limit", "worker-3")
    assert run.code == 0 and run.recap["worker-3"]["changed"] >= 2, run
    left = lab.ssh("worker-3", "systemctl list-unit-files --no-legend 'kubeclass-*'; pgrep -af '[/]opt/kubeclass/venv'; "
                                "ls -d /etc/kubeclass /opt/kubeclass /var/lib/kubeclass 2>/dev/null; "
                                "ip -o link show type bridge; ip netns list")
    assert left.returncode == 0 and left.stdout.strip() == "", left.stdout
    again = lab.provision("reset-host", "--limit", "worker-3")
    assert again.code == 0 and again.recap["worker-3"]["changed"] == 0, again


# -- a master goes ------------------------------------------------------------------------


def test_with_the_master_holding_the_virtual_ip_off_kubectl_and_pods_carry_on(lab: Lab) -> None:
    vip = f"{json.loads((lab.dir / 'lab.json').read_text())['subnet'].rsplit('.', 1)[0]}.10"
    holder = next(m for m in ("master-1", "master-2", "master-3")
                  if f" {vip}/" in lab.ssh(m, "ip -o -4 addr show").stdout)
    before = {p["metadata"]["name"] for p in hello_pods(lab)}
    assert lab.labhosts("stop", "--kill", holder).returncode == 0
    nodes = wait_for("kubectl through the virtual IP", lab.nodes, timeout=60, interval=POLL)
    assert set(nodes) >= {"master-1", "master-2", "master-3", "worker-1", "worker-2"}
    assert {p["metadata"]["name"] for p in hello_pods(lab)} == before  # the pods were not touched
    service = json.loads(lab.kubectl("get", "service", "hello", "-o", "json"))["spec"]
    for host in ("worker-1", "worker-2"):
        answered = lab.ssh(host, ASK.format(url=f"http://{service['clusterIP']}/"))
        assert "Hello from kubeclass/hello:1" in answered.stdout, (host, answered.stderr, lab.ssh(
            host, "sudo journalctl -u kubeclass-nodeagent -n 40 --no-pager; ip -o -4 addr; sudo ss -ltnp").stdout)
