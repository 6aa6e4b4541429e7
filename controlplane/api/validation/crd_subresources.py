"""The parts a CRD version may carry or share: schema root, subresources, printer columns.

Where it sits: :mod:`apiextensions` walks a CRD's internal view, where ``schema``
(as ``validation``), ``subresources`` and ``additionalPrinterColumns`` sit either on
each version or, when all versions agree, once on the spec; for each place it calls
:func:`check_validation`, :func:`check_subresources` and :func:`check_column`. The
schema itself goes on to :func:`crdschema.validate_structural`.

What it promises: upstream's ``validateCustomResourceDefinitionValidation`` (what a
schema root may still hold once ``status`` is a subresource and ``properties[status]``
is cut out of it), ``validateCustomResourceDefinitionSubresources``
(the scale subresource's JSON paths) and ``ValidateCustomResourceColumnDefinition``,
with upstream's paths and messages -- including the internal type's ``JSONPath``
for a column's ``jsonPath``.
"""

from __future__ import annotations

from ..crdschema import validate_structural
from ..fielderrors import FieldError, Path, invalid, required
from .goprint import invalid_go

COLUMN_TYPES = ["boolean", "date", "integer", "number", "string"]
ONE_OF_TYPES = "must be one of " + ",".join(COLUMN_TYPES)
COLUMN_FORMATS = ["byte", "date", "date-time", "double", "float", "int32", "int64", "password"]
# JSONSchemaProps fields in declaration order (JSON name, Go name): the order upstream
# walks them to find one that is not allowed at the root when status is a subresource.
ROOT_FIELDS = [
    ("id", "ID"), ("$schema", "Schema"), ("$ref", "Ref"), ("description", "Description"),
    ("type", "Type"), ("nullable", "Nullable"), ("format", "Format"), ("title", "Title"),
    ("default", "Default"), ("maximum", "Maximum"), ("exclusiveMaximum", "ExclusiveMaximum"),
    ("minimum", "Minimum"), ("exclusiveMinimum", "ExclusiveMinimum"), ("maxLength", "MaxLength"),
    ("minLength", "MinLength"), ("pattern", "Pattern"), ("maxItems", "MaxItems"),
    ("minItems", "MinItems"), ("uniqueItems", "UniqueItems"), ("multipleOf", "MultipleOf"),
    ("enum", "Enum"), ("maxProperties", "MaxProperties"), ("minProperties", "MinProperties"),
    ("required", "Required"), ("items", "Items"), ("allOf", "AllOf"), ("oneOf", "OneOf"),
    ("anyOf", "AnyOf"), ("not", "Not"), ("properties", "Properties"),
    ("additionalProperties", "AdditionalProperties"), ("patternProperties", "PatternProperties"),
    ("dependencies", "Dependencies"), ("additionalItems", "AdditionalItems"),
    ("definitions", "Definitions"), ("externalDocs", "ExternalDocs"), ("example", "Example"),
    ("x-kubernetes-preserve-unknown-fields", "XPreserveUnknownFields"),
    ("x-kubernetes-embedded-resource", "XEmbeddedResource"),
    ("x-kubernetes-int-or-string", "XIntOrString"), ("x-kubernetes-list-map-keys", "XListMapKeys"),
    ("x-kubernetes-list-type", "XListType"), ("x-kubernetes-map-type", "XMapType"),
    ("x-kubernetes-validations", "XValidations"),
]
ROOT_ALLOWED = ["Description", "Type", "Format", "Title", "Maximum", "ExclusiveMaximum", "Minimum",
                "ExclusiveMinimum", "MaxLength", "MinLength", "Pattern", "MaxItems", "MinItems",
                "UniqueItems", "MultipleOf", "Required", "Items", "Properties", "ExternalDocs",
                "Example", "XPreserveUnknownFields", "XValidations"]


def check_validation(validation: dict | None, status_enabled: bool,
                     path: Path) -> list[FieldError]:
    schema = (validation or {}).get("openAPIV3Schema")
    if not schema:
        return []
    # The root's nullable, structure, defaults and OpenAPI rules are crdschema's to check.
    errs = _status_root(schema, path.child("openAPIV3Schema")) if status_enabled else []
    return errs + validate_structural(schema, path.child("openAPIV3Schema"))


def _status_root(schema: dict, path: Path) -> list[FieldError]:
    """With a status subresource, status is cut out as properties[status]; the root may carry
    only what still makes sense for the rest of the object."""
    for json_name, go_name in ROOT_FIELDS:
        value = schema.get(json_name)
        if value is None or value is False or value == "":
            continue  # Go's zero value: the field is not set
        if go_name == "Type":
            if value != "object":
                return [invalid(str(path.child("type")), value, 'only "object" is allowed as the '
                                "type at the root of the schema if the status subresource is "
                                "enabled")]
            continue
        if go_name not in ROOT_ALLOWED:
            # Go prints the whole JSONSchemaProps here; we abbreviate it.
            return [invalid_go(path, "apiextensions.JSONSchemaProps{...}",
                               f"only [{' '.join(ROOT_ALLOWED)}] fields are allowed at the root "
                               "of the schema if the status subresource is enabled")]
    return []


def _json_path(value: str, path: Path) -> list[FieldError]:
    if not value:
        return [invalid(str(path), value, "must not be empty")]
    if not value.startswith("."):
        return [invalid(str(path), value, "must be a simple json path starting with .")]
    return []


def check_subresources(subresources: dict | None, path: Path) -> list[FieldError]:
    scale = (subresources or {}).get("scale")
    if scale is None:
        return []
    errs: list[FieldError] = []
    for name, prefix, where in (("specReplicasPath", ".spec.", ".spec"),
                                ("statusReplicasPath", ".status.", ".status")):
        value, field_path = scale.get(name, ""), path.child(f"scale.{name}")
        if not value:
            errs.append(required(str(field_path)))
            continue
        problems = _json_path(value, field_path)
        if not problems and not value.startswith(prefix):
            problems = [invalid(str(field_path), value, f"should be a json path under {where}")]
        errs += problems
    selector = scale.get("labelSelectorPath")
    if selector:
        field_path = path.child("scale.labelSelectorPath")
        problems = _json_path(selector, field_path)
        if not problems and not selector.startswith((".spec.", ".status.")):
            problems = [invalid(str(field_path), selector,
                                "should be a json path under either .spec or .status")]
        errs += problems
    return errs


def check_column(column: dict, path: Path) -> list[FieldError]:
    errs = [] if column.get("name") else [required(str(path.child("name")))]
    kind, fmt = column.get("type", ""), column.get("format", "")
    if not kind:
        errs.append(required(str(path.child("type")), ONE_OF_TYPES))
    elif kind not in COLUMN_TYPES:
        errs.append(invalid(str(path.child("type")), kind, ONE_OF_TYPES))
    if fmt and fmt not in COLUMN_FORMATS:
        errs.append(invalid(str(path.child("format")), fmt,
                            "must be one of " + ",".join(COLUMN_FORMATS)))
    json_path = column.get("jsonPath", "")
    if not json_path:
        errs.append(required(str(path.child("JSONPath"))))
    else:
        errs += _json_path(json_path, path.child("JSONPath"))
    return errs
