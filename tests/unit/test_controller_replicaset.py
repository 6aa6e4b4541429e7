"""The ReplicaSet controller, one reconcile at a time against the fake client.

What a user would see: the right number of pods, named ``<rs>-xxxxx`` and owned by the
ReplicaSet; no duplicates while the cache lags (expectations); orphans adopted and
relabelled pods released; surplus pods removed least-useful first; status counts; events.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest

from controlplane.client import errors
from controlplane.client import informer as informers
from controlplane.client import resources as r
from controlplane.client.events import FakeRecorder
from controlplane.client.fake import FakeClient
from controlplane.controllers.base import RequeueAfter
from controlplane.controllers.replicaset import ReplicaSetController
from controlplane.controllers.replicaset_expectations import Expectations
from controlplane.controllers.replicaset_util import rank_pods_for_deletion, slow_start_batch

Obj = dict[str, Any]
NOW = datetime.datetime(2026, 11, 22, 18, 0, 0, tzinfo=datetime.UTC)
LABELS = {"app": "web"}


def ts(seconds_ago: float) -> str:
    return (datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=seconds_ago)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


class Cluster:
    """A fake API server, the controller, and a hand-cranked informer."""

    def __init__(self, fake: FakeClient | None = None) -> None:
        self.fake = fake or FakeClient()
        self.recorder = FakeRecorder()
        self.ctl = ReplicaSetController(self.fake, informers.InformerFactory(self.fake), recorder=self.recorder)

    def rs(self, name: str = "web", replicas: int = 3, *, selector: Obj | None = None, labels: Obj | None = None,
           generation: int = 1, min_ready: int = 0, **meta: Any) -> Obj:
        template_labels = labels or LABELS
        obj = self.fake.seed(r.REPLICASETS, {
            "metadata": {"name": name, "namespace": "default", "generation": generation, **meta},
            "spec": {"replicas": replicas, "minReadySeconds": min_ready,
                     "selector": selector or {"matchLabels": dict(template_labels)},
                     "template": {"metadata": {"labels": dict(template_labels), "annotations": {"a": "b"}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}})
        self.observe()
        return obj

    def pod(self, name: str, *, owner: Obj | None = None, labels: Obj | None = None, phase: str = "Running",
            ready_for: float | None = 60.0, node: str = "n1", created_ago: float = 600.0, restarts: int = 0,
            **meta: Any) -> Obj:
        status: Obj = {"phase": phase, "containerStatuses": [{"name": "web", "restartCount": restarts}]}
        if ready_for is not None:
            status["conditions"] = [{"type": "Ready", "status": "True", "lastTransitionTime": ts(ready_for)}]
        refs = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner["metadata"]["name"],
                 "uid": owner["metadata"]["uid"], "controller": True}] if owner else []
        obj = self.fake.seed(r.PODS, {
            "metadata": {"name": name, "namespace": "default", "labels": labels if labels is not None else LABELS,
                         "ownerReferences": refs, "creationTimestamp": ts(created_ago), **meta},
            "spec": {"nodeName": node} if node else {}, "status": status})
        return obj

    def observe(self) -> None:
        """Deliver what a watch would: the fake server's state, as events, to the informers."""
        for inf in (self.ctl.replicasets, self.ctl.pods):
            current = {f"{o['metadata']['namespace']}/{o['metadata']['name']}": o
                       for (gr, _, _), o in list(self.fake.objects.items()) if gr == inf.resource.group_resource}
            for key in list(inf.cache.keys()):
                if key not in current:
                    inf._handle({"type": "DELETED", "object": inf.cache.get(key)})
            for key, obj in current.items():
                cached = inf.cache.get(key)
                if cached is None:
                    inf._handle({"type": "ADDED", "object": _copy(obj)})
                elif cached["metadata"]["resourceVersion"] != obj["metadata"]["resourceVersion"]:
                    inf._handle({"type": "MODIFIED", "object": _copy(obj)})

    def pods(self) -> list[Obj]:
        return [o for (gr, _, _), o in self.fake.objects.items() if gr == "pods"]

    def writes(self, verb: str, resource: str = "pods") -> list:
        return [a for a in self.fake.writes() if a.verb == verb and a.resource == resource]

    def status(self, name: str = "web") -> Obj:
        return self.fake.stored(r.REPLICASETS, name, "default")["status"]  # type: ignore[index]


