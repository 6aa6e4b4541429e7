"""Issue 3's "Done means", as a new user tries them: real kubectl against ``kubeclass up``.

A cluster of its own (three masters, two workers, the classroom profile), because these
tests stop machines, drain nodes and restart schedulers: the session's shared cluster
must not see that. The tests run in file order and build on each other as a lesson
would: the ``hello`` Deployment and its Service, created first, are used throughout.
Service traffic goes to the ClusterIP from this machine, as root (CI runs as root; the
node agents own the ClusterIPs); without root, to a NodePort.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.livecluster import Cluster, Timeline, kubectl_binary, own_cluster, wait_for

pytestmark = pytest.mark.slow

NS = "lesson"
IS_ROOT = os.geteuid() == 0
WORKERS = ("worker-1", "worker-2")


@pytest.fixture(scope="module")
def kc(tmp_path_factory) -> Iterator[Cluster]:
    with own_cluster(tmp_path_factory.mktemp("classroom")) as cluster:
        generate(cluster, "create", "namespace", NS)
        yield cluster


def k(kc: Cluster, *args: str, **kw: Any) -> str:
    return kc.kubectl(*args, **kw).stdout


def generate(kc: Cluster, *args: str) -> None:
    """``kubectl <args> --dry-run=client -o yaml | kubectl apply -f -``: the imperative
    generators (create, autoscale) POST protobuf, which kubeclass answers with 415 and
    this very advice (docs/api-server.md)."""
    namespace = list(args[args.index("-n"):args.index("-n") + 2]) if "-n" in args else []
    k(kc, "apply", *namespace, "-f", "-", input=k(kc, *args, "--dry-run=client", "-o", "yaml"))


def kjson(kc: Cluster, *args: str) -> Any:
    return json.loads(k(kc, *args, "-o", "json"))


def pods(kc: Cluster, selector: str, ns: str = NS) -> list[dict]:
    return [p for p in kjson(kc, "get", "pods", "-n", ns, "-l", selector)["items"]
            if not p["metadata"].get("deletionTimestamp")]


def ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


def ready_pods(kc: Cluster, selector: str, count: int, ns: str = NS, timeout: float = 90) -> list[dict]:
    def check() -> list[dict] | None:
        found = pods(kc, selector, ns)
        return found if len(found) == count and all(ready(p) for p in found) else None
    return wait_for(f"{count} ready pods {selector}", check, timeout)


def service_url(kc: Cluster, name: str, ns: str = NS) -> str:
    svc = kjson(kc, "get", "service", name, "-n", ns)
    port = svc["spec"]["ports"][0]
    if IS_ROOT:
        return f"http://{svc['spec']['clusterIP']}:{port['port']}/"
    worker = kjson(kc, "get", "node", "worker-1")["status"]["addresses"][0]["address"]
    return f"http://{worker}:{port['nodePort']}/"


def get(url: str, timeout: float = 3) -> str:
    return requests.get(url, timeout=timeout).text


def answers(url: str, n: int) -> list[str]:
    return [get(url) for _ in range(n)]


def pod_of(answer: str) -> str:
    found = re.search(r"on pod (\S+)", answer)
    assert found, answer
    return found.group(1)


def pod_url(pod: dict, path: str = "/") -> str:
    return f"http://{pod['status']['podIP']}:8080{path}"


def call(pod: dict, path: str) -> str:
    """GET a path of one pod's app, waiting until it listens: without a readiness probe a
    pod is Ready as soon as its process starts, which is before the program listens."""
    def attempt() -> str | None:
        try:
            return requests.get(pod_url(pod, path), timeout=3).text
        except requests.ConnectionError:
            return None
    return wait_for(f"{pod['metadata']['name']} to answer {path}", attempt, timeout=30)


def restarts(pod: dict) -> int:
    return sum(s.get("restartCount", 0) for s in pod["status"].get("containerStatuses") or [])


def apply(kc: Cluster, *objects: dict) -> None:
    k(kc, "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}))


def container_pids(pod_name: str, program: str) -> list[int]:
    """The host pids of a pod's container: the process runtime runs it as an OS process."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if program.encode() not in f.read():
                    continue
            with open(f"/proc/{entry}/environ", "rb") as f:
                if f"HOSTNAME={pod_name}".encode() in f.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            continue
    return found


