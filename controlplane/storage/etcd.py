"""The HA store: etcd v3, as the Kubernetes apiserver uses it.

Where it sits: a backend behind :class:`controlplane.storage.Storage`, chosen with
``--store etcd://host:port,host:port,host:port``. Every API server process opens its
own :class:`EtcdStore`; etcd itself (three members on three masters) keeps the data
replicated, so the loss of any one master loses nothing and stops nothing.

How the six verbs map onto etcd (after the apiserver's ``storage/etcd3/store.go``):

* The revision is etcd's revision: one counter for the whole cluster, raised by every
  write. An object's ``resourceVersion`` is its ``mod_revision``; a list carries the
  revision it was read at (the response header's revision).
* Keys: a storage key ``/registry/core/pods/ns/name`` is stored as
  ``<prefix>core/pods/ns/name``; with the default prefix ``/registry/`` that is the
  same key, as upstream stores it. Another prefix keeps several clusters (or tests)
  apart in one etcd.
* ``create`` is a transaction "if the key's create_revision is 0 (it does not exist),
  put". ``guaranteed_update`` and ``delete`` read the key, then write with a
  transaction "if its mod_revision is still the one I read": the compare-and-swap. When
  it fails, the same transaction returns the key's new state, so the retry needs no
  extra read.
* ``list`` is a range over the prefix, at a revision when one is asked for (etcd keeps
  history until it is compacted, so later pages read the same snapshot as the first).
  A page asks for one item more than ``limit``: that item's key is ``continue_key``, and
  etcd's ``count`` (of keys from the page's start) gives ``remaining``.
* ``watch`` is etcd's own watch stream (see ``etcd_watch``): changes come from etcd,
  whoever wrote them; nothing polls.
* ``compact(revision)`` asks etcd to forget history before ``revision``. Compaction is
  cluster-wide: a list or watch from an older revision gets CompactedError (410).

Reads are linearizable (etcd's default): a read on any member sees every write
acknowledged before it, so an API server never answers from a stale member. Requests
go to one member at a time and move to the next when it fails (see ``etcd_client``).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .. import codec
from .etcd_client import TLS, EtcdClient, EtcdError, b64, unb64
from .etcd_watch import EtcdWatcher
from .interface import (
    ADDED,
    DELETED,
    MODIFIED,
    CompactedError,
    Event,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    ListResult,
    Object,
    Preconditions,
    StorageError,
    TryUpdate,
)

log = logging.getLogger(__name__)

REGISTRY = "/registry/"  # every storage key starts with this
DEFAULT_PREFIX = "/registry/"  # ...and is stored under this prefix in etcd
TIMEOUT = 5.0  # seconds a request may take, failover included, before UnavailableError

KeyValue = dict[str, Any]  # an etcd mvccpb.KeyValue as JSON: base64 key/value, int64 as strings


def _encode(obj: Object) -> bytes:
    # resourceVersion is etcd's mod_revision, filled in on every read, so it is never stored.
    meta = obj.get("metadata")
    if meta and "resourceVersion" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "resourceVersion"}}
    return codec.dumps(obj)


def _decode(value: bytes, revision: int) -> Object:
    obj = codec.loads(value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(revision)
    return obj


def _prefix_end(prefix: bytes) -> bytes:
    """etcd's range end for a prefix: the prefix with its last byte raised by one."""
    return prefix[:-1] + bytes([prefix[-1] + 1])


def parse_url(url: str) -> tuple[list[str], str, TLS | None]:
    """``etcd://h1:p1,h2:p2[/prefix/][?cacert=CA&cert=CRT&key=KEY]`` ->
    (["http://h1:p1", ...], "/prefix/", TLS). With ``cacert`` the members are reached over
    HTTPS and verified against that CA; ``cert`` and ``key`` are our client certificate
    (etcd's ``--client-cert-auth``), as the API server's ``--etcd-cafile/certfile/keyfile``."""
    parts = urlsplit(url)
    if parts.scheme != "etcd" or not parts.netloc:
        raise ValueError(f"not an etcd store URL: {url!r} (expected etcd://host:port[,host:port...])")
    query = dict(parse_qsl(parts.query))
    unknown = set(query) - {"cacert", "cert", "key"}
    if unknown:
        raise ValueError(f"unknown etcd store URL option(s) {', '.join(sorted(unknown))}: "
                         "use cacert=, cert= and key=")
    tls = TLS(query["cacert"], query.get("cert"), query.get("key")) if "cacert" in query else None
    scheme = "https" if tls else "http"
    endpoints = [f"{scheme}://{e.strip()}" for e in parts.netloc.split(",") if e.strip()]
    path = parts.path.strip("/")
    return endpoints, f"/{path}/" if path else DEFAULT_PREFIX, tls


