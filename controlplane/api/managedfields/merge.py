"""The structural merge: the live object with an applied configuration laid over it.

Where it sits: the first step of ``manager.apply``. The result still holds fields
the applier dropped since its last apply; ``manager.py`` prunes those afterwards,
knowing who owns what. This module knows only the schema.

The rules (structured-merge-diff ``typed/merge.go``):

* the applied value wins for leaves: scalars, atomic maps and lists, and any
  pair of values that are not both containers of the same kind;
* a granular map is merged key by key; keys only the live object has are kept;
* a set or map list is merged item by item, items matched by their path element
  (key fields, or the value itself); items only the live list has are kept;
* a null in the applied configuration over a non-empty granular container leaves
  the container as it is (it only claims the field), over anything else it wins.

Order of a merged list: the applied configuration's items in its order, each
live-only item staying after the item it followed in the live list. So applying
``[b, c]`` over live ``[a, b, x, c]`` gives ``[a, b, x, c]``, and over live
``[c, b]`` gives ``[b, c]``.
"""

from __future__ import annotations

from typing import Any

from ..schema import Schema
from . import shape
from .fieldpath import Path, field
from .shape import child, item_schema, root_schema
from .typed import MISSING


def merge(live: dict[str, Any], applied: dict[str, Any], schema: Schema | None) -> dict[str, Any]:
    """``applied`` merged onto ``live``. The caller has checked ``applied`` (no duplicate keys)."""
    result = _merge(live, applied, root_schema(schema), ())
    return result if isinstance(result, dict) else {}


def _merge(live: Any, applied: Any, schema: Schema | None, path: Path) -> Any:
    if applied is MISSING:
        return live
    if live is MISSING:
        return applied
    kind = shape.container(live, applied, schema, MISSING)
    if kind == "map":
        live_map = live if isinstance(live, dict) else {}
        applied_map = applied if isinstance(applied, dict) else {}
        out: dict[str, Any] = {}
        for name in list(live_map) + [n for n in applied_map if n not in live_map]:
            out[name] = _merge(live_map.get(name, MISSING), applied_map.get(name, MISSING),
                               child(schema, name)[0], path + (field(name),))
        return out
    if kind == "list":
        return _merge_items(live if isinstance(live, list) else [],
                            applied if isinstance(applied, list) else [], schema, path)
    return applied


def _merge_items(live: list[Any], applied: list[Any], schema: Schema | None,
                 path: Path) -> list[Any]:
    """Merge two associative lists item by item (the order rule is in the module docstring).

    A walk over both lists at once, as upstream's ``visitListItems``: an item
    both lists hold is placed where the applied list puts it, so a live item
    found "too early" is skipped and emitted when the applied walk reaches it.
    """
    live_names = shape.elements(live, schema, path)
    applied_names = shape.elements(applied, schema, path)
    live_by_name: dict[str, Any] = {}
    for name, item in zip(live_names, live):
        # A name the live list holds twice cannot be matched to one item; the
        # applied item replaces them all.
        live_by_name[name] = MISSING if name in live_by_name else item
    applied_by_name = dict(zip(applied_names, applied))
    shared = iter([n for n in applied_names if n in live_by_name])
    next_shared = next(shared, None)

    of_item = item_schema(schema)
    out: list[Any] = []
    placed: set[str] = set()

    def place(name: str) -> None:
        live_item = live_by_name.get(name, MISSING)
        out.append(_merge(live_item, applied_by_name[name], of_item, path + (name,)))
        placed.add(name)

    li, ai = 0, 0
    while li < len(live) or ai < len(applied):
        progress = (li, ai)
        if li < len(live) and ai < len(applied):
            name = live_names[li]
            if name == applied_names[ai]:
                place(name)
                li, ai = li + 1, ai + 1
                next_shared = next(shared, None)
                continue
            if name in applied_by_name and next_shared is not None and name != next_shared:
                li += 1  # the applied list wants this one later
                continue
        if li < len(live):
            name = live_names[li]
            if name not in applied_by_name:
                out.append(live[li])  # live-only: stays where it was
                li += 1
                continue
            if name in placed:
                li += 1
        if ai < len(applied):
            name = applied_names[ai]
            place(name)
            ai += 1
            if name == next_shared:
                next_shared = next(shared, None)
        if (li, ai) == progress:  # cannot happen for well-formed input; never spin
            break
    return out
