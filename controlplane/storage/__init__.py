"""Revisioned storage for the API server: one interface, several backends.

Only ``controlplane.api`` imports this package (import-linter checks it): every other
component reaches the cluster state through the API server, as in Kubernetes.
"""

from .etcd import EtcdStore
from .interface import (
    ADDED,
    DELETED,
    MODIFIED,
    CompactedError,
    ConflictError,
    Event,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    ListResult,
    Object,
    Preconditions,
    Storage,
    StorageError,
    UnavailableError,
    Watcher,
)
from .sqlite import SQLiteStore


def open_store(url: str) -> Storage:
    """Open a backend from a URL: ``sqlite:///path/to/db`` (or a bare path), or
    ``etcd://host:port[,host:port...][/prefix/]`` (every member of the etcd cluster;
    keys go under ``/prefix/``, by default ``/registry/`` as upstream)."""
    if url.startswith("sqlite://"):
        return SQLiteStore(url[len("sqlite://"):])
    if url.startswith("etcd://"):
        return EtcdStore.from_url(url)
    if "://" in url:
        raise ValueError(f"unsupported store URL {url!r}: use sqlite:///path/to/file.db "
                         "or etcd://host:port,host:port,host:port")
    return SQLiteStore(url)


__all__ = [
    "ADDED", "DELETED", "MODIFIED", "CompactedError", "ConflictError", "EtcdStore", "Event",
    "FutureRevisionError", "KeyExistsError", "KeyNotFoundError", "ListResult", "Object",
    "Preconditions", "SQLiteStore", "Storage", "StorageError", "UnavailableError", "Watcher",
    "open_store",
]
