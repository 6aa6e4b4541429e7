"""Bad values printed the way Go's field errors print them, for the messages kubectl shows.

Where it sits: a validator whose bad value is a list, a struct, a timestamp or an
unset pointer builds its error with :func:`invalid_go` or :func:`duplicate_go` and a
value printed here, because ``fielderrors`` prints values as JSON, and upstream prints
them with Go's ``%#v`` (``[]string{"10.96.0.10"}``, ``core.Taint{Key:"a", ...}``).

What it promises: the same text as upstream's ``field.Error.ErrorBody`` for the values
the core validators report. The printed value travels in the error's detail, so
``str(error)`` reads exactly as kubectl prints it.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from ..fielderrors import DUPLICATE, INVALID, NOT_SUPPORTED, FieldError, Path

NULL = '"null"'  # an unset pointer: upstream turns it into the string "null", then quotes it


def go_quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def go_strings(values: list[str] | None, elem: str = "string") -> str:
    """``[]string{"a", "b"}``, or ``[]core.IPFamily{"IPv4"}`` for a named string type."""
    if values is None:
        return f"[]{elem}(nil)"
    return f"[]{elem}{{" + ", ".join(go_quote(v) for v in values) + "}"


def go_struct(type_name: str, **fields: str) -> str:
    """A struct literal from already printed field values, in declaration order."""
    return type_name + "{" + ", ".join(f"{k}:{v}" for k, v in fields.items()) + "}"


def go_time(value: str | None) -> str:
    """A metav1.Time prints through time.Time's String(): ``2025-01-02 03:04:05 +0000 UTC``."""
    if not value:
        return NULL
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return go_quote(value)
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def invalid_go(path: Path | str, printed: str, detail: str) -> FieldError:
    """An Invalid error whose bad value is already printed the Go way."""
    return FieldError(INVALID, str(path), detail=f"{printed}: {detail}" if detail else printed)


def duplicate_go(path: Path | str, printed: str, detail: str = "") -> FieldError:
    return FieldError(DUPLICATE, str(path), detail=f"{printed}: {detail}" if detail else printed)


def go_string_map(mapping: dict[str, str] | None) -> str:
    """``map[string]string{"a":"1", "b":"2"}``: fmt sorts map keys."""
    if mapping is None:
        return "map[string]string(nil)"
    items = (f"{go_quote(k)}:{go_quote(str(v))}" for k, v in sorted(mapping.items()))
    return "map[string]string{" + ", ".join(items) + "}"


def go_optional(value: str | None) -> str:
    """A top-level *string: followed when set, the string "null" when not."""
    return NULL if value is None else go_quote(value)


def go_pointer(type_name: str, value: Any) -> str:
    """A pointer inside a struct: fmt prints its address, which nobody can predict."""
    return f"(*{type_name})(nil)" if value is None else f"(*{type_name})(0xc000a1b2c0)"


def go_scalar(value: Any) -> str:
    """A top-level value: fmt follows pointers, and a nil one prints as the string "null"."""
    if value is None:
        return '"null"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return go_quote(value) if isinstance(value, str) else str(value)


def go_int_or_string(value: int | str | None) -> str:
    if isinstance(value, str):
        return go_struct("intstr.IntOrString", Type="1", IntVal="0", StrVal=go_quote(value))
    return go_struct("intstr.IntOrString", Type="0", IntVal=str(value or 0), StrVal='""')


def go_selector(selector: dict | None) -> str:
    """A metav1.LabelSelector, which Go prints with its package name, ``v1``."""
    selector = selector or {}
    exprs = selector.get("matchExpressions")
    printed = "[]v1.LabelSelectorRequirement(nil)" if exprs is None else (
        "[]v1.LabelSelectorRequirement{" + ", ".join(
            go_struct("v1.LabelSelectorRequirement", Key=go_quote(e.get("key", "")),
                      Operator=go_quote(e.get("operator", "")), Values=go_strings(e.get("values")))
            for e in exprs) + "}")
    return go_struct("v1.LabelSelector", MatchLabels=go_string_map(selector.get("matchLabels")),
                     MatchExpressions=printed)


def not_supported_go(path: Path | str, printed: str, supported: list[str]) -> FieldError:
    values = ", ".join(go_quote(s) for s in supported)
    return FieldError(NOT_SUPPORTED, str(path), detail=f"{printed}: supported values: {values}")
