"""Revisioned storage for the API server: one interface, several backends.

Only ``controlplane.api`` imports this package (import-linter checks it): every other
component reaches the cluster state through the API server, as in Kubernetes.
"""

from .interface import (
    ADDED,
    DELETED,
    MODIFIED,
    CompactedError,
    ConflictError,
    Event,
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
from .sqlite import FutureRevisionError, SQLiteStore


def open_store(url: str) -> Storage:
    """Open a backend from a URL: ``sqlite:///path/to/db`` (or a bare path)."""
    if url.startswith("sqlite://"):
        return SQLiteStore(url[len("sqlite://"):])
    if "://" in url:
        raise ValueError(f"unsupported store URL {url!r}: use sqlite:///path/to/file.db")
    return SQLiteStore(url)


__all__ = [
    "ADDED", "DELETED", "MODIFIED", "CompactedError", "ConflictError", "Event",
    "FutureRevisionError", "KeyExistsError", "KeyNotFoundError", "ListResult", "Object",
    "Preconditions", "SQLiteStore", "Storage", "StorageError", "UnavailableError", "Watcher",
    "open_store",
]
