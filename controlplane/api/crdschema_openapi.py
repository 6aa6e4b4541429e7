"""What apiextensions allows in a CRD's openAPIV3Schema, and whether its defaults are sound.

Where it sits: ``crdschema.validate_structural`` combines these with the structural
checks of ``crdschema_structural`` when a CRD is created.

What it promises: upstream's ``ValidateCustomResourceDefinitionOpenAPISchema`` with the
options of a create (``apis/apiextensions/validation``) and ``defaulting.ValidateDefaults``:

* no ``$ref``, ``id``, ``definitions``, ``patternProperties``, ``dependencies``,
  ``additionalItems``, ``uniqueItems: true``, ``type: null``, unknown types;
* ``properties`` and ``additionalProperties`` never together;
* ``x-kubernetes-list-type``/``-list-map-keys``/``-map-type`` consistent with ``type``
  and with each other, map keys required or defaulted, set items atomic;
* no ``default`` in top-level ``metadata``, ``apiVersion`` or ``kind``; every other
  default must survive pruning unchanged and pass its own node's validation.

``x-kubernetes-validations`` rules are not compiled (no CEL here).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from . import fielderrors as fe
from .crdschema_coerce import META_FIELDS, prune_value
from .crdschema_registry import embedded_resource_errors
from .crdschema_validate import validate_value
from .fielderrors import FieldError, Path
from .schema import Schema

OPENAPI_TYPES = ["array", "boolean", "integer", "number", "object", "string"]


@dataclasses.dataclass(frozen=True)
class _Context:
    defaults_forbidden: str | None = None  # why, when defaults are not allowed here
    inside_resource_meta: bool = False


def _at(path: Path, *names: str) -> str:
    return str(path.child(*names))


def _node_errors(node: dict, path: Path, ctx: _Context) -> list[FieldError]:
    """What upstream's specStandardValidatorV3 forbids on a single node."""
    errors: list[FieldError] = []
    kind = node.get("type", "")
    if kind and kind not in OPENAPI_TYPES:
        errors.append(fe.not_supported(_at(path, "type"), kind, OPENAPI_TYPES))
    if node.get("default") is not None and ctx.defaults_forbidden is not None:
        detail = f"must not be set {ctx.defaults_forbidden}".strip()
        errors.append(fe.forbidden(_at(path, "default"), detail))
    unsupported = {
        "id": bool(node.get("id")),
        "additionalItems": "additionalItems" in node,
        "patternProperties": bool(node.get("patternProperties")),
        "definitions": bool(node.get("definitions")),
        "dependencies": node.get("dependencies") is not None,
        "$ref": node.get("$ref") is not None,
    }
    for key in (k for k, present in unsupported.items() if present):
        errors.append(fe.forbidden(_at(path, key), f"{key} is not supported"))
    if kind == "null":
        errors.append(fe.forbidden(_at(path, "type"),
                                   "type cannot be set to null, use nullable as an alternative"))
    if isinstance(node.get("items"), list) and node["items"]:
        errors.append(fe.forbidden(_at(path, "items"),
                                   "items must be a schema object and not an array"))
    if ctx.inside_resource_meta and node.get("x-kubernetes-embedded-resource") is True:
        errors.append(fe.forbidden(_at(path, "x-kubernetes-embedded-resource"),
                                   "must not be used inside of resource meta"))
    return errors