def _copy(obj: Obj) -> Obj:
    import copy
    return copy.deepcopy(obj)


@pytest.fixture
def c() -> Cluster:
    return Cluster()


# -- creating ------------------------------------------------------------------------------


def test_missing_pods_are_created_from_the_template_and_owned_by_the_replicaset(c: Cluster) -> None:
    rs = c.rs(replicas=3)
    c.ctl.reconcile("default/web")
    pods = c.pods()
    assert len(pods) == 3
    for pod in pods:
        m = pod["metadata"]
        assert re.fullmatch(r"web-[bcdfghjklmnpqrstvwxz2456789]{5}", m["name"]), m["name"]
        assert m["generateName"] == "web-" and m["labels"] == LABELS and m["annotations"] == {"a": "b"}
        assert m["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                                         "uid": rs["metadata"]["uid"], "controller": True,
                                         "blockOwnerDeletion": True}]
        assert pod["spec"] == {"containers": [{"name": "web", "image": "nginx:1.27"}]}
    assert sorted(c.recorder.events) == sorted(f"Normal SuccessfulCreate Created pod: {p['metadata']['name']}"
                                               for p in pods)
    assert c.recorder.objects[0]["kind"] == "ReplicaSet" and c.recorder.objects[0]["name"] == "web"


def test_expectations_prevent_double_creates_while_the_cache_lags(c: Cluster) -> None:
    c.rs(replicas=3)
    c.ctl.reconcile("default/web")
    assert len(c.writes("create")) == 3
    c.ctl.reconcile("default/web")  # the informer has not delivered the pods yet
    c.ctl.reconcile("default/web")
    assert len(c.writes("create")) == 3, "no second round of creates before the first is seen"
    assert not c.ctl.expectations.satisfied("default/web")

    c.observe()  # the pods arrive: each is a creation observed
    assert c.ctl.expectations.satisfied("default/web")
    c.ctl.reconcile("default/web")
    assert len(c.writes("create")) == 3
    assert c.status()["replicas"] == 3


def test_expectations_expire_so_a_lost_create_does_not_block_for_ever(c: Cluster) -> None:
    clock = [0.0]
    c.ctl.expectations = Expectations(clock=lambda: clock[0], timeout=300)
    c.rs(replicas=2)
    c.ctl.reconcile("default/web")
    for (gr, ns, name) in [k for k in c.fake.objects if k[0] == "pods"]:
        del c.fake.objects[(gr, ns, name)]  # as if the creates never happened after all
    c.ctl.reconcile("default/web")
    assert len(c.writes("create")) == 2
    clock[0] = 301.0
    c.ctl.reconcile("default/web")
    assert len(c.writes("create")) == 4, "after the timeout the ReplicaSet acts again"


class RefusingClient(FakeClient):
    """Creates of pods fail from the ``fail_from``-th on, as an exhausted quota would."""

    def __init__(self, fail_from: int) -> None:
        super().__init__()
        self.fail_from = fail_from
        self.pod_creates = 0

    def create(self, res: r.Resource, body: Obj, namespace: str | None = None, **kw: Any) -> Obj:
        if res.resource == "pods":
            with self._mutex:
                self.pod_creates += 1
                n = self.pod_creates
            if n >= self.fail_from:
                raise errors.ApiError({"code": 403, "reason": "Forbidden",
                                       "message": 'pods "x" is forbidden: exceeded quota: pods'})
        return super().create(res, body, namespace, **kw)


