"""Field errors: what a validator says about one field of an object.

Where it sits: validators, decoders and the CRD schema checker return lists of
:class:`FieldError`; the API layer turns them into one ``422 Invalid`` Status whose
``details.causes`` has one entry per error. The messages follow apimachinery's
``util/validation/field`` package exactly, because kubectl prints them to the user:

    The Deployment "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

# type -> (cause reason, message prefix)
REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
DUPLICATE = "FieldValueDuplicate"
FORBIDDEN = "FieldValueForbidden"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"
NOT_FOUND = "FieldValueNotFound"
TYPE_INVALID = "FieldValueTypeInvalid"
INTERNAL = "InternalError"

_TITLES = {
    REQUIRED: "Required value",
    INVALID: "Invalid value",
    NOT_SUPPORTED: "Unsupported value",
    DUPLICATE: "Duplicate value",
    FORBIDDEN: "Forbidden",
    TOO_LONG: "Too long",
    TOO_MANY: "Too many",
    NOT_FOUND: "Not found",
    TYPE_INVALID: "Invalid value",
    INTERNAL: "Internal error",
}

# Types whose message never shows the bad value.
_NO_VALUE = {REQUIRED, FORBIDDEN, TOO_LONG, INTERNAL}

_OMIT = object()


def _go_value(value: Any) -> str:
    """Render a value the way Go's field.Error does: strings quoted, numbers plain."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclasses.dataclass(frozen=True)
class FieldError:
    type: str
    field: str
    bad_value: Any = _OMIT
    detail: str = ""

    def body(self) -> str:
        """The message without the field path (``Required value``, ``Invalid value: "x": ...``)."""
        text = _TITLES[self.type]
        if self.type not in _NO_VALUE and self.bad_value is not _OMIT:
            text += ": " + _go_value(self.bad_value)
        if self.detail:
            text += ": " + self.detail
        return text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}" if self.field else self.body()

    def cause(self) -> dict[str, str]:
        """This error as a metav1.StatusCause."""
        return {"reason": self.type, "message": self.body(), "field": self.field}


def required(field: str, detail: str = "") -> FieldError:
    return FieldError(REQUIRED, field, detail=detail)


def invalid(field: str, value: Any, detail: str) -> FieldError:
    return FieldError(INVALID, field, value, detail)


def not_supported(field: str, value: Any, supported: list[str]) -> FieldError:
    detail = "supported values: " + ", ".join(json.dumps(s) for s in supported) if supported else ""
    return FieldError(NOT_SUPPORTED, field, value, detail)


def duplicate(field: str, value: Any) -> FieldError:
    return FieldError(DUPLICATE, field, value)


def forbidden(field: str, detail: str) -> FieldError:
    return FieldError(FORBIDDEN, field, detail=detail)


def too_long(field: str, max_length: int) -> FieldError:
    return FieldError(TOO_LONG, field, detail=f"may not be more than {max_length} bytes")


def too_many(field: str, actual: int, max_items: int) -> FieldError:
    return FieldError(TOO_MANY, field, actual, f"must have at most {max_items} items")


def not_found(field: str, value: Any) -> FieldError:
    return FieldError(NOT_FOUND, field, value)


def type_invalid(field: str, value: Any, detail: str) -> FieldError:
    return FieldError(TYPE_INVALID, field, value, detail)


def aggregate(errors: list[FieldError]) -> str:
    """Several errors as one line, as Go's ErrorList.ToAggregate prints them: a message
    that repeats is shown once (the Status causes still list every error)."""
    messages = list(dict.fromkeys(str(e) for e in errors))
    if len(messages) == 1:
        return messages[0]
    return "[" + ", ".join(messages) + "]"


class Path:
    """Builds field paths the upstream way: ``spec.containers[0].ports[1].containerPort``,
    ``metadata.labels[app.kubernetes.io/name]``.

    >>> str(Path("spec").child("containers").index(0).child("name"))
    'spec.containers[0].name'
    """

    __slots__ = ("_text",)

    def __init__(self, *names: str) -> None:
        self._text = ".".join(names)

    @classmethod
    def _of(cls, text: str) -> Path:
        p = cls()
        p._text = text
        return p

    def child(self, *names: str) -> Path:
        text = self._text
        for name in names:
            text = f"{text}.{name}" if text else name
        return Path._of(text)

    def index(self, i: int) -> Path:
        return Path._of(f"{self._text}[{i}]")

    def key(self, k: str) -> Path:
        return Path._of(f"{self._text}[{k}]")

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Path({self._text!r})"
