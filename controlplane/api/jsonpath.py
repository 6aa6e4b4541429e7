"""A small evaluator for the JSONPath dialect of Kubernetes, as CRD printer columns use it.

Where it sits: a CRD version's ``additionalPrinterColumns`` name their cells with a
``jsonPath`` such as ``.status.replicas``; the table builder (``api/tables/custom.py``)
evaluates it on each custom object. kubectl's ``-o jsonpath=`` speaks the same dialect
(``k8s.io/client-go/util/jsonpath``); this module implements the part of it that
column definitions use:

====================================================  =====================================
``.spec.replicas``                                     a field
``.metadata.labels.app\\.kubernetes\\.io/name``         a field whose name holds dots
``.metadata.labels['app.kubernetes.io/name']``         the same, quoted
``.spec.items[0].name``, ``[-1]``, ``[1:3]``           an index, from the end, a slice
``.spec.items[*].name``, ``.spec.*``                   every element / every value
``..name``                                             ``name`` at any depth
``.status.conditions[?(@.type=="Ready")].status``      the elements that pass a filter
``[?(@.port > 8000)]``, ``[?(@.ready)]``               comparisons; "has this field"
====================================================  =====================================

What it promises: :func:`parse` rejects a malformed expression with
:class:`JSONPathError`; :meth:`JSONPath.find` never raises. It returns every match in
document order, and ``[]`` when nothing matches. Like upstream with ``AllowMissingKeys``,
a missing field is not an error, and neither is a path that does not fit the data (an
index into a map, an index out of range): that branch simply yields nothing.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from operator import ge, gt, le, lt
from typing import Any


class JSONPathError(ValueError):
    """The expression is not valid JSONPath."""


# -- the compiled form: a list of steps, each mapping one value to zero or more values ----


@dataclasses.dataclass(frozen=True)
class Field:
    name: str


@dataclasses.dataclass(frozen=True)
class Wildcard:
    pass


@dataclasses.dataclass(frozen=True)
class Descend:
    """``..``: the value itself and everything below it, for the next step to pick from."""


@dataclasses.dataclass(frozen=True)
class Slice:
    start: int | None
    end: int | None
    step: int | None
    single: bool  # ``[n]`` rather than ``[a:b]``


@dataclasses.dataclass(frozen=True)
class Literal:
    value: Any


@dataclasses.dataclass(frozen=True)
class Filter:
    left: JSONPath | Literal
    operator: str  # "exists" when the filter is just ``?(@.field)``
    right: JSONPath | Literal | None


Step = Field | Wildcard | Descend | Slice | Filter


@dataclasses.dataclass(frozen=True)
class JSONPath:
    steps: tuple[Step, ...]

    def find(self, data: Any) -> list[Any]:
        """Every value the path selects in ``data``, in document order."""
        values = [data]
        for step in self.steps:
            values = [found for value in values for found in _apply(step, value)]
        return values


def parse(expression: str) -> JSONPath:
    """Compile an expression; ``{...}`` around it and a leading ``$`` are optional."""
    text = expression.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if text.startswith("$"):
        text = text[1:]
    parser = _Parser(text)
    path = parser.path()
    if not parser.done():
        raise JSONPathError(f"unexpected {parser.rest()!r} in {expression!r}")
    return path


def find(expression: str, data: Any) -> list[Any]:
    """Parse and evaluate in one go."""
    return parse(expression).find(data)


# -- evaluation -----------------------------------------------------------------------------


def _apply(step: Step, value: Any) -> Iterator[Any]:
    if value is None:  # nothing is below a null
        return
    if isinstance(step, Field):
        if isinstance(value, dict) and step.name in value:
            yield value[step.name]
    elif isinstance(step, Wildcard):
        if isinstance(value, dict):
            yield from value.values()
        elif isinstance(value, list):
            yield from value
    elif isinstance(step, Descend):
        yield from _walk(value)
    elif isinstance(step, Slice):
        if isinstance(value, list):
            yield from _slice(step, value)
    elif isinstance(value, list):
        yield from (item for item in value if _passes(step, item))


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for child in value:
            yield from _walk(child)


def _slice(step: Slice, items: list[Any]) -> list[Any]:
    """Upstream's bounds rules: out of range is no match (Python would clamp)."""
    length = len(items)
    start = step.start if step.start is not None else 0
    start = start + length if start < 0 else start
    if step.single:
        return [items[start]] if 0 <= start < length else []
    end = step.end if step.end is not None else length
    end = end + length if end < 0 else end
    if start == end:
        return []
    if not (0 <= start < length and 0 <= end <= length and start <= end):
        return []
    stride = step.step if step.step is not None else 1
    return items[start:end:stride] if stride > 0 else []


def _operand(operand: JSONPath | Literal, item: Any) -> list[Any]:
    return [operand.value] if isinstance(operand, Literal) else operand.find(item)