def test_creates_start_slowly_and_stop_at_the_first_failing_batch() -> None:
    c = Cluster(RefusingClient(fail_from=4))
    c.rs(replicas=10)
    with pytest.raises(errors.ApiError, match="exceeded quota"):
        c.ctl.reconcile("default/web")
    assert c.fake.pod_creates == 7, "batches of 1, 2 and 4; the failure in the third stops the rest"  # type: ignore[attr-defined]
    exp = c.ctl.expectations.get("default/web")
    assert exp is not None and exp.adds == 3, "only the 3 created are waited for, not the refused or skipped"
    assert "Warning FailedCreate Error creating: pods \"x\" is forbidden: exceeded quota: pods" in c.recorder.events
    cond = c.status()["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"]) == ("ReplicaFailure", "True", "FailedCreate")


def test_a_failure_on_the_first_pod_costs_one_request() -> None:
    c = Cluster(RefusingClient(fail_from=1))
    c.rs(replicas=50)
    with pytest.raises(errors.ApiError):
        c.ctl.reconcile("default/web")
    assert c.fake.pod_creates == 1  # type: ignore[attr-defined]
    assert c.ctl.expectations.satisfied("default/web"), "nothing is outstanding: the next pass may retry"


def test_the_failure_condition_goes_once_creates_work_again() -> None:
    c = Cluster(RefusingClient(fail_from=1))
    c.rs(replicas=1)
    with pytest.raises(errors.ApiError):
        c.ctl.reconcile("default/web")
    c.observe()
    c.fake.fail_from = 99  # type: ignore[attr-defined]
    c.ctl.reconcile("default/web")
    assert "conditions" not in c.status()


@pytest.mark.parametrize("count, initial, fail_at, want_calls, want_successes", [
    (1, 1, None, 1, 1),
    (7, 1, None, 7, 7),
    (7, 1, 1, 1, 0),
    (7, 1, 2, 3, 2),
    (5, 2, None, 5, 5),
])
def test_slow_start_batch(count: int, initial: int, fail_at: int | None, want_calls: int,
                          want_successes: int) -> None:
    calls: list[int] = []

    def fn() -> None:
        calls.append(1)
        if fail_at is not None and len(calls) == fail_at:
            raise RuntimeError("no")

    successes, err = slow_start_batch(count, initial, fn)
    assert (len(calls), successes, err is None) == (want_calls, want_successes, fail_at is None)


# -- ownership ---------------------------------------------------------------------------------


