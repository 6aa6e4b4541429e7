"""Is a CRD's schema structural? The checks behind ``kubectl apply -f crd.yaml`` failing.

Where it sits: CRD validation calls ``crdschema.validate_structural`` for each version's
``openAPIV3Schema``; that runs the apiextensions OpenAPI checks of
``crdschema_openapi`` and the structural checks here, then checks ``default:`` values.

What it promises: upstream's ``schema/validation.go`` and ``schema/complete.go``.
A schema is *structural* when every field says its type, so the apiserver can prune
and default without guessing:

* each node has a ``type`` unless ``x-kubernetes-int-or-string`` or
  ``x-kubernetes-preserve-unknown-fields`` says otherwise; arrays have ``items``;
* the root is an object without ``additionalProperties``; ``metadata`` there may only
  restrict ``name`` and ``generateName``; embedded resources are objects;
* inside ``allOf``/``anyOf``/``oneOf``/``not`` only value checks are allowed (no type,
  default, description, nullable or Kubernetes extension), and a property they name
  must also exist outside them.

Messages are upstream's, under the path the caller gives, and sorted as upstream
sorts them, for example (one line)::

    spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value:
    must not be empty for specified object fields
"""

from __future__ import annotations

from typing import Any

from . import fielderrors as fe
from .crdschema_formats import regexp_error
from .fielderrors import FieldError, Path

ROOT, ITEM, FIELD = "root", "item", "field"
_INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]


def _junctor_nodes(node: dict) -> list[tuple[str, int | None, dict]]:
    """(keyword, index, sub-schema) for every allOf/anyOf/oneOf/not clause of ``node``."""
    found: list[tuple[str, int | None, dict]] = []
    for keyword in ("anyOf", "allOf", "oneOf"):
        clauses = node.get(keyword) or []
        found += [(keyword, i, sub) for i, sub in enumerate(clauses) if isinstance(sub, dict)]
    if isinstance(node.get("not"), dict):
        found.append(("not", None, node["not"]))
    return found


def _clause_path(path: Path, keyword: str, index: int | None) -> Path:
    return path.child(keyword) if index is None else path.child(keyword).index(index)


def _value_validation(node: dict, skip_any_of: bool, skip_first_all_of_any_of: bool,
                      path: Path) -> list[FieldError]:
    errors: list[FieldError] = []
    for keyword, index, sub in _junctor_nodes(node):
        if keyword == "anyOf" and skip_any_of:
            continue
        skip_inner = keyword == "allOf" and index == 0 and skip_first_all_of_any_of
        errors += _nested(sub, skip_inner, _clause_path(path, keyword, index))
    problem = regexp_error(node["pattern"]) if isinstance(node.get("pattern"), str) else ""
    if problem:
        errors.append(fe.invalid(str(path.child("pattern")), node["pattern"],
                                 f"must be a valid regular expression, but isn't: {problem}"))
    return errors


_NESTED_FORBIDDEN = (
    # keyword, present?, message
    ("type", lambda v: bool(v), "must be empty to be structural"),
    ("additionalProperties", lambda v: v is not False, "must be undefined to be structural"),
    ("default", lambda v: v is not None, "must be undefined to be structural"),
    ("title", lambda v: bool(v), "must be empty to be structural"),
    ("description", lambda v: bool(v), "must be empty to be structural"),
    ("nullable", lambda v: v is True, "must be false to be structural"),
    ("x-kubernetes-preserve-unknown-fields", lambda v: v is True, "must be false to be structural"),
    ("x-kubernetes-embedded-resource", lambda v: v is True, "must be false to be structural"),
    ("x-kubernetes-int-or-string", lambda v: v is True, "must be false to be structural"),
    ("x-kubernetes-list-map-keys", lambda v: bool(v), "must be empty to be structural"),
    ("x-kubernetes-list-type", lambda v: v is not None, "must be undefined to be structural"),
    ("x-kubernetes-map-type", lambda v: v is not None, "must be undefined to be structural"),
    ("x-kubernetes-validations", lambda v: bool(v), "must be empty to be structural"),
)


