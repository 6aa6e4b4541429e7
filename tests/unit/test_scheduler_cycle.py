"""Whole scheduling cycles against the fake client: what a user would see afterwards.

Each test puts nodes and pods where the informers would (the handlers ``add_node``,
``add_pod``, ...), runs ``schedule_one()`` and looks at what a user can see: the
pod's ``spec.nodeName`` and ``PodScheduled`` condition in the (fake) API server,
the events (``kubectl describe pod``), and that the scheduler wrote nothing else.
"""

from __future__ import annotations

import random
import threading
import time

import pytest

from controlplane.client import resources as r
from controlplane.client.errors import ApiError
from controlplane.client.events import FakeRecorder
from controlplane.scheduler import preemption
from controlplane.scheduler.plugins import build_framework, default_profile
from controlplane.scheduler.scheduler import NO_NODES, Scheduler
from controlplane.scheduler.testing import (
    CONTROL_PLANE_TAINT,
    FakeBindingClient,
    make_node,
    make_pod,
)

TAINT_REASON = "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


class World:
    """A fake API server, and a scheduler whose informers are these handler calls."""

    def __init__(self, *, strategy: str = "least", bind_workers: int = 0,
                 client: FakeBindingClient | None = None) -> None:
        self.client = client or FakeBindingClient()
        self.recorder = FakeRecorder()
        self.clock = Clock()
        self.scheduler = Scheduler(self.client, build_framework(default_profile(strategy), self.client),
                                   self.recorder, bind_workers=bind_workers, rng=random.Random(7), clock=self.clock)

    def node(self, node: dict) -> dict:
        stored = self.client.seed(r.NODES, node)
        self.scheduler.add_node(stored)
        return stored

    def pod(self, pod: dict) -> dict:
        stored = self.client.seed(r.PODS, pod)
        self.scheduler.add_pod(stored)
        return stored

    def deliver(self, name: str, old: dict) -> dict:
        """The informer delivers the pod as the API server has it now."""
        new = self.client.pod(name)
        self.scheduler.update_pod(old, new)
        return new

    def condition(self, name: str) -> dict | None:
        conditions = (self.client.pod(name).get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["type"] == "PodScheduled"), None)

    def writes(self) -> list[tuple[str, str, str, str]]:
        return [(a.verb, a.resource, a.name, a.details.get("subresource") or "") for a in self.client.writes()]


def test_a_pod_is_bound_to_the_best_node_and_the_event_names_its_score():
    w = World()
    w.node(make_node("master-1", taints=[CONTROL_PLANE_TAINT]))
    w.node(make_node("worker-1", cpu="4", memory="8Gi"))
    w.node(make_node("worker-2", cpu="4", memory="8Gi"))
    w.pod(make_pod("busy", cpu="2", memory="4Gi", node="worker-1"))
    w.pod(make_pod("web-1", cpu="1", memory="1Gi"))

    decision = w.scheduler.schedule_one(timeout=0)

    assert decision is not None and decision.node == "worker-2"
    pod = w.client.pod("web-1")
    assert pod["spec"]["nodeName"] == "worker-2"
    assert w.condition("web-1")["status"] == "True"
    # TaintToleration 100 (weight 3) on both; NodeResourcesFit (weight 1): worker-2 81, worker-1 31;
    # as a weighted average: (300 + 81) / 4 = 95, (300 + 31) / 4 = 83.
    assert w.recorder.events == [("Normal Scheduled Successfully assigned default/web-1 to worker-2 "
                                  "(score 95 of 100, next best worker-1: 83)")]
    assert w.writes() == [("create", "pods", "web-1", "binding")], "a Binding is the scheduler's only write"
    binding = w.client.writes()[0].details["body"]
    assert binding["target"] == {"apiVersion": "v1", "kind": "Node", "name": "worker-2"}
    assert binding["metadata"]["uid"] == pod["metadata"]["uid"]