class EtcdStore:
    """The :class:`~controlplane.storage.Storage` backend on an etcd v3 cluster."""

    def __init__(self, endpoints: list[str], *, prefix: str = DEFAULT_PREFIX,
                 timeout: float = TIMEOUT, tls: TLS | None = None) -> None:
        if not prefix.startswith("/") or not prefix.endswith("/"):
            raise ValueError(f"etcd key prefix {prefix!r} must start and end with '/'")
        self.prefix = prefix
        self._client = EtcdClient(endpoints, timeout, tls)
        self._watchers: weakref.WeakSet[EtcdWatcher] = weakref.WeakSet()
        self._watchers_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> EtcdStore:
        endpoints, prefix, tls = parse_url(url)
        return cls(endpoints, prefix=prefix, tls=tls)

    # -- keys ----------------------------------------------------------------------

    def _etcd_key(self, key: str) -> bytes:
        if not key.startswith(REGISTRY):
            raise ValueError(f"storage key {key!r} does not start with {REGISTRY}")
        return (self.prefix + key[len(REGISTRY):]).encode()

    def _storage_key(self, etcd_key: str) -> str:
        return REGISTRY + unb64(etcd_key).decode()[len(self.prefix):]

    def _kv_object(self, kv: KeyValue) -> Object:
        return _decode(unb64(kv.get("value", "")), int(kv["mod_revision"]))

    # -- requests ------------------------------------------------------------------

    def _range(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        """A linearizable range; etcd's revision errors become storage errors."""
        try:
            return self._client.call("/v3/kv/range", body, key=key, idempotent=True)
        except EtcdError as e:
            raise self._storage_error(key, e, body.get("revision", 0)) from None

    def _txn(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._client.call("/v3/kv/txn", body, key=key, idempotent=False)
        except EtcdError as e:
            raise self._storage_error(key, e, 0) from None

    def _storage_error(self, key: str, error: EtcdError, revision: int) -> StorageError:
        if "required revision has been compacted" in error.message:
            return CompactedError(key, revision, self.compact_revision())
        if "required revision is a future revision" in error.message:
            current = self.current_revision()
            return FutureRevisionError(key, f"Too large resource version: {revision}, current: {current}")
        return StorageError(key, f"etcd: {error.message}")

    def _get_kv(self, key: str) -> KeyValue:
        kvs = self._range(key, {"key": b64(self._etcd_key(key))}).get("kvs")
        if not kvs:
            raise KeyNotFoundError(key)
        return kvs[0]

    def _swap(self, key: str, kv: KeyValue, operation: dict[str, Any]) -> tuple[int, KeyValue | None]:
        """Apply ``operation`` if ``key`` is still at ``kv``'s mod_revision.

        Returns (new revision, None) on success, or (0, the key's current kv) when somebody
        wrote first; KeyNotFoundError if it was deleted meanwhile."""
        ekey = b64(self._etcd_key(key))
        answer = self._txn(key, {
            "compare": [{"target": "MOD", "key": ekey, "mod_revision": kv["mod_revision"]}],
            "success": [operation],
            "failure": [{"request_range": {"key": ekey}}],
        })
        if answer.get("succeeded"):
            return int(answer["header"]["revision"]), None
        kvs = answer["responses"][0]["response_range"].get("kvs")
        if not kvs:
            raise KeyNotFoundError(key)
        return 0, kvs[0]

    # -- reads ---------------------------------------------------------------------

    def get(self, key: str) -> Object:
        return self._kv_object(self._get_kv(key))

    def current_revision(self) -> int:
        answer = self._range(self.prefix, {"key": b64(self.prefix), "count_only": True})
        return int(answer["header"]["revision"])

    def list(
        self, prefix: str, *, revision: int = 0, limit: int = 0, start_key: str = ""
    ) -> ListResult:
        low = max(prefix, start_key) if start_key else prefix
        body: dict[str, Any] = {
            "key": b64(self._etcd_key(low)),
            "range_end": b64(_prefix_end(self._etcd_key(prefix))),
        }
        if revision:
            body["revision"] = revision
        if limit:
            body["limit"] = min(limit, 2**62) + 1  # one more tells whether another page exists
        answer = self._range(prefix, body)
        kvs = answer.get("kvs", [])
        result = ListResult(items=[self._kv_object(kv) for kv in kvs[:limit or None]],
                            revision=revision or int(answer["header"]["revision"]))
        if limit and len(kvs) > limit:
            result.continue_key = self._storage_key(kvs[limit]["key"])
            result.remaining = int(answer["count"]) - limit  # count: keys from this page's start
        return result

    # -- writes --------------------------------------------------------------------

    def create(self, key: str, obj: Object) -> Object:
        ekey = b64(self._etcd_key(key))
        value = _encode(obj)
        answer = self._txn(key, {
            "compare": [{"target": "CREATE", "key": ekey, "create_revision": 0}],
            "success": [{"request_put": {"key": ekey, "value": b64(value)}}],
        })
        if not answer.get("succeeded"):
            raise KeyExistsError(key)
        return _decode(value, int(answer["header"]["revision"]))

    def guaranteed_update(
        self,
        key: str,
        try_update: TryUpdate,
        *,
        preconditions: Preconditions | None = None,
    ) -> Object:
        kv = self._get_kv(key)
        while True:
            current = self._kv_object(kv)
            if preconditions:
                preconditions.check(key, current)
            old_value = _encode(current)
            updated = try_update(self._kv_object(kv))  # a private copy the caller may mutate
            if updated is None:
                return current
            value = _encode(updated)
            if value == old_value:
                return current
            put = {"request_put": {"key": b64(self._etcd_key(key)), "value": b64(value)}}
            revision, newer = self._swap(key, kv, put)
            if newer is None:
                return _decode(value, revision)
            kv = newer  # lost the race: try again on what the winner wrote

    def delete(
        self,
        key: str,
        *,
        preconditions: Preconditions | None = None,
        validate: Callable[[Object], None] | None = None,
    ) -> Object:
        kv = self._get_kv(key)
        while True:
            current = self._kv_object(kv)
            if preconditions:
                preconditions.check(key, current)
            if validate:
                validate(current)
            remove = {"request_delete_range": {"key": b64(self._etcd_key(key))}}
            _, newer = self._swap(key, kv, remove)
            if newer is None:
                return current  # as upstream: the last state, at its last revision
            kv = newer

    # -- watch ---------------------------------------------------------------------

    def watch(self, prefix: str, revision: int) -> EtcdWatcher:
        # etcd streams from start_revision = revision + 1; read at ``revision`` first, so
        # that a compacted one raises here, exactly when the SQLite store raises.
        ekey = self._etcd_key(prefix)
        try:
            self._range(prefix, {"key": b64(ekey), "count_only": True, "revision": max(revision, 1)})
        except FutureRevisionError:
            pass  # a watch from a revision not reached yet is fine: it waits for it
        request: dict[str, Any] = {"key": b64(ekey), "prev_kv": True, "progress_notify": True}
        if prefix.endswith("/"):
            request["range_end"] = b64(_prefix_end(ekey))
        watcher = EtcdWatcher(self._client, request, key=prefix, after=revision,
                              to_event=self._event, retry_for=2 * self._client.timeout)
        with self._watchers_lock:
            self._watchers.add(watcher)
        return watcher

    def _event(self, raw: dict[str, Any]) -> Event:
        kv, prev = raw["kv"], raw.get("prev_kv")
        key, revision = self._storage_key(kv["key"]), int(kv["mod_revision"])
        prev_object = self._kv_object(prev) if prev else None
        if raw.get("type") == "DELETE":
            # The deleted object is its last state, at the deletion's revision. Without
            # prev_kv (compacted under our feet) all we know is which key went away.
            if prev:
                obj = _decode(unb64(prev.get("value", "")), revision)
            else:
                obj = {"metadata": {"name": key.rsplit("/", 1)[-1], "resourceVersion": str(revision)}}
            return Event(DELETED, key, obj, prev_object, revision)
        if int(kv.get("version", 0)) == 1:  # the first version of the key: a create
            return Event(ADDED, key, self._kv_object(kv), None, revision)
        return Event(MODIFIED, key, self._kv_object(kv), prev_object, revision)

    # -- compaction ----------------------------------------------------------------

    def compact(self, revision: int) -> int:
        """Forget history before ``revision`` (cluster-wide); keep every key's state as of then.

        etcd does not say how much it freed, so this returns 0. Compacting to a revision
        that is already compacted (another API server got there first) does nothing."""
        revision = min(revision, self.current_revision())
        if revision <= 0:
            return 0
        try:
            self._client.call("/v3/kv/compaction", {"revision": revision},
                              key=self.prefix, idempotent=True)
        except EtcdError as e:
            if "required revision has been compacted" not in e.message:
                raise StorageError(self.prefix, f"etcd: {e.message}") from None
        return 0

    def compact_revision(self) -> int:
        """The oldest revision that can still be read (0 if nothing was ever compacted).

        etcd does not report it, but a read at an older revision fails: search for the
        boundary (about 20 small reads for a million revisions; only used for messages)."""
        def readable(revision: int) -> bool:
            body = {"key": b64(self.prefix), "count_only": True, "revision": revision}
            try:
                self._client.call("/v3/kv/range", body, key=self.prefix, idempotent=True)
                return True
            except EtcdError:
                return False

        low, high = 1, self.current_revision()  # etcd never compacts beyond its revision
        if readable(low):
            return 0
        while high - low > 1:  # readable(high) and not readable(low)
            middle = (low + high) // 2
            if readable(middle):
                high = middle
            else:
                low = middle
        return high

    def close(self) -> None:
        with self._watchers_lock:
            watchers = list(self._watchers)
        for watcher in watchers:
            watcher.stop()
        self._client.close()
