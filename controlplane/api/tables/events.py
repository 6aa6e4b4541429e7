"""The events table, for both shapes of an Event.

Where it sits: ``build_table`` uses :data:`PRINTERS` for ("", "events") and
("events.k8s.io", "events"). Both URLs serve the same stored events, and upstream
prints both with one printer (``printEvent``) after converting to its internal type.
kubeclass does the same: an events.k8s.io/v1 Event is first read back into the core/v1
field names (:func:`as_core_event`), then printed.

Timestamps need care: older clients set ``firstTimestamp``/``lastTimestamp`` and a
``count``; newer ones set only ``eventTime`` and, for repeats, a ``series``. LAST SEEN
and COUNT look at whichever is there.
"""

from __future__ import annotations

import datetime
from typing import Any

from controlplane.api.tables.columns import Printer, column, doc
from controlplane.api.tables.format import dig, parse_time, since

COLUMNS = (
    column("Last Seen", doc("Event.lastTimestamp")),
    column("Type", doc("Event.type")),
    column("Reason", doc("Event.reason")),
    column("Object", doc("Event.involvedObject")),
    column("Subobject", doc("ObjectReference.fieldPath"), priority=1),
    column("Source", doc("Event.source"), priority=1),
    column("Message", doc("Event.message")),
    column("First Seen", doc("Event.firstTimestamp"), priority=1),
    column("Count", doc("Event.count"), priority=1),
    column("Name", doc("ObjectMeta.name"), priority=1, format="name"),
)

# events.k8s.io/v1 field -> core/v1 field, as upstream's conversion maps them.
_RENAMED = {
    "regarding": "involvedObject",
    "note": "message",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}


def as_core_event(event: dict[str, Any]) -> dict[str, Any]:
    """An events.k8s.io/v1 Event with its fields renamed to core/v1's. Returns a new
    dict; the fields both shapes share (type, reason, eventTime, series,
    reportingController, reportingInstance, metadata) keep their names."""
    return {_RENAMED.get(key, key): value for key, value in event.items()}


def _source(event: dict[str, Any]) -> str:
    """The reporting component and, when known, its host: "kubelet, node1"."""
    component = dig(event, "source", "component") or event.get("reportingController") or ""
    host = dig(event, "source", "host") or event.get("reportingInstance") or ""
    return f"{component}, {host}" if host else component


def _target(event: dict[str, Any]) -> str:
    """The involved object's kind in lower case and its name: "pod/web-1"."""
    kind = str(dig(event, "involvedObject", "kind", default="")).lower()
    name = dig(event, "involvedObject", "name", default="")
    return f"{kind}/{name}" if name else kind


def core_event_cells(event: dict[str, Any], now: datetime.datetime) -> list[Any]:
    if parse_time(event.get("firstTimestamp")) is not None:
        first_seen = since(event["firstTimestamp"], now)
    else:
        first_seen = since(event.get("eventTime"), now)
    last_seen = first_seen
    if parse_time(event.get("lastTimestamp")) is not None:
        last_seen = since(event["lastTimestamp"], now)

    count = event.get("count") or 0
    series = event.get("series")
    if series:
        last_seen = since(series.get("lastObservedTime"), now)
        count = series.get("count", 0)
    elif count == 0:
        count = 1  # a singleton event from the new API carries no count

    return [
        last_seen,
        event.get("type", ""),
        event.get("reason", ""),
        _target(event),
        dig(event, "involvedObject", "fieldPath", default=""),
        _source(event),
        str(event.get("message", "")).strip(),
        first_seen,
        count,
        dig(event, "metadata", "name", default=""),
    ]


def events_k8s_io_cells(event: dict[str, Any], now: datetime.datetime) -> list[Any]:
    return core_event_cells(as_core_event(event), now)


PRINTERS = {
    ("", "events"): Printer(COLUMNS, core_event_cells),
    ("events.k8s.io", "events"): Printer(COLUMNS, events_k8s_io_cells),
}
