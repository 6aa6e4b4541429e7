"""Reading objects through their schema: which fields an object sets, and what changed.

Where it sits: ``manager.py`` asks these walkers three questions about plain
JSON-shaped objects (the fourth, merging, lives in ``merge.py``):

* :func:`field_set`   which fields does this object (or applied configuration) set?
* :func:`compare`     which fields did a write add, modify or remove?
* :func:`remove`      the object without these fields (how apply drops what it no longer applies)

and :func:`ensure_named_fields` widens a field set the way pruning needs it.

The rules follow structured-merge-diff's ``typed`` package. Leaves (scalars,
atomic maps and lists, empty containers) are owned as a whole. In a granular map
each key is walked; a map key (a label) is a field on its own, a struct field
only counts through what lies below it unless it is null or ``{}``. In a set or
map list each item is a field (``k:``/``v:``) and is walked too.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from ..schema import Schema
from . import shape
from .errors import InvalidObjectError
from .fieldpath import EMPTY, FieldSet, Path, field, recursive_difference, render, split
from .shape import child, item_schema, root_schema

MISSING: Any = object()  # "no such field", as opposed to a field whose value is null


def field_set(obj: dict[str, Any], schema: Schema | None, *, strict: bool = False) -> FieldSet:
    """Every field ``obj`` sets; ``strict`` (applied configurations) forbids duplicate list keys."""
    out: set[Path] = set()
    _collect(obj, root_schema(schema), (), out, strict)
    return frozenset(out)


def _collect(node: Any, schema: Schema | None, path: Path, out: set[Path], strict: bool) -> None:
    if isinstance(node, dict) and not shape.is_atomic_map(schema):
        for name, value in node.items():
            value_schema, declared = child(schema, name)
            value_path = path + (field(name),)
            _collect(value, value_schema, value_path, out, strict)
            if value is None or value == {} or not declared:
                out.add(value_path)
    elif isinstance(node, list) and shape.list_keys(schema) is not None:
        names = shape.elements(node, schema, path)
        seen = Counter(names)
        for name, item in zip(names, node):
            if seen[name] > 1 and strict:
                raise InvalidObjectError(
                    f"{render(path)}: duplicate entries for key {render((name,))}"
                )
            out.add(path + (name,))
            # A duplicated item is owned as a whole; its fields cannot be told apart.
            if seen[name] == 1:
                _collect(item, item_schema(schema), path + (name,), out, strict)
    elif path:
        out.add(path)


# -- compare -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Comparison:
    """The fields a write added, modified and removed (every path below a removed field too)."""

    added: FieldSet = EMPTY
    modified: FieldSet = EMPTY
    removed: FieldSet = EMPTY

    @property
    def changed(self) -> FieldSet:
        return self.added | self.modified

    def without(self, ignored: FieldSet) -> Comparison:
        """The comparison blind to ``ignored`` and all below it (fields the server resets)."""
        return Comparison(
            recursive_difference(self.added, ignored),
            recursive_difference(self.modified, ignored),
            recursive_difference(self.removed, ignored),
        )


def compare(old: dict[str, Any], new: dict[str, Any], schema: Schema | None) -> Comparison:
    added: set[Path] = set()
    modified: set[Path] = set()
    removed: set[Path] = set()
    _compare(old, new, root_schema(schema), (), (added, modified, removed))
    return Comparison(frozenset(added), frozenset(modified), frozenset(removed))


_Sets = tuple[set[Path], set[Path], set[Path]]


def _compare(old: Any, new: Any, schema: Schema | None, path: Path, sets: _Sets) -> None:
    added, modified, removed = sets
    kind = shape.container(old, new, schema, MISSING)
    if kind == "leaf":
        if old is MISSING:
            added.add(path)
        elif new is MISSING:
            removed.add(path)
        elif not same(old, new):
            modified.add(path)
        return
    if kind == "map":
        old_map = old if isinstance(old, dict) else {}
        new_map = new if isinstance(new, dict) else {}
        for name in list(old_map) + [n for n in new_map if n not in old_map]:
            _compare(old_map.get(name, MISSING), new_map.get(name, MISSING),
                     child(schema, name)[0], path + (field(name),), sets)
    else:
        _compare_items(old if isinstance(old, list) else [], new if isinstance(new, list) else [],
                       schema, path, sets)
    if path and old is MISSING:
        added.add(path)
    elif path and new is MISSING:
        removed.add(path)


def _compare_items(old: list[Any], new: list[Any], schema: Schema | None, path: Path,
                   sets: _Sets) -> None:
    groups: dict[str, tuple[list[Any], list[Any]]] = {}
    for side, items in ((0, old), (1, new)):
        for name, item in zip(shape.elements(items, schema, path), items):
            groups.setdefault(name, ([], []))[side].append(item)
    added, modified, removed = sets
    of_item = item_schema(schema)
    for name, (before, after) in groups.items():
        item_path = path + (name,)
        if len(before) <= 1 and len(after) <= 1:
            _compare(before[0] if before else MISSING, after[0] if after else MISSING,
                     of_item, item_path, sets)
        elif len(before) >= 2 and len(after) >= 2:
            if not same(before, after):
                modified.add(item_path)
        elif len(before) >= 2:  # duplicates resolved into (at most) one item
            if after:
                _compare(MISSING, after[0], of_item, item_path, sets)
            removed.add(item_path)
        else:
            if before:
                _compare(before[0], MISSING, of_item, item_path, sets)
            added.add(item_path)


def same(a: Any, b: Any) -> bool:
    """JSON equality: ``1 == 1.0`` but ``True != 1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


