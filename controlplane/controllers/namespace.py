"""The namespace controller: empties a deleted namespace, then lets it go.

Where it sits: in the controller manager, following namespaces through an informer.
Deleting a namespace (``kubectl delete namespace dev``) does not remove it: the API
server marks it (``deletionTimestamp``, ``status.phase: Terminating``) and keeps it,
held by the ``kubernetes`` entry in ``spec.finalizers``, until this controller has
removed everything in it (upstream's ``pkg/controller/namespace/deletion``).

``reconcile(name)``, one step at a time and safe to repeat:

1. the namespace is gone or not being deleted: nothing to do;
2. ``kubernetes`` is still in ``spec.finalizers``: delete its content, i.e. every
   discovered namespaced resource that supports ``delete`` (``deletecollection``
   when served, else one DELETE per object, all with ``propagationPolicy:
   Background``). Then list again: objects held by finalizers or a grace period may
   linger, so while anything is left, look again later (:class:`RequeueAfter`, 1 s
   doubling to 16 s);
3. empty: ``PUT /api/v1/namespaces/<name>/finalize`` with ``spec.finalizers`` minus
   ``kubernetes``;
4. finalized and no ``metadata.finalizers`` left: ``DELETE`` the namespace with its
   uid as precondition (so a namespace of the same name created meanwhile is safe);
   the API server removes it now that nothing holds it.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from ..client import errors
from ..client import informer as informers
from ..client import resources as r
from ..client.discovery import CachedDiscovery
from ..client.rest import Client
from .base import Controller, RequeueAfter, meta
from .context import Context

log = logging.getLogger(__name__)

FINALIZER = "kubernetes"
CONTENT_RECHECK = 1.0  # seconds before the first look again at content that is still going
CONTENT_RECHECK_MAX = 16.0  # a pod with a 30 s grace period should not cost 30 full sweeps


class NamespaceController(Controller):
    name = "namespace"

    def __init__(self, client: Client, factory: informers.InformerFactory, discovery: CachedDiscovery, *,
                 workers: int = 1) -> None:
        super().__init__(workers=workers)
        self.client = client
        self.discovery = discovery
        self.namespaces = factory.informer(r.NAMESPACES)
        self.informers = [self.namespaces]
        self._sweeps: dict[str, int] = {}  # namespace -> sweeps that left content behind
        self.namespaces.add_event_handler(on_add=self._changed, on_update=lambda old, new: self._changed(new))

    def _changed(self, ns: dict[str, Any]) -> None:
        if meta(ns).get("deletionTimestamp"):
            self.enqueue(meta(ns)["name"])

    def reconcile(self, key: str) -> None:
        ns = self.namespaces.cache.get(key)
        if ns is None or not meta(ns).get("deletionTimestamp"):
            return
        if FINALIZER in ((ns.get("spec") or {}).get("finalizers") or []):
            remaining = self.delete_content(key)
            if remaining:
                sweeps = self._sweeps[key] = self._sweeps.get(key, 0) + 1
                delay = min(CONTENT_RECHECK_MAX, CONTENT_RECHECK * 2 ** (sweeps - 1))
                raise RequeueAfter(delay, f"namespace {key} still holds {', '.join(remaining)}")
            self._sweeps.pop(key, None)
            ns = self.finalize(ns)
            if ns is None:
                return
        if not meta(ns).get("finalizers") and not (ns.get("spec") or {}).get("finalizers"):
            self._delete_namespace(key, meta(ns)["uid"])

    # -- the steps ---------------------------------------------------------------------

    def delete_content(self, namespace: str) -> list[str]:
        """Delete everything in ``namespace``; returns "<count> <resource>" for what is still there."""
        remaining = []
        # Fresh discovery, not the cached one: a CRD created seconds ago has objects here too,
        # and finalizing the namespace with those left behind would strand them.
        for res in self.discovery.preferred(refresh=True):
            if not res.namespaced or not res.supports("delete", "list"):
                continue
            left = self._delete_all(res, namespace)
            if left:
                remaining.append(f"{left} {res.group_resource}")
        return remaining

    def _delete_all(self, res: r.Resource, namespace: str) -> int:
        if res.supports("deletecollection"):
            try:
                self.client.delete_collection(res, namespace, propagation_policy="Background")
            except errors.ApiError as e:
                if not errors.is_not_found(e):  # 404: the resource vanished (a CRD deleted meanwhile)
                    raise
                return 0
        items = self._list(res, namespace)
        if not res.supports("deletecollection"):
            for obj in items:
                if meta(obj).get("deletionTimestamp"):
                    continue  # already going; deleting again changes nothing
                try:
                    self.client.delete(res, meta(obj)["name"], namespace, propagation_policy="Background",
                                       preconditions={"uid": meta(obj)["uid"]})
                except errors.ApiError as e:
                    if not (errors.is_not_found(e) or errors.is_conflict(e)):  # gone, or replaced: fine
                        raise
            items = self._list(res, namespace)
        return len(items)

    def _list(self, res: r.Resource, namespace: str) -> list[dict[str, Any]]:
        try:
            return list(self.client.list(res, namespace, metadata_only=True).get("items") or [])
        except errors.ApiError as e:
            if errors.is_not_found(e):
                return []
            raise

    def finalize(self, ns: dict[str, Any]) -> dict[str, Any] | None:
        """Remove ``kubernetes`` from ``spec.finalizers``; returns the namespace after, None if gone."""
        body = copy.deepcopy(ns)
        body.setdefault("spec", {})["finalizers"] = [f for f in body["spec"].get("finalizers") or []
                                                     if f != FINALIZER]
        try:
            result = self.client.update(r.NAMESPACES, body, subresource="finalize")
        except errors.ApiError as e:
            if errors.is_not_found(e):
                return None
            raise  # a conflict: our copy is stale; the retry reads the newer one
        log.info("namespace %s is empty; finalized it", meta(ns)["name"])
        return result

    def _delete_namespace(self, name: str, uid: str) -> None:
        try:
            self.client.delete(r.NAMESPACES, name, preconditions={"uid": uid})
        except errors.ApiError as e:
            if errors.is_not_found(e) or errors.is_conflict(e):
                return  # gone already (the finalize removed it), or a new namespace of that name
            raise


def make(ctx: Context) -> NamespaceController:
    return NamespaceController(ctx.client, ctx.informers, ctx.discovery, workers=ctx.workers)