def test_a_pod_that_fits_nowhere_gets_failed_scheduling_and_its_condition():
    w = World()
    for i in (1, 2, 3):
        w.node(make_node(f"master-{i}", cpu="4", taints=[CONTROL_PLANE_TAINT]))
    for i in (1, 2):
        w.node(make_node(f"worker-{i}", cpu="1"))
    w.pod(make_pod("big", cpu="2"))

    decision = w.scheduler.schedule_one(timeout=0)

    message = (f"0/5 nodes are available: 2 Insufficient cpu, 3 {TAINT_REASON}. preemption: 0/5 nodes are "
               f"available: 2 No preemption victims found for incoming pod, 3 Preemption is not helpful for "
               f"scheduling.")
    assert decision is not None and decision.node is None and decision.message == message
    assert w.recorder.events == [f"Warning FailedScheduling {message}"]
    condition = w.condition("big")
    assert {k: condition[k] for k in ("status", "reason", "message")} == {
        "status": "False", "reason": "Unschedulable", "message": message}
    assert condition["lastTransitionTime"]
    assert "nodeName" not in w.client.pod("big")["spec"]
    assert w.writes() == [("patch", "pods", "big", "status")], "the condition, as a strategic patch of status"
    assert w.client.writes()[0].details["type"] == "strategic"
    assert w.scheduler.queue.where("default/big") == "unschedulable"


def test_when_no_node_could_ever_help_preemption_says_so_for_all():
    w = World()
    for i in (1, 2):
        w.node(make_node(f"master-{i}", taints=[CONTROL_PLANE_TAINT]))
    w.node(make_node("worker-1", unschedulable=True))
    w.pod(make_pod("p"))
    decision = w.scheduler.schedule_one(timeout=0)
    assert decision.message == (f"0/3 nodes are available: 1 node(s) were unschedulable, 2 {TAINT_REASON}. "
                                f"preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.")


def test_the_condition_is_written_once_while_the_reason_stays_the_same():
    w = World()
    w.node(make_node("worker-1", cpu="1"))
    old = w.pod(make_pod("big", cpu="2"))
    w.scheduler.schedule_one(timeout=0)
    w.deliver("big", old)   # the informer brings our own status change back
    assert w.scheduler.queue.where("default/big") == "unschedulable", "our own condition does not wake it"

    w.scheduler.queue.move_all("NodeAdd")   # something happened; it is tried again after its back-off
    w.clock.now += 2
    w.scheduler.schedule_one(timeout=0)

    assert len(w.recorder.events) == 2, "each failed attempt is an event (the recorder counts repeats)"
    assert [a for a in w.writes() if a[3] == "status"] == [("patch", "pods", "big", "status")]


def test_pods_just_placed_count_before_the_api_server_confirms_them():
    w = World()
    w.node(make_node("only", cpu="2"))
    first = w.pod(make_pod("first", cpu="1500m"))
    w.pod(make_pod("second", cpu="1500m"))

    assert w.scheduler.schedule_one(timeout=0).node == "only"
    assert w.scheduler.cache.is_assumed("default/first"), "bound, but the informer has not said so yet"
    second = w.scheduler.schedule_one(timeout=0)
    assert second.node is None
    assert second.message == ("0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are "
                              "available: 1 No preemption victims found for incoming pod.")

    w.deliver("first", first)   # the informer catches up: confirmed, still counted
    assert not w.scheduler.cache.is_assumed("default/first")
    assert w.scheduler.cache.snapshot().get("only").requested == {"cpu": 1500}

    w.scheduler.delete_pod(w.client.pod("first"))   # deleting it frees the room and wakes "second"
    assert w.scheduler.queue.where("default/second") == "backoff"
    w.clock.now += 1
    assert w.scheduler.schedule_one(timeout=0).node == "only"


