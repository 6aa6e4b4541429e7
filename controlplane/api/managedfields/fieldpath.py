"""Field paths and field sets: the vocabulary of server-side apply.

Where it sits: the bottom of the ``managedfields`` package. The walkers in
``typed.py`` produce field sets from objects, ``manager.py`` does its bookkeeping
with them, and this module turns them into the ``fieldsV1`` JSON stored in
``metadata.managedFields`` and into the paths printed in conflict messages.

A *path* names one field of an object, from the root down. Each step (a *path
element*) is a string written exactly as it appears in ``fieldsV1``:

* ``f:replicas``                    a field of a struct, or a key of a map (labels)
* ``k:{"name":"nginx"}``            an item of a list that is a map (keyed by its key fields)
* ``v:"example.com/finalizer"``     an item of a list that is a set (keyed by its own value)
* ``i:0``                           an item of a list by position (upstream never stores these)

A *field set* is simply a ``frozenset`` of such paths, so union, intersection and
difference are Python's own ``|``, ``&`` and ``-``. Upstream
(sigs.k8s.io/structured-merge-diff ``fieldpath``) stores the same thing as a
trie for speed; the meaning is identical.

The encoding promises what upstream's does: elements sorted as upstream sorts
them (fields, then keys, then values, then indices), ``"."`` marking a path that
is itself in the set when it also has children, and JSON written as Go writes it,
so that the strings match byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

Path = tuple[str, ...]
FieldSet = frozenset[Path]

EMPTY: FieldSet = frozenset()


# -- path elements -----------------------------------------------------------------


def field(name: str) -> str:
    return "f:" + name


def key(fields: dict[str, Any]) -> str:
    """The element of a list-map item; ``fields`` are its key fields (sorted by name here)."""
    return "k:" + go_json(dict(sorted(fields.items())))


def value(item: Any) -> str:
    """The element of a set item."""
    return "v:" + go_json(item)


def go_json(data: Any) -> str:
    """Compact JSON as Go's encoding/json writes it: keys sorted, ``<``, ``>``, ``&`` escaped."""
    text = json.dumps(_integral(data), separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


def _integral(data: Any) -> Any:
    # Go reads 80.0 from JSON as the number 80; without this k:{"port":80.0} and
    # k:{"port":80} would be two different items.
    if isinstance(data, float) and data.is_integer() and abs(data) < 2**63:
        return int(data)
    if isinstance(data, dict):
        return {k: _integral(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_integral(v) for v in data]
    return data


def canonical(element: str) -> str | None:
    """``element`` as this module would have written it; None for a kind we do not know.

    Client-sent ``fieldsV1`` (kubectl's client-side-apply migration) may spell
    ``k:`` items with other key order or spacing; identity must not depend on it.
    Raises ValueError for an element that cannot be read.
    """
    kind, sep, body = element.partition(":")
    if not sep or len(kind) != 1:
        raise ValueError(f"invalid path element {element!r}")
    if kind == "f":
        return element
    if kind == "k":
        fields = json.loads(body)
        if not isinstance(fields, dict):
            raise ValueError(f"invalid key element {element!r}")
        return key(fields)
    if kind == "v":
        return value(json.loads(body))
    if kind == "i":
        return "i:" + str(int(body))
    return None  # upstream drops element kinds it does not understand


# -- ordering and rendering --------------------------------------------------------


def sort_key(element: str) -> tuple[Any, ...]:
    """Upstream's order of path elements: fields < keys < values < indices."""
    kind, body = element[0], element[2:]
    if kind == "f":
        return (0, body)
    if kind == "k":
        return (1, tuple((name, _value_key(v)) for name, v in json.loads(body).items()))
    if kind == "v":
        return (2, _value_key(json.loads(body)))
    return (3, int(body))


def _value_key(data: Any) -> tuple[Any, ...]:
    # structured-merge-diff's total order over values of any type:
    # numbers < strings < booleans < lists < maps < null.
    if isinstance(data, bool):
        return (2, data)
    if isinstance(data, (int, float)):
        return (0, data)
    if isinstance(data, str):
        return (1, data)
    if isinstance(data, list):
        return (3, tuple(_value_key(v) for v in data))
    if isinstance(data, dict):
        return (4, tuple((k, _value_key(v)) for k, v in sorted(data.items())))
    return (5,)


def render(path: Path) -> str:
    """A path as upstream prints it: ``.spec.template.spec.containers[name="nginx"].image``."""
    return "".join(_render_element(e) for e in path)


def _render_element(element: str) -> str:
    kind, body = element[0], element[2:]
    if kind == "f":
        return "." + body
    if kind == "k":
        return "[" + ",".join(f"{n}={_to_string(v)}" for n, v in json.loads(body).items()) + "]"
    if kind == "v":
        return "[=" + _to_string(json.loads(body)) + "]"
    return f"[{body}]"


def _to_string(data: Any) -> str:
    if data is None:
        return "null"
    if isinstance(data, bool):
        return "true" if data else "false"
    if isinstance(data, float):
        text = repr(data)
        return text[:-2] if text.endswith(".0") else text
    if isinstance(data, str):
        return json.dumps(data, ensure_ascii=False)
    if isinstance(data, list):
        return "[" + ",".join(_to_string(v) for v in data) + "]"
    if isinstance(data, dict):
        return "".join(f"{k}={_to_string(v)}" for k, v in sorted(data.items()))
    return str(data)


# -- set helpers -------------------------------------------------------------------


def split(paths: Iterable[Path]) -> tuple[set[str], dict[str, set[Path]]]:
    """One level of the trie: the elements that are paths themselves, and what lies below each."""
    members: set[str] = set()
    children: dict[str, set[Path]] = {}
    for path in paths:
        if len(path) == 1:
            members.add(path[0])
        elif path:
            children.setdefault(path[0], set()).add(path[1:])
    return members, children


def recursive_difference(paths: FieldSet, remove: FieldSet) -> FieldSet:
    """``paths`` without every path in ``remove`` *and everything below them*."""
    if not remove:
        return paths
    return frozenset(p for p in paths if not any(p[:i] in remove for i in range(1, len(p) + 1)))


# -- the fieldsV1 encoding -----------------------------------------------------------


def to_fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    """``{("f:spec", "f:replicas")}`` -> ``{"f:spec": {"f:replicas": {}}}``."""
    members, children = split(paths)
    out: dict[str, Any] = {}
    for element in sorted(members | children.keys(), key=sort_key):
        if element not in children:
            out[element] = {}
        elif element in members:
            out[element] = {".": {}, **to_fields_v1(children[element])}
        else:
            out[element] = to_fields_v1(children[element])
    return out


def from_fields_v1(doc: Any) -> FieldSet:
    """The field set a ``fieldsV1`` object describes. Raises ValueError if it is malformed."""
    if not isinstance(doc, dict):
        raise ValueError("fieldsV1 must be a JSON object")
    out: set[Path] = set()
    _read(doc, (), out)
    return frozenset(out)


def _read(node: dict[str, Any], prefix: Path, out: set[Path]) -> int:
    found = 0
    for raw, child in node.items():
        if raw == ".":
            continue
        element = canonical(raw)
        if element is None:
            continue
        if not isinstance(child, dict):
            raise ValueError(f"fieldsV1 entry {raw!r} must be a JSON object")
        path = prefix + (element,)
        below = _read(child, path, out)
        # A node is a member when it says so with ".", or when nothing lies below it.
        if "." in child or below == 0:
            out.add(path)
            found += 1
        found += below
    return found