# -- a cluster, a Deployment, a Service ---------------------------------------------


def test_five_nodes_are_ready_and_masters_keep_to_the_control_plane(kc: Cluster) -> None:
    table = k(kc, "get", "nodes", "--no-headers").splitlines()
    assert len(table) == 5 and all(line.split()[1] == "Ready" for line in table), table
    masters = [line.split()[0] for line in table if "control-plane" in line]
    assert masters == ["master-1", "master-2", "master-3"]
    for name in masters:
        taints = kjson(kc, "get", "node", name)["spec"]["taints"]
        assert {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"} in taints


def test_hello_runs_spread_over_the_workers_and_its_service_reaches_all_three(kc: Cluster) -> None:
    generate(kc, "create", "deployment", "hello", "-n", NS, "--image=kubeclass/hello:1", "--replicas=3", "--port=8080")
    k(kc, "expose", "deployment", "hello", "-n", NS, "--port=80", "--target-port=8080", "--type=NodePort")
    k(kc, "rollout", "status", "deployment/hello", "-n", NS, "--timeout=90s", timeout=100)
    running = ready_pods(kc, "app=hello", 3)
    assert {p["spec"]["nodeName"] for p in running} == set(WORKERS)
    url = service_url(kc, "hello")
    wait_for("three endpoints", lambda: len(_endpoint_ips(kc, "hello")) == 3)
    wait_for("the service to answer", lambda: _answers_or_none(url))
    seen: set[str] = set()
    # every node's proxy learns of the endpoints through its own watch: give them a moment
    wait_for("answers from all three pods", lambda: seen.update(pod_of(a) for a in answers(url, 10)) or len(seen) >= 3)
    assert seen == {p["metadata"]["name"] for p in running}
    # a NodePort answers on every node's address, masters included
    svc = kjson(kc, "get", "service", "hello", "-n", NS)
    for node in kjson(kc, "get", "nodes")["items"]:
        address = node["status"]["addresses"][0]["address"]
        assert "Hello from kubeclass/hello:1" in get(f"http://{address}:{svc['spec']['ports'][0]['nodePort']}/")


def _answers_or_none(url: str) -> bool:
    try:
        return "Hello" in get(url)
    except requests.RequestException:
        return False


def test_logs_follow_exec_and_top(kc: Cluster) -> None:
    pod = pods(kc, "app=hello")[0]
    name = pod["metadata"]["name"]
    assert f"as pod {name}" in k(kc, "logs", name, "-n", NS)
    follow = subprocess.Popen([*_kubectl(kc), "logs", "-f", name, "-n", NS, "--tail=0"],
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "HOME": kc.home})
    try:
        time.sleep(1.5)
        call(pod, "/followed")
        line = _readline(follow, 20)
        assert "GET /followed" in line
    finally:
        follow.kill()
        follow.wait(5)
    assert k(kc, "exec", name, "-n", NS, "--", "sh", "-c", "echo $HOSTNAME").strip() == name
    assert k(kc, "exec", "-i", name, "-n", NS, "--", "cat", input="through stdin\n") == "through stdin\n"

    def top_nodes() -> list[str] | None:
        result = kc.kubectl("top", "nodes", "--no-headers", check=False)
        return result.stdout.splitlines() if result.returncode == 0 and result.stdout.count("\n") == 5 else None
    assert all(re.search(r"\d+m\s+\d+%\s+\d+Mi\s+\d+%", line) for line in wait_for("kubectl top nodes", top_nodes))

    def top_pods() -> str | None:
        result = kc.kubectl("top", "pods", "-n", NS, "-l", "app=hello", "--no-headers", check=False)
        return result.stdout if result.returncode == 0 and result.stdout.count("\n") == 3 else None
    assert name in wait_for("kubectl top pods", top_pods)


def _kubectl(kc: Cluster) -> list[str]:
    return [kubectl_binary("1.33"), "--kubeconfig", kc.kubeconfig]


def _readline(proc: subprocess.Popen, timeout: float) -> str:
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return got[0] if got else ""


# -- self-healing ---------------------------------------------------------------------