def _passes(step: Filter, item: Any) -> bool:
    lefts = _operand(step.left, item)
    if step.operator == "exists":
        return bool(lefts)
    rights = _operand(step.right, item) if step.right is not None else []
    # Upstream compares exactly one value with one value; anything else filters out.
    if len(lefts) != 1 or len(rights) != 1:
        return False
    return _compare(lefts[0], step.operator, rights[0])


def _kind(value: Any) -> str:
    if isinstance(value, bool):  # before int: True is an int in Python, not in JSON
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def _compare(left: Any, operator: str, right: Any) -> bool:
    if _kind(left) != _kind(right):
        return False  # upstream: "incompatible types for comparison"
    if operator == "==":
        return bool(left == right)
    if operator == "!=":
        return bool(left != right)
    if _kind(left) not in ("number", "str"):
        return False  # only numbers and strings have an order
    return bool(_ORDER[operator](left, right))


# -- parsing --------------------------------------------------------------------------------

# Characters that end an unquoted field name (a backslash escapes any of them).
_NAME_END = set(" .,[]()=!<>'\"{}@$")
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">")  # longest first, so "<=" is not "<"
_ORDER = {"<": lt, ">": gt, "<=": le, ">=": ge}
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
_INT = re.compile(r"\s*(-?\d+)?\s*")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def done(self) -> bool:
        return self.pos >= len(self.text)

    def rest(self) -> str:
        return self.text[self.pos:]

    def peek(self, count: int = 1) -> str:
        return self.text[self.pos:self.pos + count]

    def path(self) -> JSONPath:
        """Steps until something that cannot continue a path (end, space, operator, ``)``)."""
        steps: list[Step] = []
        while not self.done():
            if self.peek(2) == "..":
                self.pos += 2
                steps.append(Descend())
                if self.peek() != "[":
                    steps.append(self.field())
            elif self.peek() == ".":
                self.pos += 1
                steps.append(self.field())
            elif self.peek() == "[":
                steps.append(self.bracket())
            else:
                break
        return JSONPath(tuple(steps))

    def field(self) -> Step:
        if self.peek() == "*":
            self.pos += 1
            return Wildcard()
        name: list[str] = []
        while not self.done() and self.peek() not in _NAME_END:
            if self.peek() == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
            name.append(self.peek())
            self.pos += 1
        if not name:
            raise JSONPathError(f"expected a field name at {self.rest()!r}")
        return Field("".join(name))

    def bracket(self) -> Step:
        self.pos += 1  # "["
        if self.peek() == "*":
            self.pos += 1
            step: Step = Wildcard()
        elif self.peek(2) == "?(":
            self.pos += 2
            step = self.filter()
            self.expect(")")
        elif self.peek() in ("'", '"'):
            step = Field(self.quoted())
        else:
            step = self.slice()
        self.expect("]")
        return step

    def slice(self) -> Slice:
        parts = self.rest().split("]", 1)[0].split(":")
        if len(parts) > 3 or not all(_INT.fullmatch(part) for part in parts):
            raise JSONPathError(f"invalid array index {parts!r}")
        self.pos += len(":".join(parts))
        numbers = [int(part) if part.strip() else None for part in parts]
        if len(parts) == 1:
            if numbers[0] is None:
                raise JSONPathError("empty array index")
            return Slice(numbers[0], None, None, single=True)
        numbers += [None] * (3 - len(numbers))
        return Slice(numbers[0], numbers[1], numbers[2], single=False)

    def filter(self) -> Filter:
        left = self.operand()
        self.skip_spaces()
        operator = next((op for op in _OPERATORS if self.peek(len(op)) == op), None)
        if operator is None:
            if isinstance(left, Literal):
                raise JSONPathError("a filter needs a path or a comparison")
            return Filter(left, "exists", None)
        self.pos += len(operator)
        right = self.operand()
        self.skip_spaces()
        return Filter(left, operator, right)

    def operand(self) -> JSONPath | Literal:
        self.skip_spaces()
        if self.peek() == "@":
            self.pos += 1
            return self.path()
        if self.peek() in ("'", '"'):
            return Literal(self.quoted())
        for word, value in (("true", True), ("false", False)):
            if self.rest().startswith(word):
                self.pos += len(word)
                return Literal(value)
        match = _NUMBER.match(self.text, self.pos)
        if match is None:
            raise JSONPathError(f"expected a value at {self.rest()!r}")
        self.pos = match.end()
        number = match.group(0)
        is_integer = match.group(1) is None and match.group(2) is None
        return Literal(int(number) if is_integer else float(number))

    def quoted(self) -> str:
        quote = self.peek()
        self.pos += 1
        chars: list[str] = []
        while not self.done() and self.peek() != quote:
            if self.peek() == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
            chars.append(self.peek())
            self.pos += 1
        self.expect(quote)
        return "".join(chars)

    def skip_spaces(self) -> None:
        while self.peek() == " ":
            self.pos += 1

    def expect(self, token: str) -> None:
        if self.peek(len(token)) != token:
            raise JSONPathError(f"expected {token!r} at {self.rest()!r}")
        self.pos += len(token)
