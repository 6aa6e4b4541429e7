"""How server-side apply sees a schema: granular or atomic maps, atomic, set or map lists.

Where it sits: between ``controlplane.api.schema`` (the OpenAPI view) and the
walkers in ``typed.py`` and ``merge.py``. Those walkers only ever ask the
questions below; this module answers them the way upstream's schema conversion
(kube-openapi ``schemaconv``) does:

* a map is *granular* (each key owned separately) unless ``x-kubernetes-map-type:
  atomic``; a map whose schema says it is a scalar (RawExtension, a typo) is a leaf;
* a list is *atomic* unless ``x-kubernetes-list-type`` says ``set`` or ``map``, or,
  for older definitions, ``x-kubernetes-patch-strategy: merge`` says so (with
  ``x-kubernetes-patch-merge-key`` as the key of a map list, without one a set);
* a field the schema does not know, or a node without a schema (``None``), is
  *deduced*: maps granular, lists atomic, anything else a leaf. A custom resource
  without a schema is deduced all the way down, except ``metadata``, which is
  always ``ObjectMeta``, as upstream's CRD handler arranges.

A list item is named by a path element (see ``fieldpath.py``); :func:`elements`
computes them and raises :class:`InvalidObjectError` with upstream's messages
when an item cannot be named.
"""

from __future__ import annotations

from typing import Any

from ..schema import OBJECT_META, REF_PREFIX, Schema, builtin_definitions
from . import fieldpath
from .errors import InvalidObjectError
from .fieldpath import Path

RAW_EXTENSION = "io.k8s.apimachinery.pkg.runtime.RawExtension"

# Upstream's OpenAPI gives these list-map keys a default ("+default=TCP"), so an item
# written without its protocol is the same item as one that says TCP. Our copy of
# the definitions carries no defaults, hence this table.
KEY_DEFAULTS: dict[tuple[str, str], Any] = {
    ("io.k8s.api.core.v1.ContainerPort", "protocol"): "TCP",
    ("io.k8s.api.core.v1.ServicePort", "protocol"): "TCP",
}


def root_schema(schema: Schema | None) -> Schema:
    """The schema walkers start from: ``schema`` with ``metadata`` as ``ObjectMeta``."""
    if schema is not None:
        metadata = schema.prop("metadata")
        if metadata is not None and metadata.properties:
            return schema
    node = dict(schema.node) if schema is not None else {"type": "object"}
    properties = dict(node.get("properties", {}))
    properties["metadata"] = {"$ref": REF_PREFIX + OBJECT_META}
    if schema is None:
        properties["apiVersion"] = {"type": "string"}
        properties["kind"] = {"type": "string"}
    node["properties"] = properties
    return Schema(node, builtin_definitions(), ref=schema.ref if schema is not None else "")


def child(schema: Schema | None, name: str) -> tuple[Schema | None, bool]:
    """The schema of a map's entry ``name``, and whether it is a declared (struct) field.

    Declared fields and map keys behave differently: the key of a map (a label)
    is owned on its own, a struct field only through the fields below it.
    """
    if schema is None:
        return None, False
    prop = schema.prop(name)
    if prop is not None:
        return prop, True
    return schema.additional_properties, False


def item_schema(schema: Schema | None) -> Schema | None:
    return schema.items if schema is not None else None


def is_atomic_map(schema: Schema | None) -> bool:
    """True when a map value is one leaf, replaced and owned as a whole."""
    if schema is None:
        return False
    if schema.map_type == "atomic" or schema.ref == RAW_EXTENSION:
        return True
    return schema.type not in ("", "object")


def list_keys(schema: Schema | None) -> list[str] | None:
    """None for an atomic list, ``[]`` for a set, the key fields for a map list."""
    if schema is None or schema.type not in ("", "array"):
        return None
    if schema.list_type:
        if schema.list_type == "set":
            return []
        if schema.list_type == "map":
            return schema.list_map_keys
        return None
    if schema.patch_strategy in ("merge", "merge,retainKeys"):
        return [schema.patch_merge_key] if schema.patch_merge_key else []
    return None


def container(left: Any, right: Any, schema: Schema | None, missing: object) -> str:
    """How to walk a pair of values (either may be ``missing``): "map", "list" or "leaf".

    A null stands for an empty container of the other side's kind, and two empty
    containers are compared and merged as one leaf, as upstream does.
    """
    present = [v for v in (left, right) if v is not missing and v is not None]
    if not present:
        return "leaf"
    if all(isinstance(v, dict) for v in present):
        if not is_atomic_map(schema) and any(present):
            return "map"
    elif all(isinstance(v, list) for v in present):
        if list_keys(schema) is not None and any(present):
            return "list"
    return "leaf"


def elements(items: list[Any], schema: Schema | None, where: Path) -> list[str]:
    """The path element of each item of the associative list ``items`` (duplicates kept)."""
    keys = list_keys(schema) or []
    of_item = item_schema(schema)
    return [_element(item, keys, of_item, where, i) for i, item in enumerate(items)]


def _element(item: Any, keys: list[str], schema: Schema | None, where: Path, index: int) -> str:
    def invalid(message: str) -> InvalidObjectError:
        return InvalidObjectError(f"{fieldpath.render(where)}: element {index}: {message}")

    if not keys:
        if isinstance(item, dict):
            raise invalid("associative list without keys has an element that's a map type")
        if isinstance(item, list):
            raise invalid("not supported: associative list with lists as elements")
        if item is None:
            raise invalid("associative list without keys has an element that's an explicit null")
        return fieldpath.value(item)
    if item is None:
        raise invalid("associative list with keys may not have a null element")
    if not isinstance(item, dict):
        raise invalid("associative list with keys may not have non-map elements")
    fields: dict[str, Any] = {}
    for name in keys:
        if name in item:
            fields[name] = item[name]
        elif (default := _key_default(schema, name)) is not None:
            fields[name] = default
    if not fields:
        quoted = "[" + " ".join(f'"{k}"' for k in keys) + "]"
        raise invalid(
            f"associative list with keys has an element that omits all key fields {quoted} "
            "(and doesn't have default values for any key fields)"
        )
    return fieldpath.key(fields)


def _key_default(schema: Schema | None, name: str) -> Any:
    if schema is None:
        return None
    prop = schema.prop(name)
    if prop is not None and "default" in prop.node:
        return prop.node["default"]
    return KEY_DEFAULTS.get((schema.ref, name))