@pytest.mark.skipif(not IS_ROOT, reason="reading another user's /proc/<pid>/environ needs root")
def test_killing_a_pods_process_restarts_it(kc: Cluster) -> None:
    pod = pods(kc, "app=hello")[0]
    name = pod["metadata"]["name"]
    pids = container_pids(name, "hello.py")
    assert len(pids) == 1, pids
    os.kill(pids[0], signal.SIGKILL)
    wait_for("restartCount to rise", lambda: restarts(kjson(kc, "get", "pod", name, "-n", NS)) == 1)
    wait_for("the pod to be ready again", lambda: ready(kjson(kc, "get", "pod", name, "-n", NS)))
    assert container_pids(name, "hello.py") not in ([], pids)


def test_a_deleted_pod_is_replaced(kc: Cluster) -> None:
    victim = pods(kc, "app=hello")[0]["metadata"]["name"]
    k(kc, "delete", "pod", victim, "-n", NS)
    names = {p["metadata"]["name"] for p in ready_pods(kc, "app=hello", 3)}
    assert victim not in names


def test_a_failing_liveness_probe_restarts_the_container(kc: Cluster) -> None:
    apply(kc, _probed("alive", {"livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080},
                                                  "periodSeconds": 1, "failureThreshold": 2}}))
    pod = ready_pods(kc, "app=alive", 1)[0]
    assert restarts(pod) == 0
    call(pod, "/fail")
    wait_for("the liveness restart", lambda: restarts(pods(kc, "app=alive")[0]) >= 1, timeout=30)
    events = k(kc, "get", "events", "-n", NS, "--field-selector", f"involvedObject.name={pod['metadata']['name']}")
    assert "Liveness probe failed" in events and "Killing" in events


def test_a_failing_readiness_probe_takes_the_pod_out_of_the_service(kc: Cluster) -> None:
    apply(kc, _probed("ready", {"readinessProbe": {"httpGet": {"path": "/readyz", "port": 8080},
                                                   "periodSeconds": 1, "failureThreshold": 1}}, replicas=2),
          {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ready", "namespace": NS},
           "spec": {"selector": {"app": "ready"}, "ports": [{"port": 80, "targetPort": 8080}], "type": "NodePort"}})
    first, second = ready_pods(kc, "app=ready", 2)
    url = service_url(kc, "ready")
    wait_for("both pods in the endpoints", lambda: len(_endpoint_ips(kc, "ready")) == 2)
    call(first, "/unready")
    wait_for("the unready pod to leave the endpoints",
             lambda: _endpoint_ips(kc, "ready") == [second["status"]["podIP"]], timeout=20)
    wait_for("only the ready pod answering", lambda: {pod_of(a) for a in answers(url, 20)} == {second["metadata"]["name"]},
             timeout=20)  # every node's proxy follows the endpoints through its own watch
    call(first, "/ready")
    wait_for("the pod to come back", lambda: len(_endpoint_ips(kc, "ready")) == 2, timeout=20)
    k(kc, "delete", "deployment,service", "ready", "-n", NS)


def _probed(name: str, probes: dict, replicas: int = 1) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
                         {"name": "hello", "image": "kubeclass/hello:1", **probes}]}}}}


def _endpoint_ips(kc: Cluster, name: str) -> list[str]:
    endpoints = kjson(kc, "get", "endpoints", name, "-n", NS)
    return sorted(a["ip"] for s in endpoints.get("subsets") or [] for a in s.get("addresses") or [])


def test_a_crash_looper_backs_off(kc: Cluster) -> None:
    k(kc, "run", "crasher", "-n", NS, "--image=kubeclass/crashloop", "--env=CRASH_AFTER=0.5")
    seen: set[str] = set()

    def backing_off() -> bool:
        line = k(kc, "get", "pod", "crasher", "-n", NS, "--no-headers")
        seen.add(line.split()[2])
        return int(line.split()[3]) >= 2 and "CrashLoopBackOff" in seen
    wait_for("CrashLoopBackOff with restarts", backing_off, timeout=90, interval=0.5)
    assert "back-off" in k(kc, "describe", "pod", "crasher", "-n", NS).lower()
    assert "exit with code 1" in k(kc, "logs", "crasher", "-n", NS, "--previous")
    k(kc, "delete", "pod", "crasher", "-n", NS, "--wait=false")
    k(kc, "delete", "deployment", "alive", "-n", NS)


