"""The pod sync with real processes, a fake API (FakeClient) and loopback networking:
start, restart with back-off, init containers, waiting reasons, graceful delete and the final DELETE."""

from __future__ import annotations

import os
import time

import pytest

from controlplane.client import resources as r
from controlplane.client.fake import FakeClient
from nodeagent.backoff import Backoff
from nodeagent.events import EventRecorder
from nodeagent.network import LoopbackNetwork
from nodeagent.objects import ClientSource
from nodeagent.runtime import ProcessRuntime
from nodeagent.sync import NodeContext, PodSync


@pytest.fixture
def env(tmp_path):
    client = FakeClient()
    runtime = ProcessRuntime(str(tmp_path), LoopbackNetwork(150), None, use_rootfs=False, node_name="n1",
                             host_ip="127.0.1.250")
    events = EventRecorder(None, "n1")
    ctx = NodeContext(node_name="n1", host_ip="127.0.1.250", client=client, runtime=runtime,
                      source=ClientSource(client), events=events, backoff=Backoff(0.3, 1.0), resync=0.1,
                      allocatable={"cpu": "2", "memory": "4Gi"})
    syncs: list[PodSync] = []
    yield client, ctx, syncs
    for s in syncs:
        s.shutdown(0)


def make_pod(client, name, containers, **spec):
    body = {"metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 5, "containers": containers, **spec},
            "status": {"phase": "Pending", "qosClass": "BestEffort"}}
    return client.seed(r.PODS, body)


def current(client, name):
    return client.stored(r.PODS, name, "default")


