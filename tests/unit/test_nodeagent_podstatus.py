"""The pod status a node agent writes: container states, phase, conditions, as kubelet does."""

from __future__ import annotations

import pytest

from nodeagent.podstatus import (
    Attempt,
    ContainerSnapshot,
    comparable,
    container_status,
    generate,
    get_phase,
    timestamp,
)

T0 = 1_700_000_000.0
REQUIRED = ("name", "ready", "restartCount", "image", "imageID")  # the Python client refuses statuses without them


def pod(restart_policy="Always", init=(), containers=("app",), status=None):
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "u"},
            "spec": {"restartPolicy": restart_policy,
                     "initContainers": [{"name": n, "image": "busybox"} for n in init],
                     "containers": [{"name": n, "image": "kubeclass/hello:1"} for n in containers]},
            "status": status or {"phase": "Pending", "qosClass": "BestEffort"}}


running = Attempt("c1", T0)
exited_ok = Attempt("c1", T0, T0 + 5, 0, "Completed")
exited_bad = Attempt("c2", T0 + 6, T0 + 9, 1, "Error")
oom = Attempt("c3", T0, T0 + 2, 137, "OOMKilled", signal=9)


def snap(name="app", **kw):
    return ContainerSnapshot(name=name, image="kubeclass/hello:1", image_id="kubeclass/hello@sha256:ab", **kw)


