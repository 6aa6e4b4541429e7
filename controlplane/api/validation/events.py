"""events.k8s.io/v1 Events: the strict rules upstream applies to "new-style" events.

Where it sits: the registry looks up ``RULES["Event"]`` for the events.k8s.io group
(core/v1 Events, with their looser rules, are ``core``'s). Upstream stores both kinds
as one internal type and validates that (``pkg/apis/core/validation/events.go``), so
its messages name the internal fields. kubectl prints those names, and so do we:

    ====================  =========================
    events.k8s.io/v1      named in errors as
    ====================  =========================
    regarding             involvedObject
    note                  message
    deprecatedSource      source
    deprecatedCount       count
    deprecatedFirst/      firstTimestamp /
    LastTimestamp         lastTimestamp
    ====================  =========================

A new-style event says when (``eventTime``), who reported it (``reportingController``,
``reportingInstance``), what was done (``action``) and why (``reason``), with a short
``note`` and a ``type`` of Normal or Warning. The deprecated core/v1 counters must stay
unset: repeats are told with ``series``. Once written, an event's story cannot change.
"""

from __future__ import annotations

import datetime
from typing import Any

from ..fielderrors import FieldError, Path, invalid, required
from .apps import immutable
from .goprint import go_quote, go_scalar, go_struct, invalid_go
from .meta import is_dns1123_subdomain, is_qualified_name
from .rules import KindRules

LIMITS = (("reportingInstance", 128), ("action", 128), ("reason", 128))
NOTE_LIMIT = 1024


def _namespace(event: dict) -> str:
    return (event.get("metadata") or {}).get("namespace") or ""


def _legacy(event: dict) -> list[FieldError]:
    """legacyValidateEvent: the checks every event passes, whatever API wrote it."""
    namespace = _namespace(event)
    involved = (event.get("regarding") or {}).get("namespace") or ""
    mismatch = invalid("involvedObject.namespace", involved, "does not match event.namespace")
    errs: list[FieldError] = []
    if not event.get("eventTime"):
        # An old-style event about a cluster-scoped object lives in "default" (or nowhere).
        elsewhere = namespace not in ("", "default")
        if (involved and namespace != involved) or (not involved and elsewhere):
            errs.append(mismatch)
        return errs + _namespace_name(namespace)
    # An event about a cluster-scoped object is kept in "default" or "kube-system".
    if not involved and namespace not in ("default", "kube-system"):
        errs.append(mismatch)
    controller = event.get("reportingController") or ""
    if not controller:
        errs.append(required("reportingController"))
    errs += [invalid("reportingController", controller, m) for m in is_qualified_name(controller)]
    for name, limit in LIMITS:
        value = event.get(name) or ""
        if not value:
            errs.append(required(name))
        if len(value) > limit:
            errs.append(invalid(name, "", f"can have at most {limit} characters"))
    if len(event.get("note") or "") > NOTE_LIMIT:
        errs.append(invalid("message", "", f"can have at most {NOTE_LIMIT} characters"))
    return errs + _namespace_name(namespace)


def _namespace_name(namespace: str) -> list[FieldError]:
    return [invalid("namespace", namespace, m) for m in is_dns1123_subdomain(namespace)]


def _series(event: dict) -> list[FieldError]:
    series = event.get("series")
    if series is None:
        return []
    errs = []
    if (series.get("count") or 0) < 2:
        errs.append(invalid("series.count", "", "should be at least 2"))
    if not series.get("lastObservedTime"):
        errs.append(required("series.lastObservedTime"))
    return errs


def validate_event(event: dict) -> list[FieldError]:
    errs = _legacy(event) + _series(event)
    if not event.get("eventTime"):
        errs.append(required("eventTime"))
    if event.get("type") not in ("Normal", "Warning"):
        errs.append(invalid("type", "", f"has invalid value: {event.get('type') or ''}"))
    for v1_name, name in (("deprecatedFirstTimestamp", "firstTimestamp"),
                          ("deprecatedLastTimestamp", "lastTimestamp")):
        if event.get(v1_name):
            errs.append(invalid(name, "", "needs to be unset"))
    if event.get("deprecatedCount"):
        errs.append(invalid("count", "", "needs to be unset"))
    source = event.get("deprecatedSource") or {}
    if source.get("component") or source.get("host"):
        errs.append(invalid("source", "", "needs to be unset"))
    return errs


# -- update --------------------------------------------------------------------------------


def go_time(value: str | None, micro: bool = False) -> str:
    """A metav1.Time as Go's time.String prints it: ``2026-01-02 15:04:05.5 +0000 UTC``."""
    if not value:
        return "0001-01-01 00:00:00 +0000 UTC"
    try:
        at = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return go_quote(value)
    text = at.strftime("%Y-%m-%d %H:%M:%S")
    if micro and at.microsecond:
        text += f".{at.microsecond:06d}".rstrip("0")
    offset = at.strftime("%z") or "+0000"
    return f"{text} {offset} {'UTC' if offset == '+0000' else offset}"


def go_reference(ref: dict | None) -> str:
    ref = ref or {}
    fields = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
    return go_struct("core.ObjectReference", **{
        go_name: go_quote(ref.get(f, "")) for f, go_name in zip(fields, (
            "Kind", "Namespace", "Name", "UID", "APIVersion", "ResourceVersion", "FieldPath"))})


def _go_source(source: dict | None) -> str:
    source = source or {}
    return go_struct("core.EventSource", Component=go_quote(source.get("component", "")),
                     Host=go_quote(source.get("host", "")))


def _to_micros(value: str | None) -> Any:
    """eventTime compared at microsecond precision, as upstream tolerates finer noise."""
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value


def validate_event_update(new: dict, old: dict) -> list[FieldError]:
    errs = _legacy(new)
    if new.get("series") != old.get("series"):
        errs += _series(new)
    fixed = [  # (v1 field, upstream's name for it, Go's zero value, how Go prints it)
        ("regarding", "involvedObject", {}, go_reference), ("reason", "reason", "", go_scalar),
        ("note", "message", "", go_scalar), ("deprecatedSource", "source", {}, _go_source),
        ("deprecatedFirstTimestamp", "firstTimestamp", "", go_time),
        ("deprecatedLastTimestamp", "lastTimestamp", "", go_time),
        ("deprecatedCount", "count", 0, str),
        # Upstream checks reason twice; kubectl shows both.
        ("reason", "reason", "", go_scalar), ("type", "type", "", go_scalar),
    ]
    for v1_name, name, zero, printer in fixed:
        new_value, old_value = _or(new.get(v1_name), zero), _or(old.get(v1_name), zero)
        errs += immutable(new_value, old_value, Path(name), printer)
    if _to_micros(new.get("eventTime")) != _to_micros(old.get("eventTime")):
        printed = go_time(new.get("eventTime"), micro=True)
        errs.append(invalid_go("eventTime", printed, "field is immutable"))
    related = new.get("related")
    errs += immutable(related, old.get("related"), Path("related"),
                      lambda v: go_reference(v) if v is not None else '"null"')
    for name in ("action", "reportingController", "reportingInstance"):
        errs += immutable(_or(new.get(name), ""), _or(old.get(name), ""), Path(name))
    return errs


def _or(value: Any, zero: Any) -> Any:
    return zero if value is None else value

RULES: dict[str, KindRules] = {
    "Event": KindRules(validate=validate_event, validate_update=validate_event_update),
}