def _nested(node: dict, skip_any_of: bool, path: Path) -> list[FieldError]:
    """A clause of allOf/anyOf/oneOf/not: value validations only."""
    errors = _value_validation(node, skip_any_of, False, path)
    if isinstance(node.get("items"), dict):
        errors += _nested(node["items"], False, path.child("items"))
    for key, sub in (node.get("properties") or {}).items():
        errors += _nested(sub, False, path.child("properties").key(key))
    for keyword, present, message in _NESTED_FORBIDDEN:
        if keyword in node and present(node[keyword]):
            errors.append(fe.forbidden(str(path.child(keyword)), message))
    if "metadata" in (node.get("properties") or {}):
        errors.append(fe.forbidden(str(path.child("properties").key("metadata")),
                                   "must not be specified in a nested context"))
    return errors


def _is_int_or_string_pattern(clauses: Any) -> bool:
    return clauses == _INT_OR_STRING_ANY_OF


def _invariants(node: dict, level: str, path: Path) -> list[FieldError]:
    """validateStructuralInvariants for one node and everything below it."""
    errors: list[FieldError] = []
    kind = node.get("type", "")
    embedded = node.get("x-kubernetes-embedded-resource") is True
    int_or_string = node.get("x-kubernetes-int-or-string") is True
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    props = node.get("properties") or {}
    if kind == "array" and "items" not in node:
        errors.append(fe.required(str(path.child("items")), "must be specified"))
    if isinstance(node.get("items"), dict):
        errors += _invariants(node["items"], ITEM, path.child("items"))
    for key, sub in props.items():
        errors += _invariants(sub, FIELD, path.child("properties").key(key))
    if "additionalProperties" in node:
        if level == ROOT:
            errors.append(fe.forbidden(str(path.child("additionalProperties")),
                                       "must not be used at the root"))
        if isinstance(node["additionalProperties"], dict):
            errors += _invariants(node["additionalProperties"], FIELD,
                                  path.child("additionalProperties"))
    if int_or_string and preserve:
        errors.append(fe.invalid(str(path.child("x-kubernetes-preserve-unknown-fields")), True,
                                 "must be false if x-kubernetes-int-or-string is true"))
    if int_or_string and embedded:
        errors.append(fe.invalid(str(path.child("x-kubernetes-embedded-resource")), True,
                                 "must be false if x-kubernetes-int-or-string is true"))
    # The two int-or-string spellings upstream accepts: anyOf [integer, string], directly
    # or as the first allOf clause.
    all_of = node.get("allOf") or []
    skip_any_of = _is_int_or_string_pattern(node.get("anyOf"))
    skip_first = bool(all_of) and isinstance(all_of[0], dict) \
        and _is_int_or_string_pattern(all_of[0].get("anyOf"))
    errors += _value_validation(node, skip_any_of, skip_first, path)

    type_path = str(path.child("type"))
    if embedded and kind != "object":
        message = "must be object if x-kubernetes-embedded-resource is true"
        errors.append(fe.invalid(type_path, kind, message) if kind
                      else fe.required(type_path, message))
    elif not kind and not int_or_string and not preserve:
        where = {ROOT: "at the root", ITEM: "for specified array items",
                 FIELD: "for specified object fields"}
        errors.append(fe.required(type_path, f"must not be empty {where[level]}"))
    if embedded and "additionalProperties" in node:
        errors.append(fe.forbidden(str(path.child("additionalProperties")),
                                   "must not be used if x-kubernetes-embedded-resource is set"))
    if level == ROOT and kind and kind != "object":
        errors.append(fe.invalid(type_path, kind, "must be object at the root"))
    check_metadata = level == ROOT or embedded
    for key in ("kind", "apiVersion"):
        if check_metadata and key in props and props[key].get("type", "") != "string":
            errors.append(fe.invalid(str(path.child("properties").key(key).child("type")),
                                     props[key].get("type", ""), "must be string"))
    if "metadata" in props:
        meta_path = path.child("properties").key("metadata")
        errors += _metadata(props["metadata"], check_metadata, level, meta_path)
    if embedded and not preserve and not props:
        errors.append(fe.required(str(path.child("properties")),
                                  "must not be empty if x-kubernetes-embedded-resource is true "
                                  "without x-kubernetes-preserve-unknown-fields"))
    return errors


