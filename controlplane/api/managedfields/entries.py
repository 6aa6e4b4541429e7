"""``metadata.managedFields`` on the wire, and in memory as who-owns-which-fields.

Where it sits: ``manager.py`` decodes an object's ``managedFields`` into a
:data:`Managed` table, changes the table, and encodes it back. Nothing here
knows about schemas or merging.

An entry belongs to a *manager identity* (:class:`ManagerKey`), as upstream's
``BuildManagerIdentifier`` defines it: the manager name, the operation, the
subresource, and, for ``Update`` entries only, the apiVersion written. So
``kubectl`` applying and ``kubectl`` scaling are two owners, and an applier keeps
one entry whatever version it applies.

Encoding promises upstream's order: ``Apply`` entries before ``Update`` ones, then
oldest first, then by manager, apiVersion and subresource. :func:`cap_updaters`
folds the oldest ``Update`` entries into ``ancient-changes`` beyond ten.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from .errors import Conflict, identifier
from .fieldpath import FieldSet, Path, from_fields_v1, render, to_fields_v1

APPLY = "Apply"
UPDATE = "Update"
MAX_UPDATE_MANAGERS = 10
ANCIENT_CHANGES = "ancient-changes"


@dataclasses.dataclass(frozen=True)
class ManagerKey:
    """Who owns an entry: ``ManagerKey("kubectl", "Update", "apps/v1")``."""

    manager: str
    operation: str
    api_version: str = ""  # kept for Update entries only
    subresource: str = ""

    @classmethod
    def of(cls, manager: str, operation: str, api_version: str,
           subresource: str = "") -> ManagerKey:
        return cls(manager, operation, api_version if operation == UPDATE else "", subresource)

    def identity(self) -> str:
        return identifier(self.manager, self.operation, self.api_version, self.subresource)

    def conflict(self, path: Path, api_version: str) -> Conflict:
        return Conflict(self.manager, render(path), self.operation, api_version, self.subresource)


@dataclasses.dataclass(frozen=True)
class Entry:
    """What one manager owns, the apiVersion it last wrote, and when its fields last changed."""

    fields: FieldSet
    api_version: str
    time: str | None = None


Managed = dict[ManagerKey, Entry]


def is_reset(items: Any) -> bool:
    """True for ``[]`` and ``[{}]``: a client asking for ``managedFields`` to be cleared."""
    return isinstance(items, list) and (items == [] or items == [{}])


def decode(items: Any) -> Managed:
    """``metadata.managedFields`` -> :data:`Managed`. Raises ValueError if an entry is invalid."""
    managed: Managed = {}
    if items is None:
        return managed
    if not isinstance(items, list):
        raise ValueError("managedFields must be a list")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"managed fields entry {i} must be an object")
        operation = item.get("operation")
        if operation not in (APPLY, UPDATE):
            raise ValueError("operation must be `Apply` or `Update`")
        api_version = item.get("apiVersion") or ""
        if not api_version:
            raise ValueError("apiVersion must not be empty")
        fields_type = item.get("fieldsType") or ""
        if fields_type != "FieldsV1":
            raise ValueError(f"missing fieldsType in managed fields entry {i}" if not fields_type
                             else f"invalid fieldsType {fields_type!r} in managed fields entry {i}")
        key = ManagerKey.of(item.get("manager") or "", operation, api_version,
                            item.get("subresource") or "")
        fields = from_fields_v1(item.get("fieldsV1") or {})
        managed[key] = Entry(fields, api_version, item.get("time"))
    return managed


def encode(managed: Managed) -> list[dict[str, Any]]:
    """:data:`Managed` -> ``metadata.managedFields`` in upstream's order."""
    ordered = sorted(
        managed.items(),
        key=lambda kv: (kv[0].operation, _seconds(kv[1].time), kv[0].manager,
                        kv[1].api_version, kv[0].subresource),
    )
    out: list[dict[str, Any]] = []
    for key, entry in ordered:
        item: dict[str, Any] = {"manager": key.manager, "operation": key.operation,
                                "apiVersion": entry.api_version}
        if entry.time is not None:
            item["time"] = entry.time
        item["fieldsType"] = "FieldsV1"
        item["fieldsV1"] = to_fields_v1(entry.fields)
        if key.subresource:
            item["subresource"] = key.subresource
        out.append(item)
    return out


def cap_updaters(managed: Managed, limit: int = MAX_UPDATE_MANAGERS) -> Managed:
    """Keep at most ``limit`` Update entries by merging the oldest into one bucket per apiVersion.

    Without a cap, every controller and script that ever wrote the object would
    leave an entry behind forever.
    """
    updaters = [k for k in managed if k.operation == UPDATE]
    if len(updaters) <= limit:
        return managed
    managed = dict(managed)
    updaters.sort(key=lambda k: (_seconds(managed[k].time), k.identity()))
    first_of_version: dict[str, ManagerKey] = {}
    count = len(updaters)
    for key in updaters:
        if count <= limit:
            break
        entry = managed[key]
        version = entry.api_version
        if version not in first_of_version:
            first_of_version[version] = key
            continue
        bucket = ManagerKey(ANCIENT_CHANGES, UPDATE, version)
        if bucket not in managed:
            managed[bucket] = managed.pop(first_of_version[version])
        managed[bucket] = Entry(entry.fields | managed[bucket].fields, version, entry.time)
        del managed[key]
        count -= 1
    return managed


def _seconds(time: str | None) -> float:
    if not time:
        return 0.0
    try:
        return datetime.datetime.fromisoformat(time.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0
