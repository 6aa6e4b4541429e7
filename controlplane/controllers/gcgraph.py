"""The garbage collector's picture of the cluster: who owns whom, by uid.

Where it sits: inside :mod:`controlplane.controllers.garbagecollector`. Its metadata
informers feed every object of every resource into a :class:`Graph`; the collector's
``reconcile(uid)`` reads it to answer "are this object's owners still there?" and
"which objects depend on this one?" (upstream's ``GraphBuilder`` and ``node``).

What it promises:

* a :class:`Node` per uid, holding what ownership decisions need: where the object
  lives (resource, namespace, name), its ``ownerReferences``, ``deletionTimestamp``
  and ``finalizers``;
* ``dependents(uid)`` works whether or not the owner itself is in the graph: that is
  exactly the question after an owner is deleted (upstream keeps "virtual" nodes for
  it; an index from owner uid to dependent uids needs none);
* all methods are thread-safe: informer threads write, worker threads read.

Nodes are immutable snapshots; an update replaces the node.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import defaultdict
from typing import Any

from ..client.resources import Resource

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"


@dataclasses.dataclass(frozen=True)
class OwnerRef:
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool = False
    block_owner_deletion: bool = False

    @classmethod
    def parse(cls, ref: dict[str, Any]) -> OwnerRef:
        return cls(api_version=ref.get("apiVersion", ""), kind=ref.get("kind", ""), name=ref.get("name", ""),
                   uid=ref.get("uid", ""), controller=bool(ref.get("controller")),
                   block_owner_deletion=bool(ref.get("blockOwnerDeletion")))

    def __str__(self) -> str:
        return f"{self.kind} {self.name} ({self.uid})"


def owner_refs(obj: dict[str, Any]) -> tuple[OwnerRef, ...]:
    return tuple(OwnerRef.parse(ref) for ref in (obj.get("metadata") or {}).get("ownerReferences") or [])


@dataclasses.dataclass(frozen=True)
class Node:
    uid: str
    resource: Resource
    namespace: str
    name: str
    owners: tuple[OwnerRef, ...] = ()
    deletion_timestamp: str | None = None
    finalizers: tuple[str, ...] = ()

    @classmethod
    def from_object(cls, resource: Resource, obj: dict[str, Any]) -> Node:
        meta = obj.get("metadata") or {}
        return cls(uid=meta.get("uid", ""), resource=resource, namespace=meta.get("namespace") or "",
                   name=meta.get("name", ""), owners=owner_refs(obj),
                   deletion_timestamp=meta.get("deletionTimestamp"), finalizers=tuple(meta.get("finalizers") or ()))

    @property
    def being_deleted(self) -> bool:
        return bool(self.deletion_timestamp)

    @property
    def deleting_dependents(self) -> bool:
        """Deleted with ``propagationPolicy: Foreground``: waits for its blocking dependents."""
        return self.being_deleted and FOREGROUND in self.finalizers

    @property
    def orphaning(self) -> bool:
        """Deleted with ``propagationPolicy: Orphan``: its dependents are to be let go."""
        return self.being_deleted and ORPHAN in self.finalizers

    def ref_to(self, owner_uid: str) -> OwnerRef | None:
        return next((ref for ref in self.owners if ref.uid == owner_uid), None)

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.resource.group_resource} {where}"


class Graph:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._nodes: dict[str, Node] = {}
        self._dependents: dict[str, set[str]] = defaultdict(set)  # owner uid -> dependent uids

    def upsert(self, node: Node) -> Node | None:
        """Add or replace ``node``; returns the node it replaced."""
        with self._lock:
            old = self._nodes.get(node.uid)
            if old is not None:
                self._unlink(old)
            self._nodes[node.uid] = node
            for ref in node.owners:
                self._dependents[ref.uid].add(node.uid)
            return old

    def remove(self, uid: str) -> Node | None:
        """Forget ``uid``; its dependents stay filed under it (they now have a missing owner)."""
        with self._lock:
            old = self._nodes.pop(uid, None)
            if old is not None:
                self._unlink(old)
            return old

    def remove_resource(self, resource: Resource) -> list[Node]:
        """Forget every node of ``resource`` (it is no longer served); returns them."""
        with self._lock:
            gone = [n for n in self._nodes.values()
                    if (n.resource.group, n.resource.resource) == (resource.group, resource.resource)]
            for node in gone:
                del self._nodes[node.uid]
                self._unlink(node)
            return gone

    def get(self, uid: str) -> Node | None:
        with self._lock:
            return self._nodes.get(uid)

    def dependents(self, owner_uid: str) -> list[Node]:
        with self._lock:
            return [self._nodes[u] for u in sorted(self._dependents.get(owner_uid, ())) if u in self._nodes]

    def __len__(self) -> int:
        with self._lock:
            return len(self._nodes)

    def _unlink(self, node: Node) -> None:
        for ref in node.owners:
            deps = self._dependents.get(ref.uid)
            if deps is not None:
                deps.discard(node.uid)
                if not deps:
                    del self._dependents[ref.uid]
