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
``illegal base64 data at input byte N``, ``time.Parse`` and ``resource.Quantity`` errors.
Go remembers only the first type error, and an error from a type's own unmarshaller
(Time, Quantity, IntOrString) stops decoding at once; ``Findings.type_errors[0]`` is
therefore the one Go would report. Known gaps: Go names string enums by their own
type (``v1.Protocol``), we say ``string``; Go interleaves duplicate and unknown fields
in document order, we list duplicates first; JSON syntax errors are translated from
Python's parser, so a few (``[1.`` at the end of input) are worded differently.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from .schema import Schema

TIME = "io.k8s.apimachinery.pkg.apis.meta.v1.Time"
MICRO_TIME = "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime"
# Types with their own UnmarshalJSON that keep any JSON value as raw bytes.
RAW_TYPES = {
    "io.k8s.apimachinery.pkg.runtime.RawExtension",
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
}
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


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
            low, high = _INT_RANGES.get(fmt, _INT_RANGES["int64"])
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


def go_type_name(schema: Schema) -> str:
    """The Go type behind a schema node, as ``reflect.Type.String()`` prints it."""
    if schema.is_quantity:
        return "resource.Quantity"
    if schema.int_or_string:
        return "intstr.IntOrString"
    if schema.ref and schema.type == "object":
        package, name = schema.ref.rsplit(".", 2)[-2:]
        return f"{package}.{name}"
    if schema.type == "array" and schema.items is not None:
        return "[]" + go_type_name(schema.items)
    if schema.type == "object" and schema.additional_properties is not None:
        if schema.additional_properties.is_quantity:
            return "v1.ResourceList"  # the one named map type students meet
        return "map[string]" + go_type_name(schema.additional_properties)
    fmt = schema.node.get("format", "")
    if schema.type == "string":
        return "[]uint8" if fmt == "byte" else "string"
    if schema.type == "integer":
        return fmt if fmt in _INT_RANGES else "int64"
    return {"number": "float64", "boolean": "bool"}.get(schema.type, "interface {}")


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


# -- Go's own parsers, for their error messages --------------------------------------

_B64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def base64_error_offset(text: str) -> int | None:
    """Where Go's ``base64.StdEncoding`` gives up on ``text`` (None if it decodes).
    It reads quanta of four characters, skipping newlines; padding may only end the input."""
    src, si = text.encode(), 0
    while si < len(src):
        j = 0
        while j < 4:
            if si == len(src):
                return None if j == 0 else si - j
            c, si = src[si], si + 1
            if c in _B64:
                j += 1
            elif c in b"\r\n":
                continue
            elif c != ord("=") or j < 2:
                return si - 1
            else:
                if j == 2:  # "==" expected
                    while si < len(src) and src[si] in b"\r\n":
                        si += 1
                    if si == len(src):
                        return len(src)
                    if src[si] != ord("="):
                        return si - 1
                    si += 1
                while si < len(src) and src[si] in b"\r\n":
                    si += 1
                return si if si < len(src) else None
    return None


_QUANTITY = re.compile(r"[+-]?[0-9]*(?:\.[0-9]*)?([eEinumkKMGTP]*[+-]?[0-9]*)")
_SUFFIXES = {"", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}