def test_a_new_node_wakes_a_parked_pod():
    w = World()
    w.node(make_node("small", cpu="1"))
    w.pod(make_pod("big", cpu="3"))
    assert w.scheduler.schedule_one(timeout=0).node is None
    assert w.scheduler.schedule_one(timeout=0) is None, "parked: no retry while nothing changes"

    w.clock.now += 30
    w.node(make_node("large", cpu="4"))
    decision = w.scheduler.schedule_one(timeout=0)
    assert decision.node == "large"
    # NodeResourcesFit: cpu (4000-3000)*100/4000 = 25, memory (no request: 200Mi of 8Gi) 97 -> 61;
    # with TaintToleration's 100 at weight 3: (300 + 61) / 4 = 90.
    assert w.recorder.events[-1] == ("Normal Scheduled Successfully assigned default/big to large "
                                     "(score 90 of 100, no other node fits)")


def test_status_heartbeats_of_nodes_wake_nobody():
    w = World()
    node = w.node(make_node("small", cpu="1"))
    w.pod(make_pod("big", cpu="3"))
    w.scheduler.schedule_one(timeout=0)
    beat = {**node, "status": {**node["status"], "conditions": [{"type": "Ready", "status": "True",
                                                                "lastHeartbeatTime": "2026-01-01T00:00:00Z"}]}}
    w.scheduler.update_node(node, beat)
    assert w.scheduler.queue.where("default/big") == "unschedulable"
    bigger = {**node, "status": {**node["status"], "allocatable": {"cpu": "8", "memory": "8Gi", "pods": "110"}}}
    w.scheduler.update_node(node, bigger)
    assert w.scheduler.queue.where("default/big") in ("backoff", "active")


def test_most_allocated_packs_pods_onto_the_fuller_node():
    w = World(strategy="most")
    w.node(make_node("empty", cpu="4", memory="8Gi"))
    w.node(make_node("half", cpu="4", memory="8Gi"))
    w.pod(make_pod("there", cpu="2", memory="4Gi", node="half"))
    w.pod(make_pod("p", cpu="1", memory="1Gi"))
    assert w.scheduler.schedule_one(timeout=0).node == "half"


def test_most_allocated_packs_the_replicas_of_one_workload_together():
    """The bin-packing profile turns the default spreading off: it would outvote packing."""
    w = World(strategy="most")
    for n in ("n1", "n2"):
        w.node(make_node(n, cpu="2", memory="4Gi"))
    placed = []
    for i in range(4):
        old = w.pod(make_pod(f"packed-{i}", cpu="200m", owner="packed"))
        placed.append(w.scheduler.schedule_one(timeout=0).node)
        w.deliver(f"packed-{i}", old)
    assert len(set(placed)) == 1, placed


def test_replicas_spread_over_nodes():
    w = World()
    for n in ("n1", "n2", "n3"):
        w.node(make_node(n))
    placed = []
    for i in range(6):
        old = w.pod(make_pod(f"web-{i}", cpu="100m", owner="web"))
        placed.append(w.scheduler.schedule_one(timeout=0).node)
        w.deliver(f"web-{i}", old)
    assert sorted(placed) == ["n1", "n1", "n2", "n2", "n3", "n3"]


def test_only_our_pods_are_scheduled():
    w = World()
    w.node(make_node("n"))
    w.pod(make_pod("theirs", scheduler_name="my-scheduler"))
    w.pod(make_pod("bound", node="n", cpu="1"))
    gated = make_pod("gated")
    gated["spec"]["schedulingGates"] = [{"name": "example.com/wait"}]
    old_gated = w.pod(gated)
    assert w.scheduler.schedule_one(timeout=0) is None
    assert w.scheduler.cache.snapshot().get("n").requested == {"cpu": 1000}, "bound pods fill the cache"

    ungated = {**old_gated, "spec": {k: v for k, v in old_gated["spec"].items() if k != "schedulingGates"}}
    w.scheduler.update_pod(old_gated, ungated)
    assert w.scheduler.schedule_one(timeout=0).node == "n"


