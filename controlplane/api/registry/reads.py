"""Reading a resource: list (with selectors, pages and resourceVersion rules) and watch.

Where it sits: mixed into :class:`~controlplane.api.registry.store.RESTStore`; the
list and watch handlers call :meth:`Reads.list` and :meth:`Reads.watch`.

resourceVersion rules for a list, as upstream documents them:

* unset: the newest state;  ``"0"``: any state (we serve the newest);
* ``N`` (``NotOlderThan``, the default match): at least as new as N; a revision the
  store has not reached is a 400 "Too large resource version";
* ``N`` with ``resourceVersionMatch=Exact``: exactly the state at N (410 once compacted);
* ``continue``: the next page, read at the first page's revision.

A watch from ``""``/``"0"`` starts with synthetic ADDED events for what exists, then
streams changes; from ``N`` it streams every change after N, or one ERROR event with
code 410 when N has been compacted. Selector transitions are reported as upstream
does: an object that stops matching is DELETED for this watch, one that starts
matching is ADDED.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from ... import storage as st
from .. import errors
from ..fielderrors import forbidden
from ..selectors import EVERYTHING, Selector, SelectorError, parse_field_selector, parse_label_selector
from .options import ListOptions, decode_continue, encode_continue

LIST_BATCH = 1000


@dataclasses.dataclass
class ListPage:
    items: list[dict[str, Any]]
    revision: int
    continue_token: str = ""
    remaining: int | None = None


@dataclasses.dataclass
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED | BOOKMARK | ERROR
    object: dict[str, Any]


def _parse_revision(value: str) -> int:
    try:
        revision = int(value)
    except ValueError:
        revision = -1
    if not 0 <= revision < 2**64:  # a uint64, as upstream parses it
        raise errors.bad_request(f'resourceVersion: Invalid value: "{value}": must be a non-negative integer')
    return revision


def expired(message: str) -> errors.APIError:
    return errors.gone(message)


class Reads:
    """List and watch for a RESTStore (uses its storage, info, strategy and out())."""

    storage: st.Storage

    def selectors(self, opts: ListOptions) -> tuple[Selector, Selector]:
        try:
            labels = parse_label_selector(opts.label_selector)
            fields = parse_field_selector(opts.field_selector, self.strategy.field_label_names)
        except SelectorError as e:
            raise errors.bad_request(str(e)) from None
        return labels, fields

    def matcher(self, opts: ListOptions):
        labels, fields = self.selectors(opts)
        getter = self.strategy.field_getter

        def matches(obj: dict[str, Any]) -> bool:
            if not labels.empty and not labels.matches(obj.get("metadata", {}).get("labels") or {}):
                return False
            return fields.empty or fields.matches(getter(obj))

        return matches, labels is EVERYTHING and fields is EVERYTHING

    # -- list ----------------------------------------------------------------------

    def list(self, namespace: str, opts: ListOptions) -> ListPage:
        matches, unfiltered = self.matcher(opts)
        prefix = self.info.key_prefix(namespace if self.info.namespaced else "")
        revision, start = 0, ""
        if opts.continue_token:
            if opts.resource_version not in ("", "0"):
                raise errors.bad_request("specifying resource version is not allowed when using continue")
            revision, start = decode_continue(opts.continue_token, prefix)
        elif opts.resource_version:
            wanted = _parse_revision(opts.resource_version)
            if opts.resource_version_match == "Exact":
                if wanted == 0:
                    raise errors.bad_request('resourceVersionMatch "exact" is forbidden for resourceVersion "0"')
                revision = wanted
            elif wanted:
                self._check_revision(wanted)
        try:
            return self._collect(prefix, revision, start, opts.limit, matches, unfiltered)
        except st.CompactedError:
            if opts.continue_token:
                raise expired(
                    "The provided continue parameter is too old to display a consistent list result. "
                    "You can start a new list without the continue parameter.") from None
            raise expired(f"too old resource version: {revision} ({self.storage.compact_revision()})") from None
        except st.FutureRevisionError as e:
            raise errors.bad_request(str(e)) from None

    def _check_revision(self, wanted: int) -> None:
        """A revision the store has not reached cannot come from this cluster.

        Upstream's watch cache may lag behind etcd, so it waits for such a revision and
        then answers 504 Timeout. Every kubeclass API server reads the store itself, never
        a cache, so a newer revision is always the client's mistake: 400, upstream's words."""
        current = self.storage.current_revision()
        if wanted > current:
            raise errors.bad_request(f"Too large resource version: {wanted}, current: {current}")

    def _collect(self, prefix: str, revision: int, start: str, limit: int, matches, unfiltered: bool) -> ListPage:
        if unfiltered:
            # Without selectors a page is exactly what storage returns.
            res = self.storage.list(prefix, revision=revision, limit=limit, start_key=start)
            page = ListPage([self.out(o) for o in res.items], res.revision)
            if res.continue_key:
                page.continue_token = encode_continue(res.revision, res.continue_key, prefix)
                page.remaining = res.remaining
            return page
        items: list[dict[str, Any]] = []
        batch = max(limit, LIST_BATCH) if limit else 0
        while True:
            res = self.storage.list(prefix, revision=revision, limit=batch, start_key=start)
            revision = res.revision  # later batches read the same snapshot
            for obj in res.items:
                obj = self.out(obj)
                if not matches(obj):
                    continue
                items.append(obj)
                if limit and len(items) == limit:
                    # Resume right after this object's key (upstream appends "\x00").
                    key = self.info.key(obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
                    more = res.continue_key or self._has_more(prefix, revision, key + "\x00")
                    token = encode_continue(revision, key + "\x00", prefix) if more else ""
                    return ListPage(items, revision, token)
            if not res.continue_key:
                return ListPage(items, revision)
            start = res.continue_key

    def _has_more(self, prefix: str, revision: int, start: str) -> bool:
        return bool(self.storage.list(prefix, revision=revision, limit=1, start_key=start).items)

    # -- watch ---------------------------------------------------------------------

    def watch(self, namespace: str, opts: ListOptions) -> WatchStream:
        matches, _ = self.matcher(opts)
        prefix = self.info.key_prefix(namespace if self.info.namespaced else "")
        initial: list[WatchEvent] = []
        rv = opts.resource_version
        send_initial = opts.send_initial_events
        if send_initial is None:
            send_initial = rv in ("", "0")
        elif send_initial and not opts.allow_bookmarks:
            raise errors.invalid("ListOptions", "meta.k8s.io", "", [forbidden(
                "allowWatchBookmarks", "allowWatchBookmarks must be set to true when sendInitialEvents is specified")])
        if send_initial:
            res = self.storage.list(prefix) if rv in ("", "0") else self._list_not_older(prefix, rv)
            start = res.revision
            initial = [WatchEvent("ADDED", o) for o in (self.out(i) for i in res.items) if matches(o)]
            if opts.send_initial_events:
                initial.append(WatchEvent("BOOKMARK", self._bookmark(start, initial_end=True)))
        else:
            start = _parse_revision(rv)
        try:
            watcher = self.storage.watch(prefix, start)
        except st.CompactedError as e:
            status = errors.gone(f"too old resource version: {start} ({e.compacted})").status()
            return WatchStream(self, None, [WatchEvent("ERROR", status)], matches, opts)
        return WatchStream(self, watcher, initial, matches, opts)

    def _list_not_older(self, prefix: str, rv: str) -> st.ListResult:
        self._check_revision(_parse_revision(rv))
        return self.storage.list(prefix)

    def _bookmark(self, revision: int, initial_end: bool = False) -> dict[str, Any]:
        meta: dict[str, Any] = {"resourceVersion": str(revision)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {"kind": self.info.kind, "apiVersion": self.info.api_version, "metadata": meta}


class WatchStream:
    """The events of one watch request, filtered for it. ``next()`` returns an event,
    None when nothing happened within the timeout, and raises StopIteration at the end."""

    def __init__(self, reads: Reads, watcher: st.Watcher | None, initial: list[WatchEvent],
                 matches, opts: ListOptions) -> None:
        self._reads = reads
        self._watcher = watcher
        self._pending = list(initial)
        self._matches = matches
        self.allow_bookmarks = opts.allow_bookmarks

    def next(self, timeout: float) -> WatchEvent | None:
        while True:
            if self._pending:
                return self._pending.pop(0)
            if self._watcher is None:
                raise StopIteration
            event = self._watcher.next(timeout)
            if event is None:
                return None
            translated = self._translate(event)
            if translated is not None:
                return translated

    def _translate(self, event: st.Event) -> WatchEvent | None:
        obj = self._reads.out(event.object)
        now = self._matches(obj)
        if event.type == st.MODIFIED and event.prev_object is not None:
            before = self._matches(self._reads.out(event.prev_object))
            if now and not before:
                return WatchEvent("ADDED", obj)
            if before and not now:
                return WatchEvent("DELETED", obj)
        return WatchEvent(event.type, obj) if now else None

    def bookmark(self) -> WatchEvent | None:
        """A BOOKMARK at a revision every earlier event was delivered for, if there is one."""
        if self._watcher is None or self._pending:
            return None
        revision = self._watcher.progress_revision()
        if revision is None:
            return None
        return WatchEvent("BOOKMARK", self._reads._bookmark(revision))

    def __iter__(self) -> Iterator[WatchEvent]:
        while True:
            try:
                event = self.next(1.0)
            except StopIteration:
                return
            if event is not None:
                yield event

    def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
