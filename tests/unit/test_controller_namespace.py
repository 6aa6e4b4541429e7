"""The namespace controller's steps: delete the content, wait for stragglers, finalize, delete."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from controlplane.client import informer as informers
from controlplane.client import resources as r
from controlplane.client.discovery import CachedDiscovery
from controlplane.client.fake import FakeClient
from controlplane.controllers.base import RequeueAfter
from controlplane.controllers.namespace import NamespaceController

Obj = dict[str, Any]


class Cluster:
    def __init__(self, resources: list[r.Resource] | None = None) -> None:
        self.fake = FakeClient(resources)
        self.ctl = NamespaceController(self.fake, informers.InformerFactory(self.fake), CachedDiscovery(self.fake))

    def namespace(self, name: str) -> Obj:
        ns = self.fake.seed(r.NAMESPACES, {"metadata": {"name": name}})
        self.observe(name)
        return ns

    def observe(self, name: str) -> None:
        """What the namespace informer would have delivered."""
        ns = self.fake.stored(r.NAMESPACES, name)
        if ns is None:
            self.ctl.namespaces.cache.delete(name)
        else:
            self.ctl.namespaces.cache.upsert(ns)

    def delete_namespace(self, name: str) -> None:
        self.fake.delete(r.NAMESPACES, name)
        self.observe(name)
        self.fake.actions.clear()


@pytest.fixture
def c() -> Cluster:
    return Cluster()


def test_an_active_namespace_is_left_alone(c: Cluster) -> None:
    c.namespace("dev")
    c.ctl.reconcile("dev")
    assert c.fake.actions == []


def test_a_deleted_namespace_is_emptied_finalized_and_deleted(c: Cluster) -> None:
    ns = c.namespace("dev")
    c.fake.seed(r.PODS, {"metadata": {"name": "p", "namespace": "dev"}})
    c.fake.seed(r.CONFIGMAPS, {"metadata": {"name": "cm", "namespace": "dev"}})
    c.fake.seed(r.CONFIGMAPS, {"metadata": {"name": "cm", "namespace": "keep"}})
    c.delete_namespace("dev")
    assert c.fake.stored(r.NAMESPACES, "dev")["status"]["phase"] == "Terminating"  # type: ignore[index]

    c.ctl.reconcile("dev")

    writes = c.fake.writes()
    collections = {a.resource for a in writes if a.verb == "deletecollection"}
    assert {"pods", "configmaps", "serviceaccounts", "deployments.apps", "replicasets.apps"} <= collections
    assert "namespaces" not in collections and "nodes" not in collections, "only namespaced resources"
    assert all(a.namespace == "dev" and a.details["propagationPolicy"] == "Background"
               for a in writes if a.verb == "deletecollection")
    finalize, delete = writes[-2:]
    assert (finalize.verb, finalize.details["subresource"]) == ("update", "finalize")
    assert finalize.details["body"]["spec"]["finalizers"] == []
    assert (delete.verb, delete.name, delete.details) == ("delete", "dev", {"preconditions": {"uid": ns["metadata"]["uid"]}})
    assert c.fake.stored(r.NAMESPACES, "dev") is None
    assert c.fake.stored(r.CONFIGMAPS, "cm", "keep") is not None, "other namespaces are untouched"


def test_content_held_by_finalizers_makes_it_look_again_later(c: Cluster) -> None:
    c.namespace("dev")
    c.fake.seed(r.CONFIGMAPS, {"metadata": {"name": "held", "namespace": "dev", "finalizers": ["example.com/x"]}})
    c.delete_namespace("dev")
    with pytest.raises(RequeueAfter, match="1 configmaps") as first:
        c.ctl.reconcile("dev")
    with pytest.raises(RequeueAfter) as second:
        c.ctl.reconcile("dev")
    assert (first.value.delay, second.value.delay) == (1.0, 2.0), "looks again, less often each time"
    assert not [a for a in c.fake.writes() if a.verb in ("update", "delete")], "no finalize while content remains"
    held = c.fake.stored(r.CONFIGMAPS, "held", "dev")
    assert held is not None and held["metadata"]["deletionTimestamp"]

    c.fake.patch(r.CONFIGMAPS, "held", {"metadata": {"finalizers": None}}, "dev")  # its owner lets go
    c.fake.actions.clear()
    c.ctl.reconcile("dev")
    assert c.fake.stored(r.NAMESPACES, "dev") is None


def test_resources_without_deletecollection_are_deleted_one_by_one(c: Cluster) -> None:
    only_delete = dataclasses.replace(r.CONFIGMAPS, verbs=frozenset({"list", "delete", "get"}))
    c = Cluster([r.NAMESPACES, only_delete])
    c.namespace("dev")
    cm = c.fake.seed(only_delete, {"metadata": {"name": "a", "namespace": "dev"}})
    c.delete_namespace("dev")
    c.ctl.reconcile("dev")
    first = c.fake.writes()[0]
    assert (first.verb, first.name, first.details) == (
        "delete", "a", {"propagationPolicy": "Background", "preconditions": {"uid": cm["metadata"]["uid"]}})
    assert c.fake.stored(r.NAMESPACES, "dev") is None


def test_a_finalized_namespace_still_held_by_a_metadata_finalizer_is_not_deleted_again(c: Cluster) -> None:
    c.fake.seed(r.NAMESPACES, {"metadata": {"name": "dev", "finalizers": ["example.com/hold"]}, "spec": {"finalizers": []}})
    c.delete_namespace("dev")
    c.ctl.reconcile("dev")
    assert c.fake.writes() == []


def test_handlers_enqueue_only_namespaces_being_deleted(c: Cluster) -> None:
    active = c.namespace("a")
    c.ctl._changed(active)
    assert len(c.ctl.queue) == 0
    c.delete_namespace("a")
    c.ctl._changed(c.fake.stored(r.NAMESPACES, "a"))  # type: ignore[arg-type]
    assert c.ctl.queue.get(timeout=0) == "a"


def test_a_namespace_gone_from_the_cache_is_a_no_op(c: Cluster) -> None:
    c.ctl.reconcile("never-existed")
    assert c.fake.actions == []