def test_matching_orphans_are_adopted_instead_of_creating_new_pods(c: Cluster) -> None:
    rs = c.rs(replicas=2)
    orphan = c.pod("orphan")
    other_owner = {"metadata": {"name": "other", "uid": "other-uid"}}
    c.pod("theirs", owner=other_owner)
    c.pod("going", deletionTimestamp=ts(1))
    c.observe()
    c.ctl.reconcile("default/web")

    patches = c.writes("patch")
    assert [p.name for p in patches] == ["orphan"], "another controller's pod and a terminating one are left"
    ops = patches[0].details["patch"]
    assert ops[:2] == [{"op": "test", "path": "/metadata/uid", "value": orphan["metadata"]["uid"]},
                       {"op": "test", "path": "/metadata/resourceVersion",
                        "value": orphan["metadata"]["resourceVersion"]}]
    adopted = c.fake.stored(r.PODS, "orphan", "default")
    assert adopted["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]  # type: ignore[index]
    assert len(c.writes("create")) == 1, "the adopted pod counts: one more is enough"
    assert c.fake.stored(r.PODS, "theirs", "default")["metadata"]["ownerReferences"][0]["uid"] == "other-uid"  # type: ignore[index]


def test_adoption_is_refused_when_the_replicaset_is_being_deleted_on_the_server(c: Cluster) -> None:
    c.rs(replicas=1)
    c.pod("orphan")
    c.observe()
    c.fake.objects[("replicasets.apps", "default", "web")]["metadata"]["deletionTimestamp"] = ts(0)
    with pytest.raises(RuntimeError, match="being deleted"):
        c.ctl.reconcile("default/web")
    assert not c.writes("patch") and not c.writes("create")


def test_a_relabelled_pod_is_released_and_replaced(c: Cluster) -> None:
    rs = c.rs(replicas=2)
    c.pod("kept", owner=rs)
    c.pod("debug", owner=rs, labels={"app": "web-debug"})
    c.observe()
    c.ctl.reconcile("default/web")
    released = c.fake.stored(r.PODS, "debug", "default")
    assert released["metadata"]["ownerReferences"] == []  # type: ignore[index]
    assert len(c.writes("create")) == 1, "the released pod no longer counts"
    assert c.fake.stored(r.PODS, "kept", "default")["metadata"]["ownerReferences"]  # type: ignore[index]


# -- deleting ------------------------------------------------------------------------------


def test_surplus_pods_are_deleted_least_useful_first(c: Cluster) -> None:
    rs = c.rs(replicas=2)
    c.pod("old-ready", owner=rs, ready_for=3600, created_ago=7200)
    c.pod("unscheduled", owner=rs, phase="Pending", ready_for=None, node="")
    c.pod("pending", owner=rs, phase="Pending", ready_for=None)
    c.pod("not-ready", owner=rs, ready_for=None)
    c.pod("new-ready", owner=rs, ready_for=5, created_ago=10)
    c.observe()
    c.ctl.reconcile("default/web")
    assert [a.name for a in c.writes("delete")] == ["unscheduled", "pending", "not-ready"]
    assert c.recorder.events == ["Normal SuccessfulDelete Deleted pod: unscheduled",
                                 "Normal SuccessfulDelete Deleted pod: pending",
                                 "Normal SuccessfulDelete Deleted pod: not-ready"]
    c.ctl.reconcile("default/web")
    assert len(c.writes("delete")) == 3, "deletions not yet seen are not repeated"
    c.observe()
    assert c.ctl.expectations.satisfied("default/web")


def pod(name: str, *, node: str = "n1", phase: str = "Running", ready_for: float | None = 60,
        created_ago: float = 600, restarts: int = 0, cost: int | None = None, uid: str = "") -> Obj:
    status: Obj = {"phase": phase, "containerStatuses": [{"restartCount": restarts}]}
    if ready_for is not None:
        status["conditions"] = [{"type": "Ready", "status": "True", "lastTransitionTime": ts(ready_for)}]
    annotations = {"controller.kubernetes.io/pod-deletion-cost": str(cost)} if cost is not None else {}
    return {"metadata": {"name": name, "uid": uid or name, "creationTimestamp": ts(created_ago),
                         "annotations": annotations},
            "spec": {"nodeName": node}, "status": status}


@pytest.mark.parametrize("first, second, why", [
    (pod("a", node=""), pod("b"), "unscheduled before scheduled"),
    (pod("a", phase="Pending"), pod("b", phase="Unknown"), "pending before unknown"),
    (pod("a", phase="Unknown"), pod("b"), "unknown before running"),
    (pod("a", ready_for=None), pod("b"), "not ready before ready"),
    (pod("a", cost=-5), pod("b", cost=10), "lower deletion cost first"),
    (pod("a", ready_for=10), pod("b", ready_for=10_000), "ready for less time first"),
    (pod("a", restarts=5), pod("b", restarts=1), "more restarts first"),
    (pod("a", created_ago=10), pod("b", created_ago=100_000), "newer first"),
    (pod("a", node="crowded"), pod("b", node="quiet"), "doubled up on a node first"),
])
def test_deletion_ranking(first: Obj, second: Obj, why: str) -> None:
    related = [first, second, pod("c", node="crowded")]
    now = datetime.datetime.now(datetime.UTC)
    assert [p["metadata"]["name"] for p in rank_pods_for_deletion([second, first], related, now)] == ["a", "b"], why
    assert [p["metadata"]["name"] for p in rank_pods_for_deletion([first, second], related, now)] == ["a", "b"], why


def test_a_replicaset_being_deleted_neither_creates_nor_deletes(c: Cluster) -> None:
    c.rs(replicas=3, deletionTimestamp=ts(1), finalizers=["foregroundDeletion"])
    c.ctl.reconcile("default/web")
    assert not c.writes("create") and not c.writes("delete")


# -- status ------------------------------------------------------------------------------


def test_status_counts_what_users_see(c: Cluster) -> None:
    rs = c.rs(replicas=4, generation=7, min_ready=30, labels={"app": "web", "tier": "front"},
              selector={"matchLabels": {"app": "web"}})
    c.pod("available", owner=rs, ready_for=120, labels={"app": "web", "tier": "front"})
    c.pod("just-ready", owner=rs, ready_for=2)
    c.pod("starting", owner=rs, ready_for=None)
    c.pod("pending", owner=rs, phase="Pending", ready_for=None)
    c.pod("finished", owner=rs, phase="Succeeded", ready_for=None)
    c.observe()
    c.ctl.reconcile("default/web")
    assert c.status() == {"replicas": 4, "fullyLabeledReplicas": 1, "readyReplicas": 2, "availableReplicas": 1,
                          "observedGeneration": 7}, "a finished pod does not count; one is ready for 30 s"


def test_all_ready_but_not_yet_available_asks_to_look_again_after_min_ready_seconds(c: Cluster) -> None:
    rs = c.rs(replicas=1, min_ready=30)
    c.pod("p", owner=rs, ready_for=1)
    c.observe()
    with pytest.raises(RequeueAfter) as again:
        c.ctl.reconcile("default/web")
    assert again.value.delay == 30


def test_status_is_not_rewritten_when_nothing_changed(c: Cluster) -> None:
    rs = c.rs(replicas=1)
    c.pod("p", owner=rs)
    c.observe()
    c.ctl.reconcile("default/web")
    c.observe()
    c.fake.actions.clear()
    c.ctl.reconcile("default/web")
    assert c.fake.writes() == []


def test_a_deleted_replicaset_forgets_its_expectations(c: Cluster) -> None:
    c.rs(replicas=2)
    c.ctl.reconcile("default/web")
    c.fake.delete(r.REPLICASETS, "web", "default")
    c.observe()
    c.fake.actions.clear()
    c.ctl.reconcile("default/web")
    assert c.fake.writes() == [] and c.ctl.expectations.get("default/web") is None


# -- event handlers ------------------------------------------------------------------------


def test_pod_events_wake_the_owning_or_matching_replicaset(c: Cluster) -> None:
    rs = c.rs(replicas=1)
    c.rs("other", selector={"matchLabels": {"app": "other"}}, labels={"app": "other"})
    def queued() -> list[str]:
        keys = []
        while len(c.ctl.queue):
            key = c.ctl.queue.get()
            keys.append(key)
            c.ctl.queue.done(key)  # type: ignore[arg-type]
        return sorted(keys)  # type: ignore[arg-type]

    queued()
    c.ctl.add_pod(pod("orphan") | {"metadata": {"name": "orphan", "namespace": "default", "labels": LABELS}})
    assert queued() == ["default/web"]
    owned = c.pod("owned", owner=rs)
    c.ctl.add_pod(owned)
    assert queued() == ["default/web"]
    relabelled = _copy(owned)
    relabelled["metadata"]["labels"] = {"app": "other"}
    relabelled["metadata"]["ownerReferences"] = []
    relabelled["metadata"]["resourceVersion"] = "999"
    c.ctl.update_pod(owned, relabelled)
    assert queued() == ["default/other", "default/web"], "the old owner and the new match both look"