# -- scaling --------------------------------------------------------------------------


def test_scale_to_twenty_and_back_to_one(kc: Cluster) -> None:
    k(kc, "scale", "deployment/hello", "-n", NS, "--replicas=20")
    twenty = ready_pods(kc, "app=hello", 20, timeout=120)
    per_node = Counter(p["spec"]["nodeName"] for p in twenty)
    assert set(per_node) == set(WORKERS) and min(per_node.values()) >= 8, per_node  # least-allocated spreads
    k(kc, "scale", "deployment/hello", "-n", NS, "--replicas=1")
    ready_pods(kc, "app=hello", 1, timeout=90)
    k(kc, "scale", "deployment/hello", "-n", NS, "--replicas=3")
    ready_pods(kc, "app=hello", 3)


def test_an_hpa_scales_the_cpu_burner_up_under_load_and_back_down(kc: Cluster) -> None:
    apply(kc, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "burner", "namespace": NS},
               "spec": {"selector": {"matchLabels": {"app": "burner"}},
                        "template": {"metadata": {"labels": {"app": "burner"}}, "spec": {"containers": [
                            {"name": "burner", "image": "kubeclass/cpuburner",
                             "resources": {"requests": {"cpu": "100m"}}}]}}}})
    pod = ready_pods(kc, "app=burner", 1)[0]
    generate(kc, "autoscale", "deployment/burner", "-n", NS, "--cpu-percent=50", "--min=1", "--max=3")
    call(pod, "/burn?millicores=300&seconds=600")  # 300 % of its request

    def replicas() -> int:
        return (kjson(kc, "get", "deployment", "burner", "-n", NS)["spec"].get("replicas") or 0)
    try:
        wait_for("the HPA to scale up", lambda: replicas() >= 2, timeout=90, interval=1)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{k(kc, 'describe', 'hpa', 'burner', '-n', NS)}\n"
                             f"{k(kc, 'get', 'pods', '-n', NS, '-o', 'wide')}") from None
    hpa = k(kc, "get", "hpa", "burner", "-n", NS)
    assert re.search(r"cpu: \d+%/50%", hpa), hpa
    call(pod, "/burn?millicores=0")  # the load stops
    # the classroom profile's downscale stabilization is 60 s (upstream's 300 s)
    try:
        wait_for("the HPA to scale back down", lambda: replicas() == 1, timeout=150, interval=2)
    except AssertionError as e:  # say why: the metrics, the HPA's conditions and events
        raise AssertionError(f"{e}\n{k(kc, 'describe', 'hpa', 'burner', '-n', NS)}\n"
                             f"{k(kc, 'top', 'pods', '-n', NS)}\n"
                             f"{k(kc, 'get', 'pods', '-n', NS, '-o', 'wide')}") from None
    k(kc, "delete", "hpa,deployment", "burner", "-n", NS)


# -- rollouts -------------------------------------------------------------------------


class Hammer:
    """A client that keeps asking the Service, as users would during a rollout."""

    def __init__(self, url: str) -> None:
        self.url, self.replies, self.failures = url, Counter[str](), []  # type: ignore[misc]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        session = requests.Session()
        while not self.stop.is_set():
            try:
                r = session.get(self.url, timeout=5)
                if r.status_code != 200:
                    self.failures.append(f"{r.status_code} {r.text[:80]}")
                else:
                    self.replies[r.text.split(" on pod")[0]] += 1
            except requests.RequestException as e:
                self.failures.append(repr(e))
                session = requests.Session()
            time.sleep(0.02)

    def __enter__(self) -> Hammer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def test_set_image_rolls_out_with_no_failed_request_and_undo_goes_back(kc: Cluster) -> None:
    url = service_url(kc, "hello")
    with Hammer(url) as hammer:
        time.sleep(1)
        k(kc, "set", "image", "deployment/hello", "-n", NS, "hello=kubeclass/hello:2")
        k(kc, "rollout", "status", "deployment/hello", "-n", NS, "--timeout=120s", timeout=130)
        time.sleep(3)  # the old pods' endpoints leave every proxy
    assert hammer.failures == [], hammer.failures[:5]
    assert sum(hammer.replies.values()) > 50
    assert set(hammer.replies) == {"Hello from kubeclass/hello:1", "Hello from kubeclass/hello:2"}
    assert {a.split(" on pod")[0] for a in answers(url, 10)} == {"Hello from kubeclass/hello:2"}
    assert "2 " in k(kc, "rollout", "history", "deployment/hello", "-n", NS)
    k(kc, "rollout", "undo", "deployment/hello", "-n", NS)
    k(kc, "rollout", "status", "deployment/hello", "-n", NS, "--timeout=120s", version="1.32", timeout=130)
    ready_pods(kc, "app=hello", 3)
    wait_for("only hello:1 answering",
             lambda: {a.split(" on pod")[0] for a in answers(url, 10)} == {"Hello from kubeclass/hello:1"})


