"""The storage interface: six verbs over a revisioned key-value log.

Where it sits: only the API server (``controlplane.api``) calls this. Every backend
(``sqlite`` now, ``etcd`` for HA later) implements :class:`Storage` and must pass the
conformance suite in ``tests/storage``. The shape follows the Kubernetes apiserver's
``storage.Interface``:

* ``create``, ``get``, ``list``, ``guaranteed_update``, ``delete`` and ``watch``;
* every object carries the revision of its last write in ``metadata.resourceVersion``
  (a string), and every list carries the revision it was read at;
* errors are storage errors (:class:`KeyNotFoundError`, :class:`KeyExistsError`,
  :class:`ConflictError`, :class:`CompactedError`), never HTTP codes: the API layer maps
  them to 404, 409 and 410.

Keys look like ``/registry/<group>/<resource>/<namespace>/<name>``; a prefix given to
``list`` or ``watch`` always ends with ``/`` so that ``/a/`` never matches ``/ab/``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, Protocol

Object = dict[str, Any]

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"


class StorageError(Exception):
    """Base class of every storage error. ``key`` is the key the operation was about."""

    def __init__(self, key: str, message: str = "") -> None:
        super().__init__(message or f"{self.__class__.__name__}: {key}")
        self.key = key


class KeyNotFoundError(StorageError):
    """The key does not exist (or no longer exists)."""


class KeyExistsError(StorageError):
    """``create`` found the key already there."""


class ConflictError(StorageError):
    """A precondition failed, or the object changed between read and write."""


class CompactedError(StorageError):
    """The requested revision is older than the oldest one the store still keeps."""

    def __init__(self, key: str, requested: int, compacted: int) -> None:
        super().__init__(key, f"revision {requested} has been compacted (oldest kept: {compacted})")
        self.requested = requested
        self.compacted = compacted


class UnavailableError(StorageError):
    """The backend cannot be reached or did not answer in time."""


class FutureRevisionError(StorageError):
    """A read asked for a revision the store has not reached yet."""


@dataclasses.dataclass(frozen=True)
class Preconditions:
    """Conditions a write checks against the stored object (DeleteOptions.preconditions)."""

    uid: str | None = None
    resource_version: str | None = None

    def check(self, key: str, obj: Object) -> None:
        meta = obj.get("metadata", {})
        if self.uid is not None and self.uid != meta.get("uid"):
            raise ConflictError(
                key,
                f"Precondition failed: UID in precondition: {self.uid}, "
                f"UID in object meta: {meta.get('uid', '')}",
            )
        if self.resource_version is not None and self.resource_version != meta.get("resourceVersion"):
            raise ConflictError(
                key,
                "Precondition failed: ResourceVersion in precondition: "
                f"{self.resource_version}, ResourceVersion in object meta: "
                f"{meta.get('resourceVersion', '')}",
            )


@dataclasses.dataclass
class ListResult:
    """One page of a list. ``revision`` is the store revision the page was read at."""

    items: list[Object]
    revision: int
    continue_key: str = ""  # the next key to read from, or "" when this is the last page
    remaining: int = 0  # how many more items there are after this page


@dataclasses.dataclass(frozen=True)
class Event:
    """One change seen by a watch. ``prev_object`` is the state before the change (None on ADDED)."""

    type: str
    key: str
    object: Object
    prev_object: Object | None
    revision: int


class Watcher(Protocol):
    """An open watch: iterate to receive events, ``stop()`` to end it (safe to call twice).

    Iteration blocks until an event arrives. A watcher that falls too far behind is
    ended by the store; the iteration then stops and the caller re-watches from the
    last revision it saw (an API client sees its stream end and reconnects).
    """

    def __iter__(self) -> Iterator[Event]: ...

    def next(self, timeout: float) -> Event | None:
        """The next event, or None if none arrived within ``timeout`` seconds.

        Raises StopIteration when the watch has ended.
        """
        ...

    def progress_revision(self) -> int | None:
        """A revision up to which every matching event has been returned (for watch
        bookmarks), or None if events are still waiting to be read."""
        ...

    def stop(self) -> None: ...


TryUpdate = Callable[[Object], Object | None]
"""Given the current object, return the new one; return None to leave it unchanged."""


class Storage(Protocol):
    def create(self, key: str, obj: Object) -> Object:
        """Add ``obj`` at ``key`` unless the key exists (KeyExistsError). Returns the stored object."""
        ...

    def get(self, key: str) -> Object:
        """The current object at ``key``, or KeyNotFoundError."""
        ...

    def list(
        self, prefix: str, *, revision: int = 0, limit: int = 0, start_key: str = ""
    ) -> ListResult:
        """Objects under ``prefix`` (ending in ``/``) in key order.

        ``revision`` 0 reads the newest state; otherwise the state as of that revision
        (CompactedError if it is too old). ``limit`` 0 means all; otherwise at most
        ``limit`` items, starting at ``start_key`` (inclusive), with ``continue_key`` set
        when more remain.
        """
        ...

    def guaranteed_update(
        self,
        key: str,
        try_update: TryUpdate,
        *,
        preconditions: Preconditions | None = None,
    ) -> Object:
        """Read the object, call ``try_update`` on it, and compare-and-swap the result.

        On a concurrent write the loop reads again and calls ``try_update`` again, so
        ``try_update`` must be a pure function of its input. Exceptions it raises reach
        the caller unchanged. If it returns None (or an object equal to the input) the
        store is not written and the current object is returned.
        """
        ...

    def delete(
        self,
        key: str,
        *,
        preconditions: Preconditions | None = None,
        validate: Callable[[Object], None] | None = None,
    ) -> Object:
        """Remove ``key`` and return its last state (at its last revision, as upstream does).

        ``preconditions`` and ``validate`` are checked against the current object inside
        the same compare-and-swap loop; ``validate`` may raise to refuse the deletion.
        """
        ...

    def watch(self, prefix: str, revision: int) -> Watcher:
        """Every change under ``prefix`` (or at exactly that key, if it has no trailing ``/``)
        with a revision strictly greater than ``revision``.

        CompactedError if ``revision`` is older than the oldest kept revision.
        """
        ...

    def current_revision(self) -> int:
        """The revision of the newest write."""
        ...

    def compact(self, revision: int) -> int:
        """Forget history up to ``revision`` (current state is kept). Returns rows removed."""
        ...

    def close(self) -> None: ...
