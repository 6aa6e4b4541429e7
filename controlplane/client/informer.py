"""Informers: list, then watch, keeping a local cache and telling handlers what changed.

Where it sits: between the REST client and a controller (client-go's reflector +
informer; kopf's ``continuous_watch``). One informer follows one resource::

    list  ──▶ cache.replace(items), handlers(add/update/delete), rv = list's resourceVersion
    watch(rv, allowWatchBookmarks) ──▶ ADDED/MODIFIED/DELETED: cache + handlers, rv = event's
                                   ──▶ BOOKMARK: rv only (nothing changed, the watch is just current)
                                   ──▶ stream ends: watch again from rv
                                   ──▶ 410 Expired (answer or ERROR event): list again

What it promises:

* the cache holds what the last list returned plus every watch event since; after
  a relist, handlers hear about the difference (objects that vanished while we were
  not watching get ``on_delete`` with their last known state);
* handlers run on the informer's own thread, in event order. They must be quick: in
  a controller they only put a key on a work queue;
* :meth:`Informer.has_synced` turns true once the first list is in the cache and its
  handlers have run; controllers wait for it before reconciling, or they would act
  on a half-empty cache (e.g. delete a "dangling" dependent whose owner simply had
  not been listed yet);
* with ``metadata_only`` the server sends ``PartialObjectMetadata`` (just metadata):
  enough for the garbage collector, and far less to hold for every object;
* failures other than 410 are retried with exponential back-off (0.2 s .. 30 s).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from .cache import IndexFunc, Indexer
from .errors import Expired
from .resources import Resource, object_key
from .rest import Client
from .watch import WatchStream

log = logging.getLogger(__name__)

Obj = dict[str, Any]
AddHandler = Callable[[Obj], None]
UpdateHandler = Callable[[Obj, Obj], None]
DeleteHandler = Callable[[Obj], None]

MIN_WATCH_TIMEOUT = 300  # client-go picks a random timeout in [5, 10) minutes per watch
SHORT_WATCH = 1.0  # a watch that ends this fast without events counts as a failure


class Informer:
    """Follows one resource (optionally one namespace, filtered by selectors)."""

    def __init__(self, client: Client, resource: Resource, *, namespace: str | None = None,
                 label_selector: str | None = None, field_selector: str | None = None,
                 metadata_only: bool = False, indexers: dict[str, IndexFunc] | None = None,
                 base_backoff: float = 0.2, max_backoff: float = 30.0) -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.metadata_only = metadata_only
        self.cache = Indexer(indexers)
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self._handlers: list[tuple[AddHandler | None, UpdateHandler | None, DeleteHandler | None]] = []
        self._resource_version = ""
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._stream: WatchStream | None = None
        self._stream_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.lists = 0  # how many times this informer has listed (tests and metrics read it)

    def __repr__(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        return f"<Informer {self.resource}{where}{' (metadata)' if self.metadata_only else ''}>"

    # -- wiring ------------------------------------------------------------------------

    def add_event_handler(self, *, on_add: AddHandler | None = None, on_update: UpdateHandler | None = None,
                          on_delete: DeleteHandler | None = None) -> None:
        """Register handlers. Add them before :meth:`start`: a handler added later misses
        the initial list."""
        self._handlers.append((on_add, on_update, on_delete))

    @property
    def resource_version(self) -> str:
        """The newest resourceVersion seen (list, event or bookmark): where a watch resumes."""
        return self._resource_version

    def has_synced(self) -> bool:
        return self._synced.is_set()

    def wait_for_sync(self, timeout: float, stop: threading.Event | None = None) -> bool:
        deadline = time.monotonic() + timeout
        while not self._synced.wait(0.05):
            if time.monotonic() >= deadline or (stop is not None and stop.is_set()) or self._stop.is_set():
                return False
        return True

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self.run, name=f"informer-{self.resource.resource}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Ask the loop to end and break the open watch; safe from any thread, twice."""
        self._stop.set()
        with self._stream_lock:
            stream = self._stream
        if stream is not None:
            stream.close()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def stopped(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """The reflector loop; returns after :meth:`stop`."""
        need_list = True
        failures = 0
        while not self._stop.is_set():
            try:
                if need_list:
                    self._list()
                    need_list = False
                if self._watch():
                    failures = 0
                    continue
                failures += 1  # ended at once, without events: back off instead of spinning
            except Expired as e:
                # Not a failure: the history we wanted is gone, so start from a fresh list.
                log.info("%s: resourceVersion %s is too old (%s); listing again", self, self._resource_version, e)
                need_list = True
                continue
            except Exception as e:  # noqa: BLE001 - any other failure: back off, then retry
                if self._stop.is_set():
                    break
                failures += 1
                log.warning("%s: %s failed: %s", self, "list" if need_list else "watch", e)
            delay = min(self.max_backoff, self.base_backoff * 2 ** (failures - 1)) * random.uniform(0.8, 1.2)
            self._stop.wait(delay)

    # -- one list, one watch ---------------------------------------------------------

    def _list(self) -> None:
        result = self.client.list(self.resource, self.namespace, label_selector=self.label_selector,
                                  field_selector=self.field_selector, metadata_only=self.metadata_only)
        items = [self._complete(item) for item in result.get("items") or []]
        previous = self.cache.replace(items)
        self._resource_version = str((result.get("metadata") or {}).get("resourceVersion") or "")
        self.lists += 1
        for obj in items:
            old = previous.pop(object_key(obj), None)
            if old is None:
                self._dispatch_add(obj)
            else:
                self._dispatch_update(old, obj)
        for gone in previous.values():  # deleted while we were not watching
            self._dispatch_delete(gone)
        self._synced.set()

    def _watch(self) -> bool:
        """Watch from the current resourceVersion until the stream ends.

        Returns False if it ended quickly without a single event (the caller backs off).
        """
        started = time.monotonic()
        stream = self.client.watch(self.resource, self.namespace, resource_version=self._resource_version,
                                   allow_bookmarks=True, label_selector=self.label_selector,
                                   field_selector=self.field_selector, metadata_only=self.metadata_only,
                                   timeout_seconds=random.randint(MIN_WATCH_TIMEOUT, 2 * MIN_WATCH_TIMEOUT))
        with self._stream_lock:
            self._stream = stream
        if self._stop.is_set():  # stop() ran between opening and publishing the stream
            stream.close()
        events = 0
        try:
            for event in stream:
                events += 1
                self._handle(event)
        finally:
            with self._stream_lock:
                self._stream = None
            stream.close()
        return events > 0 or time.monotonic() - started >= SHORT_WATCH

    def _handle(self, event: dict[str, Any]) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if kind == "BOOKMARK":
            if rv:
                self._resource_version = str(rv)
            return
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            log.warning("%s: ignoring a watch event of unknown type %r", self, kind)
            return
        obj = self._complete(obj)
        if kind == "DELETED":
            old = self.cache.delete(obj)
            self._dispatch_delete(obj if obj.get("metadata") else (old or obj))
        else:
            old = self.cache.upsert(obj)
            if old is None:
                self._dispatch_add(obj)
            else:
                self._dispatch_update(old, obj)
        if rv:
            self._resource_version = str(rv)

    def _complete(self, obj: Obj) -> Obj:
        # List items come without apiVersion/kind; handlers like to know what they hold.
        if not self.metadata_only:
            obj.setdefault("apiVersion", self.resource.api_version)
            obj.setdefault("kind", self.resource.kind)
        return obj

    # -- handlers ----------------------------------------------------------------------

    def _dispatch_add(self, obj: Obj) -> None:
        for on_add, _, _ in self._handlers:
            if on_add is not None:
                self._call(on_add, obj)

    def _dispatch_update(self, old: Obj, new: Obj) -> None:
        for _, on_update, _ in self._handlers:
            if on_update is not None:
                self._call(on_update, old, new)

    def _dispatch_delete(self, obj: Obj) -> None:
        for _, _, on_delete in self._handlers:
            if on_delete is not None:
                self._call(on_delete, obj)

    def _call(self, handler: Callable[..., None], *args: Obj) -> None:
        try:
            handler(*args)
        except Exception:  # noqa: BLE001 - one broken handler must not stop the informer
            log.exception("%s: event handler %r failed", self, handler)


class InformerFactory:
    """Shares one informer per (resource, namespace, selectors, metadata_only) between
    controllers in one process, as client-go's SharedInformerFactory does: the
    namespace and service-account controllers watch namespaces once, not twice."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._informers: dict[tuple[Any, ...], Informer] = {}

    def informer(self, resource: Resource, *, namespace: str | None = None, label_selector: str | None = None,
                 field_selector: str | None = None, metadata_only: bool = False) -> Informer:
        key = (resource.group, resource.version, resource.resource, namespace, label_selector, field_selector,
               metadata_only)
        with self._lock:
            if key not in self._informers:
                self._informers[key] = Informer(self.client, resource, namespace=namespace,
                                                label_selector=label_selector, field_selector=field_selector,
                                                metadata_only=metadata_only)
            return self._informers[key]

    def start(self) -> None:
        """Start every informer not yet started (call again after adding more)."""
        with self._lock:
            informers = list(self._informers.values())
        for inf in informers:
            inf.start()

    def stop(self) -> None:
        with self._lock:
            informers = list(self._informers.values())
        for inf in informers:
            inf.stop()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for inf in list(self._informers.values()):
            inf.join(max(0.0, deadline - time.monotonic()))
