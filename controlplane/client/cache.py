"""The informer's local cache: objects by key, plus secondary indexes.

Where it sits: an :class:`~controlplane.client.informer.Informer` writes into an
:class:`Indexer` as list and watch events arrive; controllers read from it in
``reconcile(key)`` instead of asking the API server (client-go's ``cache.Indexer``).

What it promises:

* keys are ``namespace/name`` (``name`` for cluster-scoped objects);
* every operation is atomic under one lock, so a reader never sees an index that
  disagrees with the objects;
* an index function maps an object to zero or more index values (e.g. the uids of its
  owners); :meth:`Indexer.by_index` returns the objects filed under one value.

The objects handed out are the cached dicts themselves. **Never modify them**; copy
first (``copy.deepcopy``), as sample-controller warns for the same reason.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from .resources import object_key

IndexFunc = Callable[[dict[str, Any]], Iterable[str]]


def index_by_namespace(obj: dict[str, Any]) -> list[str]:
    return [(obj.get("metadata") or {}).get("namespace") or ""]


def index_by_owner_uid(obj: dict[str, Any]) -> list[str]:
    """The uid of every owner in ``metadata.ownerReferences``."""
    return [ref["uid"] for ref in (obj.get("metadata") or {}).get("ownerReferences") or [] if ref.get("uid")]


def index_by_controller_uid(obj: dict[str, Any]) -> list[str]:
    """The uid of the managing controller (the ownerReference with ``controller: true``)."""
    return [ref["uid"] for ref in (obj.get("metadata") or {}).get("ownerReferences") or []
            if ref.get("controller") and ref.get("uid")]


NAMESPACE_INDEX = "namespace"
OWNER_INDEX = "owner-uid"


class Indexer:
    """A thread-safe key -> object store with named secondary indexes."""

    def __init__(self, indexers: dict[str, IndexFunc] | None = None) -> None:
        self._lock = threading.RLock()
        self._items: dict[str, dict[str, Any]] = {}
        self._indexers: dict[str, IndexFunc] = dict(indexers or {})
        # index name -> index value -> keys
        self._indices: dict[str, dict[str, set[str]]] = {name: defaultdict(set) for name in self._indexers}

    def add_indexers(self, indexers: dict[str, IndexFunc]) -> None:
        """Add index functions; existing objects are indexed at once."""
        with self._lock:
            for name, fn in indexers.items():
                if name in self._indexers:
                    raise ValueError(f"index {name!r} exists already")
                self._indexers[name] = fn
                self._indices[name] = defaultdict(set)
                for key, obj in self._items.items():
                    for value in fn(obj):
                        self._indices[name][value].add(key)

    # -- writes (the informer's) -------------------------------------------------------

    def upsert(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """Store ``obj`` under its key; returns what was stored there before."""
        key = object_key(obj)
        with self._lock:
            old = self._items.get(key)
            if old is not None:
                self._unindex(key, old)
            self._items[key] = obj
            self._index(key, obj)
            return old

    def delete(self, obj_or_key: dict[str, Any] | str) -> dict[str, Any] | None:
        """Remove an object; returns it, or None if it was not there."""
        key = obj_or_key if isinstance(obj_or_key, str) else object_key(obj_or_key)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._unindex(key, old)
            return old

    def replace(self, objects: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Make the cache hold exactly ``objects`` (after a list); returns the previous contents."""
        with self._lock:
            previous = self._items
            self._items = {}
            self._indices = {name: defaultdict(set) for name in self._indexers}
            for obj in objects:
                key = object_key(obj)
                self._items[key] = obj
                self._index(key, obj)
            return previous

    # -- reads (the controllers') -------------------------------------------------------

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            return self._items.get(key)

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._items.values())

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._items)

    def by_index(self, index_name: str, value: str) -> list[dict[str, Any]]:
        with self._lock:
            if index_name not in self._indices:
                raise KeyError(f"no index named {index_name!r}")
            return [self._items[k] for k in sorted(self._indices[index_name].get(value, ()))]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    # -- internals --------------------------------------------------------------------

    def _index(self, key: str, obj: dict[str, Any]) -> None:
        for name, fn in self._indexers.items():
            for value in fn(obj):
                self._indices[name][value].add(key)

    def _unindex(self, key: str, obj: dict[str, Any]) -> None:
        for name, fn in self._indexers.items():
            index = self._indices[name]
            for value in fn(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]
