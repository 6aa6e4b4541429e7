"""The garbage collector: deletes objects whose owners are gone, and carries out the
``Foreground`` and ``Orphan`` deletion policies (upstream's ``pkg/controller/garbagecollector``).

Where it sits: in the controller manager. It watches *every* resource that supports
list, watch and delete (found by discovery, re-discovered every 30 s so new CRDs are
covered), with metadata-only informers, and keeps a graph of owners and dependents
by uid (:mod:`.gcgraph`). Keys on its queue are uids. ``reconcile(uid)`` handles one
object, level-triggered and idempotent:

* **an object with owners** (``Background``, the default policy): the API server
  deleted the owner at once; now its dependents have an owner that is gone.

  - Every owner gone: delete the dependent (``propagationPolicy: Background``, its uid
    as precondition), and so on down the chain.
  - Some owners gone: remove just the dangling ``ownerReferences``.
  - "Gone" is never taken from the cache alone: an owner missing from the graph is
    looked up with a GET (the owner's informer may simply be behind); it is gone if
    that says 404, or finds an object with a different uid (deleted and re-created).

* **an owner deleted with ``Foreground``** (``deletionTimestamp`` + the
  ``foregroundDeletion`` finalizer): its dependents are deleted with
  ``propagationPolicy: Foreground`` (so theirs go first too); once no dependent
  with ``blockOwnerDeletion: true`` remains, the finalizer is removed and the API
  server deletes the owner.

* **an owner deleted with ``Orphan``** (the ``orphan`` finalizer): its
  ownerReference is removed from every dependent, then the finalizer is removed.

Every write is conditional (JSON patch ``test`` on uid and resourceVersion, or a uid
precondition), so a decision made on a stale view fails instead of doing harm; the
failure requeues the uid with back-off and the next attempt reads again.
"""

from __future__ import annotations

import collections
import functools
import logging
import threading
from typing import Any

from ..client import errors
from ..client.discovery import CachedDiscovery
from ..client.informer import Informer
from ..client.resources import Resource
from ..client.rest import Client
from .base import Controller, RequeueAfter
from .context import DISCOVERY_PERIOD, Context
from .gcgraph import FOREGROUND, ORPHAN, Graph, Node, OwnerRef, owner_refs

log = logging.getLogger(__name__)

# Events are many, short-lived and never owners: upstream's GC ignores them too.
IGNORED = frozenset({("", "events"), ("events.k8s.io", "events")})
ABSENT_CACHE_SIZE = 1024
UNWATCHED_OWNER_RECHECK = 5.0  # seconds between checks of an owner no informer watches yet


