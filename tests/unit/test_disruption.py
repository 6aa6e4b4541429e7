"""PodDisruptionBudget status: the shared arithmetic (controlplane.disruptionbudget) and the
disruption controller's status computation and writes."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from controlplane import disruptionbudget as db
from controlplane.client import informer as informers
from controlplane.client.events import FakeRecorder
from controlplane.client.fake import FakeClient
from controlplane.controllers.base import RequeueAfter
from controlplane.controllers.disruption import (
    PDBS,
    DisruptionController,
    computed_status,
    failed_status,
    same_status,
    selected_pods,
)

Obj = dict[str, Any]
T0 = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
NS = "default"


# -- fixtures as plain dicts ------------------------------------------------------------

def pod(name: str, *, ready: bool = True, terminating: bool = False, owner: Obj | None = None,
        labels: dict[str, str] | None = None) -> Obj:
    meta: Obj = {"name": name, "namespace": NS, "labels": labels if labels is not None else {"app": "web"}}
    if terminating:
        meta["deletionTimestamp"] = "2026-01-01T12:00:30Z"
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": owner["apiVersion"], "kind": owner["kind"],
                                    "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
                                    "controller": True}]
    return {"metadata": meta, "status": {"phase": "Running",
                                         "conditions": [{"type": "Ready", "status": str(ready)}]}}


def workload(kind: str, name: str, replicas: int | None, *, owner: Obj | None = None) -> Obj:
    api_version = "v1" if kind == "ReplicationController" else "apps/v1"
    meta: Obj = {"name": name, "namespace": NS, "uid": f"uid-{kind}-{name}"}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner["kind"], "name": owner["metadata"]["name"],
                                    "uid": owner["metadata"]["uid"], "controller": True}]
    spec = {} if replicas is None else {"replicas": replicas}
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, "spec": spec}


def lookup_of(*objs: Obj) -> db.Lookup:
    table = {(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objs}
    return lambda kind, namespace, name: table.get((kind, namespace, name))


def budget(generation: int = 1, status: Obj | None = None, **spec: Any) -> Obj:
    obj: Obj = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                "metadata": {"name": "guard", "namespace": NS, "generation": generation},
                "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}}
    if status is not None:
        obj["status"] = status
    return obj


NO_WORKLOADS = lookup_of()


# -- the arithmetic ---------------------------------------------------------------------

@pytest.mark.parametrize("value, total, round_up, want", [
    (3, 10, True, 3), ("50%", 3, True, 2), ("50%", 3, False, 1), ("0%", 7, True, 0), ("100%", 7, True, 7),
    ("34%", 3, True, 2),
])
def test_scaled_value(value: int | str, total: int, round_up: bool, want: int) -> None:
    assert db.scaled_value(value, total, round_up=round_up) == want


def test_scaled_value_refuses_what_is_neither_int_nor_percent() -> None:
    with pytest.raises(ValueError):
        db.scaled_value("5", 10, round_up=True)


def test_integer_min_available_counts_the_selected_pods() -> None:
    pods = [pod("a"), pod("b"), pod("c")]
    n = db.evaluate(budget(minAvailable=2), pods, NO_WORKLOADS, T0)
    assert (n.expected, n.desired, n.healthy, n.allowed) == (3, 2, 3, 1)
    n = db.evaluate(budget(minAvailable=3), pods, NO_WORKLOADS, T0)
    assert (n.expected, n.desired, n.healthy, n.allowed) == (3, 3, 3, 0)


def test_percent_min_available_uses_the_controllers_scale_rounded_up() -> None:
    rs = workload("ReplicaSet", "web-1", 5)
    pods = [pod(f"p{i}", owner=rs) for i in range(4)]  # one replica is missing
    n = db.evaluate(budget(minAvailable="50%"), pods, lookup_of(rs), T0)
    assert (n.expected, n.desired, n.healthy, n.allowed) == (5, 3, 4, 1)


def test_integer_max_unavailable_uses_the_scale() -> None:
    sts = workload("StatefulSet", "db", 3)
    pods = [pod(f"db-{i}", owner=sts) for i in range(3)]
    n = db.evaluate(budget(maxUnavailable=1), pods, lookup_of(sts), T0)
    assert (n.expected, n.desired, n.healthy, n.allowed) == (3, 2, 3, 1)
    n = db.evaluate(budget(maxUnavailable=5), pods, lookup_of(sts), T0)
    assert (n.expected, n.desired, n.allowed) == (3, 0, 3)


def test_percent_max_unavailable_rounds_up_what_may_go() -> None:
    rs = workload("ReplicaSet", "web-1", 4)
    pods = [pod(f"p{i}", owner=rs) for i in range(4)]
    n = db.evaluate(budget(maxUnavailable="30%"), pods, lookup_of(rs), T0)
    assert (n.expected, n.desired, n.allowed) == (4, 2, 2)  # 30% of 4 = 1.2 -> 2 may go


def test_a_deployments_replica_sets_count_once_as_the_deployment() -> None:
    deploy = workload("Deployment", "web", 4)
    old, new = workload("ReplicaSet", "web-old", 1, owner=deploy), workload("ReplicaSet", "web-new", 3, owner=deploy)
    pods = [pod("o1", owner=old)] + [pod(f"n{i}", owner=new) for i in range(3)]
    n = db.evaluate(budget(maxUnavailable=1), pods, lookup_of(deploy, old, new), T0)
    assert (n.expected, n.desired, n.allowed) == (4, 3, 1)


def test_replicas_default_to_one_and_unmanaged_pods_are_left_out() -> None:
    rs = workload("ReplicaSet", "single", None)
    n = db.evaluate(budget(maxUnavailable=0), [pod("a", owner=rs), pod("bare")], lookup_of(rs), T0)
    assert (n.expected, n.desired, n.healthy, n.allowed, n.unmanaged) == (1, 1, 2, 1, ["bare"])


def test_a_pod_whose_controller_is_not_found_makes_the_budget_uncomputable() -> None:
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": NS, "uid": "u"}}
    with pytest.raises(db.NoController, match='pod "a"'):
        db.evaluate(budget(maxUnavailable=1), [pod("a", owner=ds)], lookup_of(ds), T0)
    rs = workload("ReplicaSet", "gone", 2)
    with pytest.raises(db.NoController):
        db.evaluate(budget(minAvailable="50%"), [pod("b", owner=rs)], NO_WORKLOADS, T0)
    deploy = workload("Deployment", "web", 2)
    orphaned_rs = workload("ReplicaSet", "web-1", 2, owner=deploy)  # its Deployment is gone
    with pytest.raises(db.NoController):
        db.evaluate(budget(maxUnavailable=1), [pod("c", owner=orphaned_rs)], lookup_of(orphaned_rs), T0)
    # an integer minAvailable counts pods and needs no controller
    assert db.evaluate(budget(minAvailable=1), [pod("a", owner=ds)], NO_WORKLOADS, T0).expected == 1


def test_terminating_and_unready_pods_are_not_healthy() -> None:
    pods = [pod("ok"), pod("going", terminating=True), pod("starting", ready=False)]
    n = db.evaluate(budget(minAvailable=1), pods, NO_WORKLOADS, T0)
    assert (n.expected, n.healthy, n.allowed) == (3, 1, 0)


def test_no_pods_expected_means_no_disruptions_even_with_nothing_desired() -> None:
    assert db.evaluate(budget(maxUnavailable="100%"), [], NO_WORKLOADS, T0).allowed == 0
    assert db.evaluate(budget(), [pod("a"), pod("b")], NO_WORKLOADS, T0).allowed == 0  # neither field set


def test_disrupted_pods_are_not_healthy_until_they_terminate_or_the_entry_expires() -> None:
    recorded = {"a": "2026-01-01T11:59:30Z", "b": "2026-01-01T11:50:00Z", "c": "2026-01-01T11:59:00Z",
                "gone": "2026-01-01T11:59:50Z"}
    pods = [pod("a"), pod("b"), pod("c", terminating=True), pod("d")]
    n = db.evaluate(budget(minAvailable=1, status={"disruptedPods": recorded}), pods, NO_WORKLOADS, T0)
    # a: pending; b: expired (2 min passed); c: terminating now; gone: no such pod
    assert n.disrupted == {"a": "2026-01-01T11:59:30Z"}
    assert n.recheck_at == datetime.datetime(2026, 1, 1, 12, 1, 30, tzinfo=datetime.UTC)
    assert (n.healthy, n.allowed) == (2, 1)  # b and d


# -- the status the controller writes ---------------------------------------------------

def condition(status: Obj) -> Obj:
    return next(c for c in status["conditions"] if c["type"] == "DisruptionAllowed")


def test_status_with_sufficient_pods() -> None:
    b = budget(generation=3, minAvailable=1)
    status = computed_status(b, db.evaluate(b, [pod("a"), pod("b")], NO_WORKLOADS, T0), T0)
    assert status == {
        "observedGeneration": 3, "disruptedPods": {}, "disruptionsAllowed": 1, "currentHealthy": 2,
        "desiredHealthy": 1, "expectedPods": 2,
        "conditions": [{"type": "DisruptionAllowed", "status": "True", "observedGeneration": 3,
                        "lastTransitionTime": "2026-01-01T12:00:00Z", "reason": "SufficientPods", "message": ""}]}


def test_status_with_insufficient_pods_keeps_the_transition_time_while_nothing_flips() -> None:
    b = budget(minAvailable=2)
    first = computed_status(b, db.evaluate(b, [pod("a"), pod("b", ready=False)], NO_WORKLOADS, T0), T0)
    assert condition(first)["status"] == "False" and condition(first)["reason"] == "InsufficientPods"
    later = T0 + datetime.timedelta(minutes=1)
    b["status"] = first
    again = computed_status(b, db.evaluate(b, [pod("a"), pod("b", ready=False)], NO_WORKLOADS, later), later)
    assert same_status(first, again)
    flipped = computed_status(b, db.evaluate(b, [pod("a"), pod("b"), pod("c")], NO_WORKLOADS, later), later)
    assert condition(flipped)["reason"] == "SufficientPods"
    assert condition(flipped)["lastTransitionTime"] == "2026-01-01T12:01:00Z"


def test_failed_status_keeps_the_numbers_and_allows_nothing() -> None:
    stored = {"observedGeneration": 1, "disruptionsAllowed": 2, "currentHealthy": 3, "desiredHealthy": 1,
              "expectedPods": 3}
    status = failed_status(budget(status=stored, maxUnavailable=1), 'found no controllers for pod "a"', T0)
    assert status["disruptionsAllowed"] == 0 and status["currentHealthy"] == 3
    assert condition(status) == {"type": "DisruptionAllowed", "status": "False", "observedGeneration": 1,
                                 "lastTransitionTime": "2026-01-01T12:00:00Z", "reason": "SyncFailed",
                                 "message": 'found no controllers for pod "a"'}


def test_same_status_treats_absent_and_empty_alike() -> None:
    assert same_status({"disruptionsAllowed": 0}, {"disruptedPods": {}, "disruptionsAllowed": 0, "currentHealthy": 0})
    assert not same_status({"disruptionsAllowed": 0}, {"disruptionsAllowed": 1})


def test_selected_pods_follow_the_selector() -> None:
    pods = [pod("a"), pod("b", labels={"app": "db"})]
    assert [p["metadata"]["name"] for p in selected_pods(pods, budget())] == ["a"]
    assert selected_pods(pods, {"spec": {}}) == []  # no selector selects nothing
    assert len(selected_pods(pods, {"spec": {"selector": {}}})) == 2  # an empty one selects all


# -- the controller against a fake API --------------------------------------------------

class World:
    def __init__(self) -> None:
        self.fake = FakeClient()
        self.recorder = FakeRecorder()
        self.ctl = DisruptionController(self.fake, informers.InformerFactory(self.fake), recorder=self.recorder,
                                        clock=lambda: T0)

    def add_budget(self, **spec: Any) -> Obj:
        stored = self.fake.seed(PDBS, budget(**spec))
        self.ctl.pdbs.cache.upsert(stored)
        return stored

    def add(self, informer: informers.Informer, obj: Obj) -> None:
        informer.cache.upsert(obj)

    def refresh(self) -> Obj:
        stored = self.fake.stored(PDBS, "guard", NS)
        assert stored is not None
        self.ctl.pdbs.cache.upsert(stored)
        return stored


@pytest.fixture
def w() -> World:
    return World()


def test_reconcile_writes_status_once(w: World) -> None:
    w.add_budget(minAvailable=1)
    for name in ("a", "b"):
        w.add(w.ctl.pods, pod(name))
    w.ctl.reconcile(f"{NS}/guard")
    [write] = w.fake.writes()
    assert (write.verb, write.details["subresource"]) == ("update", "status")
    status = w.refresh()["status"]
    assert (status["disruptionsAllowed"], status["currentHealthy"], status["expectedPods"]) == (1, 2, 2)
    w.fake.actions.clear()
    w.ctl.reconcile(f"{NS}/guard")
    assert w.fake.writes() == []  # nothing changed: nothing written


def test_reconcile_fails_safe_when_a_controller_is_missing(w: World) -> None:
    w.add_budget(maxUnavailable=1)
    w.add(w.ctl.pods, pod("a", owner=workload("ReplicaSet", "gone", 1)))
    w.ctl.reconcile(f"{NS}/guard")
    status = w.refresh()["status"]
    assert status["disruptionsAllowed"] == 0 and condition(status)["reason"] == "SyncFailed"
    assert w.recorder.events[0].startswith("Warning CalculateExpectedPodCountFailed")
    rs = workload("ReplicaSet", "gone", 1)
    w.add(w.ctl.workloads["ReplicaSet"], rs)  # the ReplicaSet shows up in the cache
    w.ctl.reconcile(f"{NS}/guard")
    status = w.refresh()["status"]
    assert (status["expectedPods"], status["disruptionsAllowed"]) == (1, 1)
    assert condition(status)["reason"] == "SufficientPods"


def test_a_conflict_asks_for_another_look_rather_than_failing(w: World) -> None:
    w.add_budget(minAvailable=1)
    w.add(w.ctl.pods, pod("a"))
    w.add(w.ctl.pods, pod("b"))
    w.fake.update(PDBS, {**w.fake.stored(PDBS, "guard", NS), "status": {"disruptedPods": {}}},  # type: ignore[dict-item]
                  subresource="status")  # the API server wrote meanwhile; our cache is behind
    with pytest.raises(RequeueAfter):
        w.ctl.reconcile(f"{NS}/guard")


def test_pending_disruptions_are_kept_and_rechecked(w: World) -> None:
    w.add_budget(minAvailable=1)
    stored = w.fake.stored(PDBS, "guard", NS)
    assert stored is not None
    stored["status"] = {"disruptedPods": {"a": "2026-01-01T11:59:00Z"}}
    w.fake.update(PDBS, stored, subresource="status")
    w.refresh()
    w.add(w.ctl.pods, pod("a"))
    w.add(w.ctl.pods, pod("b"))
    w.ctl.reconcile(f"{NS}/guard")
    status = w.refresh()["status"]
    assert status["disruptedPods"] == {"a": "2026-01-01T11:59:00Z"}
    assert (status["currentHealthy"], status["disruptionsAllowed"]) == (1, 0)
    assert len(w.ctl.queue) == 0  # not yet: the recheck waits until the entry expires at 12:01


def test_pod_events_enqueue_the_budgets_that_select_them(w: World) -> None:
    w.add_budget(minAvailable=1)
    w.ctl._pod_changed(pod("x", labels={"app": "db"}))
    assert len(w.ctl.queue) == 0
    w.ctl._pod_changed(pod("y"))
    assert w.ctl.queue.get() == f"{NS}/guard"


def test_the_manager_knows_the_controller() -> None:
    from controlplane.controllers.manager import CONTROLLERS, factory
    assert "disruption" in CONTROLLERS and factory("disruption").__module__ == "controlplane.controllers.disruption"
