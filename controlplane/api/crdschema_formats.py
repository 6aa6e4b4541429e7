"""String formats a CRD schema may name, and how Go prints numbers in CR messages.

Where it sits: ``crdschema_validate`` asks :func:`effective_format` which ``format:``
of a schema node is honoured, and :func:`format_ok` whether a string matches it.

What it promises: the formats are the ones the 1.33 apiserver checks for custom
resources (apiextensions ``supportedVersionedFormats`` mapped onto kube-openapi's
``strfmt.Default`` registry). Any other format -- ``int32``, ``double``,
``int-or-string``, made-up ones -- is silently ignored, exactly as upstream strips it
before validating. Checks that upstream delegates to Go's ``net`` and ``net/mail``
packages use Python's ``ipaddress`` or a close regular expression instead.
"""

from __future__ import annotations

import decimal
import ipaddress
import re
from collections.abc import Callable

_UUID = r"[0-9a-f]{8}-?[0-9a-f]{4}-?%s[0-9a-f]{3}-?%s[0-9a-f]{3}-?[0-9a-f]{12}"
_DATE_TIME = re.compile(r"([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))")
_HOSTNAME = re.compile(r"[a-zA-Z0-9](-?[a-zA-Z0-9]{0,62})?"
                       r"|([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}")
_DURATION_GO = re.compile(r"[-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+|[-+]?0")
_DURATION_UNITS = ("ns", "nano", "us", "µs", "micro", "ms", "milli", "s", "sec", "m", "min",
                   "h", "hr", "hour", "d", "day", "w", "wk", "week")


def _date(s: str) -> bool:
    """Go's time.Parse("2006-01-02", s)."""
    m = re.fullmatch(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", s)
    if not m:
        return False
    year, month, day = (int(g) for g in m.groups())
    if not 1 <= month <= 12:
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return 1 <= day <= [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]


def _date_time(s: str) -> bool:
    """strfmt.IsDateTime: a date, a "t", then hh:mm:ss[.frac] and a zone, case-insensitive."""
    parts = s.lower().split("t")
    if len(s) < 4 or len(parts) < 2 or not _date(parts[0]):
        return False
    m = _DATE_TIME.match(parts[1])
    return bool(m) and m.end() == len(parts[1]) and m[1] <= "23" and m[2] <= "59" and m[3] <= "59"


def _duration(s: str) -> bool:
    """Go's time.ParseDuration, or strfmt's looser "3 days 4 hours"."""
    if _DURATION_GO.fullmatch(s):
        return True
    for _, unit in re.findall(r"([0-9]+)\s*([A-Za-zµ]+)", s):
        unit = unit.lower()
        if any(unit == u or (u in ("nano", "micro", "milli", "sec", "min", "hour", "day", "week")
                             and unit.startswith(u)) for u in _DURATION_UNITS):
            return True
    return False


def _ip(s: str, version: int, marker: str) -> bool:
    try:
        # Go's ParseIPSloppy accepts leading zeros in IPv4 octets; Python does not.
        candidate = re.sub(r"\b0+(\d)", r"\1", s) if version == 4 else s
        return ipaddress.ip_address(candidate) is not None and marker in s
    except ValueError:
        return False


def _cidr(s: str) -> bool:
    try:
        return "/" in s and ipaddress.ip_network(s, strict=False) is not None
    except ValueError:
        return False


def _luhn(s: str) -> bool:
    digits = [int(c) for c in s if c.isdigit()]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2)
                for i, d in enumerate(reversed(digits)))
    return len(digits) >= 12 and total % 10 == 0


def _isbn10(s: str) -> bool:
    s = re.sub(r"[\s-]", "", s)
    if not re.fullmatch(r"[0-9]{9}[0-9X]", s):
        return False
    values = [10 if c == "X" else int(c) for c in s]
    return sum((i + 1) * v for i, v in enumerate(values)) % 11 == 0


def _isbn13(s: str) -> bool:
    s = re.sub(r"[\s-]", "", s)
    if not re.fullmatch(r"[0-9]{13}", s):
        return False
    return sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(s)) % 10 == 0


def _matches(pattern: str, flags: int = 0) -> Callable[[str], bool]:
    compiled = re.compile(pattern, flags)
    return lambda s: compiled.fullmatch(s) is not None