def test_a_canary_by_labels_takes_part_of_the_traffic(kc: Cluster) -> None:
    apply(kc, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "hello-canary", "namespace": NS},
               "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "hello", "track": "canary"}},
                        "template": {"metadata": {"labels": {"app": "hello", "track": "canary"}}, "spec": {
                            "containers": [{"name": "hello", "image": "kubeclass/hello:2"}]}}}})
    ready_pods(kc, "app=hello,track=canary", 1)
    wait_for("four endpoints behind the service", lambda: len(_endpoint_ips(kc, "hello")) == 4)
    versions: Counter[str] = Counter()

    def both_answer() -> bool:
        versions.update(a.split(" on pod")[0] for a in answers(service_url(kc, "hello"), 40))
        return set(versions) == {"Hello from kubeclass/hello:1", "Hello from kubeclass/hello:2"}
    wait_for("both versions answering", both_answer, timeout=20)
    assert versions["Hello from kubeclass/hello:1"] > versions["Hello from kubeclass/hello:2"]  # 3 to 1
    k(kc, "delete", "deployment", "hello-canary", "-n", NS)


# -- scheduling -----------------------------------------------------------------------


def _requesting(name: str, replicas: int, cpu: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
                         {"name": "c", "image": "kubeclass/hello:1", "resources": {"requests": {"cpu": cpu}}}]}}}}


def test_requests_are_respected_and_an_unschedulable_pod_says_why(kc: Cluster) -> None:
    apply(kc, _requesting("big", 5, "700m"))  # each worker has 2 CPUs: two fit, a third does not
    wait_for("four running", lambda: sum(1 for p in pods(kc, "app=big") if ready(p)) == 4, timeout=90)
    placed = Counter(p["spec"].get("nodeName") for p in pods(kc, "app=big"))
    assert placed == {"worker-1": 2, "worker-2": 2, None: 1}, placed
    pending = next(p for p in pods(kc, "app=big") if not p["spec"].get("nodeName"))
    described = wait_for("the FailedScheduling event", lambda: (lambda d: d if "FailedScheduling" in d else None)(
        k(kc, "describe", "pod", pending["metadata"]["name"], "-n", NS)))
    assert "0/5 nodes are available: 2 Insufficient cpu, 3 node(s) had untolerated taint" in described
    k(kc, "delete", "deployment", "big", "-n", NS)


def test_the_bin_packing_profile_packs(kc: Cluster) -> None:
    wait_for("the previous test's pods to be gone (they hold their requests while terminating)",
             lambda: not kjson(kc, "get", "pods", "-n", NS, "-l", "app=big")["items"])
    kc.local.topology.scoring = "most-allocated"
    assert kc.local.up(lambda message: None)  # restarts the schedulers with the new setting
    try:
        apply(kc, _requesting("packed", 4, "200m"))
        placed = Counter(p["spec"]["nodeName"] for p in ready_pods(kc, "app=packed", 4))
        assert len(placed) == 1 and set(placed) <= set(WORKERS), placed
    finally:
        k(kc, "delete", "deployment", "packed", "-n", NS, check=False)
        kc.local.topology.scoring = "least-allocated"
        kc.local.up(lambda message: None)


# -- configuration --------------------------------------------------------------------