def test_never_started_is_waiting_container_creating_with_all_required_fields():
    s = container_status(snap())
    assert s["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert s["lastState"] == {} and s["imageID"] == "" and "containerID" not in s
    assert all(k in s for k in REQUIRED) and s["started"] is False


def test_running_with_previous_attempt():
    s = container_status(snap(current=running, previous=exited_bad, restart_count=1, ready=True, started=True))
    assert s["state"] == {"running": {"startedAt": timestamp(T0)}}
    assert s["lastState"]["terminated"]["exitCode"] == 1
    assert s["lastState"]["terminated"]["reason"] == "Error"
    assert s["lastState"]["terminated"]["containerID"] == "kubeclass://c2"
    assert s["containerID"] == "kubeclass://c1" and s["ready"] and s["restartCount"] == 1


def test_crash_loop_is_waiting_with_the_exit_as_last_state():
    s = container_status(snap(current=exited_bad, restart_count=3, waiting_reason="CrashLoopBackOff",
                              waiting_message="back-off 40s restarting failed container=app pod=p_ns(u)"))
    assert s["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert s["state"]["waiting"]["message"].startswith("back-off 40s")
    assert s["lastState"]["terminated"]["exitCode"] == 1 and s["ready"] is False


def test_terminated_for_good_shows_signal_and_reason():
    s = container_status(snap(current=oom, restart_count=0))
    term = s["state"]["terminated"]
    assert (term["exitCode"], term["reason"], term["signal"]) == (137, "OOMKilled", 9)
    assert term["startedAt"] == timestamp(T0) and term["finishedAt"] == timestamp(T0 + 2)


def status_of(**kw):
    return container_status(snap(**kw))


@pytest.mark.parametrize("policy, statuses, terminal, phase", [
    ("Always", [status_of()], False, "Pending"),
    ("Always", [status_of(current=running)], False, "Running"),
    ("Always", [status_of(current=exited_bad, waiting_reason="CrashLoopBackOff")], False, "Running"),
    ("Always", [status_of(current=exited_ok)], False, "Running"),  # about to restart
    ("OnFailure", [status_of(current=exited_ok)], False, "Succeeded"),
    ("OnFailure", [status_of(current=exited_bad, waiting_reason="CrashLoopBackOff")], False, "Running"),
    ("Never", [status_of(current=exited_bad)], False, "Failed"),
    ("Never", [status_of(current=exited_ok)], False, "Succeeded"),
    ("Always", [status_of(current=exited_ok)], True, "Succeeded"),   # deleted: terminal at last
    ("Always", [status_of(current=Attempt("x", T0, T0 + 1, 143, "Error"))], True, "Failed"),
    ("Always", [status_of(current=running), status_of(name="side")], False, "Pending"),
])
def test_phase(policy, statuses, terminal, phase):
    containers = [s["name"] for s in statuses]
    assert get_phase(pod(policy, containers=containers), [], statuses, terminal) == phase


def test_phase_with_init_containers():
    p = pod("Always", init=("setup",))
    ok = container_status(snap("setup", current=exited_ok, ready=True))
    assert get_phase(p, [container_status(snap("setup", current=running))], [status_of()], False) == "Pending"
    assert get_phase(p, [ok], [status_of(current=running)], False) == "Running"
    failed = container_status(snap("setup", current=exited_bad))
    assert get_phase(pod("Never", init=("setup",)), [failed], [status_of()], False) == "Failed"
    assert get_phase(p, [container_status(snap("setup", current=exited_bad, waiting_reason="CrashLoopBackOff"))],
                     [status_of()], False) == "Pending"


def conditions(status):
    return {c["type"]: c for c in status["conditions"]}


def test_ready_pod_conditions_and_fields():
    s = generate(pod(), init=[], containers=[snap(current=running, ready=True, started=True)], sandbox_ready=True,
                 pod_ip="10.244.1.5", host_ip="127.0.1.11", start_time=T0, terminal=False, now=T0 + 1)
    c = conditions(s)
    assert [x["type"] for x in s["conditions"]] == ["PodReadyToStartContainers", "Initialized", "Ready",
                                                      "ContainersReady", "PodScheduled"]
    assert all(x["status"] == "True" for x in c.values())
    assert s["phase"] == "Running" and s["podIP"] == "10.244.1.5" and s["podIPs"] == [{"ip": "10.244.1.5"}]
    assert s["hostIP"] == "127.0.1.11" and s["hostIPs"] == [{"ip": "127.0.1.11"}]
    assert s["startTime"] == timestamp(T0) and "qosClass" not in s  # the API server's field is left alone


def test_unready_messages_are_upstreams():
    s = generate(pod(containers=("app", "side")), init=[],
                 containers=[snap(current=running, started=True), snap("side")], sandbox_ready=True,
                 pod_ip="10.244.1.5", host_ip="h", start_time=T0, terminal=False, now=T0)
    c = conditions(s)
    assert c["ContainersReady"]["reason"] == "ContainersNotReady"
    assert c["ContainersReady"]["message"] == "containers with unready status: [app side]"
    assert (c["Ready"]["status"], c["Ready"]["reason"]) == ("False", "ContainersNotReady")


def test_initialized_condition_while_init_containers_run():
    s = generate(pod(init=("a", "b")), init=[snap("a", current=exited_ok, ready=True), snap("b", current=running)],
                 containers=[snap(waiting_reason="PodInitializing")], sandbox_ready=True, pod_ip="i", host_ip="h",
                 start_time=T0, terminal=False, now=T0)
    init = conditions(s)["Initialized"]
    assert init["status"] == "False" and init["reason"] == "ContainersNotInitialized"
    assert init["message"] == "containers with incomplete status: [b]"
    assert s["phase"] == "Pending"
    assert s["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    assert s["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"


def test_transition_times_move_only_on_change_and_foreign_conditions_stay():
    scheduled = {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                 "lastTransitionTime": "2020-01-01T00:00:00Z"}
    first = generate(pod(status={"phase": "Pending", "conditions": [scheduled]}), init=[], containers=[snap()],
                     sandbox_ready=True, pod_ip="i", host_ip="h", start_time=T0, terminal=False, now=T0)
    again = generate(pod(status=first), init=[], containers=[snap(current=running, ready=True, started=True)],
                     sandbox_ready=True, pod_ip="i", host_ip="h", start_time=T0, terminal=False, now=T0 + 60)
    c1, c2 = conditions(first), conditions(again)
    assert c2["PodReadyToStartContainers"]["lastTransitionTime"] == c1["PodReadyToStartContainers"]["lastTransitionTime"]
    assert c2["Ready"]["lastTransitionTime"] == timestamp(T0 + 60)
    assert c2["PodScheduled"] == scheduled
    assert again["startTime"] == first["startTime"]


def test_a_terminal_phase_is_never_left():
    s = generate(pod(status={"phase": "Succeeded"}), init=[], containers=[snap(current=running)], sandbox_ready=True,
                 pod_ip="i", host_ip="h", start_time=T0, terminal=False, now=T0)
    assert s["phase"] == "Succeeded"
    assert conditions(s)["ContainersReady"]["reason"] == "PodCompleted"


def test_comparable_ignores_times_but_not_states():
    a = generate(pod(), init=[], containers=[snap(current=running)], sandbox_ready=True, pod_ip="i", host_ip="h",
                 start_time=T0, terminal=False, now=T0)
    b = generate(pod(), init=[], containers=[snap(current=running)], sandbox_ready=True, pod_ip="i", host_ip="h",
                 start_time=T0, terminal=False, now=T0 + 99)
    c = generate(pod(), init=[], containers=[snap(current=running, ready=True, started=True)], sandbox_ready=True,
                 pod_ip="i", host_ip="h", start_time=T0, terminal=False, now=T0)
    assert comparable(a) == comparable(b)
    assert comparable(a) != comparable(c)
