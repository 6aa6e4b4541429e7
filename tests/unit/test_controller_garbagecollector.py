"""Garbage collector decisions, one reconcile at a time, against the in-memory client:
Background (dangling owners), Foreground (dependents first) and Orphan deletion."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.client import errors
from controlplane.client import resources as r
from controlplane.client.discovery import CachedDiscovery
from controlplane.client.fake import Action, FakeClient
from controlplane.controllers.base import RequeueAfter
from controlplane.controllers.garbagecollector import GarbageCollector

Obj = dict[str, Any]


def ref(owner: Obj, *, block: bool = True) -> Obj:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": block}


def obj(res: r.Resource, name: str, *owners: Obj, ns: str = "default", **meta: Any) -> Obj:
    m: Obj = {"name": name, "namespace": ns, **meta}
    if owners:
        m["ownerReferences"] = list(owners)
    return {"apiVersion": res.api_version, "kind": res.kind, "metadata": m}


class Cluster:
    """A FakeClient plus a collector whose graph sees what the fake holds."""

    def __init__(self) -> None:
        self.fake = FakeClient()
        self.gc = GarbageCollector(self.fake, CachedDiscovery(self.fake))

    def add(self, res: r.Resource, o: Obj, *, observe: bool = True) -> Obj:
        stored = self.fake.seed(res, o)
        if observe:
            self.gc.on_object_changed(res, stored)
        return stored

    def delete_server_side(self, res: r.Resource, o: Obj) -> None:
        """The API server removed ``o`` and the informer told us."""
        del self.fake.objects[(res.group_resource, o["metadata"].get("namespace", ""), o["metadata"]["name"])]
        self.gc.on_object_deleted(res, o)

    def mark_deleted(self, res: r.Resource, o: Obj, policy: str) -> Obj:
        self.fake.delete(res, o["metadata"]["name"], o["metadata"].get("namespace"), propagation_policy=policy)
        latest = self.fake.stored(res, o["metadata"]["name"], o["metadata"].get("namespace", ""))
        assert latest is not None
        self.gc.on_object_changed(res, latest)
        self.fake.actions.clear()
        return latest

    def queued(self) -> set[str]:
        found = set()
        while (key := self.gc.queue.get(timeout=0)) is not None:
            found.add(key)
            self.gc.queue.done(key)
        return found


@pytest.fixture
def c() -> Cluster:
    return Cluster()


def uid(o: Obj) -> str:
    return o["metadata"]["uid"]


# -- Background ------------------------------------------------------------------------


def test_dependent_of_a_deleted_owner_is_deleted_in_the_background(c: Cluster) -> None:
    deploy = c.add(r.DEPLOYMENTS, obj(r.DEPLOYMENTS, "web"))
    rs = c.add(r.REPLICASETS, obj(r.REPLICASETS, "web-1", ref(deploy)))
    c.queued()
    c.delete_server_side(r.DEPLOYMENTS, deploy)
    assert c.queued() == {uid(rs)}, "deleting an owner enqueues its dependents"
    c.gc.reconcile(uid(rs))
    assert c.fake.writes() == [Action("delete", "replicasets.apps", "default", "web-1",
                                      {"propagationPolicy": "Background", "preconditions": {"uid": uid(rs)}})]
    assert ("get", "deployments.apps", "default", "web") in [(a.verb, a.resource, a.namespace, a.name)
                                                              for a in c.fake.actions], "the owner is verified by a GET"
    assert c.fake.stored(r.REPLICASETS, "web-1", "default") is None


def test_owner_missing_from_the_cache_but_present_on_the_server_is_not_gone(c: Cluster) -> None:
    deploy = c.add(r.DEPLOYMENTS, obj(r.DEPLOYMENTS, "web"), observe=False)  # its informer is behind
    rs = c.add(r.REPLICASETS, obj(r.REPLICASETS, "web-1", ref(deploy)))
    assert c.queued() == {uid(rs)}, "an owner we have not seen makes the dependent worth a look"
    # The owner exists, but nothing would tell us when it goes: look again later.
    with pytest.raises(RequeueAfter):
        c.gc.reconcile(uid(rs))
    assert c.fake.writes() == []
    assert c.fake.stored(r.REPLICASETS, "web-1", "default") is not None
    # It goes without the graph ever seeing it (a new CRD's kind, not watched yet):
    # the next look finds it gone and collects the dependent.
    c.fake.delete(r.DEPLOYMENTS, "web", "default")
    c.gc.reconcile(uid(rs))
    assert [(a.verb, a.name) for a in c.fake.writes()] == [("delete", "web"), ("delete", "web-1")]


def test_owner_recreated_with_a_new_uid_counts_as_gone(c: Cluster) -> None:
    old = obj(r.DEPLOYMENTS, "web", uid="old-uid")
    rs = c.add(r.REPLICASETS, obj(r.REPLICASETS, "web-1", ref(old)))
    c.add(r.DEPLOYMENTS, obj(r.DEPLOYMENTS, "web"), observe=False)  # same name, new uid
    c.gc.reconcile(uid(rs))
    assert [(a.verb, a.name) for a in c.fake.writes()] == [("delete", "web-1")]


def test_only_the_dangling_reference_is_removed_when_another_owner_remains(c: Cluster) -> None:
    a = c.add(r.CONFIGMAPS, obj(r.CONFIGMAPS, "a"))
    b = c.add(r.CONFIGMAPS, obj(r.CONFIGMAPS, "b"))
    dep = c.add(r.SECRETS, obj(r.SECRETS, "s", ref(a), ref(b)))
    c.delete_server_side(r.CONFIGMAPS, a)
    c.gc.reconcile(uid(dep))
    (patch,) = c.fake.writes()
    assert patch.verb == "patch" and patch.details["type"] == "json"
    assert patch.details["patch"][:2] == [
        {"op": "test", "path": "/metadata/uid", "value": uid(dep)},
        {"op": "test", "path": "/metadata/resourceVersion", "value": dep["metadata"]["resourceVersion"]}]
    stored = c.fake.stored(r.SECRETS, "s", "default")
    assert stored is not None and stored["metadata"]["ownerReferences"] == [ref(b)]


def test_nothing_is_asked_of_the_server_while_every_owner_is_in_the_graph(c: Cluster) -> None:
    deploy = c.add(r.DEPLOYMENTS, obj(r.DEPLOYMENTS, "web"))
    rs = c.add(r.REPLICASETS, obj(r.REPLICASETS, "web-1", ref(deploy)))
    assert c.queued() == set(), "a dependent whose owner is known needs no look"
    c.fake.actions.clear()
    c.gc.reconcile(uid(rs))
    assert c.fake.actions == []


def test_a_namespaced_owner_in_another_namespace_does_not_hold_a_dependent(c: Cluster) -> None:
    elsewhere = c.add(r.CONFIGMAPS, obj(r.CONFIGMAPS, "cm", ns="other"))
    dep = c.add(r.SECRETS, obj(r.SECRETS, "s", ref(elsewhere)))  # in "default"
    assert c.queued() == {uid(dep)}
    c.gc.reconcile(uid(dep))
    assert [(a.verb, a.name) for a in c.fake.writes()] == [("delete", "s")]


def test_an_owner_of_unknown_kind_is_an_error_so_the_uid_is_retried(c: Cluster) -> None:
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "name": "w", "uid": "w-uid"}
    dep = c.add(r.CONFIGMAPS, obj(r.CONFIGMAPS, "cm", widget))
    with pytest.raises(LookupError, match="unknown kind Widget"):
        c.gc.reconcile(uid(dep))
    assert c.fake.writes() == []


def test_a_failed_patch_precondition_surfaces_for_a_retry(c: Cluster) -> None:
    a = c.add(r.CONFIGMAPS, obj(r.CONFIGMAPS, "a"))
    b = c.add(r.CONFIGMAPS, obj(r.CONFIGMAPS, "b"))
    dep = c.add(r.SECRETS, obj(r.SECRETS, "s", ref(a), ref(b)))
    c.delete_server_side(r.CONFIGMAPS, a)
    real_get = c.fake.get

    def stale_get(res: r.Resource, name: str, namespace: str | None = None, **kw: Any) -> Obj:
        got = real_get(res, name, namespace, **kw)
        if name == "s":
            got["metadata"]["resourceVersion"] = "1"  # what a lagging read would return
        return got

    c.fake.get = stale_get  # type: ignore[method-assign]
    with pytest.raises(errors.ApiError) as e:
        c.gc.reconcile(uid(dep))
    assert errors.is_invalid(e.value)
    stored = c.fake.stored(r.SECRETS, "s", "default")
    assert stored is not None and len(stored["metadata"]["ownerReferences"]) == 2, "nothing written on stale data"


# -- Foreground ------------------------------------------------------------------------


def test_foreground_deletes_dependents_first_then_releases_the_owner(c: Cluster) -> None:
    deploy = c.add(r.DEPLOYMENTS, obj(r.DEPLOYMENTS, "web"))
    rs = c.add(r.REPLICASETS, obj(r.REPLICASETS, "web-1", ref(deploy)))
    c.queued()
    deploy = c.mark_deleted(r.DEPLOYMENTS, deploy, "Foreground")
    assert c.queued() == {uid(deploy)}

    c.gc.reconcile(uid(deploy))
    assert c.fake.writes() == [], "the owner waits while a blocking dependent exists"
    assert c.queued() == {uid(rs)}

    c.gc.reconcile(uid(rs))
    assert c.fake.writes() == [Action("delete", "replicasets.apps", "default", "web-1",
                                      {"propagationPolicy": "Foreground", "preconditions": {"uid": uid(rs)}})]

    c.delete_server_side(r.REPLICASETS, rs)
    assert uid(deploy) in c.queued(), "a dependent going away wakes its waiting owner"
    c.fake.actions.clear()
    c.gc.reconcile(uid(deploy))
    (patch,) = c.fake.writes()
    assert patch.details["patch"][-1] == {"op": "remove", "path": "/metadata/finalizers"}
    assert c.fake.stored(r.DEPLOYMENTS, "web", "default") is None, "without its finalizer the owner is deleted"


def test_foreground_owner_does_not_wait_for_non_blocking_dependents(c: Cluster) -> None:
    deploy = c.add(r.DEPLOYMENTS, obj(r.DEPLOYMENTS, "web", finalizers=["example.com/keep"]))
    c.add(r.REPLICASETS, obj(r.REPLICASETS, "web-1", ref(deploy, block=False)))
    deploy = c.mark_deleted(r.DEPLOYMENTS, deploy, "Foreground")
    c.gc.reconcile(uid(deploy))
    (patch,) = c.fake.writes()
    assert patch.details["patch"][-1] == {"op": "replace", "path": "/metadata/finalizers",
                                          "value": ["example.com/keep"]}, "other finalizers stay"


def test_dependent_with_another_live_owner_drops_the_waiting_owner_instead(c: Cluster) -> None:
    going = c.add(r.CONFIGMAPS, obj(r.CONFIGMAPS, "going"))
    staying = c.add(r.CONFIGMAPS, obj(r.CONFIGMAPS, "staying"))
    dep = c.add(r.SECRETS, obj(r.SECRETS, "s", ref(going), ref(staying)))
    c.mark_deleted(r.CONFIGMAPS, going, "Foreground")
    c.gc.reconcile(uid(dep))
    stored = c.fake.stored(r.SECRETS, "s", "default")
    assert stored is not None and stored["metadata"]["ownerReferences"] == [ref(staying)]
    assert [a.verb for a in c.fake.writes()] == ["patch"]


# -- Orphan ----------------------------------------------------------------------------


def test_orphan_removes_the_owner_reference_from_every_dependent_then_the_finalizer(c: Cluster) -> None:
    deploy = c.add(r.DEPLOYMENTS, obj(r.DEPLOYMENTS, "web"))
    other = c.add(r.CONFIGMAPS, obj(r.CONFIGMAPS, "other"))
    c.add(r.REPLICASETS, obj(r.REPLICASETS, "web-1", ref(deploy)))
    c.add(r.REPLICASETS, obj(r.REPLICASETS, "web-2", ref(deploy), ref(other)))
    deploy = c.mark_deleted(r.DEPLOYMENTS, deploy, "Orphan")
    assert uid(deploy) in c.queued()
    c.gc.reconcile(uid(deploy))
    writes = [(a.verb, a.resource, a.name) for a in c.fake.writes()]
    assert sorted(writes[:2]) == [("patch", "replicasets.apps", "web-1"), ("patch", "replicasets.apps", "web-2")]
    assert writes[2:] == [("patch", "deployments.apps", "web")], "the finalizer goes last, after every dependent"

    rs1 = c.fake.stored(r.REPLICASETS, "web-1", "default")
    rs2 = c.fake.stored(r.REPLICASETS, "web-2", "default")
    assert rs1 is not None and "ownerReferences" not in rs1["metadata"]
    assert rs2 is not None and rs2["metadata"]["ownerReferences"] == [ref(other)]
    assert c.fake.stored(r.DEPLOYMENTS, "web", "default") is None


def test_reconcile_is_idempotent_for_a_gone_object(c: Cluster) -> None:
    deploy = c.add(r.DEPLOYMENTS, obj(r.DEPLOYMENTS, "web"))
    c.delete_server_side(r.DEPLOYMENTS, deploy)
    c.fake.actions.clear()
    c.gc.reconcile(uid(deploy))
    c.gc.reconcile("never-seen")
    assert c.fake.actions == []


def test_monitors_cover_deletable_resources_but_not_events() -> None:
    fake = FakeClient()
    gc = GarbageCollector(fake, CachedDiscovery(fake))
    gc.sync_monitors()
    watched = {res for _, res in gc.monitors}
    assert {"pods", "replicasets", "deployments", "namespaces", "configmaps"} <= watched
    assert "events" not in watched
    assert all(inf.metadata_only for inf in gc.monitors.values())
    widgets = r.Resource("example.com", "v1", "widgets", "Widget", verbs=frozenset({"list", "watch", "delete"}))
    fake.resources = [res for res in fake.resources if res.resource != "configmaps"] + [widgets]
    gc.sync_monitors()
    assert ("", "configmaps") not in gc.monitors, "a resource no longer served is no longer watched"
    assert ("example.com", "widgets") in gc.monitors, "a new CRD is watched after the next discovery"
