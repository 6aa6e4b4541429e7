"""Decoding request bodies the way the Go apiserver does, including its error messages.

Where it sits: a write handler (POST, PUT, the merged result of a PATCH) first calls
:func:`parse_json` on the raw body, then, for built-in kinds, :func:`check_object`
against the kind's upstream schema. The ``fieldValidation`` query parameter decides
what happens to the findings (upstream's ``handlers/rest.go``; no parameter means Warn):

* ``Strict``: unknown or duplicate fields -> 400 :func:`strict_error_message`;
* ``Warn`` (the default): one ``Warning: 299`` header per :func:`unknown_field_warnings`
  entry, and :func:`prune_unknown` drops the unknown fields;
* ``Ignore``: :func:`prune_unknown`, nothing said.

Wrong JSON types are a 400 in every mode (:func:`type_error_message`), because the Go
apiserver cannot put a string into an ``int32``. Custom resources are decoded into
plain maps upstream, so only :func:`parse_json`'s duplicates apply to them here; their
unknown fields come from ``crdschema.prune`` (pass ``custom_resource=True``).

What it promises: the messages are Go's, byte for byte where it matters to a student
reading kubectl's output -- ``encoding/json`` type errors (``Go struct field
DeploymentSpec.spec.replicas of type int32``; arrays leave no index in that path),
sigs.k8s.io/json strict errors (``spec.template.spec.containers[0].imagee``),
``illegal base64 data at input byte N``, ``time.Parse`` and ``resource.Quantity`` errors
(the last three, and JSON syntax errors, come from the Go parsers copied in :mod:`goparse`).
Go remembers only the first type error, and an error from a type's own unmarshaller
(Time, Quantity, IntOrString) stops decoding at once; ``Findings.type_errors[0]`` is
therefore the one Go would report. Known gaps: Go names string enums by their own
type (``v1.Protocol``), we say ``string``; Go interleaves duplicate and unknown fields
in document order, we list duplicates first; :mod:`goparse` lists its own.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

from .goparse import (INT_RANGES, base64_error_offset, go_syntax_error, go_time_error,
                      go_type_name, quantity_error)
from .schema import Schema, builtin_schema

TIME = "io.k8s.apimachinery.pkg.apis.meta.v1.Time"
MICRO_TIME = "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime"
# Types with their own UnmarshalJSON that keep any JSON value as raw bytes.
RAW_TYPES = {
    "io.k8s.apimachinery.pkg.runtime.RawExtension",
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
}


class DecodeError(Exception):
    """The body is not JSON (a 400). ``message`` is Go's ``encoding/json`` error text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclasses.dataclass
class Findings:
    """What a strict Go decoder would say about an object, in document order."""

    unknown: list[str] = dataclasses.field(default_factory=list)
    type_errors: list[str] = dataclasses.field(default_factory=list)


# -- parsing ------------------------------------------------------------------------


def parse_json(body: bytes) -> tuple[Any, list[str]]:
    """Parse a body as JSON whatever its Content-Type said; also return duplicated keys.

    Duplicate paths use sigs.k8s.io/json's notation (``metadata.labels.app``,
    ``spec.containers[0].image``); the last value wins, as in Go.
    """
    seen: dict[int, tuple[dict, list[str]]] = {}

    def pairs(items: list[tuple[str, Any]]) -> dict:
        obj: dict[str, Any] = {}
        dups: list[str] = []
        for key, value in items:
            if key in obj and key not in dups:
                dups.append(key)
            obj[key] = value
        if dups:  # keep obj referenced so its id() cannot be reused by a later object
            seen[id(obj)] = (obj, dups)
        return obj

    def no_constants(name: str) -> Any:
        raise ValueError(name)  # Go has no NaN or Infinity literals

    try:
        value = json.loads(body.decode("utf-8", "replace"), object_pairs_hook=pairs,
                           parse_constant=no_constants)
    except RecursionError:
        raise DecodeError("exceeded max depth") from None
    except ValueError as err:
        raise DecodeError(go_syntax_error(err)) from None
    duplicates: list[str] = []
    if seen:
        _collect_duplicates(value, "", seen, duplicates)
    return value, duplicates