def openapi_errors(node: dict, path: Path, ctx: _Context = _Context(),
                   root: bool = True) -> list[FieldError]:
    """The checks of one node, then of everything below it, as upstream orders them."""
    errors = _node_errors(node, path, ctx)
    if node.get("uniqueItems") is True:
        errors.append(fe.forbidden(_at(path, "uniqueItems"), "uniqueItems cannot be set to true "
                                   "since the runtime complexity becomes quadratic"))
    props = node.get("properties") or {}
    if "additionalProperties" in node:
        extra = node["additionalProperties"]
        if props and (extra is False or isinstance(extra, dict)):
            errors.append(fe.forbidden(_at(path, "additionalProperties"),
                                       "additionalProperties and properties are mutual exclusive"))
        if isinstance(extra, dict):
            sub = ctx
            if ctx.inside_resource_meta:  # pruning labels without a value would be ambiguous
                reason = "inside additionalProperties applying to object metadata"
                sub = dataclasses.replace(ctx, defaults_forbidden=reason)
            errors += openapi_errors(extra, path.child("additionalProperties"), sub, False)
    for key, child in props.items():
        sub = ctx
        if (root or node.get("x-kubernetes-embedded-resource") is True) and key in META_FIELDS:
            sub = dataclasses.replace(sub, inside_resource_meta=True)
            if root:
                sub = dataclasses.replace(sub, defaults_forbidden=f"in top-level {key}")
        errors += openapi_errors(child, path.child("properties").key(key), sub, False)
    if isinstance(node.get("not"), dict):
        errors += openapi_errors(node["not"], path.child("not"), ctx, False)
    for keyword in ("allOf", "oneOf", "anyOf"):
        for i, clause in enumerate(node.get(keyword) or []):
            errors += openapi_errors(clause, path.child(keyword).index(i), ctx, False)
    if isinstance(node.get("items"), dict):
        errors += openapi_errors(node["items"], path.child("items"), ctx, False)
    if node.get("x-kubernetes-preserve-unknown-fields") is False:
        errors.append(fe.invalid(_at(path, "x-kubernetes-preserve-unknown-fields"), False,
                                 "must be true or undefined"))
    return errors + _map_and_list_errors(node, path) + _list_key_errors(node, path)


def _type_must_be(node: dict, path: Path, wanted: str, extension: str) -> list[FieldError]:
    kind, field = node.get("type", ""), _at(path, "type")
    message = f"must be {wanted} if {extension} is specified"
    return [fe.invalid(field, kind, message) if kind else fe.required(field, message)]


def _map_and_list_errors(node: dict, path: Path) -> list[FieldError]:
    errors: list[FieldError] = []
    map_type, list_type = node.get("x-kubernetes-map-type"), node.get("x-kubernetes-list-type")
    keys = node.get("x-kubernetes-list-map-keys") or []
    items = node.get("items") if isinstance(node.get("items"), dict) else None
    if map_type is not None and node.get("type") != "object":
        errors += _type_must_be(node, path, "object", "x-kubernetes-map-type")
    if map_type is not None and map_type not in ("atomic", "granular"):
        errors.append(fe.not_supported(_at(path, "x-kubernetes-map-type"), map_type,
                                       ["atomic", "granular"]))
    if list_type is not None and node.get("type") != "array":
        errors += _type_must_be(node, path, "array", "x-kubernetes-list-type")
    elif list_type == "set" and items is not None:
        atomic = "must be atomic as item of a list with x-kubernetes-list-type=set"
        item_list_type = items.get("x-kubernetes-list-type")
        if items.get("type") == "array" and item_list_type not in (None, "atomic"):
            errors.append(fe.invalid(_at(path, "items", "x-kubernetes-list-type"),
                                     item_list_type, atomic))
        if items.get("type") == "object" and items.get("x-kubernetes-map-type") != "atomic":
            # Upstream shows the items' list type here (usually unset, so null).
            errors.append(fe.invalid(_at(path, "items", "x-kubernetes-map-type"),
                                     item_list_type, atomic))
    if list_type is not None and list_type not in ("atomic", "set", "map"):
        errors.append(fe.not_supported(_at(path, "x-kubernetes-list-type"), list_type,
                                       ["atomic", "set", "map"]))
    if keys and list_type != "map":
        field = _at(path, "x-kubernetes-list-type")
        message = "must be map if x-kubernetes-list-map-keys is non-empty"
        errors.append(fe.required(field, message) if list_type is None
                      else fe.invalid(field, list_type, message))
    if list_type == "map":
        errors += _list_map_errors(node, keys, path)
    return errors


