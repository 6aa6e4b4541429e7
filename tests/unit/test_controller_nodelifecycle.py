"""Node lifecycle and taint eviction, with the in-memory client and a clock the test moves.

What a user would see: ``kubectl get nodes`` turning a silent node NotReady (Ready
Unknown) after the grace period and Ready again when its agent returns, the taints of
``kubectl describe node``, pods marked not ready, then deleted at once or after their
``tolerationSeconds``, and the events that tell why.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import pytest

from controlplane.client import informer as informers
from controlplane.client import resources as r
from controlplane.client.events import FakeRecorder
from controlplane.client.fake import DEFAULT_RESOURCES, FakeClient
from controlplane.controllers.base import RequeueAfter
from controlplane.controllers.nodelifecycle import NodeLifecycleController
from controlplane.controllers.nodelifecycle_eviction import TaintEvictionController
from controlplane.controllers.nodelifecycle_taints import (
    format_time,
    matching_tolerations,
    tolerates,
)
from controlplane.profiles import CLASSROOM, Profile

Obj = dict[str, Any]
T0 = 1_700_000_000.0  # classroom profile: monitor every 1 s, grace 4 s, default toleration 2 s
UNREACHABLE_EXEC = ("node.kubernetes.io/unreachable", "NoExecute")
UNREACHABLE_SCHED = ("node.kubernetes.io/unreachable", "NoSchedule")
NOT_READY_EXEC = ("node.kubernetes.io/not-ready", "NoExecute")
NOT_READY_SCHED = ("node.kubernetes.io/not-ready", "NoSchedule")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def default_tolerations(seconds: int = 2) -> list[Obj]:
    """What the API server adds to every pod."""
    return [{"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds}
            for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")]


class Cluster:
    """A fake API server, both controllers, and node agents the test can silence."""

    def __init__(self, nodes: tuple[str, ...] = ("n1", "n2"), profile: Profile = CLASSROOM) -> None:
        self.fake = FakeClient(DEFAULT_RESOURCES + [r.LEASES])
        self.clock = Clock()
        self.events = FakeRecorder()
        factory = informers.InformerFactory(self.fake)
        self.nlc = NodeLifecycleController(self.fake, factory, profile, recorder=self.events, clock=self.clock)
        self.tec = TaintEvictionController(self.fake, factory, recorder=self.events, clock=self.clock)
        for name in nodes:
            self.add_node(name)
        self.observe()

    # -- the node agents' side ------------------------------------------------------------

    def add_node(self, name: str, *, conditions: list[Obj] | None = None, **spec: Any) -> None:
        now = format_time(self.clock())
        if conditions is None:
            conditions = [{"type": kind, "status": status, "reason": "KubeletReady" if kind == "Ready" else "",
                           "lastHeartbeatTime": now, "lastTransitionTime": now}
                          for kind, status in (("Ready", "True"), ("MemoryPressure", "False"),
                                               ("DiskPressure", "False"), ("PIDPressure", "False"))]
            self.fake.seed(r.LEASES, {"metadata": {"name": name, "namespace": "kube-node-lease"},
                                      "spec": {"holderIdentity": name, "renewTime": self._micro()}})
        self.fake.seed(r.NODES, {"metadata": {"name": name, "creationTimestamp": now}, "spec": dict(spec),
                                 "status": {"conditions": conditions}})

    def _micro(self) -> str:
        return format_time(self.clock()).replace("Z", ".000000Z")

    def renew(self, *names: str) -> None:
        for name in names:
            self.fake.patch(r.LEASES, name, {"spec": {"renewTime": self._micro()}}, "kube-node-lease")

    def post_ready(self, name: str, status: str) -> None:
        """The agent posts its Ready condition (a fresh heartbeat)."""
        node = self.fake.stored(r.NODES, name)
        assert node is not None
        now = format_time(self.clock())
        for cond in node["status"]["conditions"]:
            if cond["type"] == "Ready":
                if cond["status"] != status:
                    cond["lastTransitionTime"] = now
                cond.update(status=status, reason="KubeletReady" if status == "True" else "KubeletNotReady",
                            message="", lastHeartbeatTime=now)
            elif cond["status"] == "Unknown":
                cond.update(status="False", lastHeartbeatTime=now, lastTransitionTime=now)
        self.fake.update(r.NODES, node, subresource="status")

    def add_pod(self, name: str, node: str, *, tolerations: list[Obj] | None = None) -> Obj:
        return self.fake.seed(r.PODS, {
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "containers": [{"name": "app", "image": "kubeclass/hello:1"}],
                     "tolerations": default_tolerations() if tolerations is None else tolerations},
            "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": format_time(T0)}]}})

    # -- the informers' and the work queue's side ----------------------------------------

    def observe(self) -> None:
        """What the informers would have delivered by now."""
        for inf in (self.nlc.nodes, self.nlc.leases, self.nlc.pods):
            inf.cache.replace(self.fake.list(inf.resource, inf.namespace)["items"])

    def look(self, *names: str) -> dict[str, float]:
        """One reconcile of each node (all by default); returns the requested delays."""
        delays = {}
        for name in names or tuple(self.nlc.nodes.cache.keys()):
            try:
                self.nlc.reconcile(name)
            except RequeueAfter as e:
                delays[name] = e.delay
            self.observe()
        return delays

    def run(self, seconds: int, *, alive: tuple[str, ...]) -> None:
        """Let ``seconds`` pass, the ``alive`` agents renewing their Leases each second and the
        controller looking each monitor period (and once more, as the informer's event would
        trigger after its own write)."""
        for _ in range(seconds):
            self.clock.now += 1
            self.renew(*alive)
            self.observe()
            self.look()
            self.look()

    def evict(self, key: str) -> float | None:
        """One reconcile of the taint eviction controller; the requested delay, if any."""
        try:
            self.tec.reconcile(key)
        except RequeueAfter as e:
            return e.delay
        finally:
            self.observe()
        return None

    # -- what kubectl would show -----------------------------------------------------------

    def node(self, name: str) -> Obj:
        node = self.fake.stored(r.NODES, name)
        assert node is not None
        return node

    def ready(self, name: str) -> Obj:
        return next(c for c in self.node(name)["status"]["conditions"] if c["type"] == "Ready")

    def taints(self, name: str) -> set[tuple[str, str]]:
        return {(t["key"], t["effect"]) for t in self.node(name)["spec"].get("taints") or []}

    def taint(self, name: str, key: str, effect: str) -> Obj:
        return next(t for t in self.node(name)["spec"]["taints"] if (t["key"], t["effect"]) == (key, effect))

    def pod_ready(self, name: str) -> str:
        pod = self.fake.stored(r.PODS, name, "default")
        assert pod is not None
        return next(c["status"] for c in pod["status"]["conditions"] if c["type"] == "Ready")


@pytest.fixture
def c() -> Cluster:
    return Cluster()


# -- judging nodes ---------------------------------------------------------------------------


def test_nodes_that_renew_their_leases_stay_ready_and_untouched(c: Cluster) -> None:
    c.look()
    c.run(10, alive=("n1", "n2"))
    assert c.fake.writes() == [a for a in c.fake.writes() if a.resource == "leases.coordination.k8s.io"]
    assert c.ready("n1")["status"] == c.ready("n2")["status"] == "True"
    assert c.taints("n1") == c.taints("n2") == set()
    assert sorted(c.events.events) == ["Normal RegisteredNode Node n1 event: Registered Node n1 in Controller",
                                       "Normal RegisteredNode Node n2 event: Registered Node n2 in Controller"]


def test_a_silent_node_goes_unknown_after_the_grace_period_and_its_pods_not_ready(c: Cluster) -> None:
    c.add_pod("web-1", "n1")
    c.add_pod("web-2", "n2")
    c.observe()
    c.look()
    c.run(4, alive=("n2",))
    assert c.ready("n1")["status"] == "True", "4 s of silence is within the classroom's grace period"

    c.run(1, alive=("n2",))
    ready = c.ready("n1")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
    assert ready["lastTransitionTime"] == format_time(T0 + 5)
    assert {cond["status"] for cond in c.node("n1")["status"]["conditions"]} == {"Unknown"}
    assert c.ready("n2")["status"] == "True"
    assert c.pod_ready("web-1") == "False" and c.pod_ready("web-2") == "True"
    assert "Normal NodeNotReady Node n1 status is now: NodeNotReady" in c.events.events
    assert "Warning NodeNotReady Node is not ready" in c.events.events
    assert c.taints("n1") == {UNREACHABLE_SCHED, UNREACHABLE_EXEC}
    assert c.taint("n1", *UNREACHABLE_EXEC)["timeAdded"] == format_time(T0 + 5)
    assert c.taints("n2") == set()


def test_a_node_that_comes_back_is_ready_again_and_loses_its_taints(c: Cluster) -> None:
    c.look()
    c.run(6, alive=("n2",))
    assert c.taints("n1") == {UNREACHABLE_SCHED, UNREACHABLE_EXEC}

    c.post_ready("n1", "True")
    c.run(1, alive=("n1", "n2"))
    assert c.ready("n1")["status"] == "True"
    assert c.taints("n1") == set()
    c.run(3, alive=("n1", "n2"))
    assert c.ready("n1")["status"] == "True", "the returning node is judged from its new heartbeats"


def test_a_node_reporting_not_ready_gets_the_not_ready_taints_at_once(c: Cluster) -> None:
    c.look()
    c.post_ready("n1", "False")
    c.run(1, alive=("n1", "n2"))
    assert c.ready("n1")["status"] == "False", "its agent's word stands while it keeps reporting"
    assert c.taints("n1") == {NOT_READY_SCHED, NOT_READY_EXEC}
    assert not any("NodeNotReady" in e for e in c.events.events), "the agent tells that, not the controller"


def test_an_unreachable_node_that_reports_not_ready_swaps_its_taint(c: Cluster) -> None:
    c.look()
    c.run(6, alive=("n2",))
    assert UNREACHABLE_EXEC in c.taints("n1")
    c.post_ready("n1", "False")
    c.run(1, alive=("n1", "n2"))
    assert c.taints("n1") == {NOT_READY_SCHED, NOT_READY_EXEC}, "never both, and no second wait for a slot"


def test_a_node_that_never_reported_gets_the_longer_startup_grace() -> None:
    c = Cluster(nodes=("n1",))
    c.add_node("fresh", conditions=[])
    c.observe()
    c.look()
    c.run(6, alive=("n1",))
    assert c.node("fresh")["status"]["conditions"] == [], "1.5 x the grace period for a node starting up"
    c.run(1, alive=("n1",))
    conditions = c.node("fresh")["status"]["conditions"]
    assert [(x["type"], x["status"], x["reason"]) for x in conditions] == [
        (kind, "Unknown", "NodeStatusNeverUpdated") for kind in ("Ready", "MemoryPressure", "DiskPressure",
                                                                 "PIDPressure")]
    assert conditions[0]["message"] == "Kubelet never posted node status."


# -- NoSchedule taints from conditions ---------------------------------------------------------


def test_no_schedule_taints_follow_conditions_and_spec_unschedulable_and_others_are_kept(c: Cluster) -> None:
    master = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
    node = c.node("n1")
    node["spec"] = {"unschedulable": True, "taints": [master]}
    node["status"]["conditions"][1]["status"] = "True"  # MemoryPressure
    c.fake.update(r.NODES, node)
    c.observe()
    c.look("n1")
    assert c.taints("n1") == {("node-role.kubernetes.io/control-plane", "NoSchedule"),
                              ("node.kubernetes.io/memory-pressure", "NoSchedule"),
                              ("node.kubernetes.io/unschedulable", "NoSchedule")}
    assert c.taint("n1", "node.kubernetes.io/unschedulable", "NoSchedule")["timeAdded"] == format_time(T0)

    node = c.node("n1")
    node["spec"]["unschedulable"] = False
    node["status"]["conditions"][1]["status"] = "False"
    c.fake.update(r.NODES, node)
    c.observe()
    c.look("n1")
    assert c.taints("n1") == {("node-role.kubernetes.io/control-plane", "NoSchedule")}, "a taint we do not own stays"


def test_a_taint_write_is_guarded_by_the_resource_version(c: Cluster) -> None:
    c.look()
    c.run(5, alive=("n2",))
    patches = [a for a in c.fake.writes() if a.verb == "patch" and a.resource == "nodes"]
    assert patches and all(a.details["patch"]["metadata"].get("resourceVersion") for a in patches)


# -- pacing NoExecute taints by zone ------------------------------------------------------------


def test_one_node_per_zone_gets_a_no_execute_taint_per_interval() -> None:
    c = Cluster(nodes=("n1", "n2", "n3", "n4", "n5"))
    c.look()
    c.run(5, alive=("n3", "n4", "n5"))
    assert {c.ready("n1")["status"], c.ready("n2")["status"]} == {"Unknown"}
    assert [UNREACHABLE_EXEC in c.taints(n) for n in ("n1", "n2")].count(True) == 1, "the first one at once"
    waiting = next(n for n in ("n1", "n2") if UNREACHABLE_EXEC not in c.taints(n))
    delay = c.look(waiting)[waiting]
    assert 0 < delay <= 2.0, "the zone's next slot: two monitor periods later"
    c.run(2, alive=("n3", "n4", "n5"))
    assert UNREACHABLE_EXEC in c.taints(waiting)


def test_a_partially_disrupted_zone_gets_no_no_execute_taints() -> None:
    c = Cluster(nodes=("n1", "n2", "n3", "n4", "n5"))
    c.look()
    c.run(8, alive=("n4", "n5"))
    for name in ("n1", "n2", "n3"):
        assert c.ready(name)["status"] == "Unknown"
        assert c.taints(name) == {UNREACHABLE_SCHED}, "3 of 5 nodes gone: more likely the network than the nodes"


def test_when_every_node_falls_silent_no_execute_taints_are_lifted(c: Cluster) -> None:
    c.look()
    c.run(6, alive=("n2",))
    assert UNREACHABLE_EXEC in c.taints("n1")
    c.run(6, alive=())
    assert c.ready("n1")["status"] == c.ready("n2")["status"] == "Unknown"
    assert c.taints("n1") == c.taints("n2") == {UNREACHABLE_SCHED}, "no node is evicted when all are gone"

    c.post_ready("n2", "True")
    c.run(1, alive=("n2",))
    assert c.taints("n2") == set()
    assert UNREACHABLE_EXEC in c.taints("n1"), "one node answers again: the silent one is tainted again"


# -- the ticker ------------------------------------------------------------------------------


def test_every_node_is_looked_at_each_monitor_period() -> None:
    c = Cluster(profile=dataclasses.replace(CLASSROOM, node_monitor_period=0.02))
    for inf in c.nlc.informers:
        inf._synced.set()
    ticker = threading.Thread(target=c.nlc._monitor, daemon=True)
    ticker.start()
    try:
        seen = set()
        for _ in range(2):
            key = c.nlc.queue.get(timeout=5)
            assert key is not None, "the ticker enqueued nothing within 5 s"
            seen.add(key)
            c.nlc.queue.done(key)
        assert seen == {"n1", "n2"}
    finally:
        c.nlc._stop.set()
        ticker.join(5)


# -- taint eviction -----------------------------------------------------------------------------


def taint_node(c: Cluster, name: str, key: str = "node.kubernetes.io/unreachable", *, at: float | None = T0,
               effect: str = "NoExecute", value: str | None = None) -> None:
    node = c.node(name)
    t: Obj = {"key": key, "effect": effect}
    if at is not None:
        t["timeAdded"] = format_time(at)
    if value is not None:
        t["value"] = value
    node["spec"]["taints"] = [t]
    c.fake.update(r.NODES, node)
    c.observe()


def test_a_pod_that_does_not_tolerate_a_no_execute_taint_is_deleted_at_once(c: Cluster) -> None:
    pod = c.add_pod("web-1", "n1", tolerations=[])
    taint_node(c, "n1", "example.com/maintenance")
    c.fake.actions.clear()
    assert c.evict("default/web-1") is None
    assert c.fake.stored(r.PODS, "web-1", "default") is None
    status_patch, delete = c.fake.writes()
    assert status_patch.verb == "patch"
    target = status_patch.details["patch"]["status"]["conditions"][-1]
    assert (target["type"], target["status"], target["reason"]) == ("DisruptionTarget", "True",
                                                                   "DeletionByTaintManager")
    assert (delete.verb, delete.details) == ("delete", {"preconditions": {"uid": pod["metadata"]["uid"]}})
    assert c.events.events == ["Normal TaintManagerEviction Marking for deletion Pod default/web-1"]


def test_a_pod_that_tolerates_for_a_while_is_deleted_when_that_time_has_passed(c: Cluster) -> None:
    c.add_pod("web-1", "n1")  # tolerates unreachable for 2 s
    taint_node(c, "n1", at=T0)
    c.clock.now = T0 + 0.5
    assert c.evict("default/web-1") == pytest.approx(1.5), "counted from the taint's timeAdded"
    assert c.fake.stored(r.PODS, "web-1", "default") is not None
    c.clock.now = T0 + 2
    assert c.evict("default/web-1") is None
    assert c.fake.stored(r.PODS, "web-1", "default") is None


def test_the_smallest_toleration_wins_and_a_toleration_without_seconds_lasts_forever(c: Cluster) -> None:
    forever = [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}]
    c.add_pod("stays", "n1", tolerations=forever)
    c.add_pod("soon", "n1", tolerations=forever[:0] + [
        {"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 5}])
    taint_node(c, "n1", at=T0)
    assert c.evict("default/stays") is None and c.fake.stored(r.PODS, "stays", "default") is not None
    assert c.evict("default/soon") == 60, "the first matching toleration is the one that counts"


def test_a_planned_eviction_is_cancelled_when_the_taint_goes(c: Cluster) -> None:
    c.add_pod("web-1", "n1")
    taint_node(c, "n1", at=T0)
    assert c.evict("default/web-1") == 2
    node = c.node("n1")
    node["spec"]["taints"] = []
    c.fake.update(r.NODES, node)
    c.observe()
    c.clock.now = T0 + 3
    assert c.evict("default/web-1") is None
    assert c.fake.stored(r.PODS, "web-1", "default") is not None
    assert c.events.events == ["Normal TaintManagerEviction Cancelling deletion of Pod default/web-1"]


def test_a_taint_without_time_added_counts_from_when_it_was_first_seen(c: Cluster) -> None:
    c.add_pod("web-1", "n1")
    taint_node(c, "n1", at=None)
    c.clock.now = T0 + 10
    assert c.evict("default/web-1") == 2
    c.clock.now = T0 + 12
    assert c.evict("default/web-1") is None
    assert c.fake.stored(r.PODS, "web-1", "default") is None


def test_no_schedule_taints_and_terminating_pods_are_left_alone(c: Cluster) -> None:
    c.add_pod("web-1", "n1", tolerations=[])
    taint_node(c, "n1", "example.com/x", effect="NoSchedule")
    c.fake.actions.clear()
    assert c.evict("default/web-1") is None
    pod = c.fake.stored(r.PODS, "web-1", "default")
    assert pod is not None and c.fake.writes() == []
    taint_node(c, "n1", "example.com/x")
    pod["metadata"]["deletionTimestamp"] = format_time(T0)
    c.nlc.pods.cache.upsert(pod)
    c.fake.actions.clear()
    assert c.evict("default/web-1") is None and c.fake.writes() == []


def test_a_node_taint_change_enqueues_its_pods_and_unrelated_pod_changes_do_not(c: Cluster) -> None:
    c.add_pod("web-1", "n1")
    c.add_pod("web-2", "n2")
    c.observe()
    before = c.node("n1")
    taint_node(c, "n1")
    c.tec._node_changed(before, c.node("n1"))
    assert c.tec.queue.get(timeout=0) == "default/web-1" and len(c.tec.queue) == 0
    c.tec.queue.done("default/web-1")
    pod = c.fake.stored(r.PODS, "web-2", "default")
    assert pod is not None
    relabelled = {**pod, "metadata": {**pod["metadata"], "labels": {"a": "b"}}}
    c.tec._pod_changed(pod, relabelled)
    assert len(c.tec.queue) == 0, "only the node and the tolerations matter"


@pytest.mark.parametrize("toleration, taint, expected", [
    ({"operator": "Exists"}, {"key": "k", "value": "v", "effect": "NoExecute"}, True),
    ({"key": "k", "operator": "Exists"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, True),
    ({"key": "k", "value": "v", "effect": "NoExecute"}, {"key": "k", "value": "v", "effect": "NoExecute"}, True),
    ({"key": "k", "value": "w", "effect": "NoExecute"}, {"key": "k", "value": "v", "effect": "NoExecute"}, False),
    ({"key": "k", "operator": "Exists", "effect": "NoSchedule"}, {"key": "k", "effect": "NoExecute"}, False),
    ({"key": "other", "operator": "Exists"}, {"key": "k", "effect": "NoExecute"}, False),
])
def test_toleration_matching(toleration: Obj, taint: Obj, expected: bool) -> None:
    assert tolerates(toleration, taint) is expected
    assert matching_tolerations([taint], [toleration])[0] is expected


# -- the whole story --------------------------------------------------------------------------


def test_pods_of_a_dead_node_go_after_the_default_toleration(c: Cluster) -> None:
    c.add_pod("web-1", "n1")
    c.observe()
    c.look()
    c.run(5, alive=("n2",))
    assert UNREACHABLE_EXEC in c.taints("n1")
    assert c.evict("default/web-1") == pytest.approx(2.0)
    c.run(2, alive=("n2",))
    assert c.evict("default/web-1") is None
    assert c.fake.stored(r.PODS, "web-1", "default") is None
    assert "Normal TaintManagerEviction Marking for deletion Pod default/web-1" in c.events.events