def test_a_config_map_and_a_secret_reach_a_pod_as_env_and_files(kc: Cluster) -> None:
    generate(kc, "create", "configmap", "settings", "-n", NS, "--from-literal=greeting=hello", "--from-literal=color=blue")
    generate(kc, "create", "secret", "generic", "creds", "-n", NS, "--from-literal=password=s3cret")
    apply(kc, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "configured", "namespace": NS}, "spec": {
        "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "sleep 3600"],
                        "env": [{"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "greeting"}}},
                                {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}}],
                        "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CM_"}],
                        "volumeMounts": [{"name": "config", "mountPath": "/etc/config"},
                                         {"name": "secret", "mountPath": "/etc/secret", "readOnly": True}]}],
        "volumes": [{"name": "config", "configMap": {"name": "settings"}},
                    {"name": "secret", "secret": {"secretName": "creds"}}]}})
    wait_for("the pod to run", lambda: ready(kjson(kc, "get", "pod", "configured", "-n", NS)))

    def sh(command: str) -> str:
        return k(kc, "exec", "configured", "-n", NS, "--", "sh", "-c", command)
    assert sh("echo $GREETING $PASSWORD $CM_color") == "hello s3cret blue\n"
    assert sh("cat /etc/config/greeting; echo; cat /etc/secret/password") == "hello\ns3cret"
    k(kc, "patch", "configmap", "settings", "-n", NS, "-p", json.dumps({"data": {"greeting": "bonjour"}}))
    wait_for("the file to follow the edit", lambda: sh("cat /etc/config/greeting") == "bonjour", timeout=60)
    assert sh("echo $GREETING") == "hello\n"  # env is read once, at start (as upstream)
    assert base64.b64decode(kjson(kc, "get", "secret", "creds", "-n", NS)["data"]["password"]) == b"s3cret"
    k(kc, "delete", "pod", "configured", "-n", NS, "--wait=false")


# -- the other workload controllers ---------------------------------------------------


def test_a_statefulset_starts_its_pods_in_order_with_stable_names(kc: Cluster) -> None:
    apply(kc, {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": NS},
               "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                        "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [
                            {"name": "hello", "image": "kubeclass/hello:1",
                             "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8080}, "periodSeconds": 1}}]}}}})
    k(kc, "rollout", "status", "statefulset/db", "-n", NS, "--timeout=90s", timeout=100)
    running = ready_pods(kc, "app=db", 3)
    assert sorted(p["metadata"]["name"] for p in running) == ["db-0", "db-1", "db-2"]
    started = {p["metadata"]["name"]: p["status"]["startTime"] for p in running}
    assert started["db-0"] <= started["db-1"] <= started["db-2"]  # OrderedReady: one after the other
    k(kc, "delete", "pod", "db-1", "-n", NS)
    assert "db-1" in {p["metadata"]["name"] for p in ready_pods(kc, "app=db", 3)}  # the same name comes back
    k(kc, "scale", "statefulset/db", "-n", NS, "--replicas=1")
    wait_for("db-2 and db-1 gone", lambda: [p["metadata"]["name"] for p in pods(kc, "app=db")] == ["db-0"], 90)
    k(kc, "delete", "statefulset", "db", "-n", NS)


def test_jobs_complete_or_give_up_after_their_backoff_limit(kc: Cluster) -> None:
    def job(name: str, command: str, **spec: Any) -> dict:
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": NS},
                "spec": {**spec, "template": {"spec": {"restartPolicy": "Never", "containers": [
                    {"name": "c", "image": "busybox", "command": ["sh", "-c", command]}]}}}}
    apply(kc, job("work", "echo done $HOSTNAME", completions=3, parallelism=2),
          job("doomed", "echo failing; exit 1", backoffLimit=1))
    k(kc, "wait", "--for=condition=Complete", "job/work", "-n", NS, "--timeout=90s", timeout=100)
    assert k(kc, "get", "job", "work", "-n", NS, "-o", "jsonpath={.status.succeeded}") == "3"
    k(kc, "wait", "--for=condition=Failed", "job/doomed", "-n", NS, "--timeout=90s", timeout=100)
    failed = kjson(kc, "get", "job", "doomed", "-n", NS)["status"]
    assert failed["failed"] == 2 and any(c.get("reason") == "BackoffLimitExceeded" for c in failed["conditions"])
    assert "failing" in k(kc, "logs", "job/doomed", "-n", NS)
    k(kc, "delete", "job", "work", "doomed", "-n", NS)


def test_a_daemonset_runs_one_pod_per_schedulable_node(kc: Cluster) -> None:
    apply(kc, {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": NS},
               "spec": {"selector": {"matchLabels": {"app": "agent"}},
                        "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [
                            {"name": "c", "image": "busybox", "command": ["sh", "-c", "sleep 3600"]}]}}}})
    k(kc, "rollout", "status", "daemonset/agent", "-n", NS, "--timeout=90s", timeout=100)
    assert sorted(p["spec"]["nodeName"] for p in ready_pods(kc, "app=agent", 2)) == list(WORKERS)  # masters: tainted
    k(kc, "delete", "daemonset", "agent", "-n", NS)


