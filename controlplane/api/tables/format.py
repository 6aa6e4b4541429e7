"""How the printers turn fields into short cells: ages, label sets, selectors, lists.

Where it sits: every printer in this package builds its cells with these helpers, so
that "5m", "<none>" and "app=web" look the same in every table, exactly as upstream's
printers write them (``k8s.io/apimachinery/pkg/util/duration``, ``labels.FormatLabels``,
``metav1.FormatLabelSelector`` and the small helpers of ``pkg/printers/internalversion``).

Everything here is a pure function of its arguments; the current time is always passed
in, so a table built twice with the same ``now`` is the same table.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from typing import Any

NONE = "<none>"
UNKNOWN = "<unknown>"

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


# -- time ---------------------------------------------------------------------------------


def parse_time(value: Any) -> datetime.datetime | None:
    """Parse an RFC 3339 timestamp as the API writes it; ``None`` when absent or garbled.

    ``metav1.Time`` is written with seconds ("2024-05-01T10:00:00Z"), ``metav1.MicroTime``
    (``eventTime``, ``lastObservedTime``) with microseconds; both parse here. Python's
    ``fromisoformat`` alone would also take "2024-05-01", which Go's parser refuses.
    """
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        return None
    try:
        return datetime.datetime.fromisoformat(value)
    except ValueError:  # e.g. month 13
        return None


def aware(now: datetime.datetime) -> datetime.datetime:
    """Treat a naive ``now`` as UTC, so it can be compared with API timestamps."""
    return now if now.tzinfo is not None else now.replace(tzinfo=datetime.timezone.utc)


def human_duration(delta: datetime.timedelta) -> str:
    """Upstream's ``duration.HumanDuration``: two or three significant figures.

    The precision shrinks as the duration grows: "45s", "2m3s", "15m", "3h4m", "20h",
    "2d3h", "45d", "3y12d", "9y". A clock that runs slightly behind another is forgiven:
    up to one second in the future still reads "0s"; more than that is "<invalid>".
    """
    seconds = int(delta.total_seconds())  # truncates toward zero, like Go's int()
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y{rest}d" if rest else f"{years}y"
    return f"{hours // 24 // 365}y"


def since(timestamp: Any, now: datetime.datetime) -> str:
    """How long ago ``timestamp`` was, or "<unknown>" when there is no timestamp."""
    moment = parse_time(timestamp)
    if moment is None:
        return UNKNOWN
    return human_duration(aware(now) - moment)


def age(obj: Mapping[str, Any], now: datetime.datetime) -> str:
    """The Age cell: time since ``metadata.creationTimestamp``."""
    return since(obj.get("metadata", {}).get("creationTimestamp"), now)


# -- small accessors ------------------------------------------------------------------------


def dig(obj: Any, *path: str | int, default: Any = None) -> Any:
    """``obj[path[0]][path[1]]...``, or ``default`` as soon as a step is missing or null.

    API objects omit empty fields, so printers read nearly every field through this.
    """
    # Every table cell goes through here (a 10,000-pod table: 120,000 calls), so it lets
    # indexing fail rather than checking each step: a missing key, an index out of range,
    # a wrong type and a null on the way all end in the default.
    try:
        for step in path:
            if step.__class__ is int and obj.__class__ is not list:
                return default  # never index a string by position
            obj = obj[step]
    except (KeyError, IndexError, TypeError):
        return default
    return default if obj is None else obj


def name_of(obj: Mapping[str, Any]) -> str:
    return obj.get("metadata", {}).get("name", "")


def int_or_string(value: Any) -> str:
    """An ``intstr.IntOrString`` as Go prints it: 1 -> "1", "25%" -> "25%"."""
    return str(value)


# -- labels and selectors -------------------------------------------------------------------


def format_labels(labels: Mapping[str, str] | None) -> str:
    """``labels.FormatLabels``: "a=1,b=2" sorted by key, "<none>" when empty."""
    if not labels:
        return NONE
    return ",".join(f"{key}={labels[key]}" for key in sorted(labels))


def selector_string(selector: Mapping[str, Any] | None) -> str:
    """A ``metav1.LabelSelector`` as the selector string kubectl accepts with ``-l``.

    ``{"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator":
    "In", "values": ["b", "a"]}]}`` becomes "app=web,tier in (a,b)". Requirements are
    sorted by key and values inside ``in (...)`` are sorted, as in ``labels.Selector``.
    An empty or missing selector is "". Raises ValueError for a selector upstream would
    reject (an unknown operator, ``In`` without values, ``Exists`` with values).
    """
    if not selector:
        return ""
    requirements: list[tuple[str, str]] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        requirements.append((key, f"{key}={value}"))
    for expr in selector.get("matchExpressions") or []:
        key, operator = expr.get("key", ""), expr.get("operator", "")
        values = sorted(expr.get("values") or [])
        if operator in ("In", "NotIn"):
            if not values:
                raise ValueError(f"{operator} requires values")
            word = "in" if operator == "In" else "notin"
            requirements.append((key, f"{key} {word} ({','.join(values)})"))
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                raise ValueError(f"{operator} takes no values")
            requirements.append((key, key if operator == "Exists" else f"!{key}"))
        else:
            raise ValueError(f"{operator!r} is not a valid label selector operator")
    requirements.sort(key=lambda requirement: requirement[0])
    return ",".join(text for _, text in requirements)


def format_label_selector(selector: Mapping[str, Any] | None) -> str:
    """``metav1.FormatLabelSelector``: like :func:`selector_string`, "<none>" when empty."""
    try:
        text = selector_string(selector)
    except ValueError:
        return "<error>"
    return text or NONE


# -- lists ----------------------------------------------------------------------------------


def container_cells(containers: Iterable[Mapping[str, Any]] | None) -> tuple[str, str]:
    """The Containers and Images cells of a pod template: "web,sidecar", "nginx,busybox"."""
    containers = list(containers or [])
    names = ",".join(c.get("name", "") for c in containers)
    images = ",".join(c.get("image", "") for c in containers)
    return names, images


def list_with_more(shown: list[str], total: int, limit: int, empty: str = "<unset>") -> str:
    """Join at most ``limit`` items and say how many were left out: "a,b,c + 2 more..."."""
    text = ",".join(shown[:limit])
    if total > limit:
        return f"{text} + {total - limit} more..."
    return text or empty
