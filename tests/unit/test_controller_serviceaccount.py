"""The service account controller: a "default" ServiceAccount in every active namespace."""

from __future__ import annotations

import pytest

from controlplane.client import informer as informers
from controlplane.client import resources as r
from controlplane.client.fake import Action, FakeClient
from controlplane.controllers.serviceaccount import ServiceAccountController


class Cluster:
    def __init__(self) -> None:
        self.fake = FakeClient()
        self.ctl = ServiceAccountController(self.fake, informers.InformerFactory(self.fake))

    def namespace(self, name: str, *, terminating: bool = False) -> None:
        self.fake.seed(r.NAMESPACES, {"metadata": {"name": name}})
        if terminating:
            self.fake.delete(r.NAMESPACES, name)
        self.ctl.namespaces.cache.upsert(self.fake.stored(r.NAMESPACES, name))  # type: ignore[arg-type]
        self.fake.actions.clear()


@pytest.fixture
def c() -> Cluster:
    return Cluster()


def test_creates_default_in_an_active_namespace(c: Cluster) -> None:
    c.namespace("dev")
    c.ctl.reconcile("dev")
    assert c.fake.writes() == [Action("create", "serviceaccounts", "dev", "default", {"body": {
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "dev"}}})]
    assert c.fake.stored(r.SERVICEACCOUNTS, "default", "dev") is not None


def test_does_nothing_when_the_cache_has_it(c: Cluster) -> None:
    c.namespace("dev")
    c.ctl.accounts.cache.upsert({"metadata": {"name": "default", "namespace": "dev"}})
    c.ctl.reconcile("dev")
    assert c.fake.actions == []


def test_leaves_terminating_and_missing_namespaces_alone(c: Cluster) -> None:
    c.namespace("going", terminating=True)
    c.ctl.reconcile("going")
    c.ctl.reconcile("missing")
    assert c.fake.writes() == []


def test_already_exists_means_the_cache_was_behind_and_is_fine(c: Cluster) -> None:
    c.namespace("dev")
    c.fake.seed(r.SERVICEACCOUNTS, {"metadata": {"name": "default", "namespace": "dev"}})
    c.ctl.reconcile("dev")  # must not raise
    assert [a.verb for a in c.fake.writes()] == ["create"]


def test_deleting_default_enqueues_its_namespace_but_other_accounts_do_not(c: Cluster) -> None:
    c.ctl._account_deleted({"metadata": {"name": "builder", "namespace": "dev"}})
    assert len(c.ctl.queue) == 0
    c.ctl._account_deleted({"metadata": {"name": "default", "namespace": "dev"}})
    assert c.ctl.queue.get(timeout=0) == "dev"


def test_watches_only_the_default_accounts() -> None:
    c = Cluster()
    assert c.ctl.accounts.field_selector == "metadata.name=default"
