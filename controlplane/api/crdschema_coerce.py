"""Pruning and defaulting of custom resources: what the apiserver does before validating.

Where it sits: the custom-resource handler decodes a body into a plain dict, then calls
:func:`prune` (upstream ``schema/pruning`` plus ``defaulting/prunenulls``), then
:func:`apply_defaults` (``schema/defaulting``), then ``crdschema.validate``. The same
defaulting also runs whenever a stored object is read, so a ``default:`` added to a CRD
shows up on old objects too.

What it promises: only the *structural* part of a schema counts -- ``properties``,
``items`` and ``additionalProperties`` of each node; what ``allOf``/``anyOf``/``oneOf``/
``not`` mention never keeps a field alive. ``apiVersion``, ``kind`` and ``metadata``
survive at the root and in ``x-kubernetes-embedded-resource`` objects (metadata is the
registry's business). ``x-kubernetes-preserve-unknown-fields`` keeps unknown fields of
that node, yet its known properties are still pruned below.
"""

from __future__ import annotations

import copy
from typing import Any

from .schema import Schema

META_FIELDS = ("apiVersion", "kind", "metadata")
_ABSENT = object()


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _map_values(schema: Schema) -> Schema | None | object:
    """The schema of a map's values: a Schema, None for ``additionalProperties: true``
    or ``false`` (keys kept, values pruned to scalars), _ABSENT when not a map."""
    if "additionalProperties" not in schema.node:
        return _ABSENT
    return schema.additional_properties


def prune(obj: dict, schema: Schema) -> list[str]:
    """Remove, in place, the fields the schema does not know; return their paths, sorted
    (for fieldValidation: ``unknown field "spec.foo"``).

    Afterwards nulls are dropped where the schema allows no null and has no default to
    put there, as upstream does right after pruning; those are not reported.
    """
    removed = prune_value(obj, schema, resource=True)
    _drop_nulls(obj, schema)
    return removed


def prune_value(value: Any, schema: Schema, resource: bool = False) -> list[str]:
    """Prune any value against its schema node (``resource``: keep apiVersion, kind and
    metadata at its top, as for an object of its own). Returns the removed paths, sorted."""
    removed: list[str] = []
    _prune(value, schema, "", removed, resource)
    return sorted(removed)


def _prune(value: Any, schema: Schema | None, path: str, removed: list[str],
           resource: bool) -> None:
    if schema is not None and schema.preserve_unknown_fields:
        _prune_known_only(value, schema, path, removed)
        return
    if isinstance(value, dict):
        if schema is None:  # nothing is known here, so nothing stays
            removed.extend(_join(path, key) for key in value)
            value.clear()
            return
        keep_meta = resource or schema.embedded_resource
        values = _map_values(schema)
        for key in list(value):
            if keep_meta and key in META_FIELDS:
                continue
            prop = schema.prop(key)
            if prop is not None:
                _prune(value[key], prop, _join(path, key), removed, False)
            elif values is not _ABSENT:
                _prune(value[key], values, _join(path, key), removed, False)  # type: ignore
            else:
                removed.append(_join(path, key))
                del value[key]
    elif isinstance(value, list):
        items = schema.items if schema is not None else None
        for i, item in enumerate(value):
            _prune(item, items, f"{path}[{i}]", removed, False)


def _prune_known_only(value: Any, schema: Schema | None, path: str, removed: list[str]) -> None:
    """Under x-kubernetes-preserve-unknown-fields: keep unknown keys, prune known ones."""
    if schema is None:
        return
    if isinstance(value, dict):
        values = _map_values(schema)
        for key, child in value.items():
            if schema.embedded_resource and key in META_FIELDS:
                continue
            prop = schema.prop(key)
            if prop is not None:
                _prune(child, prop, _join(path, key), removed, False)
            elif values is not _ABSENT:
                _prune(child, values, _join(path, key), removed, False)  # type: ignore[arg-type]
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _prune_known_only(item, schema.items, f"{path}[{i}]", removed)


def _field_schema(schema: Schema | None, key: str) -> Schema | None:
    if schema is None:
        return None
    prop = schema.prop(key)
    return prop if prop is not None else schema.additional_properties


def _has_default(schema: Schema | None) -> bool:
    return schema is not None and schema.node.get("default") is not None


def _drop_nulls(value: Any, schema: Schema | None) -> None:
    """Upstream PruneNonNullableNullsWithoutDefaults."""
    if isinstance(value, dict):
        for key in list(value):
            child = _field_schema(schema, key)
            if value[key] is None and child is not None and not child.node.get("nullable") \
                    and not _has_default(child):
                del value[key]
            else:
                _drop_nulls(value[key], child)
    elif isinstance(value, list):
        items = schema.items if schema is not None else None
        for item in value:
            _drop_nulls(item, items)


def apply_defaults(obj: Any, schema: Schema | None) -> None:
    """Fill ``default:`` values in place where a field is absent (or null without
    ``nullable``), recursing into objects, list items and map values."""
    if schema is None:
        return
    if isinstance(obj, dict):
        for key, prop in schema.properties.items():
            if not _has_default(prop):
                continue
            if key not in obj or (obj[key] is None and not prop.node.get("nullable")):
                obj[key] = copy.deepcopy(prop.node["default"])
        values = schema.additional_properties
        for key in list(obj):
            prop = schema.prop(key)
            if prop is not None:
                apply_defaults(obj[key], prop)
            elif values is not None:
                if obj[key] is None and not values.node.get("nullable"):
                    obj[key] = copy.deepcopy(values.node.get("default"))
                apply_defaults(obj[key], values)
    elif isinstance(obj, list) and schema.items is not None:
        items = schema.items
        for i, item in enumerate(obj):
            if item is None and not items.node.get("nullable"):
                obj[i] = copy.deepcopy(items.node.get("default"))
            apply_defaults(obj[i], items)
