"""The catalog: every resource this API server serves, and the store behind each.

Where it sits: the app creates one :class:`Registry` per process. Handlers ask it
for the store of a group/version/resource; discovery and OpenAPI ask it for the
list of resources.

Built-in resources are fixed. Custom resources come from the CRDs in storage. Any
API server process may create a CRD, so each process keeps its view fresh three
ways: a background watch on CRDs, a re-read when a request names a resource it
does not know (kubectl creates a CRD and uses it a moment later, maybe through
another process), and a re-read for every discovery request.

The background loop also finishes CRD deletions: it deletes the CRD's objects
(through their store, so their own finalizers are honoured) and then removes the
``customresourcecleanup`` finalizer, as upstream's apiextensions controller does.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from typing import Any

from ... import storage as st
from .. import errors
from ..resources import BUILTIN, ResourceInfo
from .custom import CLEANUP_FINALIZER, CRDStrategy, CustomResourceStrategy, resource_info, served_versions
from .kinds import EventsV1Strategy, NamespaceStrategy, NodeStrategy, PodStrategy
from .namespacecache import NamespaceCache
from .options import DeleteOptions, ListOptions, WriteOptions
from .services import ServiceStrategy, kubernetes_service_ip
from .store import RESTStore
from .strategy import Strategy

log = logging.getLogger(__name__)

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
CRD_KEY = ("apiextensions.k8s.io", "v1", "customresourcedefinitions")
Key = tuple[str, str, str]


class Registry:
    def __init__(self, storage: st.Storage) -> None:
        self.storage = storage
        self._lock = threading.Lock()
        self._builtin: dict[Key, RESTStore] = {}
        ns_info = next(info for info in BUILTIN if (info.group, info.resource) == ("", "namespaces"))
        self.namespaces = NamespaceCache(storage, ns_info.key_prefix())
        for info in BUILTIN:
            self._builtin[(info.group, info.version, info.resource)] = RESTStore(
                storage, info, self._strategy(info), self.namespace)
        self._custom: dict[Key, RESTStore] = {}
        self._crds: list[dict[str, Any]] = []
        self._crd_versions: dict[str, str] = {}  # CRD name -> resourceVersion seen
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watcher: st.Watcher | None = None
        self.refresh_crds()

    def _strategy(self, info: ResourceInfo) -> Strategy:
        kinds = {
            ("", "Pod"): lambda: PodStrategy(info),
            ("", "Node"): lambda: NodeStrategy(info),
            ("", "Namespace"): lambda: NamespaceStrategy(info, self.namespaces.forget),
            ("", "Service"): lambda: ServiceStrategy(info, self.storage),
            ("events.k8s.io", "Event"): lambda: EventsV1Strategy(info),
            ("apiextensions.k8s.io", "CustomResourceDefinition"): lambda: CRDStrategy(info, lambda: self._crds),
        }
        make = kinds.get((info.group, info.kind))
        return make() if make else Strategy(info)

    # -- lookups -------------------------------------------------------------------

    def store(self, group: str, version: str, resource: str) -> RESTStore | None:
        key = (group, version, resource)
        found = self._builtin.get(key) or self._custom.get(key)
        if found is None:
            self.refresh_crds()
            found = self._custom.get(key)
        return found

    def store_for(self, info: ResourceInfo) -> RESTStore:
        found = self.store(info.group, info.version, info.resource)
        if found is None:
            raise errors.path_not_found()
        return found

    def resources(self) -> list[ResourceInfo]:
        self.refresh_crds()
        return [s.info for s in self._builtin.values()] + [s.info for s in self._custom.values()]

    def custom_stores(self) -> list[RESTStore]:
        return list(self._custom.values())

    def namespace(self, name: str) -> dict[str, Any] | None:
        """The Namespace ``name`` for admission: from the cache when it is active there,
        else read from the store (None if there is none)."""
        cached = self.namespaces.active(name)
        if cached is not None:
            return cached
        try:
            return self.storage.get(self._builtin[("", "v1", "namespaces")].key("", name))
        except st.KeyNotFoundError:
            return None

    @property
    def crds(self) -> list[dict[str, Any]]:
        return self._crds

    # -- custom resources ----------------------------------------------------------

    def refresh_crds(self) -> None:
        crd_store = self._builtin[CRD_KEY]
        crds = self.storage.list(crd_store.info.key_prefix()).items
        versions = {c["metadata"]["name"]: c["metadata"]["resourceVersion"] for c in crds}
        if versions == self._crd_versions:
            return
        custom: dict[Key, RESTStore] = {}
        for crd in crds:
            accepted = any(c.get("type") == "Established" and c.get("status") == "True"
                           for c in (crd.get("status") or {}).get("conditions") or [])
            if not accepted:
                continue
            for version in served_versions(crd):
                try:
                    info = resource_info(crd, version)
                except (KeyError, TypeError):
                    continue  # validation keeps these out; never let one bad CRD break the rest
                custom[(info.group, info.version, info.resource)] = RESTStore(
                    self.storage, info, CustomResourceStrategy(info, version), self.namespace)
        with self._lock:
            self._custom, self._crds, self._crd_versions = custom, crds, versions

    def _finish_crd_deletions(self) -> None:
        crd_store = self._builtin[CRD_KEY]
        for crd in self._crds:
            meta = crd["metadata"]
            if not meta.get("deletionTimestamp") or CLEANUP_FINALIZER not in (meta.get("finalizers") or []):
                continue
            remaining = 0
            for store in [s for s in self._custom.values() if s.info.crd_name == meta["name"]]:
                if store.info.version != served_versions(crd)[0]["name"]:
                    continue  # all versions share one storage: clean through one of them
                for obj in store.list("", ListOptions()).items:
                    remaining += 1
                    if not obj["metadata"].get("deletionTimestamp"):
                        try:
                            store.delete(obj["metadata"].get("namespace", ""), obj["metadata"]["name"], DeleteOptions())
                        except errors.APIError:
                            pass  # gone or changed meanwhile; the next pass looks again
            if remaining == 0:
                self._remove_cleanup_finalizer(crd_store, meta["name"])

    def _remove_cleanup_finalizer(self, crd_store: RESTStore, name: str) -> None:
        def drop(obj: dict[str, Any]) -> dict[str, Any]:
            obj["metadata"]["finalizers"] = [f for f in obj["metadata"].get("finalizers") or []
                                             if f != CLEANUP_FINALIZER]
            return obj

        try:
            stored = self.storage.guaranteed_update(crd_store.key("", name), drop)
            crd_store._finish_deletion(crd_store.key("", name), stored)
        except st.KeyNotFoundError:
            pass

    # -- background work -----------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="crd-catalog", daemon=True)
        self._thread.start()
        self.namespaces.start()

    def _loop(self) -> None:
        prefix = self._builtin[CRD_KEY].info.key_prefix()
        while not self._stop.is_set():
            try:
                watcher = self._watcher = self.storage.watch(prefix, self.storage.current_revision())
                self.refresh_crds()
                self._finish_crd_deletions()
                while not self._stop.is_set():
                    event = watcher.next(2.0)  # a periodic pass also retries CRD cleanup
                    if event is not None:
                        self.refresh_crds()
                    self._finish_crd_deletions()
                watcher.stop()
            except StopIteration:
                continue  # the watch ended (fell behind): start a new one
            except Exception:  # keep the catalog alive whatever one pass hit
                log.exception("CRD catalog loop failed; retrying")
                self._stop.wait(1.0)

    def close(self) -> None:
        self.namespaces.close()
        self._stop.set()
        if self._watcher is not None:
            self._watcher.stop()  # wakes the loop at once
        if self._thread:
            self._thread.join(timeout=5)

    # -- bootstrap -----------------------------------------------------------------

    def bootstrap(self, advertise_host: str = "127.0.0.1", advertise_port: int = 6443) -> None:
        """Create what every cluster starts with (idempotent; several processes may run it)."""
        opts = WriteOptions(field_manager="kube-apiserver", field_validation="Strict")
        namespaces = self._builtin[("", "v1", "namespaces")]
        for name in DEFAULT_NAMESPACES:
            self._ensure(namespaces, "", {"metadata": {"name": name}}, opts)
        service = {
            "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": kubernetes_service_ip(), "type": "ClusterIP", "sessionAffinity": "None",
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": advertise_port}]},
        }
        self._ensure(self._builtin[("", "v1", "services")], "default", service, opts)
        if ipaddress.ip_address(advertise_host).is_loopback:
            return  # Endpoints may not name a loopback address (upstream refuses it too)
        endpoints = {
            "metadata": {"name": "kubernetes", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": advertise_host}],
                         "ports": [{"name": "https", "port": advertise_port, "protocol": "TCP"}]}],
        }
        self._ensure(self._builtin[("", "v1", "endpoints")], "default", endpoints, opts)

    @staticmethod
    def _ensure(store: RESTStore, namespace: str, obj: dict[str, Any], opts: WriteOptions) -> None:
        name = obj["metadata"]["name"]
        try:
            store.get(namespace, name)
            return
        except errors.APIError:
            pass
        try:
            store.create(namespace, obj, [], opts)
        except errors.APIError:
            # Another API server process may be creating the same object right now (it then
            # holds the Service's IP, so ours fails): fine, as long as the object exists.
            store.get(namespace, name)