# -- remove --------------------------------------------------------------------------


def remove(obj: dict[str, Any], paths: FieldSet, schema: Schema | None) -> dict[str, Any]:
    """A copy of ``obj`` without the fields in ``paths`` (a removed field takes its subtree along).

    A map or list emptied by the removal disappears too, as it does upstream once
    the result is converted back to a typed object.
    """
    return _remove(obj, set(paths), root_schema(schema))


def _remove(node: Any, paths: set[Path], schema: Schema | None) -> Any:
    if not paths or not node:
        return node
    members, children = split(paths)
    if isinstance(node, dict) and not shape.is_atomic_map(schema):
        kept: dict[str, Any] = {}
        for name, value in node.items():
            element = field(name)
            if element in members:
                continue
            if element in children:
                value = _remove(value, children[element], child(schema, name)[0])
                if _emptied(node[name], value):
                    continue
            kept[name] = value
        return kept
    if isinstance(node, list) and shape.list_keys(schema) is not None:
        items: list[Any] = []
        for element, item in zip(shape.elements(node, schema, ()), node):
            if element in members:
                continue
            if element in children:
                before, item = item, _remove(item, children[element], item_schema(schema))
                if _emptied(before, item):
                    continue
            items.append(item)
        return items
    return node


def _emptied(before: Any, after: Any) -> bool:
    return isinstance(after, (dict, list)) and not after and bool(before)


# -- ensure_named_fields -------------------------------------------------------------


def ensure_named_fields(paths: FieldSet, schema: Schema | None) -> FieldSet:
    """``paths`` plus every struct field on the way to them.

    Owning ``.spec.replicas`` implies a stake in ``.spec`` itself: pruning must
    not remove ``spec`` while a manager still owns something inside it. Map keys
    and list items on the way are not added; those are owned only explicitly.
    """
    root = root_schema(schema)
    out = set(paths)
    for path in paths:
        node: Schema | None = root
        for depth, element in enumerate(path[:-1]):
            if element.startswith("f:"):
                node, declared = child(node, element[2:])
                if declared:
                    out.add(path[: depth + 1])
            else:
                node = item_schema(node)
    return frozenset(out)

