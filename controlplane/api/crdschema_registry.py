"""What the custom-resource registry checks besides the OpenAPI schema.

Where it sits: ``crdschema.validate`` runs these after the schema validation of
``crdschema_validate``, as upstream's customresource strategy does after its schema
validator (``schema/objectmeta`` and ``schema/listtype``).

What it promises:

* every ``x-kubernetes-embedded-resource`` object has a string ``apiVersion`` and
  ``kind`` (``spec.template.kind: Required value: must not be empty``); its metadata
  is left to the registry's metadata validation;
* ``x-kubernetes-list-type: set`` lists hold no value twice, and ``map`` lists no two
  items with the same ``x-kubernetes-list-map-keys`` (``spec.ports[2]: Duplicate value:
  {"port":80}``); only the second occurrence of each value is reported.

Paths follow ``field.Path``: map keys in brackets (``spec.backends[blue].kind``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from . import fielderrors as fe
from .fielderrors import FieldError, Path
from .schema import Schema

_DNS1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_DNS1035_MESSAGE = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")


def _type_meta_errors(obj: dict, path: Path) -> list[FieldError]:
    """apiVersion and kind of an embedded object (its metadata is the registry's job)."""
    errors = [fe.required(str(path.child(k)), "must not be empty")
              for k in ("apiVersion", "kind") if k not in obj]
    for key in ("apiVersion", "kind"):
        if key not in obj:
            continue
        value, field = obj[key], str(path.child(key))
        if not isinstance(value, str):
            errors.append(fe.invalid(field, value, "must be a string"))
        elif not value:
            errors.append(fe.invalid(field, value, "must not be empty"))
        elif key == "apiVersion" and value != "/" and value.count("/") > 1:
            errors.append(fe.invalid(field, value, f"unexpected GroupVersion string: {value}"))
        elif key == "kind":
            problems = (["must be no more than 63 characters"] if len(value) > 63 else []) + \
                       ([] if _DNS1035.fullmatch(value.lower()) else [_DNS1035_MESSAGE])
            if problems:
                detail = "may have mixed case, but should otherwise match: " + ",".join(problems)
                errors.append(fe.invalid(field, value, detail))
    return errors


Visit = Callable[[Any, Schema, Path], list[FieldError]]


def _walk(value: Any, schema: Schema | None, path: Path, visit: Visit) -> list[FieldError]:
    """Call ``visit`` on every value that has a schema node, parents before children."""
    if schema is None:
        return []
    errors = visit(value, schema, path)
    if isinstance(value, dict):
        for key, item in value.items():
            prop = schema.prop(key)
            if prop is not None:
                errors += _walk(item, prop, path.child(key), visit)
            else:
                errors += _walk(item, schema.additional_properties, path.key(key), visit)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            errors += _walk(item, schema.items, path.index(i), visit)
    return errors


def embedded_resource_errors(obj: Any, schema: Schema,
                             path: Path | None = None) -> list[FieldError]:
    """apiVersion/kind problems of the x-kubernetes-embedded-resource objects in ``obj``
    (``path``: where ``obj`` sits, for the messages)."""
    def visit(value: Any, node: Schema, path: Path) -> list[FieldError]:
        if node.embedded_resource and isinstance(value, dict):
            return _type_meta_errors(value, path)
        return []
    return _walk(obj, schema, path or Path(), visit)


def list_errors(obj: dict, schema: Schema) -> list[FieldError]:
    """Duplicates in the x-kubernetes-list-type set and map lists of ``obj``."""
    def visit(value: Any, node: Schema, path: Path) -> list[FieldError]:
        return _list_uniqueness(value, node, path) if isinstance(value, list) else []
    return _walk(obj, schema, Path(), visit)


_UNSPECIFIED = object()


def _set_key(value: Any) -> tuple:
    if value is _UNSPECIFIED:
        return ("unspecified",)
    if isinstance(value, (dict, list)):
        return ("compound", json.dumps(value, sort_keys=True, separators=(",", ":")))
    return (type(value).__name__, value)  # 1 and 1.0 differ, as int64 and float64 do in Go


def _second_occurrences(values: list) -> list[int]:
    counts: dict[tuple, int] = {}
    repeated = []
    for i, value in enumerate(values):
        key = _set_key(value)
        counts[key] = counts.get(key, 0) + 1
        if counts[key] == 2:
            repeated.append(i)
    return repeated


def _list_uniqueness(items: list, schema: Schema, path: Path) -> list[FieldError]:
    if schema.list_type == "set":
        return [fe.duplicate(str(path.index(i)), items[i]) for i in _second_occurrences(items)]
    if schema.list_type != "map":
        return []
    for i, item in enumerate(items):
        if item is not None and not isinstance(item, dict):
            return [fe.invalid(str(path.index(i)), item,
                               "must be an object for an array of list-type map")]
    keys = schema.list_map_keys
    if len(keys) == 1:
        values = [item[keys[0]] if item and keys[0] in item else _UNSPECIFIED for item in items]
        shown = [{} if v is _UNSPECIFIED else {keys[0]: v} for v in values]
    else:
        values = shown = [{k: item[k] for k in keys if k in item} if item else {} for item in items]
    return [fe.duplicate(str(path.index(i)), shown[i]) for i in _second_occurrences(values)]