# -- failures -------------------------------------------------------------------------


def test_cordon_drain_with_a_budget_and_uncordon(kc: Cluster) -> None:
    apply(kc, {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "hello", "namespace": NS},
               "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "hello"}}}})
    k(kc, "cordon", "worker-1")
    assert "SchedulingDisabled" in k(kc, "get", "node", "worker-1")
    url = service_url(kc, "hello")
    with Hammer(url) as hammer:
        k(kc, "drain", "worker-1", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=180s", timeout=200)
        after = ready_pods(kc, "app=hello", 3)
    assert {p["spec"]["nodeName"] for p in after} == {"worker-2"}
    assert hammer.failures == [], hammer.failures[:5]  # the budget kept two serving throughout
    k(kc, "uncordon", "worker-1")
    assert "SchedulingDisabled" not in k(kc, "get", "node", "worker-1")
    k(kc, "delete", "pdb", "hello", "-n", NS)


def test_a_dead_worker_goes_not_ready_and_its_pods_run_on_the_other(kc: Cluster) -> None:
    k(kc, "rollout", "restart", "deployment/hello", "-n", NS)  # spread again over both workers
    k(kc, "rollout", "status", "deployment/hello", "-n", NS, "--timeout=120s", timeout=130)
    before = ready_pods(kc, "app=hello", 3)
    on_two = [p["metadata"]["name"] for p in before if p["spec"]["nodeName"] == "worker-2"]
    assert on_two
    timeline = Timeline(kc)  # `kubeclass status --watch`, as the class would watch it
    try:
        wait_for("the timeline to watch", timeline.started, 30)
        kc.local.stop(["worker-2"], lambda message: None, kill=True)  # SIGKILL: the machine is gone
        started = time.monotonic()
        wait_for("worker-2 NotReady", lambda: "NotReady" in k(kc, "get", "node", "worker-2"), timeout=30)
        moved = wait_for("the pods running on worker-1", lambda: (lambda ps: ps if len(ps) == 3 and all(
            p["spec"]["nodeName"] == "worker-1" for p in ps) else None)(ready_pods(kc, "app=hello", 3)), timeout=60)
        took = time.monotonic() - started
        print(f"worker death to pods running elsewhere: {took:.1f}s")
        assert not {p["metadata"]["name"] for p in moved} & set(on_two)
        existed = {p["metadata"]["name"] for p in before}
        replacements = [p["metadata"]["name"] for p in moved if p["metadata"]["name"] not in existed]
        wait_for("the timeline to show the replacements Ready", lambda: all(
            timeline.first(f"{NS}/{name}", "Running and Ready on worker-1") >= 0 for name in replacements), 10)
    finally:
        timeline.stop()
        assert kc.local.up(lambda message: None)
    replacement = replacements[0]
    assert timeline.in_order(("process", "worker-2 stopped"), ("node", "worker-2 NotReady"),
                             ("taint", "worker-2 tainted node.kubernetes.io/unreachable:NoExecute"),
                             ("evict", f"{NS}/", "on worker-2 evicted (node.kubernetes.io/unreachable)"),
                             ("pod", f"{NS}/{replacement} created by ReplicaSet hello-"),
                             ("pod", f"{NS}/{replacement} scheduled to worker-1"),
                             ("pod", f"{NS}/{replacement} Running and Ready on worker-1")), timeline.text()
    wait_for("worker-2 Ready again", lambda: " Ready " in k(kc, "get", "node", "worker-2"), timeout=60)


def test_killing_the_leading_controller_manager_hands_over(kc: Cluster) -> None:
    def holder() -> str:
        return kjson(kc, "get", "lease", "kube-controller-manager", "-n", "kube-system")["spec"]["holderIdentity"]
    leader = holder()
    master = leader.split("_")[0]
    assert master in ("master-1", "master-2", "master-3")
    kc.local.stop([f"controller-manager-{master[-1]}"], lambda message: None, kill=True)
    try:
        new = wait_for("another holder", lambda: (lambda h: h if h.split("_")[0] != master else None)(holder()), 30)
        assert new.split("_")[0] in {"master-1", "master-2", "master-3"} - {master}
        k(kc, "scale", "deployment/hello", "-n", NS, "--replicas=4")
        ready_pods(kc, "app=hello", 4)  # reconciling goes on under the new leader
    finally:
        kc.local.up(lambda message: None)


def test_with_master_1_gone_the_rest_carries_on_behind_the_same_endpoint(kc: Cluster) -> None:
    """kubectl's endpoint is haproxy in front of the three API servers; node agents,
    controller managers and schedulers fail over on their own."""
    assert kc.local.load_balanced, "haproxy is not installed: ./dev test installs it"
    failures: list[str] = []
    stop = threading.Event()

    def ask() -> None:  # kubectl, through the unchanged kubeconfig, all the while
        while not stop.is_set():
            result = kc.kubectl("get", "namespace", NS, "-o", "name", check=False, timeout=20)
            if result.returncode != 0:
                failures.append(result.stderr.strip())
            time.sleep(0.1)
    asking = threading.Thread(target=ask, daemon=True)
    asking.start()
    time.sleep(1)
    kc.local.stop(["master-1"], lambda message: None, kill=True)
    try:
        def nodes() -> dict[str, str]:
            return {line.split()[0]: line.split()[1] for line in k(kc, "get", "nodes", "--no-headers").splitlines()}
        # if master-1 held the controller manager's Lease, its successor first takes over,
        # then gives master-1 the grace period from when it first saw it
        wait_for("master-1 NotReady", lambda: nodes()["master-1"] == "NotReady", timeout=30)
        assert nodes() == {"master-1": "NotReady", "master-2": "Ready", "master-3": "Ready",
                           "worker-1": "Ready", "worker-2": "Ready"}
        k(kc, "scale", "deployment/hello", "-n", NS, "--replicas=5")
        wait_for("5 ready replicas", lambda: len([p for p in pods(kc, "app=hello") if ready(p)]) == 5)
    finally:
        stop.set()
        asking.join(30)
        assert kc.local.up(lambda message: None)
    assert len(failures) <= 1, failures  # at most the request that was in flight to master-1
    wait_for("master-1 Ready again", lambda: " Ready " in k(kc, "get", "node", "master-1"), timeout=60)


# -- cleaning up ----------------------------------------------------------------------


def test_deleting_a_deployment_or_a_namespace_removes_what_it_owned(kc: Cluster) -> None:
    k(kc, "delete", "deployment", "hello", "-n", NS)
    wait_for("the ReplicaSets and pods gone", lambda: not k(kc, "get", "replicasets,pods", "-n", NS, "-l", "app=hello",
                                                            "--no-headers").strip())
    generate(kc, "create", "deployment", "again", "-n", NS, "--image=kubeclass/hello:1", "--replicas=2")
    ready_pods(kc, "app=again", 2)
    k(kc, "delete", "namespace", NS, timeout=120)  # waits until it is gone
    assert "NotFound" in kc.kubectl("get", "namespace", NS, check=False).stderr
    assert not [p for p in kjson(kc, "get", "pods", "-A")["items"] if p["metadata"]["namespace"] == NS]


def test_down_leaves_no_process_behind(kc: Cluster) -> None:
    home = kc.local.home
    kc.local.down(lambda message: None)
    left = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if home.encode() in f.read():
                        left.append(int(entry))
            except OSError:
                continue
    assert left == []
