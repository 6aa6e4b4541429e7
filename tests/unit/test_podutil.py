"""Pod helpers of the workload controllers, and the fake cluster their tests share.

:class:`World` is sample-controller's fixture: objects live in a :class:`FakeClient`,
the controller's informers list them from there (running the controller's own event
handlers, as a relist would), ``reconcile`` runs once, and the test looks at what the
controller wrote. :meth:`World.edit` plays the parts that do not exist in unit tests:
the scheduler binding a pod, the node agent reporting it Running and Ready.
"""

from __future__ import annotations

import copy
import datetime
import itertools
from collections.abc import Callable
from typing import Any

import pytest

from controlplane.client import informer as informers
from controlplane.client import resources as r
from controlplane.client.events import FakeRecorder
from controlplane.client.fake import FakeClient
from controlplane.controllers import podutil as pu
from controlplane.controllers import podutil_revisions as rev_

Obj = dict[str, Any]
T0 = datetime.datetime(2025, 3, 1, 12, 0, 0, tzinfo=datetime.UTC)


# -- the shared fixture ----------------------------------------------------------------

class Fake(FakeClient):
    """The fake API server plus ``generateName``, which every pod-creating controller uses."""

    _suffixes = itertools.count(1)

    def create(self, res: r.Resource, body: Obj, namespace: str | None = None, **kwargs: Any) -> Obj:
        meta = body.get("metadata") or {}
        if not meta.get("name") and meta.get("generateName"):
            body = copy.deepcopy(body)
            n, suffix = next(self._suffixes), ""
            for _ in range(5):
                n, digit = divmod(n, 27)
                suffix = "bcdfghjklmnpqrstvwxz2456789"[digit] + suffix
            body["metadata"]["name"] = meta["generateName"] + suffix
        return super().create(res, body, namespace, **kwargs)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += datetime.timedelta(seconds=seconds)