def test_finished_pods_give_their_room_back():
    w = World()
    w.node(make_node("n", cpu="1"))
    done = w.pod(make_pod("job", cpu="1", node="n"))
    w.pod(make_pod("next", cpu="1"))
    assert w.scheduler.schedule_one(timeout=0).node is None
    w.scheduler.update_pod(done, {**done, "status": {"phase": "Succeeded"}})
    w.clock.now += 1
    assert w.scheduler.schedule_one(timeout=0).node == "n"


def test_no_nodes_at_all():
    w = World()
    w.pod(make_pod("p"))
    assert w.scheduler.schedule_one(timeout=0).message == NO_NODES == "no nodes available to schedule pods"
    assert w.recorder.events == [f"Warning FailedScheduling {NO_NODES}"]
    assert w.scheduler.queue.where("default/p") == "backoff", "no plugin to wait for: retried after its back-off"


def test_a_pod_bound_by_someone_else_meanwhile_is_left_alone():
    w = World()
    w.node(make_node("n1"))
    w.pod(make_pod("p"))
    stored = w.client.objects[("pods", "default", "p")]
    stored["spec"]["nodeName"] = "n1"   # another scheduler won the race; our informer lags
    decision = w.scheduler.schedule_one(timeout=0)
    assert decision.node == "n1"
    assert w.recorder.events == [], "no Scheduled (we did not bind it), no FailedScheduling (nothing failed)"
    assert not w.scheduler.cache.is_assumed("default/p")
    assert w.scheduler.queue.where("default/p") is None


class FlakyBinder(FakeBindingClient):
    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    def create(self, res, body, namespace=None, **kw):
        if kw.get("subresource") == "binding" and self.failures:
            self.failures -= 1
            raise ApiError({"kind": "Status", "status": "Failure", "code": 500, "reason": "InternalError",
                            "message": "Internal error occurred: the store is gone for a moment"})
        return super().create(res, body, namespace, **kw)


def test_a_failed_binding_is_reported_and_retried_after_back_off():
    w = World(client=FlakyBinder())
    w.node(make_node("n1"))
    w.pod(make_pod("p"))
    w.scheduler.schedule_one(timeout=0)
    message = "Internal error occurred: the store is gone for a moment"
    assert w.recorder.events == [f"Warning FailedScheduling {message}"]
    assert (w.condition("p")["reason"], w.condition("p")["message"]) == ("SchedulerError", message)
    assert not w.scheduler.cache.is_assumed("default/p"), "the assumption is undone"
    assert w.scheduler.queue.where("default/p") == "backoff"
    w.clock.now += 1
    assert w.scheduler.schedule_one(timeout=0).node == "n1"
    assert w.client.pod("p")["spec"]["nodeName"] == "n1"


def test_preemption_is_explained_but_not_done():
    w = World()
    w.node(make_node("n", cpu="2"))
    w.pod(make_pod("low", cpu="2", node="n", priority=0))
    w.pod(make_pod("high", cpu="1", priority=1000))
    decision = w.scheduler.schedule_one(timeout=0)
    assert decision.message == ("0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are "
                                f"available: 1 {preemption.NOT_IMPLEMENTED}.")
    assert w.client.pod("low")["spec"]["nodeName"] == "n", "nothing was evicted"

    never = make_pod("polite", cpu="1", priority=1000)
    never["spec"]["preemptionPolicy"] = "Never"
    w.pod(never)
    assert w.scheduler.schedule_one(timeout=0).message == (
        "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.")


