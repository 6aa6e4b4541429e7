"""Field management: who owns which fields, on every write; and server-side apply.

Where it sits: the API layer calls :func:`update` for every create, update and
patch (just before the object is stored), and :func:`apply` for a patch of type
``application/apply-patch+yaml``. Both read and write ``metadata.managedFields``;
everything else they delegate: ``typed.py`` reads objects, ``merge.py`` merges,
``entries.py`` encodes, ``lastapplied.py`` speaks kubectl's annotation.

An **update** only records: fields the write added or changed now belong to its
manager (and to no one else); fields it removed belong to no one.

An **apply** is a declaration, "these fields, with these values, are mine":

1. merge the applied configuration onto the live object (``merge.py``);
2. the applier's entry becomes exactly the applied field set;
3. *prune*: fields the applier applied last time, no longer applies, and nobody
   else owns are removed from the object;
4. compare the result with the live object: a changed field owned by someone else
   is a conflict; unless forced the apply fails, if forced the others lose it.

Some fields are nobody's: identity and server-set metadata (:data:`STRIPPED`),
and the part of the object another endpoint writes (``status`` for the main
resource when there is a status subresource, ``spec`` for the status
subresource). Upstream calls the latter "reset fields"; here an apply also keeps
their live values.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from ..schema import Schema
from . import entries, lastapplied
from .entries import APPLY, UPDATE, Entry, Managed, ManagerKey
from .errors import ApplyConflictError, Conflict, InvalidObjectError
from .fieldpath import EMPTY, FieldSet, recursive_difference, render, sort_key
from .merge import merge
from .typed import Comparison, compare, ensure_named_fields, field_set, remove, same

STRIPPED: FieldSet = frozenset(
    (("f:apiVersion",), ("f:kind",), ("f:metadata",))
    + tuple(("f:metadata", "f:" + name) for name in (
        "name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
        "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink",
        "clusterName",
    ))
)
BEFORE_FIRST_APPLY = "before-first-apply"


def apply(live: dict[str, Any] | None, applied: dict[str, Any], *, manager: str, force: bool,
          api_version: str, schema: Schema | None, now: str, subresource: str = "",
          has_status_subresource: bool = True) -> dict[str, Any]:
    """Server-side apply ``applied`` onto ``live`` (None: the object is being created).

    Returns the new object with ``metadata.managedFields`` updated; raises
    :class:`ApplyConflictError` on conflicts unless ``force``, and
    :class:`InvalidObjectError` if ``applied`` cannot be walked by the schema.
    """
    if (applied.get("metadata") or {}).get("managedFields") is not None:
        raise InvalidObjectError("metadata.managedFields must be nil")
    body = _body(live) if live is not None else {}
    managed = entries.decode((live or {}).get("metadata", {}).get("managedFields"))
    reset = _reset_fields(subresource, has_status_subresource)
    if live is not None and not managed:
        # An object nobody tracked yet: what is there was written by someone.
        managed = _record(_Write({}, body, schema, reset, api_version, now),
                          managed, ManagerKey.of(BEFORE_FIRST_APPLY, UPDATE, api_version))

    key = ManagerKey.of(manager or "unknown", APPLY, api_version, subresource)
    write = _Write(body, copy.deepcopy(applied), schema, reset, api_version, now)
    try:
        result, managed = _apply(write, managed, key, force)
    except ApplyConflictError as err:
        allowed = (lastapplied.allowed_conflicts(body, api_version, schema)
                   if manager == lastapplied.KUBECTL else None)
        if allowed is None:
            raise
        allowed_paths = {render(p) for p in allowed}
        remaining = [c for c in err.conflicts if c.path not in allowed_paths]
        if remaining:
            raise ApplyConflictError(remaining, api_version) from None
        result, managed = _apply(write, managed, key, force=True)

    if manager == lastapplied.KUBECTL:
        lastapplied.sync_annotation(result, applied)
    _store(result, managed)
    return result


def update(old: dict[str, Any] | None, new: dict[str, Any], *, manager: str, api_version: str,
           schema: Schema | None, now: str, subresource: str = "",
           has_status_subresource: bool = True) -> None:
    """Record a create (``old`` None), update or patch in ``new["metadata"]["managedFields"]``."""
    metadata = new.get("metadata")
    if not isinstance(metadata, dict):
        return
    old_items = (old or {}).get("metadata", {}).get("managedFields")
    managed = _managed_for_update(old_items, metadata.get("managedFields"), subresource)
    if not managed and old is not None:
        # Tracking starts on create or on the first apply; an object whose
        # managedFields were cleared stays untracked until then.
        _store(new, {})
        return
    write = _Write(_body(old) if old is not None else {}, _body(new), schema,
                   _reset_fields(subresource, has_status_subresource), api_version, now)
    try:
        key = ManagerKey.of(manager or "unknown", UPDATE, api_version, subresource)
        managed = _record(write, managed, key)
    except InvalidObjectError:
        # Never fail a write over bookkeeping: keep what was recorded before.
        if old_items:
            metadata["managedFields"] = copy.deepcopy(old_items)
        else:
            metadata.pop("managedFields", None)
        return
    _store(new, entries.cap_updaters(managed))


# -- the steps -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Write:
    """One write: the object before, the object after (or the applied configuration), context."""

    before: dict[str, Any]
    after: dict[str, Any]
    schema: Schema | None
    reset: FieldSet  # fields this endpoint may not write (status, or spec)
    api_version: str
    now: str

    def diff(self, result: dict[str, Any]) -> Comparison:
        return compare(self.before, result, self.schema).without(self.reset)


def _record(write: _Write, managed: Managed, key: ManagerKey) -> Managed:
    """Give ``key`` every field the write added or changed; drop removed fields from everyone."""
    diff = write.diff(write.after)
    managed = _take(diff, managed, skip=None, force=True, api_version=write.api_version)
    changed = diff.changed - STRIPPED
    if changed:
        previous = managed.get(key)
        owned = changed | (previous.fields if previous else EMPTY)
        managed[key] = Entry(owned, write.api_version, write.now)
    return managed


def _apply(write: _Write, managed: Managed, key: ManagerKey,
           force: bool) -> tuple[dict[str, Any], Managed]:
    """The four steps of the module docstring; returns the new object and ownership table."""
    applied_set = field_set(write.after, write.schema, strict=True)
    merged = merge(write.before, write.after, write.schema)
    managed = dict(managed)
    previous = managed.get(key)
    managed[key] = Entry(recursive_difference(applied_set, write.reset), write.api_version,
                         previous.time if previous else None)
    if previous is not None:
        merged = _prune(merged, managed, key, previous.fields, write.schema)
    _restore(merged, write.before, write.reset)
    managed = _take(write.diff(merged), managed, skip=key, force=force,
                    api_version=write.api_version)
    if key in managed:
        owned = managed[key].fields - STRIPPED
        changed = not same(write.before, merged)
        if owned:
            time = write.now if changed else managed[key].time
            managed[key] = Entry(owned, write.api_version, time)
        else:
            del managed[key]
    return merged, managed


def _prune(merged: dict[str, Any], managed: Managed, key: ManagerKey, last: FieldSet,
           schema: Schema | None) -> dict[str, Any]:
    """Remove what ``key`` applied last time, applies no more, and nobody else owns.

    Three passes, as upstream's ``prune``: remove everything last applied (struct
    fields on the way included, see ``ensure_named_fields``); put back whatever
    anyone, the applier included, still owns; finally remove only what the
    applier itself applied last time, so fields nobody owns that sat next to the
    dropped ones (server defaults) survive.
    """
    def named(paths: FieldSet) -> FieldSet:
        return ensure_named_fields(paths, schema)

    last_named = named(last)
    merged_set = named(field_set(merged, schema))
    pruned = remove(merged, last_named, schema)
    owned = named(frozenset().union(*(e.fields for e in managed.values())))
    pruned = remove(merged, merged_set - (named(field_set(pruned, schema)) | owned), schema)
    return remove(merged, (merged_set - named(field_set(pruned, schema))) & last_named, schema)


def _take(diff: Comparison, managed: Managed, *, skip: ManagerKey | None, force: bool,
          api_version: str) -> Managed:
    """Settle ownership after a write: changed fields leave their owners, removed fields everyone.

    ``skip`` is the applier, whose entry is already what it should be. Owners of
    changed fields are conflicts; without ``force`` that fails the whole write.
    """
    conflicts: dict[ManagerKey, FieldSet] = {}
    for owner, entry in managed.items():
        if owner != skip and (lost := entry.fields & diff.changed):
            conflicts[owner] = lost
    if conflicts and not force:
        raise ApplyConflictError(_conflicts(conflicts, managed), api_version)
    settled: Managed = {}
    for owner, entry in managed.items():
        fields = entry.fields
        if owner != skip:
            fields = fields - conflicts.get(owner, EMPTY) - diff.removed
        if fields:
            settled[owner] = Entry(fields, entry.api_version, entry.time)
    return settled


def _conflicts(conflicts: dict[ManagerKey, FieldSet], managed: Managed) -> list[Conflict]:
    out = []
    for owner in sorted(conflicts, key=ManagerKey.identity):
        for path in sorted(conflicts[owner], key=lambda p: [sort_key(e) for e in p]):
            out.append(owner.conflict(path, managed[owner].api_version))
    return out


# -- helpers -------------------------------------------------------------------------


def _managed_for_update(old_items: Any, new_items: Any, subresource: str) -> Managed:
    """Whose table an update starts from: the client's, if it sent a valid one, else the stored one.

    Writing ``managedFields`` directly is how kubectl hands client-side-apply
    ownership over to server-side apply; ``[]`` or ``[{}]`` clears it. A
    subresource cannot write metadata, so there the stored table always wins.
    """
    if not subresource:
        if entries.is_reset(new_items):
            return {}
        try:
            sent = entries.decode(new_items)
        except ValueError:
            sent = {}
        if sent:
            return sent
    try:
        return entries.decode(old_items)
    except ValueError:
        return {}


def _reset_fields(subresource: str, has_status_subresource: bool) -> FieldSet:
    if subresource == "status":
        return frozenset({("f:spec",)})
    if not subresource and has_status_subresource:
        return frozenset({("f:status",)})
    return EMPTY


def _restore(merged: dict[str, Any], live: dict[str, Any], reset: FieldSet) -> None:
    """Give reset fields (top-level ones: ``status``, ``spec``) back their live values."""
    for path in reset:
        name = path[0][2:]
        if name in live:
            merged[name] = copy.deepcopy(live[name])
        else:
            merged.pop(name, None)


def _body(obj: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``obj`` without ``metadata.managedFields`` (never part of the comparison)."""
    body = copy.deepcopy(obj)
    if isinstance(body.get("metadata"), dict):
        body["metadata"].pop("managedFields", None)
    return body


def _store(obj: dict[str, Any], managed: Managed) -> None:
    metadata = obj.setdefault("metadata", {})
    encoded = entries.encode(managed)
    if encoded:
        metadata["managedFields"] = encoded
    else:
        metadata.pop("managedFields", None)