def quantity_error(text: str) -> str:
    """Go's ``resource.ParseQuantity`` error for ``text`` ("" if it parses)."""
    match = _QUANTITY.fullmatch(text)
    if not text or not match:
        return ("quantities must match the regular expression "
                "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    suffix = match.group(1)
    if suffix in _SUFFIXES or re.fullmatch(r"[eE][+-]?[0-9]+", suffix):
        return ""
    return "unable to parse quantity's suffix"


_RFC3339 = "2006-01-02T15:04:05Z07:00"
_RFC3339_MICRO = "2006-01-02T15:04:05.000000Z07:00"
# Layout element -> (what Go calls it when out of range, lowest, highest).
_TIME_LIMITS = {"01": ("month", 1, 12), "15": ("hour", 0, 23), "04": ("minute", 0, 59),
                "05": ("second", 0, 59)}


def _go_quote(s: str) -> str:
    """The time package's quote: non-ASCII and control bytes as \\xNN."""
    out = ['"']
    for ch in s:
        if ch < " " or ord(ch) >= 0x80:
            out.extend(f"\\x{b:02x}" for b in ch.encode())
        else:
            out.append("\\" + ch if ch in '"\\' else ch)
    return "".join(out) + '"'


def _digits(s: str) -> bool:
    return s != "" and all("0" <= c <= "9" for c in s)


def _time_element(std: str, rest: str) -> tuple[int, str] | None:
    """Consume one layout element from ``rest``: (its number, what is left), or None."""
    if std == "2006":
        return (int(rest[:4]), rest[4:]) if _digits(rest[:4]) and len(rest) >= 4 else None
    if std == ".000000":
        ok = rest[:1] in (".", ",") and _digits(rest[1:7]) and len(rest) >= 7
        return (0, rest[7:]) if ok else None
    if std == "Z07:00":
        if rest.startswith("Z"):
            return 0, rest[1:]
        ok = rest[:1] in ("+", "-") and _digits(rest[1:3]) and rest[3:4] == ":" \
            and _digits(rest[4:6])
        return (int(rest[1:3]) * 100 + int(rest[4:6]), rest[6:]) if ok and len(rest) >= 6 else None
    if not _digits(rest[:1]):
        return None
    if _digits(rest[1:2]):
        return int(rest[:2]), rest[2:]
    return (int(rest[0]), rest[1:]) if std == "15" else None  # only the hour may have one digit


def go_time_error(value: str, micro: bool = False) -> str:
    """Go's ``time.Parse(RFC3339[Micro], value)`` error ("" if it parses)."""
    layout = _RFC3339_MICRO if micro else _RFC3339
    steps = [("", "2006"), ("-", "01"), ("-", "02"), ("T", "15"), (":", "04"), (":", "05")]
    steps += [("", ".000000"), ("", "Z07:00")] if micro else [("", "Z07:00")]
    quoted, parsed, rest = _go_quote(value), {}, value

    def cannot(elem: str) -> str:
        return (f"parsing time {quoted} as {_go_quote(layout)}: "
                f"cannot parse {_go_quote(rest)} as {_go_quote(elem)}")

    for prefix, std in steps:
        if not rest.startswith(prefix):
            return cannot(prefix)
        rest = rest[len(prefix):]
        got = _time_element(std, rest)
        if got is None:
            return cannot(std)
        parsed[std], rest = got
        what, low, high = _TIME_LIMITS.get(std, ("", 0, 10**9))
        if std == "Z07:00" and parsed[std] // 100 > 24:
            what, low, high = "time zone offset hour", 0, -1
        if not low <= parsed[std] <= high:
            return f"parsing time {quoted}: {what} out of range"
        if std == "05" and not micro and rest[:1] in (".", ",") and _digits(rest[1:2]):
            rest = rest[1:].lstrip("0123456789")  # Go accepts a fraction RFC3339 does not name
    if rest:
        return f"parsing time {quoted}: extra text: {_go_quote(rest)}"
    year, month, day = parsed["2006"], parsed["01"], parsed["02"]
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return "" if 1 <= day <= days else f"parsing time {quoted}: day out of range"


# -- Go's JSON syntax errors ------------------------------------------------------------

# Python's JSONDecodeError message -> the context Go's scanner names.
_SYNTAX_CONTEXTS = {
    "Expecting value": "looking for beginning of value",
    "Expecting property name enclosed in double quotes":
        "looking for beginning of object key string",
    "Expecting ':' delimiter": "after object key",
    "Extra data": "after top-level value",
    "Invalid control character at": "in string literal",
    "Invalid \\escape": "in string escape code",
    "Invalid \\uXXXX escape": "in \\u hexadecimal character escape",
}


def _quote_char(c: int) -> str:
    """encoding/json's quoteChar: the offending byte as Go prints it."""
    if c in (ord("'"), ord('"')):
        return "'\\''" if c == ord("'") else "'\"'"
    ch = chr(c)
    if ch.isprintable():
        return f"'{ch}'"
    named = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r"}
    return "'" + named.get(c, f"\\x{c:02x}" if c < 0x80 else f"\\u{c:04x}") + "'"


def _innermost_container(text: str) -> str:
    """"{" or "[" around position len(text), skipping over strings."""
    stack: list[str] = []
    in_string = escaped = False
    for ch in text:
        if in_string:
            in_string, escaped = (ch != '"' or escaped), (ch == "\\" and not escaped)
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append(ch)
        elif ch in "}]" and stack:
            stack.pop()
    return stack[-1] if stack else ""


def go_syntax_error(err: ValueError) -> str:
    """Go's wording for the first syntax error Python's parser found ("close", not exact:
    Go reports ``1.`` at the end of input as a bad number, Python as extra data)."""
    if not isinstance(err, json.JSONDecodeError):  # NaN, Infinity, -Infinity
        name = str(err)
        where = "in numeric literal" if name.startswith("-") else "looking for beginning of value"
        return f"invalid character '{name.lstrip('-')[0]}' {where}"
    doc, pos = err.doc, err.pos
    if pos >= len(doc) or err.msg.startswith("Unterminated string"):
        return "unexpected end of JSON input"
    if err.msg.startswith("Invalid \\escape"):
        pos += 1  # Go blames the character after the backslash
    context = next((c for m, c in _SYNTAX_CONTEXTS.items() if err.msg.startswith(m)), "")
    if err.msg.startswith("Expecting ',' delimiter"):
        inside = _innermost_container(doc[:pos])
        context = "after object key:value pair" if inside == "{" else "after array element"
    context = context or "looking for beginning of value"
    return f"invalid character {_quote_char(doc[pos].encode()[0])} {context}"
