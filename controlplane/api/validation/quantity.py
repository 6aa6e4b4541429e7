"""Resource quantities (``500m``, ``1.5Gi``, ``2``): parsing, comparing, the canonical form.

Where it sits: the validators compare requests with limits and check node capacities
with it; the defaulting code rounds container resources up to milli-units and
rewrites them in canonical form, so a pod created with ``cpu: 0.5`` reads back as
``cpu: 500m`` and ``memory: 1.5Gi`` as ``1536Mi``, exactly as a real cluster stores them.

What it promises: apimachinery's ``resource.Quantity`` rules. A quantity is a decimal
number with a suffix that sets both its scale and the format it is written back in:

* binary ``Ki Mi Gi Ti Pi Ei`` (powers of 1024),
* decimal ``n u m "" k M G T P E`` (powers of 1000),
* exponent ``e3``, ``E6`` (powers of ten, written back as ``e<n>``).
"""

from __future__ import annotations

import dataclasses
import re
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal, InvalidOperation

FORMAT_ERROR = ("quantities must match the regular expression"
                " '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")

_QUANTITY = re.compile(r"([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)")
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {v: k for k, v in _DECIMAL.items()}
_BINARY_SUFFIX = {v: k for k, v in _BINARY.items()}

BINARY_SI, DECIMAL_SI, DECIMAL_EXPONENT = "BinarySI", "DecimalSI", "DecimalExponent"
_NANO = Decimal("1e-9")
# Room for an exabyte counted in nano-units, which the default 28 digits are not.
_CONTEXT = Context(prec=60)


class QuantityError(ValueError):
    """The text is not a quantity; the message is upstream's."""


@dataclasses.dataclass(frozen=True)
class Quantity:
    value: Decimal
    format: str

    def __str__(self) -> str:
        return canonical(self)

    def milli_value(self) -> int:
        """The value in thousandths, rounded up (how upstream checks "is an integer")."""
        return int((self.value * 1000).to_integral_value(ROUND_CEILING))


def parse(text: object) -> Quantity:
    """Parse a quantity as it arrives in JSON: a string, or a bare number (``cpu: 2``)."""
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise QuantityError(FORMAT_ERROR)
    if isinstance(text, (int, float)):
        text = repr(text) if isinstance(text, float) else str(text)
    match = _QUANTITY.fullmatch(text)
    if not match or text.count(".") > 1:
        raise QuantityError(FORMAT_ERROR)
    number, suffix = match.groups()
    try:
        value = Decimal(number)
    except InvalidOperation:
        raise QuantityError(FORMAT_ERROR) from None
    if suffix in _BINARY:
        value, fmt = value * (Decimal(1024) ** _BINARY[suffix]), BINARY_SI
    elif suffix in _DECIMAL:
        value, fmt = value.scaleb(_DECIMAL[suffix]), DECIMAL_SI
    elif suffix[:1] in ("e", "E") and re.fullmatch(r"[-+]?[0-9]+", suffix[1:]):
        value, fmt = value.scaleb(int(suffix[1:])), DECIMAL_EXPONENT
    else:
        raise QuantityError("unable to parse quantity's suffix")
    # Anything finer than a nano-unit is rounded up: asking for a little gets a little.
    return Quantity(_round_away(value, _NANO), fmt)


def try_parse(text: object) -> Quantity | None:
    try:
        return parse(text)
    except QuantityError:
        return None


def _round_away(value: Decimal, step: Decimal) -> Decimal:
    rounding = ROUND_CEILING if value >= 0 else ROUND_FLOOR
    if not value:
        return Decimal(0)
    return value.quantize(step, rounding=rounding, context=_CONTEXT).normalize(_CONTEXT)


def round_up_milli(q: Quantity) -> Quantity:
    """SetDefaults_ResourceList: resources are kept to milli-unit precision."""
    return Quantity(_round_away(q.value, Decimal("0.001")), q.format)


def canonical(q: Quantity) -> str:
    """The text a real apiserver writes back for this quantity."""
    if q.value == 0:
        return "0"
    fmt = q.format
    if fmt == BINARY_SI and (abs(q.value) < 1024 or q.value != q.value.to_integral_value()):
        # Small or fractional byte counts would lose precision in binary; write them decimal.
        fmt = DECIMAL_SI
    if fmt == BINARY_SI:
        number, exponent = int(q.value), 0
        while abs(number) >= 1024 and number % 1024 == 0 and exponent < 6:
            number, exponent = number // 1024, exponent + 1
        return f"{number}{_BINARY_SUFFIX.get(exponent, '')}"
    mantissa, exponent = _decimal_parts(q.value)
    if fmt == DECIMAL_SI and exponent in _DECIMAL_SUFFIX:
        return f"{mantissa}{_DECIMAL_SUFFIX[exponent]}"
    return f"{mantissa}e{exponent}" if exponent else str(mantissa)


def _decimal_parts(value: Decimal) -> tuple[int, int]:
    """value == mantissa * 10**exponent, with an integer mantissa and the largest exponent
    that is a multiple of three."""
    sign, digits, exponent = value.normalize(_CONTEXT).as_tuple()
    mantissa = int("".join(map(str, digits))) * (-1 if sign else 1)
    assert isinstance(exponent, int)
    shift = exponent % 3  # Python's % keeps this in 0..2, also for negative exponents
    return mantissa * 10 ** shift, exponent - shift


def normalize(text: object) -> object:
    """Round to milli-units and write canonically; text that is no quantity is left alone
    for validation to report."""
    q = try_parse(text)
    return canonical(round_up_milli(q)) if q is not None else text
