"""Go's own parsers, copied for their error messages: what ``decoding`` quotes back.

Where it sits: below :mod:`decoding`, which calls in here when a request body breaks a
Go rule. ``parse_json`` turns Python's JSON syntax error into Go's with
:func:`go_syntax_error`; the schema walk asks :func:`base64_error_offset` about
``format: byte`` strings, :func:`quantity_error` about ``resource.Quantity`` values,
:func:`go_time_error` about ``metav1.Time`` and ``MicroTime``, and names the Go type of
a mismatched field with :func:`go_type_name`. Nothing here knows about HTTP or
``fieldValidation``; each function takes a value and returns Go's text (or ``""``/None
when Go would have accepted it).

What it promises: each function is a small port of one Go routine -- ``base64.StdEncoding``,
``resource.ParseQuantity``, ``time.Parse`` with ``RFC3339``/``RFC3339Micro``,
``reflect.Type.String()``, ``encoding/json``'s scanner -- faithful to the error it would
print, byte for byte where a student reads it in kubectl's output. It does not parse the
value into anything; the API server keeps Python's view of it. Known gap: JSON syntax
errors are translated from Python's parser, so a few (``[1.`` at the end of input) are
worded differently.
"""

from __future__ import annotations

import json
import re

from .schema import Schema

# Go's integer types as the schemas name them, with their ranges.
INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


# -- Go type names ----------------------------------------------------------------------


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
        return fmt if fmt in INT_RANGES else "int64"
    return {"number": "float64", "boolean": "bool"}.get(schema.type, "interface {}")


# -- base64, resource.Quantity, time.Parse ---------------------------------------------

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