def _collect_duplicates(value: Any, path: str, seen: dict, out: list[str]) -> None:
    if isinstance(value, dict):
        dups = seen.get(id(value), (None, []))[1]
        for key, child in value.items():
            child_path = f"{path}.{key}" if path else key
            if key in dups:
                out.append(child_path)
            _collect_duplicates(child, child_path, seen, out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _collect_duplicates(item, f"{path}[{i}]", seen, out)


def unrecognized_message(kind: str, error: DecodeError, body: bytes) -> str:
    """The 400 message for a body that is not JSON at all (upstream transformDecodeError)."""
    if not body:
        summary = "<empty>"
    elif body[:1] == b"{":
        summary = body[:30].decode("utf-8", "replace") + (" ..." if len(body) > 30 else "")
    else:
        summary = body[:30].hex() + (" ..." if len(body) > 30 else "")
    return (f"the object provided is unrecognized (must be of type {kind}): "
            f"couldn't get version/kind; json parse error: {error.message} ({summary})")


# -- checking against a schema -----------------------------------------------------


class _Fatal(Exception):
    """An unmarshaller's own error: Go stops decoding right there."""


@dataclasses.dataclass
class _Walker:
    prune: bool
    findings: Findings = dataclasses.field(default_factory=Findings)

    def walk(self, value: Any, schema: Schema, path: str, ctx: tuple[str, str]) -> None:
        """``path`` is the strict-decoding path; ``ctx`` is Go's (struct name, field path)."""
        if value is None or schema.ref in RAW_TYPES or schema.preserve_unknown_fields:
            return  # null leaves a Go field at its zero value, never an error
        special = _unmarshaller_error(value, schema)
        if special is not None:
            if special:
                raise _Fatal(special)
            return
        kind = schema.type
        if kind == "object" or (not kind and "properties" in schema.node):
            if not isinstance(value, dict):
                self.mismatch(value, schema, ctx)
            elif schema.additional_properties is not None:
                for key, item in value.items():
                    self.walk(item, schema.additional_properties, f"{path}.{key}", ctx)
            else:
                self.walk_struct(value, schema, path, ctx)
        elif kind == "array":
            if not isinstance(value, list):
                self.mismatch(value, schema, ctx)
            elif schema.items is not None:
                for i, item in enumerate(value):
                    self.walk(item, schema.items, f"{path}[{i}]", ctx)
        elif kind in ("string", "integer", "number", "boolean"):
            self.scalar(value, schema, ctx)

    def walk_struct(self, obj: dict, schema: Schema, path: str, ctx: tuple[str, str]) -> None:
        struct = schema.ref.rsplit(".", 1)[-1] if schema.ref else ctx[0]
        for key in list(obj):
            if not path and key in ("apiVersion", "kind"):
                continue  # read before decoding, to pick the Go type
            child_path = f"{path}.{key}" if path else key
            prop = schema.prop(key)
            if prop is None:
                self.findings.unknown.append(child_path)
                if self.prune:
                    del obj[key]
                continue
            fields = f"{ctx[1]}.{key}" if ctx[1] else key
            self.walk(obj[key], prop, child_path, (struct, fields))

    def scalar(self, value: Any, schema: Schema, ctx: tuple[str, str]) -> None:
        kind, fmt = schema.type, schema.node.get("format", "")
        if kind == "string" and fmt == "byte":
            if isinstance(value, str):
                offset = base64_error_offset(value)
                if offset is not None:
                    self.findings.type_errors.append(f"illegal base64 data at input byte {offset}")
            elif isinstance(value, list):  # Go also accepts a []byte written as numbers
                for item in value:
                    if not (_is_int(item) and 0 <= item <= 255) and item is not None:
                        self.mismatch(item, schema, ctx, go_type="uint8", numeric=True)
            else:
                self.mismatch(value, schema, ctx)
        elif kind == "string":
            if not isinstance(value, str):
                self.mismatch(value, schema, ctx)
        elif kind == "integer":
            low, high = INT_RANGES.get(fmt, INT_RANGES["int64"])
            if not (_is_int(value) and low <= value <= high):
                self.mismatch(value, schema, ctx, numeric=True)
        elif kind == "number":
            if not (isinstance(value, (int, float)) and not isinstance(value, bool)):
                self.mismatch(value, schema, ctx)
        elif not isinstance(value, bool):
            self.mismatch(value, schema, ctx)

    def mismatch(self, value: Any, schema: Schema, ctx: tuple[str, str],
                 go_type: str = "", numeric: bool = False) -> None:
        what = _json_kind(value, numeric)
        self.findings.type_errors.append(
            f"json: cannot unmarshal {what} into Go struct field {ctx[0]}.{ctx[1]} "
            f"of type {go_type or go_type_name(schema)}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _json_kind(value: Any, numeric: bool) -> str:
    """How Go's UnmarshalTypeError names a JSON value; numbers show their text only
    when the target is itself numeric."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return f"number {_number_text(value)}" if numeric else "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, dict) else "array"


def _number_text(value: int | float) -> str:
    return str(value) if _is_int(value) else repr(value)


def _unmarshaller_error(value: Any, schema: Schema) -> str | None:
    """For types with their own UnmarshalJSON: "" if fine, Go's error text if not,
    None if the schema is an ordinary one."""
    if schema.is_quantity:
        text = value if isinstance(value, str) else json.dumps(value)
        return quantity_error(text.strip()) or ""
    if schema.int_or_string:
        if isinstance(value, str) or (_is_int(value) and -(2**31) <= value < 2**31):
            return ""
        return f"json: cannot unmarshal {_json_kind(value, True)} into Go value of type int32"
    if schema.ref in (TIME, MICRO_TIME):
        if not isinstance(value, str):
            return f"json: cannot unmarshal {_json_kind(value, False)} into Go value of type string"
        return go_time_error(value, micro=schema.ref == MICRO_TIME) or ""
    return None


def check_object(obj: dict, schema: Schema) -> Findings:
    """Unknown fields and type errors of ``obj`` against a built-in kind's schema."""
    walker = _Walker(prune=False)
    try:
        walker.walk(obj, schema, "", ("", ""))
    except _Fatal as fatal:
        walker.findings.type_errors.insert(0, str(fatal))
    return walker.findings


def prune_unknown(obj: dict, schema: Schema) -> None:
    """Drop unknown fields in place, as decoding into Go structs does."""
    try:
        _Walker(prune=True).walk(obj, schema, "", ("", ""))
    except _Fatal:
        pass  # the caller has already rejected the object for its type error


# -- messages -----------------------------------------------------------------------


def _strict_errors(findings: Findings, duplicates: list[str], custom_resource: bool) -> list[str]:
    """Duplicates first, then unknown fields. Decoding into Go structs never reports a
    duplicate of an unknown field or one inside it: it skips such values unread.
    Custom resources are decoded into maps, which read everything."""
    def under_unknown(path: str) -> bool:
        return any(path == u or path.startswith((u + ".", u + "[")) for u in findings.unknown)

    errors = [f'duplicate field "{d}"' for d in duplicates
              if custom_resource or not under_unknown(d)]
    errors += [f'unknown field "{u}"' for u in findings.unknown]
    return list(dict.fromkeys(errors))


def strict_error_message(kind: str, version: str, findings: Findings, duplicates: list[str],
                         *, custom_resource: bool = False) -> str:
    """The 400 message for fieldValidation=Strict ("" if there is nothing to complain of).
    For a custom resource pass ``Findings(unknown=crdschema.prune(...))``."""
    errors = _strict_errors(findings, duplicates, custom_resource)
    if not errors:
        return ""
    return (f'{kind} in version "{version}" cannot be handled as a {kind}: '
            f"strict decoding error: {', '.join(errors)}")


def unknown_field_warnings(findings: Findings, duplicates: list[str],
                           *, custom_resource: bool = False) -> list[str]:
    """One warning text per problem, for fieldValidation=Warn (the default)."""
    return _strict_errors(findings, duplicates, custom_resource)


def type_error_message(kind: str, version: str, findings: Findings) -> str:
    """The 400 message for a wrongly typed value, in every mode ("" if none)."""
    if not findings.type_errors:
        return ""
    return f'{kind} in version "{version}" cannot be handled as a {kind}: {findings.type_errors[0]}'


def decode_as(body: Any, group: str, version: str, kind: str) -> dict:
    """Check a body that is read, not stored (DeleteOptions, Eviction, Binding, Scale) as Go
    decodes it into its type: wrong JSON types are a DecodeError (a 400); unknown fields
    are dropped. Returns the body (a copy)."""
    schema = builtin_schema(group, version, kind)
    if schema is None:
        raise ValueError(f"no schema for {group}/{version} {kind}")
    if not isinstance(body, dict):
        raise DecodeError(f'{kind} in version "{version}" cannot be handled as a {kind}: json: cannot '
                          f"unmarshal {_json_kind(body, False)} into Go value of type {go_type_name(schema)}")
    checked = copy.deepcopy(body)
    findings = check_object(checked, schema)
    if findings.type_errors:
        raise DecodeError(type_error_message(kind, version, findings))
    prune_unknown(checked, schema)
    return checked


def _zero(schema: Schema | None) -> Any:
    """The zero value Go gives a ``null`` element of this type."""
    if schema is None or schema.is_free_form:
        return None
    if schema.int_or_string:
        return 0
    if schema.is_quantity:
        return "0"
    return {"object": {}, "array": [], "string": "", "integer": 0, "number": 0, "boolean": False}.get(schema.type)


def null_as_go(obj: Any, schema: Schema | None) -> None:
    """Replace ``null`` as Go's decoder does, in place: a null field is unset, a null list
    element or map value is the element type's zero value (``containers: [null]`` is one
    empty container, which validation then reports). Free-form parts keep their nulls."""
    if schema is None or schema.is_free_form or schema.preserve_unknown_fields:
        return
    if isinstance(obj, dict):
        values = schema.additional_properties
        if values is not None and not schema.properties:
            for key, value in obj.items():
                if value is None:
                    obj[key] = _zero(values)
                else:
                    null_as_go(value, values)
            return
        for key in [k for k, v in obj.items() if v is None and k in schema.properties]:
            del obj[key]
        for key, value in obj.items():
            field = schema.prop(key)
            if field is not None:
                null_as_go(value, field)
    elif isinstance(obj, list) and schema.items is not None:
        for i, value in enumerate(obj):
            if value is None:
                obj[i] = _zero(schema.items)
            else:
                null_as_go(value, schema.items)
