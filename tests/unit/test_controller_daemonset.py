"""The DaemonSet controller: one pod per eligible node, rolling updates, history, status."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from controlplane.client import resources as r
from controlplane.controllers import daemonset_nodes as nodes_
from controlplane.controllers.daemonset import DaemonSetController
from controlplane.controllers.daemonset_update import rolling_update, scaled_value
from tests.unit.test_podutil import T0, World, running

Obj = dict[str, Any]
KEY = "default/agent"
CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


def daemonset(*, image: str = "agent:1", strategy: Obj | None = None, spec: Obj | None = None) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "default", "generation": 1},
            "spec": {"selector": {"matchLabels": {"app": "agent"}}, "revisionHistoryLimit": 10,
                     "updateStrategy": strategy or {"type": "RollingUpdate",
                                                    "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                     "template": {"metadata": {"labels": {"app": "agent"}},
                                  "spec": {"containers": [{"name": "agent", "image": image}], **(spec or {})}}}}


def node(name: str, labels: dict[str, str] | None = None, taints: list[Obj] | None = None) -> Obj:
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": {"taints": taints or []}}


class DSWorld(World):
    def __init__(self) -> None:
        super().__init__(DaemonSetController)
        self.ctl.clock = self.clock

    def by_node(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for p in self.pods():
            if not p["metadata"].get("deletionTimestamp"):
                result.setdefault(nodes_.target_node(p) or "", []).append(p["metadata"]["name"])
        return result

    def run_all(self, **kwargs: Any) -> None:
        for p in self.pods():
            self.run_pod(p["metadata"]["name"], node=nodes_.target_node(p) or "", **kwargs)

    def set_template(self, image: str) -> None:
        def change(ds: Obj) -> None:
            ds["spec"]["template"]["spec"]["containers"][0]["image"] = image
            ds["metadata"]["generation"] += 1
        self.edit(r.DAEMONSETS, "agent", "default", change)

    def status(self) -> Obj:
        return self.fake.stored(r.DAEMONSETS, "agent", "default").get("status") or {}


@pytest.fixture
def w() -> DSWorld:
    world = DSWorld()
    for name in ("worker-1", "worker-2"):
        world.seed(r.NODES, node(name))
    world.seed(r.NODES, node("master-1", taints=[CONTROL_PLANE_TAINT]))
    return world


def test_one_pod_per_eligible_node_pinned_by_node_affinity(w: DSWorld) -> None:
    w.seed(r.DAEMONSETS, daemonset())
    w.reconcile(KEY)
    assert sorted(w.by_node()) == ["worker-1", "worker-2"], "the control-plane taint keeps it off master-1"
    p = w.pods()[0]
    assert "nodeName" not in p["spec"], "the scheduler binds it"
    target = p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert target["nodeSelectorTerms"][0]["matchFields"][0]["key"] == "metadata.name"
    assert {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"} \
        in p["spec"]["tolerations"]
    revisions = [o for (gr, _, _), o in w.fake.objects.items() if gr == "controllerrevisions.apps"]
    assert len(revisions) == 1
    assert p["metadata"]["labels"]["controller-revision-hash"] == \
        revisions[0]["metadata"]["labels"]["controller-revision-hash"]
    assert "Normal SuccessfulCreate Created pod: " + p["metadata"]["name"] in w.recorder.events


def test_second_reconcile_creates_nothing_more(w: DSWorld) -> None:
    w.seed(r.DAEMONSETS, daemonset())
    w.reconcile(KEY)
    assert [a.verb for a in w.reconcile(KEY) if a.resource == "pods"] == []


def test_a_new_node_gets_a_pod(w: DSWorld) -> None:
    w.seed(r.DAEMONSETS, daemonset())
    w.reconcile(KEY)
    w.seed(r.NODES, node("worker-3"))
    w.sync()
    assert KEY in w.ctl.queue.processing() or len(w.ctl.queue) > 0, "a node event enqueues the daemon set"
    w.reconcile(KEY)
    assert sorted(w.by_node()) == ["worker-1", "worker-2", "worker-3"]


def test_a_node_that_stops_matching_loses_its_pod(w: DSWorld) -> None:
    w.seed(r.NODES, node("worker-3", labels={"disk": "ssd"}))
    w.seed(r.DAEMONSETS, daemonset(spec={"nodeSelector": {"disk": "ssd"}}))
    w.reconcile(KEY)
    assert list(w.by_node()) == ["worker-3"]
    w.edit(r.NODES, "worker-3", "", lambda n: n["metadata"]["labels"].pop("disk"))
    w.reconcile(KEY)
    assert w.by_node() == {}


@pytest.mark.parametrize("taints, tolerations, want", [
    ([], [], (True, True)),
    ([{"key": "gpu", "value": "yes", "effect": "NoSchedule"}], [], (False, True)),   # kept if already there
    ([{"key": "gpu", "value": "yes", "effect": "NoExecute"}], [], (False, False)),   # evicted
    ([{"key": "gpu", "value": "yes", "effect": "NoSchedule"}],
     [{"key": "gpu", "operator": "Equal", "value": "yes", "effect": "NoSchedule"}], (True, True)),
    ([{"key": "gpu", "value": "no", "effect": "NoSchedule"}],
     [{"key": "gpu", "operator": "Equal", "value": "yes"}], (False, True)),
    ([{"key": "anything", "effect": "NoExecute"}], [{"operator": "Exists"}], (True, True)),
    # the automatic daemon tolerations:
    ([{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}], [], (True, True)),
    ([{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}], [], (True, True)),
    ([{"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"}], [], (True, True)),
    ([{"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}], [], (False, True)),
])
def test_taints_and_tolerations(taints, tolerations, want) -> None:
    assert nodes_.should_run(node("n", taints=taints), {"tolerations": tolerations}) == want


@pytest.mark.parametrize("affinity_term, want", [
    ({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}, True),
    ({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}, False),
    ({"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["4"]}]}, True),
    ({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["other"]}]}, False),
    ({}, False),
])
def test_required_node_affinity(affinity_term, want) -> None:
    spec = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [affinity_term]}}}}
    assert nodes_.should_run(node("n", labels={"zone": "a", "cores": "8"}), spec)[0] is want


def test_a_noexecute_taint_evicts_but_noschedule_does_not(w: DSWorld) -> None:
    w.seed(r.DAEMONSETS, daemonset())
    w.reconcile(KEY)
    w.edit(r.NODES, "worker-1", "", lambda n: n["spec"].update(taints=[{"key": "x", "effect": "NoSchedule"}]))
    w.edit(r.NODES, "worker-2", "", lambda n: n["spec"].update(taints=[{"key": "x", "effect": "NoExecute"}]))
    w.reconcile(KEY)
    assert list(w.by_node()) == ["worker-1"]
    w.reconcile(KEY)  # the deletion's event brings it back; status now counts what is left
    assert w.status()["numberMisscheduled"] == 1, "a pod on a node it would not be placed on now"


def test_failed_pods_are_replaced_with_a_back_off(w: DSWorld) -> None:
    w.seed(r.DAEMONSETS, daemonset())
    w.reconcile(KEY)
    first = w.by_node()["worker-1"][0]
    w.run_pod(first, node="worker-1", phase="Failed", ready=False)
    w.reconcile(KEY)
    assert "Warning FailedDaemonPod" in " ".join(w.recorder.events)
    w.reconcile(KEY)
    second = w.by_node()["worker-1"][0]
    assert second != first, "replaced"
    w.run_pod(second, node="worker-1", phase="Failed", ready=False)
    w.reconcile(KEY)
    assert w.by_node()["worker-1"] == [second], "deleting it again waits for the back-off"
    w.clock.advance(2)
    w.reconcile(KEY)
    assert "worker-1" not in w.by_node()


def test_status_counts_what_a_user_sees(w: DSWorld) -> None:
    w.seed(r.DAEMONSETS, daemonset())
    w.reconcile(KEY)
    names = w.by_node()
    w.run_pod(names["worker-1"][0], node="worker-1")
    w.run_pod(names["worker-2"][0], node="worker-2", ready=False)
    w.reconcile(KEY)
    assert {k: w.status()[k] for k in ("desiredNumberScheduled", "currentNumberScheduled", "numberReady",
                                        "numberAvailable", "numberUnavailable", "updatedNumberScheduled",
                                        "numberMisscheduled", "observedGeneration")} == {
        "desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1, "numberAvailable": 1,
        "numberUnavailable": 1, "updatedNumberScheduled": 2, "numberMisscheduled": 0, "observedGeneration": 1}


def test_pods_not_yet_in_the_cache_are_not_created_twice() -> None:
    w = DSWorld()
    w.seed(r.NODES, node("worker-1"))
    w.seed(r.DAEMONSETS, daemonset())
    w.reconcile(KEY)
    w.ctl.reconcile(KEY)  # at once: the informer has not delivered the new pod yet
    assert len(w.pods()) == 1
    w.sync()  # now it has
    w.ctl.reconcile(KEY)
    assert len(w.pods()) == 1


def rolled_world(n: int, strategy: Obj) -> DSWorld:
    w = DSWorld()
    for i in range(1, n + 1):
        w.seed(r.NODES, node(f"worker-{i}"))
    w.seed(r.DAEMONSETS, daemonset(strategy=strategy))
    w.reconcile(KEY)
    w.run_all(ready_since=T0)
    w.set_template("agent:2")
    return w


def test_rolling_update_replaces_at_most_max_unavailable_at_a_time() -> None:
    w = rolled_world(4, {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2, "maxSurge": 0}})
    w.reconcile(KEY)
    deleted = 4 - sum(len(v) for v in w.by_node().values())
    assert deleted == 2
    w.reconcile(KEY)  # the ordinary pass recreates them at the new revision
    w.reconcile(KEY)
    assert sum(len(v) for v in w.by_node().values()) == 4
    assert 4 - len([p for p in w.pods() if p["spec"]["containers"][0]["image"] == "agent:1"]) == 2
    w.reconcile(KEY)
    assert len(w.pods()) == 4, "the new pods are not available yet: no more old pods go"
    w.run_all()
    w.reconcile(KEY)
    assert len(w.pods()) == 2, "now the next two"


def test_rolling_update_with_surge_starts_the_new_pod_first() -> None:
    w = rolled_world(2, {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}})
    w.reconcile(KEY)
    counts = sorted(len(v) for v in w.by_node().values())
    assert counts == [1, 2], "one node runs old and new side by side"
    surged = next(n for n, v in w.by_node().items() if len(v) == 2)
    w.reconcile(KEY)
    assert len(w.by_node()[surged]) == 2, "the old pod stays until the new one is available"
    w.run_all()
    w.reconcile(KEY)
    assert len(w.by_node()[surged]) == 1
    survivor = next(p for p in w.pods() if p["metadata"]["name"] == w.by_node()[surged][0])
    assert survivor["spec"]["containers"][0]["image"] == "agent:2"


@pytest.mark.parametrize("value, total, up, want", [(1, 10, True, 1), ("25%", 10, True, 3),
                                                     ("25%", 10, False, 2), ("0%", 10, True, 0)])
def test_scaled_values(value, total, up, want) -> None:
    assert scaled_value(value, total, up) == want


def test_rolling_update_replaces_unavailable_old_pods_without_counting_them() -> None:
    ds = daemonset(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}})
    old_ready = running({"metadata": {"name": "a", "labels": {"controller-revision-hash": "old"}}})
    old_broken = running({"metadata": {"name": "b", "labels": {"controller-revision-hash": "old"}}}, ready=False)
    old_ready2 = running({"metadata": {"name": "c", "labels": {"controller-revision-hash": "old"}}})
    by_node = {"n1": [old_ready], "n2": [old_broken], "n3": [old_ready2]}
    delete, create = rolling_update(ds, by_node, {"n1": True, "n2": True, "n3": True}, "new", T0)
    assert (delete, create) == (["b"], []), "the broken one goes at once and uses up the one unavailable slot"


def test_on_delete_only_replaces_pods_a_user_deletes() -> None:
    w = rolled_world(2, {"type": "OnDelete"})
    w.reconcile(KEY)
    assert all(p["spec"]["containers"][0]["image"] == "agent:1" for p in w.pods())
    victim = w.pods()[0]["metadata"]["name"]
    w.fake.delete(r.PODS, victim, "default")
    w.reconcile(KEY)
    images = sorted(p["spec"]["containers"][0]["image"] for p in w.pods())
    assert images == ["agent:1", "agent:2"]
    w.reconcile(KEY)  # woken by the new pod's event
    assert w.status()["updatedNumberScheduled"] == 1


def test_history_has_one_revision_per_template_and_rollback_reuses_it() -> None:
    w = rolled_world(1, {"type": "OnDelete"})
    w.reconcile(KEY)
    revisions = sorted(((o["revision"], o["data"]["spec"]["template"]["spec"]["containers"][0]["image"])
                        for (gr, _, _), o in w.fake.objects.items() if gr == "controllerrevisions.apps"))
    assert revisions == [(1, "agent:1"), (2, "agent:2")]
    w.set_template("agent:1")  # kubectl rollout undo
    w.reconcile(KEY)
    revisions = sorted((o["revision"], o["data"]["spec"]["template"]["spec"]["containers"][0]["image"])
                       for (gr, _, _), o in w.fake.objects.items() if gr == "controllerrevisions.apps")
    assert revisions == [(2, "agent:2"), (3, "agent:1")], "the old revision is renumbered, not duplicated"
    data = next(o for (gr, _, _), o in w.fake.objects.items() if gr == "controllerrevisions.apps")["data"]
    assert data["spec"]["template"]["$patch"] == "replace", "kubectl rollout undo applies this patch"


def test_old_revisions_beyond_the_limit_are_deleted() -> None:
    w = DSWorld()
    w.seed(r.NODES, node("worker-1"))
    ds = daemonset(strategy={"type": "OnDelete"})
    ds["spec"]["revisionHistoryLimit"] = 1
    w.seed(r.DAEMONSETS, ds)
    w.reconcile(KEY)
    for image in ("agent:2", "agent:3"):
        w.set_template(image)
        w.reconcile(KEY)
    images = sorted(o["data"]["spec"]["template"]["spec"]["containers"][0]["image"]
                    for (gr, _, _), o in w.fake.objects.items() if gr == "controllerrevisions.apps")
    assert images == ["agent:1", "agent:3"], "agent:1 stays: a pod still runs it; agent:2 goes"


def test_pods_pinned_to_a_vanished_node_are_deleted(w: DSWorld) -> None:
    w.seed(r.DAEMONSETS, daemonset())
    w.reconcile(KEY)
    w.fake.delete(r.NODES, "worker-2")
    w.reconcile(KEY)
    assert list(w.by_node()) == ["worker-1"]


def test_a_selector_matching_everything_is_refused() -> None:
    w = DSWorld()
    ds = daemonset()
    ds["spec"]["selector"] = {}
    w.seed(r.DAEMONSETS, ds)
    assert w.reconcile(KEY) == []
    assert any("SelectingAll" in e for e in w.recorder.events)


def test_pin_to_node_replaces_other_required_terms() -> None:
    spec = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "a", "operator": "Exists"}]}]}}}}
    pinned = nodes_.pin_to_node(copy.deepcopy(spec), "n7")
    assert nodes_.target_node({"spec": pinned}) == "n7"
    assert spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"][0]["matchExpressions"], "the input is not changed"