class World:
    """A controller over a fake cluster, with a settable clock and recorded events."""

    def __init__(self, make: Callable[..., Any], **kwargs: Any) -> None:
        self.fake = Fake()
        self.clock = Clock()
        self.recorder = FakeRecorder()
        self.ctl = make(self.fake, informers.InformerFactory(self.fake), recorder=self.recorder, **kwargs)

    def seed(self, res: r.Resource, obj: Obj) -> Obj:
        obj = copy.deepcopy(obj)
        obj.setdefault("metadata", {}).setdefault("creationTimestamp", pu.format_time(self.clock()))
        return self.fake.seed(res, obj)

    def sync(self) -> None:
        """What the informers would deliver now: caches refilled, handlers run."""
        for inf in self.ctl.informers:
            inf._list()

    def reconcile(self, key: str) -> list[Any]:
        """Sync the caches, reconcile ``key`` once; return the writes it made."""
        self.sync()
        self.fake.actions.clear()
        self.ctl.reconcile(key)
        writes = self.fake.writes()
        self.fake.actions.clear()
        return writes

    def edit(self, res: r.Resource, name: str, namespace: str, change: Callable[[Obj], None]) -> Obj:
        """Change a stored object as another component would (not recorded as our write)."""
        obj = self.fake.stored(res, name, namespace)
        assert obj is not None, f"no {res.resource} {namespace}/{name}"
        change(obj)
        updated = self.fake.update(res, obj, namespace)
        self.fake.actions.pop()
        return updated

    def pods(self, namespace: str = "default") -> list[Obj]:
        return sorted((o for (gr, ns, _), o in self.fake.objects.items() if gr == "pods" and ns == namespace),
                      key=lambda p: p["metadata"]["name"])

    def names(self, namespace: str = "default") -> list[str]:
        return [p["metadata"]["name"] for p in self.pods(namespace)]

    def run_pod(self, name: str, namespace: str = "default", *, node: str = "", ip: str = "10.1.0.1",
                ready: bool = True, phase: str = "Running", ready_since: datetime.datetime | None = None) -> Obj:
        """Play scheduler and node agent: bind the pod and report its status."""
        since = pu.format_time(ready_since or self.clock())

        def change(pod: Obj) -> None:
            if node:
                pod["spec"]["nodeName"] = node
            pod["status"] = {"phase": phase, "podIP": ip, "conditions": [
                {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": since}]}
        return self.edit(r.PODS, name, namespace, change)


def running(pod: Obj, *, ready: bool = True, since: datetime.datetime = T0, phase: str = "Running") -> Obj:
    pod = copy.deepcopy(pod)
    pod["status"] = {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": pu.format_time(since)}]}
    return pod


def pod(name: str, **meta: Any) -> Obj:
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", **meta}, "spec": {}}


# -- readiness ---------------------------------------------------------------------------

@pytest.mark.parametrize("ready, since_s, min_ready, available", [
    (True, 0, 0, True),
    (True, 0, 10, False),     # ready for 5 s of the 10 it must be
    (True, -5, 10, True),     # ready for 10 s
    (False, -60, 0, False),
])
def test_available_means_ready_for_min_ready_seconds(ready, since_s, min_ready, available) -> None:
    p = running(pod("p"), ready=ready, since=T0 + datetime.timedelta(seconds=since_s))
    assert pu.is_pod_available(p, min_ready, T0 + datetime.timedelta(seconds=5)) is available


def test_active_pods_are_neither_finished_nor_deleted() -> None:
    assert pu.is_active(running(pod("a")))
    assert not pu.is_active(running(pod("b"), phase="Succeeded"))
    assert not pu.is_active(running(pod("c", deletionTimestamp="2025-01-01T00:00:00Z")))


def test_removal_order_deletes_the_least_useful_pod_first() -> None:
    unscheduled = pod("unscheduled")
    pending = dict(running(pod("pending"), ready=False, phase="Pending"), spec={"nodeName": "n"})
    not_ready = dict(running(pod("not-ready"), ready=False), spec={"nodeName": "n"})
    ready_new = dict(running(pod("ready-new"), since=T0), spec={"nodeName": "n"})
    ready_old = dict(running(pod("ready-old"), since=T0 - datetime.timedelta(hours=1)), spec={"nodeName": "n"})
    shuffled = [ready_old, not_ready, ready_new, unscheduled, pending]
    assert [p["metadata"]["name"] for p in sorted(shuffled, key=pu.removal_order)] == [
        "unscheduled", "pending", "not-ready", "ready-new", "ready-old"]


# -- selectors -------------------------------------------------------------------------

@pytest.mark.parametrize("selector, labels, matches", [
    ({"matchLabels": {"app": "web"}}, {"app": "web", "x": "y"}, True),
    ({"matchLabels": {"app": "web"}}, {"app": "db"}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}, {"tier": "b"}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}, {}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {"app": "x"}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, {"app": "x"}, True),
    ({}, {"anything": "at all"}, True),
    (None, {"app": "web"}, False),
])
def test_label_selectors(selector, labels, matches) -> None:
    assert pu.selector_matches(selector, labels) is matches


# -- ownership -------------------------------------------------------------------------

OWNER = {"apiVersion": "apps/v1", "kind": "StatefulSet",
         "metadata": {"name": "web", "namespace": "default", "uid": "owner-uid"}}


def test_a_pod_from_a_template_is_controlled_by_its_owner() -> None:
    template = {"metadata": {"labels": {"app": "web"}, "annotations": {"a": "1"}}, "spec": {"containers": []}}
    p = pu.pod_from_template(template, OWNER)
    assert p["metadata"]["generateName"] == "web-"
    assert p["metadata"]["labels"] == {"app": "web"}
    assert p["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web",
                                                 "uid": "owner-uid", "controller": True, "blockOwnerDeletion": True}]
    p["metadata"]["labels"]["changed"] = "yes"
    assert template["metadata"]["labels"] == {"app": "web"}, "the template is not shared with the pod"


def test_claim_adopts_orphans_releases_strays_and_ignores_others() -> None:
    fake = Fake()
    ref = pu.new_controller_ref(OWNER)
    ours = fake.seed(r.PODS, pod("ours", labels={"app": "web"}, ownerReferences=[ref]))
    stray = fake.seed(r.PODS, pod("stray", labels={"app": "other"}, ownerReferences=[ref]))
    orphan = fake.seed(r.PODS, pod("orphan", labels={"app": "web"}))
    theirs = fake.seed(r.PODS, pod("theirs", labels={"app": "web"},
                                   ownerReferences=[dict(ref, uid="someone-else")]))
    claimed = pu.claim_pods(fake, OWNER, [ours, stray, orphan, theirs], {"matchLabels": {"app": "web"}},
                            finalizer="example.com/f")
    assert sorted(p["metadata"]["name"] for p in claimed) == ["orphan", "ours"]
    adopted = fake.stored(r.PODS, "orphan", "default")
    assert pu.is_controlled_by(adopted, OWNER) and adopted["metadata"]["finalizers"] == ["example.com/f"]
    assert fake.stored(r.PODS, "stray", "default")["metadata"]["ownerReferences"] == []
    assert not pu.is_controlled_by(fake.stored(r.PODS, "theirs", "default"), OWNER)


def test_a_deleting_owner_adopts_nothing() -> None:
    fake = Fake()
    orphan = fake.seed(r.PODS, pod("orphan", labels={"app": "web"}))
    owner = copy.deepcopy(OWNER)
    owner["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    assert pu.claim_pods(fake, owner, [orphan], {"matchLabels": {"app": "web"}}) == []
    assert fake.writes() == []


def test_status_write_retries_once_on_a_conflict() -> None:
    fake = Fake()
    stored = fake.seed(r.DAEMONSETS, {"metadata": {"name": "ds", "namespace": "default"}})
    stale = copy.deepcopy(stored)
    fake.update(r.DAEMONSETS, dict(stored, spec={"changed": True}))  # someone wrote meanwhile
    pu.update_status(fake, r.DAEMONSETS, stale, {"numberReady": 3})
    after = fake.stored(r.DAEMONSETS, "ds", "default")
    assert after["status"] == {"numberReady": 3} and after["spec"] == {"changed": True}


def test_expectations_hold_until_observed_or_expired() -> None:
    now = [0.0]
    exp = pu.Expectations(ttl=60, clock=lambda: now[0])
    assert exp.satisfied("k")
    exp.expect("k", adds=2)
    exp.creation_observed("k")
    assert not exp.satisfied("k")
    exp.creation_observed("k")
    assert exp.satisfied("k")
    exp.expect("k", deletes=1)
    now[0] = 61
    assert exp.satisfied("k"), "a lost event must not block the controller forever"


# -- revisions -------------------------------------------------------------------------

def test_revision_hash_is_stable_and_ignores_key_order() -> None:
    a = rev_.compute_hash({"x": 1, "y": [1, 2]})
    assert a == rev_.compute_hash({"y": [1, 2], "x": 1})
    assert a != rev_.compute_hash({"x": 1, "y": [1, 2]}, collision_count=1)
    assert set(a) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_create_revision_returns_the_existing_equal_one_and_counts_collisions() -> None:
    fake = Fake()
    owner = dict(OWNER, spec={"template": {"metadata": {"labels": {"app": "web"}}, "spec": {}}})
    data = rev_.template_patch(owner)
    first, count = rev_.create_revision(fake, owner, data, 1, lambda c: f"h{c}")
    assert (first["metadata"]["name"], count, first["revision"]) == ("web-h0", 0, 1)
    assert first["metadata"]["labels"] == {"app": "web", "controller-revision-hash": "h0"}
    again, count = rev_.create_revision(fake, owner, data, 1, lambda c: f"h{c}")
    assert (again["metadata"]["uid"], count) == (first["metadata"]["uid"], 0), "idempotent"
    other, count = rev_.create_revision(fake, owner, {"spec": {"template": {"other": True}}}, 2, lambda c: f"h{c}")
    assert (other["metadata"]["name"], count) == ("web-h1", 1), "same hash, other data: a collision"


def test_truncate_history_keeps_live_revisions() -> None:
    fake = Fake()
    revs = [fake.seed(rev_.CONTROLLERREVISIONS, {"metadata": {"name": f"web-{i}", "namespace": "default",
                                                              "labels": {"controller-revision-hash": str(i)}},
                                                 "revision": i}) for i in range(1, 5)]
    deleted = rev_.truncate_history(fake, revs, live={"1"}, limit=2)
    assert deleted == ["web-2", "web-3"], "the oldest go first, but never one a pod still runs"