def _list_map_errors(node: dict, keys: list, path: Path) -> list[FieldError]:
    errors: list[FieldError] = []
    items = node.get("items")
    if not keys:
        errors.append(fe.required(_at(path, "x-kubernetes-list-map-keys"),
                                  "must not be empty if x-kubernetes-list-type is map"))
    if items is None:
        errors.append(fe.required(_at(path, "items"),
                                  "must have a schema if x-kubernetes-list-type is map"))
    elif not isinstance(items, dict):
        errors.append(fe.invalid(_at(path, "items"), items,
                                 "must only have a single schema if x-kubernetes-list-type is map"))
    elif items.get("type") != "object":
        errors.append(fe.invalid(_at(path, "items", "type"), items.get("type", ""),
                                 "must be object if parent array's x-kubernetes-list-type is map"))
    else:
        props, seen = items.get("properties") or {}, set()
        keys_field = _at(path, "x-kubernetes-list-map-keys")
        for key in keys:
            if key not in props:
                errors.append(fe.invalid(keys_field, keys,
                                         "entries must all be names of item properties"))
            elif props[key].get("type") in ("array", "object"):
                # Upstream shows the items' type ("object") as the bad value.
                field = str(path.child("items", "properties").key(key).child("type"))
                errors.append(fe.invalid(field, "object", "must be a scalar type if parent "
                                         "array's x-kubernetes-list-type is map"))
            if key in seen:
                errors.append(fe.invalid(keys_field, keys, "must not contain duplicate entries"))
            seen.add(key)
    return errors


def _list_key_errors(node: dict, path: Path) -> list[FieldError]:
    """Set and map list items may not be null; map keys must be required or defaulted."""
    items, list_type = node.get("items"), node.get("x-kubernetes-list-type")
    if not isinstance(items, dict) or list_type not in ("set", "map"):
        return []
    errors: list[FieldError] = []
    if items.get("nullable") is True:
        detail = f"cannot be nullable when x-kubernetes-list-type is {list_type}"
        errors.append(fe.forbidden(_at(path, "items", "nullable"), detail))
    if list_type == "map":
        props, required = items.get("properties") or {}, set(items.get("required") or [])
        prefix = "this property is in x-kubernetes-list-map-keys, so it"
        for key in node.get("x-kubernetes-list-map-keys") or []:
            if key not in props:
                continue
            key_path = path.child("items", "properties").key(key)
            if key not in required and props[key].get("default") is None:
                detail = f"{prefix} must have a default or be a required property"
                errors.append(fe.required(_at(key_path, "default"), detail))
            if props[key].get("nullable") is True:
                detail = f"{prefix} cannot be nullable"
                errors.append(fe.forbidden(_at(key_path, "nullable"), detail))
    return errors


# -- default values -------------------------------------------------------------------


def default_errors(node: dict, path: Path, resource: bool = True,
                   inside_meta: bool = False) -> list[FieldError]:
    """Every ``default:`` below ``node`` must be pruned-clean and valid for its node.
    additionalProperties are not followed: defaults are not applied there."""
    embedded = resource or node.get("x-kubernetes-embedded-resource") is True
    if node.get("x-kubernetes-embedded-resource") is True:
        inside_meta = False
    errors: list[FieldError] = []
    if node.get("default") is not None and not inside_meta:
        errors += _check_default(node, node["default"], path.child("default"), embedded)
    if isinstance(node.get("items"), dict):
        errors += default_errors(node["items"], path.child("items"), False, inside_meta)
    for key, child in (node.get("properties") or {}).items():
        errors += default_errors(child, path.child("properties").key(key), False,
                                 inside_meta or (embedded and key in META_FIELDS))
    return errors


def _check_default(node: dict, default: Any, path: Path, embedded: bool) -> list[FieldError]:
    errors: list[FieldError] = []
    pruned = copy.deepcopy(default)
    prune_value(pruned, Schema(node), resource=embedded)
    if pruned != default:
        errors.append(fe.invalid(str(path), default, "must not have unknown fields"))
    meta = embedded_resource_errors(default, Schema(node), path)
    return errors + (meta or validate_value(default, node, str(path)))
