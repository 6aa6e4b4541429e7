"""Deleting objects: finalizers, graceful deletion and the garbage collector's policies.

Where it sits: mixed into :class:`~controlplane.api.registry.store.RESTStore`. A
DELETE either removes the object at once, or marks it and leaves it for somebody
else to finish (upstream's ``registry.Store.Delete``):

* ``propagationPolicy`` is recorded as a finalizer the garbage collector acts on:
  ``Orphan`` adds ``orphan`` (dependents lose their ownerReference),
  ``Foreground`` adds ``foregroundDeletion`` (dependents go first), ``Background``
  (the default) adds nothing: the object goes now and the collector removes its
  dependents afterwards;
* an object with finalizers gets ``deletionTimestamp`` and stays until its last
  finalizer is removed (by whoever put it there), then it is deleted by that update;
* a pod bound to a node is deleted gracefully: it stays "Terminating" until its
  node agent has stopped it (or a DELETE with ``gracePeriodSeconds=0`` forces it).
"""

from __future__ import annotations

import datetime
from typing import Any

from ... import storage as st
from .. import errors
from .. import meta as objmeta
from .options import DeleteOptions, ListOptions

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"


def gc_finalizers(current: list[str], policy: str) -> list[str]:
    """The finalizers after a DELETE with ``policy`` (order kept, as upstream)."""
    keep = [f for f in current if f not in (ORPHAN, FOREGROUND)]
    if policy == "Orphan":
        keep.append(ORPHAN)
    elif policy == "Foreground":
        keep.append(FOREGROUND)
    return keep


class Deletion:
    """DELETE and deletecollection for a RESTStore."""

    def delete(self, namespace: str, name: str, opts: DeleteOptions) -> tuple[dict[str, Any], bool]:
        """Returns the response body and whether the object is gone already."""
        key = self.key(namespace, name)
        pre = st.Preconditions(uid=opts.precondition_uid, resource_version=opts.precondition_resource_version)
        try:
            current = self.storage.get(key)
        except st.KeyNotFoundError:
            raise self.not_found(name) from None
        try:
            pre.check(key, current)
        except st.ConflictError as e:
            raise self.conflict(name, str(e)) from None
        obj = self.out(current)
        policy = opts.propagation_policy or self.strategy.default_propagation()
        grace = self.strategy.graceful_period(obj, opts.grace_period_seconds)
        meta = obj["metadata"]
        explicit = bool(opts.propagation_policy)
        finalizers = meta.get("finalizers") or []
        # An explicit policy always updates the GC finalizers; the default only on first delete.
        wanted = gc_finalizers(finalizers, policy) if explicit or not meta.get("deletionTimestamp") else finalizers
        if opts.dry_run:
            return self._deleted_body(obj, pending=bool(wanted) or grace > 0), not wanted and grace == 0

        if not wanted and grace == 0 and not self.strategy.blocks_deletion(obj) and not meta.get("deletionTimestamp"):
            return self._delete_now(key, name, pre)
        marked = self._mark_deleted(key, name, pre, policy, grace, explicit)
        mmeta = marked["metadata"]
        if not mmeta.get("finalizers") and not self.strategy.blocks_deletion(marked) and \
                (grace == 0 or not mmeta.get("deletionGracePeriodSeconds")):
            # Already marked earlier and nothing holds it any more (e.g. a forced pod delete).
            return self._delete_now(key, name, st.Preconditions(resource_version=mmeta["resourceVersion"]))
        return marked, False

    def _delete_now(self, key: str, name: str, pre: st.Preconditions) -> tuple[dict[str, Any], bool]:
        try:
            gone = self.storage.delete(key, preconditions=pre)
        except st.KeyNotFoundError:
            raise self.not_found(name) from None
        except st.ConflictError as e:
            raise self.conflict(name, str(e)) from None
        self.strategy.after_delete(gone)
        return self._deleted_body(self.out(gone), pending=False), True

    def _mark_deleted(self, key: str, name: str, pre: st.Preconditions, policy: str, grace: int,
                      explicit: bool) -> dict[str, Any]:
        def try_update(obj: dict[str, Any]) -> dict[str, Any]:
            meta = obj["metadata"]
            finalizers = meta.get("finalizers") or []
            if explicit or not meta.get("deletionTimestamp"):
                finalizers = gc_finalizers(finalizers, policy)
            if finalizers:
                meta["finalizers"] = finalizers
            else:
                meta.pop("finalizers", None)
            deadline = objmeta.now() + datetime.timedelta(seconds=grace)
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = objmeta.timestamp(deadline)
                meta["deletionGracePeriodSeconds"] = grace
            elif grace < (meta.get("deletionGracePeriodSeconds") or 0):
                # A shorter grace period (e.g. a forced delete) moves the deadline closer.
                meta["deletionTimestamp"] = objmeta.timestamp(deadline)
                meta["deletionGracePeriodSeconds"] = grace
            self.strategy.prepare_for_delete(obj)
            return obj

        try:
            return self.out(self.storage.guaranteed_update(key, try_update, preconditions=pre))
        except st.KeyNotFoundError:
            raise self.not_found(name) from None
        except st.ConflictError as e:
            raise self.conflict(name, str(e)) from None

    def _deleted_body(self, obj: dict[str, Any], pending: bool) -> dict[str, Any]:
        if pending or self.strategy.return_deleted_object:
            return obj
        details: dict[str, Any] = {"name": obj["metadata"]["name"]}
        if self.info.group:
            details["group"] = self.info.group
        details["kind"] = self.info.resource
        details["uid"] = obj["metadata"].get("uid", "")
        return objmeta.success_status(details)

    def delete_collection(self, namespace: str, list_opts: ListOptions, opts: DeleteOptions) -> list[dict[str, Any]]:
        """Delete every object the selectors match; returns what was deleted or marked."""
        page = self.list(namespace, list_opts)
        done = []
        for obj in page.items:
            meta = obj["metadata"]
            try:
                body, gone = self.delete(meta.get("namespace", ""), meta["name"], opts)
            except errors.APIError as e:
                if e.code == 404:
                    continue  # deleted meanwhile: that is what we wanted
                raise
            done.append(body if not gone or body.get("kind") != "Status" else obj)
        return done
