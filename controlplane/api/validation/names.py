"""The string formats of names: DNS labels and subdomains, qualified names, label values.

Where it sits: ``meta`` re-exports these for everyone (the registry's name checks, the
group validators); ``formats`` builds its own checks from the message builders here.
This is apimachinery's ``util/validation`` for names, with its messages word for word.

What it promises: an ``is_*`` check returns the list of problems with a value, each
an upstream sentence; an empty list means the value is fine.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..fielderrors import FieldError, Path, invalid

# -- message builders, as util/validation words them -------------------------------


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def regex_error(message: str, fmt: str, *examples: str) -> str:
    """``<message> (e.g. 'a',  or 'b', regex used for validation is '<fmt>')``.

    The double space before "or" is upstream's: every example ends with ", ".
    """
    if not examples:
        return f"{message} (regex used for validation is '{fmt}')"
    listed = " or ".join(f"'{e}', " for e in examples)
    return f"{message} (e.g. {listed}regex used for validation is '{fmt}')"


def empty_error() -> str:
    return "must be non-empty"


def inclusive_range_error(lo: int, hi: int) -> str:
    return f"must be between {lo} and {hi}, inclusive"


def byte_len(value: str) -> int:
    # Go's len() counts bytes, not characters.
    return len(value.encode("utf-8"))


# -- DNS names (RFC 1123 / 1035) ------------------------------------------------------

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + "(\\." + DNS1123_LABEL_FMT + ")*"
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL = re.compile(DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN = re.compile(DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL = re.compile(DNS1035_LABEL_FMT)


def is_dns1123_label(value: str) -> list[str]:
    """A DNS label: namespaces, container and port names, ``hostname``."""
    errs = []
    if byte_len(value) > 63:
        errs.append(max_len_error(63))
    if not _DNS1123_LABEL.fullmatch(value):
        if _DNS1123_SUBDOMAIN.fullmatch(value):
            # A valid subdomain that is not a label can only be one with dots.
            errs.append("must not contain dots")
        else:
            errs.append(regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or"
                " '-', and must start and end with an alphanumeric character",
                DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def format_check(value: str, max_len: int, pattern: re.Pattern, what: str, fmt: str,
                 *examples: str) -> list[str]:
    """The shape of upstream's name checks: at most ``max_len`` bytes, matching ``pattern``."""
    errs = []
    if byte_len(value) > max_len:
        errs.append(max_len_error(max_len))
    if not pattern.fullmatch(value):
        errs.append(regex_error(what, fmt, *examples))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    """A DNS subdomain: the name rule of most kinds."""
    return format_check(
        value, 253, _DNS1123_SUBDOMAIN,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters,"
        " '-' or '.', and must start and end with an alphanumeric character",
        DNS1123_SUBDOMAIN_FMT, "example.com")


def is_dns1035_label(value: str) -> list[str]:
    """A DNS-1035 label (starts with a letter): Service names, since they become DNS names."""
    return format_check(
        value, 63, _DNS1035_LABEL,
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start"
        " with an alphabetic character, and end with an alphanumeric character",
        DNS1035_LABEL_FMT, "my-name", "abc-123")


# -- qualified names and label values --------------------------------------------------

QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE_FMT = "(" + QUALIFIED_NAME_FMT + ")?"
_QUALIFIED_NAME = re.compile(QUALIFIED_NAME_FMT)
_LABEL_VALUE = re.compile(LABEL_VALUE_FMT)
_QUALIFIED_NAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start"
                       " and end with an alphanumeric character")


def is_qualified_name(value: str) -> list[str]:
    """``[prefix/]name``: label and annotation keys, finalizers, taint keys."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part " + empty_error())
        else:
            errs.extend("prefix part " + msg for msg in is_dns1123_subdomain(prefix))
    else:
        return ["a qualified name " + regex_error(_QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT,
                                                   "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part " + empty_error())
    elif byte_len(name) > 63:
        errs.append("name part " + max_len_error(63))
    if not _QUALIFIED_NAME.fullmatch(name):
        errs.append("name part " + regex_error(_QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT,
                                               "MyName", "my.name", "123-abc"))
    return errs


def is_valid_label_value(value: str) -> list[str]:
    return format_check(
        value, 63, _LABEL_VALUE,
        "a valid label must be an empty string or consist of alphanumeric characters, '-',"
        " '_' or '.', and must start and end with an alphanumeric character",
        LABEL_VALUE_FMT, "MyValue", "my_value", "12345")


def is_path_segment_name(value: str) -> list[str]:
    """The loosest name rule (RBAC objects, events): anything that fits in one URL segment."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{bad}'" for bad in ("/", "%") if bad in value]


def format_errors(check: Callable[[Any], list[str]], value: Any, path: Path) -> list[FieldError]:
    """One Invalid error for each problem ``check`` finds with ``value``."""
    return [invalid(str(path), value, msg) for msg in check(value)]


def mask_trailing_dash(prefix: str) -> str:
    """How upstream checks a generateName: a trailing dash is fine, a name will follow it."""
    return prefix[:-2] + "a" if prefix.endswith("-") else prefix
