"""The service account controller: every active namespace has a ServiceAccount "default".

Where it sits: in the controller manager. It follows namespaces and the "default"
service accounts through informers; a pod that names no service account runs as
``default``, so the namespace must have one (upstream's
``pkg/controller/serviceaccount/serviceaccounts_controller.go``).

The key is a namespace name. ``reconcile(namespace)``:

1. the namespace is gone, or is not ``Active`` (being deleted): nothing to do: a
   terminating namespace refuses new content anyway;
2. the cache already holds ``<namespace>/default``: nothing to do;
3. otherwise create it. ``AlreadyExists`` means the cache was behind: fine.

Deleting the ``default`` service account re-enqueues its namespace, so it comes back.
"""

from __future__ import annotations

import logging
from typing import Any

from ..client import errors
from ..client import informer as informers
from ..client import resources as r
from ..client.rest import Client
from .base import Controller, meta
from .context import Context

log = logging.getLogger(__name__)

DEFAULT_NAME = "default"


class ServiceAccountController(Controller):
    name = "serviceaccount"

    def __init__(self, client: Client, factory: informers.InformerFactory, *, workers: int = 1) -> None:
        super().__init__(workers=workers)
        self.client = client
        self.namespaces = factory.informer(r.NAMESPACES)
        # Only the "default" accounts matter here; the server filters for us.
        self.accounts = factory.informer(r.SERVICEACCOUNTS, field_selector=f"metadata.name={DEFAULT_NAME}")
        self.informers = [self.namespaces, self.accounts]
        self.namespaces.add_event_handler(on_add=self._namespace_changed,
                                          on_update=lambda old, new: self._namespace_changed(new))
        self.accounts.add_event_handler(on_delete=self._account_deleted)

    def _namespace_changed(self, ns: dict[str, Any]) -> None:
        self.enqueue(meta(ns).get("name", ""))

    def _account_deleted(self, sa: dict[str, Any]) -> None:
        if meta(sa).get("name") == DEFAULT_NAME:
            self.enqueue(meta(sa).get("namespace", ""))

    def reconcile(self, key: str) -> None:
        ns = self.namespaces.cache.get(key)
        if ns is None or meta(ns).get("deletionTimestamp") or (ns.get("status") or {}).get("phase") != "Active":
            return
        if self.accounts.cache.get(f"{key}/{DEFAULT_NAME}") is not None:
            return
        body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": DEFAULT_NAME, "namespace": key}}
        try:
            self.client.create(r.SERVICEACCOUNTS, body, key)
        except errors.ApiError as e:
            if errors.is_already_exists(e):
                return  # our cache is behind the server: it exists, which is all we want
            if errors.has_cause(e, "NamespaceTerminating") or errors.is_not_found(e):
                return  # the namespace is going (or gone) between our read and our write
            raise
        log.info("created ServiceAccount %s/%s", key, DEFAULT_NAME)


def make(ctx: Context) -> ServiceAccountController:
    return ServiceAccountController(ctx.client, ctx.informers, workers=ctx.workers)