def test_binding_on_threads_never_overcommits_a_node():
    w = World(bind_workers=4)
    w.node(make_node("a", cpu="2"))
    w.node(make_node("b", cpu="2"))
    for i in range(5):
        w.pod(make_pod(f"p{i}", cpu="1"))
    decisions = [w.scheduler.schedule_one(timeout=0) for _ in range(5)]
    w.scheduler.shutdown(timeout=5)
    placed = [d.node for d in decisions]
    assert sorted(n for n in placed if n) == ["a", "a", "b", "b"] and placed.count(None) == 1
    bound = [w.client.pod(f"p{i}")["spec"].get("nodeName") for i in range(5)]
    assert sorted(n for n in bound if n) == ["a", "a", "b", "b"]


def test_run_schedules_until_stopped():
    w = World(bind_workers=2)
    w.node(make_node("n"))
    w.pod(make_pod("p"))
    stop = threading.Event()
    t = threading.Thread(target=w.scheduler.run, args=(stop,))
    t.start()
    deadline = time.monotonic() + 5
    while not w.client.pod("p")["spec"].get("nodeName") and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    t.join(3)
    w.scheduler.shutdown()
    assert not t.is_alive() and w.client.pod("p")["spec"]["nodeName"] == "n"


@pytest.mark.parametrize("message, want", [("x" * 10, "x" * 10), ("y" * 2000, "y" * 1020 + " ...")])
def test_long_messages_are_cut_as_upstream_cuts_them(message, want):
    from controlplane.scheduler.scheduler import truncate
    assert truncate(message) == want and len(truncate(message)) <= 1024


def test_the_process_flags():
    from controlplane.scheduler.__main__ import parse_args

    args = parse_args(["--kubeconfig", "k"])
    assert (args.scoring_strategy, args.leader_elect, args.profile, args.scheduler_name) == (
        "least", False, "classroom", "default-scheduler")
    args = parse_args(["--kubeconfig", "k", "--scoring-strategy", "most", "--leader-elect", "--profile", "kubernetes"])
    assert (args.scoring_strategy, args.leader_elect, args.profile) == ("most", True, "kubernetes")
    assert parse_args(["--kubeconfig", "k", "--leader-elect=false"]).leader_elect is False
    with pytest.raises(SystemExit):
        parse_args(["--kubeconfig", "k", "--scoring-strategy", "balanced"])


def test_big_clusters_stop_filtering_once_enough_nodes_fit():
    """Upstream's percentageOfNodesToScore: all nodes below 100, an adaptive share above."""
    from controlplane.scheduler.framework import feasible_nodes_to_find
    assert [feasible_nodes_to_find(n) for n in (5, 99, 100, 1000, 5000)] == [5, 99, 100, 420, 500]
    assert feasible_nodes_to_find(1000, percentage=20) == 200
    assert feasible_nodes_to_find(300, percentage=10) == 100  # never fewer than 100


def test_with_many_nodes_each_cycle_starts_where_the_last_stopped():
    from controlplane.client.fake import FakeClient
    from controlplane.scheduler.nodeinfo import NodeInfo, PodInfo, Snapshot
    framework = build_framework(default_profile(), FakeClient())
    snapshot = Snapshot(tuple(NodeInfo.build(f"n{i:03}", make_node(f"n{i:03}")) for i in range(250)))
    pod = PodInfo.of(make_pod("p", cpu="100m"))
    # 250 nodes: 48 % = 120 nodes found feasible per cycle, from where the previous one stopped
    first, second, third = (sorted(n.name for n in framework.filter(pod, snapshot)[0]) for _ in range(3))
    assert (first[0], first[-1], len(first)) == ("n000", "n119", 120)
    assert (second[0], second[-1], len(second)) == ("n120", "n239", 120)
    assert len(third) == 120 and "n249" in third and "n000" in third and "n120" not in third
    w = World()
    for i in range(250):
        w.node(make_node(f"n{i:03}"))
    w.pod(make_pod("huge", cpu="64"))
    w.scheduler.schedule_one(timeout=0)  # a pod that fits nowhere was tried on every node
    assert "0/250 nodes are available: 250 Insufficient cpu" in w.recorder.events[-1]