_CHECKS: dict[str, Callable[[str], bool]] = {
    "bsonobjectid": _matches(r"[0-9a-fA-F]{24}"),
    "uri": _matches(r"([a-zA-Z][a-zA-Z0-9+.-]*:|/)[^\s]*"),
    "email": _matches(r"([^<>@\s]+ )*<?[^<>@\s]+@[^<>@\s]+>?"),
    "hostname": lambda s: len(s) <= 255 and bool(_HOSTNAME.fullmatch(s))
    and all(len(label) <= 63 for label in s.split(".")),
    "ipv4": lambda s: _ip(s, 4, "."),
    "ipv6": lambda s: _ip(s, 6, ":"),
    "cidr": _cidr,
    "mac": _matches(r"([0-9a-fA-F]{2}([:-]))([0-9a-fA-F]{2}\2){4}[0-9a-fA-F]{2}"
                    r"|[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}"),
    "uuid": _matches(_UUID % ("[0-9a-f]", "[0-9a-f]"), re.I),
    "uuid3": _matches(_UUID % ("3", "[0-9a-f]"), re.I),
    "uuid4": _matches(_UUID % ("4", "[89ab]"), re.I),
    "uuid5": _matches(_UUID % ("5", "[89ab]"), re.I),
    "isbn": lambda s: _isbn10(s) or _isbn13(s),
    "isbn10": _isbn10,
    "isbn13": _isbn13,
    "creditcard": _luhn,
    "ssn": _matches(r"[0-9]{3}[- ]?[0-9]{2}[- ]?[0-9]{4}"),
    "hexcolor": _matches(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})"),
    "rgbcolor": _matches(r"rgb\(\s*([0-9]{1,3})\s*,\s*([0-9]{1,3})\s*,\s*([0-9]{1,3})\s*\)"),
    "byte": _matches(r"(?:[A-Za-z0-9+/]{4})*"
                     r"(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})"),
    "password": lambda s: True,
    "date": _date,
    "datetime": _date_time,
    "duration": _duration,
}


def effective_format(node: dict) -> str:
    """The node's ``format`` if the apiserver honours it for custom resources, else ""."""
    fmt = node.get("format", "")
    return fmt if isinstance(fmt, str) and fmt.replace("-", "") in _CHECKS else ""


def format_ok(fmt: str, value: str) -> bool:
    """Whether ``value`` is a valid ``fmt`` (a name :func:`effective_format` returned)."""
    return _CHECKS[fmt.replace("-", "")](value)


def regexp_error(pattern: str) -> str:
    """"" if ``pattern`` compiles, else an error worded like Go's regexp package for the
    common mistakes. Python's ``re`` stands in for Go's RE2: lookarounds and
    backreferences pass here though Go rejects them, ``\\p{L}`` fails here though Go allows it."""
    try:
        re.compile(pattern)
        return ""
    except re.error as err:
        pos = err.pos or 0
        if err.msg.startswith("nothing to repeat"):
            detail = f"missing argument to repetition operator: `{pattern[pos:pos + 1]}`"
        elif err.msg.startswith("multiple repeat"):
            detail = f"invalid nested repetition operator: `{pattern[pos - 1:pos + 1]}`"
        elif err.msg.startswith("missing ), unterminated subpattern"):
            detail = f"missing closing ): `{pattern}`"
        elif err.msg.startswith("unbalanced parenthesis"):
            detail = f"unexpected ): `{pattern}`"
        elif err.msg.startswith("unterminated character set"):
            detail = f"missing closing ]: `{pattern[pos:]}`"
        else:
            detail = err.msg
        return f"error parsing regexp: {detail}"


def go_float(f: float) -> str:
    """A float as Go's ``%v`` prints it: shortest digits, exponent form from 1e+06 on
    (``1.5``, ``100000``, ``1e+06``, ``1e-05``)."""
    if f != f or f in (float("inf"), float("-inf")):
        return {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}[repr(f)]
    sign, digits, exponent = decimal.Decimal(repr(f)).normalize().as_tuple()
    text = "".join(map(str, digits))
    point = len(text) + int(exponent)  # digits before the decimal point
    minus = "-" if sign else ""
    if f == 0:
        return minus + "0"
    if point - 1 < -4 or point - 1 >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{point - 1:+03d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{text}"
    if point >= len(text):
        return minus + text + "0" * (point - len(text))
    return f"{minus}{text[:point]}.{text[point:]}"


def go_number(value: int | float) -> str:
    """An int64 or float64 as ``%v`` prints it."""
    return str(value) if isinstance(value, int) else go_float(value)