def drive(client, sync, name, until, timeout=15.0):
    """Call sync as the pod's worker would, until ``until(pod)`` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pod = current(client, name)
        sync.sync(pod)
        pod = current(client, name)
        if pod is not None and until(pod):
            return pod
        time.sleep(0.05)
    raise AssertionError(f"timed out; last status: {current(client, name).get('status')}")


def cstatus(pod, i=0, field="containerStatuses"):
    return pod["status"][field][i]


def test_a_pod_runs_writes_status_and_logs(env):
    client, ctx, syncs = env
    pod = make_pod(client, "web", [{"name": "c", "image": "busybox", "command": ["sh", "-c", "echo hi from $HOSTNAME; sleep 30"]}])
    sync = PodSync(ctx, pod)
    syncs.append(sync)
    pod = drive(client, sync, "web", lambda p: p["status"]["phase"] == "Running")
    s = cstatus(pod)
    assert s["state"].get("running") and s["ready"] and s["started"] and s["restartCount"] == 0
    assert s["containerID"].startswith("kubeclass://") and s["imageID"].startswith("busybox@sha256:")
    assert pod["status"]["podIP"].startswith("127.250.") and pod["status"]["hostIP"] == "127.0.1.250"
    assert pod["status"]["qosClass"] == "BestEffort"  # left as the API server set it
    cp = sync.records["c"].current
    deadline = time.monotonic() + 5
    while "hi from web" not in open(cp.config.log_path).read() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert " stdout F hi from web" in open(cp.config.log_path).read()
    assert ("Normal", "Started", "Started container c") in ctx.events.recorded


def test_graceful_delete_stops_then_finishes_with_delete(env):
    client, ctx, syncs = env
    pod = make_pod(client, "web", [{"name": "c", "image": "busybox", "command": ["sleep", "30"],
                                    "lifecycle": {"preStop": {"exec": {"command": ["true"]}}}}])
    sync = PodSync(ctx, pod)
    syncs.append(sync)
    drive(client, sync, "web", lambda p: p["status"]["phase"] == "Running")
    cp = sync.records["c"].current
    client.objects[("pods", "default", "web")]["metadata"].update(
        deletionTimestamp="2030-01-01T00:00:00Z", deletionGracePeriodSeconds=5)
    started = time.monotonic()
    assert sync.sync(current(client, "web")) is None  # finished with the pod
    assert time.monotonic() - started < 4  # sleep dies at SIGTERM, no need to wait for the grace period
    assert not cp.running and cp.exit_code == 143
    deletes = [a for a in client.writes() if a.verb == "delete"]
    assert len(deletes) == 1 and deletes[0].details["preconditions"] == {"uid": pod["metadata"]["uid"]}
    assert current(client, "web") is None
    assert not os.path.exists(os.path.dirname(cp.config.log_path))  # logs and pod directory are gone
    final = [a for a in client.writes() if a.verb == "patch"][-1].details["patch"]["status"]
    assert final["phase"] == "Failed"  # killed by SIGTERM: exit code 143
    assert final["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 143


def test_crash_loop_restarts_with_back_off(env):
    client, ctx, syncs = env
    pod = make_pod(client, "crash", [{"name": "c", "image": "busybox", "command": ["sh", "-c", "echo run; exit 3"]}])
    sync = PodSync(ctx, pod)
    syncs.append(sync)
    pod = drive(client, sync, "crash", lambda p: cstatus(p)["state"].get("waiting", {}).get("reason") == "CrashLoopBackOff")
    s = cstatus(pod)
    assert s["restartCount"] >= 1
    assert s["lastState"]["terminated"]["exitCode"] == 3 and s["lastState"]["terminated"]["reason"] == "Error"
    assert s["state"]["waiting"]["message"].startswith("back-off ")
    assert pod["status"]["phase"] == "Running"  # restarting counts as running
    pod = drive(client, sync, "crash", lambda p: cstatus(p)["restartCount"] >= 3)
    assert any(reason == "BackOff" for _, reason, _ in ctx.events.recorded)
    logs_dir = os.path.dirname(sync.records["c"].current.config.log_path)
    assert len(os.listdir(logs_dir)) <= 2  # the current attempt and the one before, as kubelet keeps them


def test_init_containers_run_in_order_then_the_pod_succeeds(env, tmp_path):
    client, ctx, syncs = env
    marker = tmp_path / "marker"
    pod = make_pod(client, "job", [{"name": "main", "image": "busybox", "command": ["sh", "-c", f"test -f {marker}"]}],
                   restartPolicy="Never",
                   initContainers=[{"name": "first", "image": "busybox", "command": ["sh", "-c", f"sleep 0.2; touch {marker}"]},
                                   {"name": "second", "image": "busybox", "command": ["test", "-f", str(marker)]}])
    sync = PodSync(ctx, pod)
    syncs.append(sync)
    pod = drive(client, sync, "job", lambda p: p["status"]["phase"] in ("Succeeded", "Failed"))
    assert pod["status"]["phase"] == "Succeeded"
    assert [s["state"]["terminated"]["reason"] for s in pod["status"]["initContainerStatuses"]] == ["Completed"] * 2
    assert cstatus(pod)["state"]["terminated"]["reason"] == "Completed"
    assert sync.terminal


def test_a_failing_init_container_with_never_fails_the_pod(env):
    client, ctx, syncs = env
    pod = make_pod(client, "bad", [{"name": "main", "image": "busybox", "command": ["true"]}], restartPolicy="Never",
                   initContainers=[{"name": "init", "image": "busybox", "command": ["false"]}])
    sync = PodSync(ctx, pod)
    syncs.append(sync)
    pod = drive(client, sync, "bad", lambda p: p["status"]["phase"] in ("Succeeded", "Failed"))
    assert pod["status"]["phase"] == "Failed"
    assert cstatus(pod)["state"]["waiting"]["reason"] == "PodInitializing"  # never started


@pytest.mark.parametrize("container, reason, words", [
    ({"name": "c", "image": "nginx"}, "ImageNotRunnable", ["needs a command", "kubeclass/hello:1"]),
    ({"name": "c", "image": "busybox", "command": ["true"],
      "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "missing", "key": "k"}}}]},
     "CreateContainerConfigError", ['configmap "missing" not found']),
])
def test_containers_that_cannot_start_wait_with_a_reason(env, container, reason, words):
    client, ctx, syncs = env
    pod = make_pod(client, "p", [container])
    sync = PodSync(ctx, pod)
    syncs.append(sync)
    pod = drive(client, sync, "p", lambda p: bool(p["status"].get("containerStatuses")))
    waiting = cstatus(pod)["state"]["waiting"]
    assert waiting["reason"] == reason and all(w in waiting["message"] for w in words)
    assert pod["status"]["phase"] == "Pending"


def test_a_missing_program_is_a_start_error(env):
    client, ctx, syncs = env
    pod = make_pod(client, "p", [{"name": "c", "image": "busybox", "command": ["no-such-program-kc"]}],
                   restartPolicy="Never")
    sync = PodSync(ctx, pod)
    syncs.append(sync)
    pod = drive(client, sync, "p", lambda p: p["status"]["phase"] == "Failed")
    term = cstatus(pod)["state"]["terminated"]
    assert term["reason"] == "StartError" and term["exitCode"] == 128
    assert 'exec: "no-such-program-kc": executable file not found in $PATH' in term["message"]


def test_restart_counts_continue_after_an_agent_restart(env):
    client, ctx, syncs = env
    pod = make_pod(client, "web", [{"name": "c", "image": "busybox", "command": ["sleep", "30"]}])
    pod["status"] = {"phase": "Running", "containerStatuses": [
        {"name": "c", "restartCount": 2, "containerID": "kubeclass://old", "ready": True, "image": "busybox",
         "imageID": "x", "state": {"running": {"startedAt": "2020-01-01T00:00:00Z"}}}]}
    client.objects[("pods", "default", "web")]["status"] = pod["status"]
    sync = PodSync(ctx, current(client, "web"))
    syncs.append(sync)
    pod = drive(client, sync, "web", lambda p: cstatus(p)["containerID"] != "kubeclass://old")
    assert cstatus(pod)["restartCount"] == 3


def test_changing_the_image_restarts_the_container(env):
    client, ctx, syncs = env
    pod = make_pod(client, "web", [{"name": "c", "image": "busybox:1", "command": ["sleep", "30"]}])
    sync = PodSync(ctx, pod)
    syncs.append(sync)
    drive(client, sync, "web", lambda p: p["status"]["phase"] == "Running")
    client.objects[("pods", "default", "web")]["spec"]["containers"][0]["image"] = "busybox:2"
    pod = drive(client, sync, "web", lambda p: cstatus(p)["image"] == "busybox:2" and "running" in cstatus(p)["state"])
    assert cstatus(pod)["restartCount"] == 1
    assert ("Normal", "Killing", "Container c definition changed, will be restarted") in ctx.events.recorded


def test_host_network_pods_have_the_node_address(env):
    client, ctx, syncs = env
    pod = make_pod(client, "hostnet", [{"name": "c", "image": "busybox", "command": ["sleep", "30"]}], hostNetwork=True)
    sync = PodSync(ctx, pod)
    syncs.append(sync)
    pod = drive(client, sync, "hostnet", lambda p: p["status"]["phase"] == "Running")
    assert pod["status"]["podIP"] == pod["status"]["hostIP"] == "127.0.1.250"