class GarbageCollector(Controller):
    name = "garbagecollector"

    def __init__(self, client: Client, discovery: CachedDiscovery, *, workers: int = 2,
                 discovery_period: float = DISCOVERY_PERIOD) -> None:
        super().__init__(workers=workers)
        self.client = client
        self.discovery = discovery
        self.discovery_period = discovery_period
        self.graph = Graph()
        self.monitors: dict[tuple[str, str], Informer] = {}
        self._monitor_lock = threading.Lock()
        self._running = False
        # Owners confirmed absent by a GET. uids are never reused, so this cannot go stale.
        self._absent: collections.OrderedDict[str, None] = collections.OrderedDict()

    # -- which resources to watch ----------------------------------------------------

    def start(self) -> None:
        self._running = True
        self.sync_monitors()
        super().start()
        threading.Thread(target=self._rediscover, name="garbagecollector-discovery", daemon=True).start()

    def _rediscover(self) -> None:
        # Until discovery has worked once (the server may still be starting), retry soon.
        while not self._stop.wait(self.discovery_period if self.monitors else 2.0):
            self.sync_monitors()

    def sync_monitors(self) -> None:
        """Watch every deletable resource the server serves now; stop watching the rest."""
        try:
            served = self.discovery.preferred(refresh=True)
        except Exception as e:  # noqa: BLE001 - keep the monitors we have; the next period retries
            log.warning("discovery failed: %s", e)
            return
        wanted = {(res.group, res.resource): res for res in served
                  if res.supports("list", "watch", "delete") and (res.group, res.resource) not in IGNORED}
        with self._monitor_lock:
            for key, res in wanted.items():
                if key not in self.monitors:
                    self.monitors[key] = self._monitor(res)
                    log.info("watching %s", res)
            for key in [k for k in self.monitors if k not in wanted]:
                inf = self.monitors.pop(key)
                inf.stop()
                log.info("%s is no longer served; forgetting its objects", inf.resource)
                for node in self.graph.remove_resource(inf.resource):
                    self._enqueue_dependents(node.uid)
            self.informers = list(self.monitors.values())

    def _monitor(self, res: Resource) -> Informer:
        inf = Informer(self.client, res, metadata_only=True)
        inf.add_event_handler(on_add=functools.partial(self.on_object_changed, res),
                              on_update=lambda old, new: self.on_object_changed(res, new, old),
                              on_delete=functools.partial(self.on_object_deleted, res))
        if self._running and not self._stop.is_set():  # not while shutting down
            inf.start()
        return inf

    def monitors_synced(self) -> bool:
        with self._monitor_lock:
            return all(inf.has_synced() for inf in self.monitors.values())

    # -- event handlers: update the graph, enqueue what may need work ----------------------

    def on_object_changed(self, res: Resource, obj: dict[str, Any], old: dict[str, Any] | None = None) -> None:
        node = Node.from_object(res, obj)
        if not node.uid:
            return
        previous = self.graph.upsert(node)
        if node.orphaning or node.deleting_dependents:
            self.enqueue(node.uid)
        elif not node.being_deleted and not all(self._solid_in_graph(node, ref) for ref in node.owners):
            self.enqueue(node.uid)  # an owner we have not seen, or one waiting for its dependents
        # An owner waiting for its dependents cares when one of them changes (it may stop blocking).
        refs = set(node.owners) | set(previous.owners if previous else ())
        self._enqueue_waiting_owners(refs)

    def on_object_deleted(self, res: Resource, obj: dict[str, Any]) -> None:
        uid = (obj.get("metadata") or {}).get("uid", "")
        node = self.graph.remove(uid)
        self._enqueue_dependents(uid)  # their owner is gone
        self._enqueue_waiting_owners(set(node.owners if node else owner_refs(obj)))

    def _enqueue_dependents(self, uid: str) -> None:
        for dep in self.graph.dependents(uid):
            self.enqueue(dep.uid)

    def _enqueue_waiting_owners(self, refs: set[OwnerRef]) -> None:
        for ref in refs:
            owner = self.graph.get(ref.uid)
            if owner is not None and owner.deleting_dependents:
                self.enqueue(owner.uid)

    def _owner_in_graph(self, node: Node, ref: OwnerRef) -> Node | None:
        """The owner ``ref`` names, if the graph holds it where ``node`` can own-refer to it."""
        owner = self.graph.get(ref.uid)
        if owner is None:
            return None
        # A namespaced owner must be in its dependent's namespace; a reference across
        # namespaces points at nothing, whatever the uid says.
        return owner if owner.namespace == (node.namespace if owner.resource.namespaced else "") else None

    def _solid_in_graph(self, node: Node, ref: OwnerRef) -> bool:
        """The graph holds this owner and it is not being deleted in the foreground: no
        need to ask the server."""
        owner = self._owner_in_graph(node, ref)
        return owner is not None and not owner.deleting_dependents

    # -- reconcile ---------------------------------------------------------------------

    def reconcile(self, key: str) -> None:
        node = self.graph.get(key)
        if node is None:
            return  # gone already
        if node.orphaning:
            self.orphan_dependents(node)
        elif node.deleting_dependents:
            self.process_deleting_dependents(node)
        elif not node.being_deleted and node.owners:
            self.attempt_to_delete(node)

    def attempt_to_delete(self, node: Node) -> None:
        """Collect ``node`` if all its owners are gone; drop references to those that are."""
        if all(self._solid_in_graph(node, ref) for ref in node.owners):
            return
        latest = self._latest(node)
        if latest is None or latest["metadata"].get("deletionTimestamp"):
            return  # gone, replaced, or already being deleted: nothing for us to do
        refs = owner_refs(latest)
        if not refs:
            return
        solid, dangling, waiting = self._classify(node, refs)
        if solid:
            if dangling or waiting:
                # Keep the object; drop references to owners that are gone (or are going and
                # would otherwise wait for this object forever).
                self._remove_owner_refs(node, latest, {ref.uid for ref in dangling + waiting})
            if any(self._owner_in_graph(node, ref) is None for ref in solid):
                # An owner exists, but no informer watches its kind yet (a CRD created a
                # moment ago): no event would tell us when it goes, so look again later, as
                # upstream does for the "virtual" owners it knows only from a GET.
                raise RequeueAfter(UNWATCHED_OWNER_RECHECK, f"{node}: an owner's kind is not watched yet")
            return
        fins = latest["metadata"].get("finalizers") or []
        if waiting:
            policy = "Foreground"  # an owner waits for us: our own dependents must go first
        else:
            policy = "Orphan" if ORPHAN in fins else "Foreground" if FOREGROUND in fins else "Background"
        gone = ", ".join(str(ref) for ref in dangling + waiting)
        log.info("deleting %s (owners gone or going: %s), propagationPolicy=%s", node, gone, policy)
        self._delete(node, policy)

    def process_deleting_dependents(self, owner: Node) -> None:
        """Foreground deletion: dependents first; the owner's finalizer goes when none blocks."""
        if not self.monitors_synced():
            raise RequeueAfter(0.5, "waiting for the garbage collector's informers to sync")
        dependents = self.graph.dependents(owner.uid)
        blocking = [d for d in dependents if (ref := d.ref_to(owner.uid)) is not None and ref.block_owner_deletion]
        if not blocking:
            self._remove_finalizer(owner, FOREGROUND)
            return
        for dep in dependents:
            if not dep.being_deleted:
                self.enqueue(dep.uid)  # its reconcile sees an owner waiting and deletes it
        # Nothing more now: each dependent's deletion enqueues this owner again.

    def orphan_dependents(self, owner: Node) -> None:
        """Orphan deletion: remove the owner's reference from every dependent, then the finalizer."""
        if not self.monitors_synced():
            raise RequeueAfter(0.5, "waiting for the garbage collector's informers to sync")
        failed: list[str] = []
        for dep in self.graph.dependents(owner.uid):
            latest = self._latest(dep)
            if latest is None:
                continue
            try:
                self._remove_owner_refs(dep, latest, {owner.uid})
            except errors.ApiError as e:
                failed.append(f"{dep}: {e}")
        if failed:
            raise RuntimeError(f"could not orphan dependents of {owner}: {'; '.join(failed)}")
        self._remove_finalizer(owner, ORPHAN)

    # -- reading owners --------------------------------------------------------------

    def _classify(self, node: Node, refs: tuple[OwnerRef, ...]) -> tuple[list[OwnerRef], list[OwnerRef],
                                                                           list[OwnerRef]]:
        """Split ``refs`` into (solid, dangling, waiting-for-dependents) owners."""
        solid: list[OwnerRef] = []
        dangling: list[OwnerRef] = []
        waiting: list[OwnerRef] = []
        for ref in refs:
            owner = self._owner_meta(node, ref)
            if owner is None:
                dangling.append(ref)
            elif owner.get("deletionTimestamp") and FOREGROUND in (owner.get("finalizers") or []):
                waiting.append(ref)
            else:
                solid.append(ref)
        return solid, dangling, waiting

    def _owner_meta(self, node: Node, ref: OwnerRef) -> dict[str, Any] | None:
        """The owner's metadata, or None if it is really gone (checked with a GET)."""
        owner = self._owner_in_graph(node, ref)
        if owner is not None:
            return {"deletionTimestamp": owner.deletion_timestamp, "finalizers": list(owner.finalizers)}
        if ref.uid in self._absent:
            return None
        res = self.discovery.resource_for(ref.api_version, ref.kind)
        if res is None:
            # Maybe a CRD not served yet, maybe a typo; either way we cannot prove it gone.
            raise LookupError(f"{node} names an owner of unknown kind {ref.kind} in {ref.api_version}")
        if res.namespaced and not node.namespace:
            log.warning("cluster-scoped %s names a namespaced owner %s; ignoring it", node, ref)
            return {}  # unverifiable: never collect on its account
        try:
            found = self.client.get(res, ref.name, node.namespace if res.namespaced else None, metadata_only=True)
        except errors.ApiError as e:
            if not errors.is_not_found(e):
                raise
            found = None
        meta = (found or {}).get("metadata") or {}
        if found is None or meta.get("uid") != ref.uid:
            self._remember_absent(ref.uid)
            return None
        return meta

    def _remember_absent(self, uid: str) -> None:
        self._absent[uid] = None
        while len(self._absent) > ABSENT_CACHE_SIZE:
            self._absent.popitem(last=False)

    # -- writes ----------------------------------------------------------------------

    def _latest(self, node: Node) -> dict[str, Any] | None:
        """The object as the server has it now, or None if it is gone or was re-created."""
        try:
            obj = self.client.get(node.resource, node.name, node.namespace or None, metadata_only=True)
        except errors.ApiError as e:
            if errors.is_not_found(e):
                return None
            raise
        return obj if (obj.get("metadata") or {}).get("uid") == node.uid else None

    def _delete(self, node: Node, policy: str) -> None:
        try:
            self.client.delete(node.resource, node.name, node.namespace or None, propagation_policy=policy,
                               preconditions={"uid": node.uid})
        except errors.ApiError as e:
            if errors.is_not_found(e) or errors.is_conflict(e):
                return  # gone already, or a new object of that name (the uid precondition saved it)
            raise

    def _remove_owner_refs(self, node: Node, latest: dict[str, Any], uids: set[str]) -> None:
        refs = latest["metadata"].get("ownerReferences") or []
        keep = [ref for ref in refs if ref.get("uid") not in uids]
        if len(keep) == len(refs):
            return
        op = {"op": "replace", "path": "/metadata/ownerReferences", "value": keep} if keep else \
            {"op": "remove", "path": "/metadata/ownerReferences"}
        self._patch(node, latest, op)
        log.info("removed ownerReferences %s from %s", ", ".join(sorted(uids)), node)

    def _remove_finalizer(self, node: Node, finalizer: str) -> None:
        latest = self._latest(node)
        if latest is None:
            return
        fins = latest["metadata"].get("finalizers") or []
        if finalizer not in fins:
            return
        keep = [f for f in fins if f != finalizer]
        op = {"op": "replace", "path": "/metadata/finalizers", "value": keep} if keep else \
            {"op": "remove", "path": "/metadata/finalizers"}
        self._patch(node, latest, op)
        log.info("removed finalizer %s from %s", finalizer, node)

    def _patch(self, node: Node, latest: dict[str, Any], op: dict[str, Any]) -> None:
        # The tests make the patch fail (422) if the object changed since we read it:
        # then we requeue and decide again on fresh data.
        meta = latest["metadata"]
        patch = [{"op": "test", "path": "/metadata/uid", "value": meta["uid"]},
                 {"op": "test", "path": "/metadata/resourceVersion", "value": meta["resourceVersion"]}, op]
        try:
            self.client.patch(node.resource, node.name, patch, node.namespace or None, patch_type="json")
        except errors.ApiError as e:
            if errors.is_not_found(e):
                return
            raise


def make(ctx: Context) -> GarbageCollector:
    return GarbageCollector(ctx.client, ctx.discovery, workers=ctx.workers, discovery_period=ctx.discovery_period)
