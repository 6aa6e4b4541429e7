"""Resource quantities ("500m", "128Mi", "2", "1e3"): read them as numbers, print them back.

Where it sits: the node agent reads quantities from pod specs (container limits for
cgroups, ``resourceFieldRef`` for the downward API) and from its own flags
(``--memory 4Gi``), and writes some into the Node's ``capacity``. This is the small
part of apimachinery's ``resource.Quantity`` the agent needs: parsing to an exact
:class:`~decimal.Decimal`, and the rounding rules the downward API uses.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

_SUFFIXES = {
    "": Decimal(1),
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
    "P": Decimal("1e15"), "E": Decimal("1e18"),
    "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40),
    "Pi": Decimal(2**50), "Ei": Decimal(2**60),
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+|[a-zA-Z]*)$")


class QuantityError(ValueError):
    """Not a Kubernetes quantity; the message quotes it."""


def parse(value: str | float | Decimal) -> Decimal:
    """The exact value of a quantity: ``parse("500m") == Decimal("0.5")``."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    text = str(value).strip()
    m = _QUANTITY.match(text)
    if not m:
        raise QuantityError(f"quantities must match the regular expression "
                            f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {value!r}")
    number, suffix = m.groups()
    try:
        base = Decimal(number)
    except InvalidOperation:
        raise QuantityError(f"{value!r} is not a number") from None
    if suffix[:1] in ("e", "E"):
        return base * (Decimal(10) ** int(suffix[1:]))
    if suffix not in _SUFFIXES:
        raise QuantityError(f"unknown suffix {suffix!r} in quantity {value!r}")
    return base * _SUFFIXES[suffix]


def millicores(value: str | float | Decimal) -> int:
    """CPU as whole millicores, rounded up as Kubernetes does ("0.1" -> 100, "1" -> 1000)."""
    return math.ceil(parse(value) * 1000)


def to_bytes(value: str | float | Decimal) -> int:
    """Memory as whole bytes, rounded up."""
    return math.ceil(parse(value))


def divide_ceil(value: Decimal, divisor: Decimal) -> int:
    """The downward API's ``resourceFieldRef`` rule: value / divisor, rounded up, at least 1
    when the value is non-zero (upstream's ``ExtractContainerResourceValue``)."""
    if divisor <= 0:
        raise QuantityError("a divisor must be positive")
    return math.ceil(value / divisor)


def format_kib(n_bytes: int) -> str:
    """Memory as kubelet reports it in a Node's capacity: whole KiB ("16331036Ki")."""
    return f"{n_bytes // 1024}Ki"