# Keywords a structural schema keeps; anything else (example, externalDocs) is dropped.
_NUMERIC = ("maximum", "minimum", "maxLength", "minLength", "maxItems", "minItems",
            "multipleOf", "maxProperties", "minProperties")
_TRUTHY = ("description", "title", "nullable", "format", "pattern", "uniqueItems", "enum",
           "required", "exclusiveMaximum", "exclusiveMinimum", "allOf", "anyOf", "oneOf",
           "x-kubernetes-list-map-keys", "x-kubernetes-embedded-resource",
           "x-kubernetes-int-or-string", "x-kubernetes-validations", "properties")
_PRESENT = ("not", "items", "additionalProperties", "x-kubernetes-list-type",
            "x-kubernetes-map-type")


def _metadata(node: dict, check_metadata: bool, level: str, path: Path) -> list[FieldError]:
    """Root metadata may say it is an object and restrict name/generateName, nothing more."""
    errors: list[FieldError] = []
    if check_metadata and node.get("type", "") != "object":
        errors.append(fe.invalid(str(path.child("type")), node.get("type", ""), "must be object"))
    if level != ROOT:
        return errors
    rest = {k: v for k, v in node.items() if k not in ("type", "default")}
    if rest.get("properties") and set(rest["properties"]) <= {"name", "generateName"}:
        del rest["properties"]
    if any((k in _NUMERIC and v is not None) or (k in _TRUTHY and v) or k in _PRESENT
           or (k == "x-kubernetes-preserve-unknown-fields" and v is True) for k, v in rest.items()):
        errors.append(fe.forbidden(str(path), "must not specify anything other than name and "
                                   "generateName, but metadata is implicitly specified"))
    return errors


def _completeness(clause: dict, node: dict | None, node_path: Path,
                  clause_path: Path) -> list[FieldError]:
    """A property or items named in a clause must exist in the structural schema too."""
    if node is None:
        return [fe.required(str(node_path), f"because it is defined in {clause_path}")]
    errors: list[FieldError] = []
    for keyword, index, sub in _junctor_nodes(clause):
        errors += _completeness(sub, node, node_path, _clause_path(clause_path, keyword, index))
    if isinstance(clause.get("items"), dict):
        items = node.get("items") if isinstance(node.get("items"), dict) else None
        errors += _completeness(clause["items"], items, node_path.child("items"),
                                clause_path.child("items"))
    props = node.get("properties") or {}
    for key, sub in (clause.get("properties") or {}).items():
        errors += _completeness(sub, props.get(key), node_path.child("properties").key(key),
                                clause_path.child("properties").key(key))
    return errors


def structural_errors(schema: dict, path: Path) -> list[FieldError]:
    """ValidateStructural: invariants everywhere, completeness of the root's clauses."""
    errors = _invariants(schema, ROOT, path)
    for keyword, index, sub in _junctor_nodes(schema):
        errors += _completeness(sub, schema, path, _clause_path(path, keyword, index))
    return sorted(errors, key=str)


# keyword -> the name upstream's "OpenAPIV3Schema '...' is not supported" uses
_UNSUPPORTED = {"id": "id", "$schema": "schema", "$ref": "$ref",
                "patternProperties": "patternProperties", "dependencies": "dependencies",
                "additionalItems": "additionalItems", "definitions": "definitions"}


def conversion_error(node: Any) -> str:
    """Why upstream cannot even build a structural schema from ``node`` ("" if it can).
    Only reported when nothing else is wrong, since the other checks say it better."""
    if not isinstance(node, dict):
        return ""
    for key, name in _UNSUPPORTED.items():
        if node.get(key) not in (None, "", {}, []):
            return f"OpenAPIV3Schema '{name}' is not supported"
    if node.get("x-kubernetes-preserve-unknown-fields") is False:
        return "internal error: 'x-kubernetes-preserve-unknown-fields' must be true or undefined"
    if isinstance(node.get("items"), list):
        return "OpenAPIV3Schema 'items' must be a schema, but is an array"
    children = [node.get("items"), node.get("additionalProperties"), node.get("not")]
    children += list((node.get("properties") or {}).values())
    children += [c for k in ("allOf", "anyOf", "oneOf") for c in node.get(k) or []]
    return next((err for err in map(conversion_error, children) if err), "")
