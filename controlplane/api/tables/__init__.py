"""Server-side printing: the ``meta.k8s.io/v1`` Table that ``kubectl get`` shows.

Where it sits: when a GET, LIST or WATCH request asks for
``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``, the API layer reads the
objects as usual and hands them to :func:`build_table` instead of returning them. kubectl
prints the table it gets back almost verbatim; that is why ``kubectl get pods`` shows
READY and STATUS columns that are not fields of a Pod: the server works them out.

What it promises:

* columns and cells as upstream's printers (``pkg/printers/internalversion``), the CRD
  table convertor and the default convertor write them, for the same objects and time;
* every column definition carries all five fields; the name column has format "name";
* a cell's JSON type follows its column's declared type (see :func:`_typed`);
* the input objects are never modified; rows get their own copies.

The printers live one area per module: ``pods``, ``core``, ``events``, ``workloads``,
``other`` and ``custom`` (custom resources and the default table).
"""

from __future__ import annotations

import datetime
from typing import Any

from controlplane.api.tables import core, events, other, pods, workloads
from controlplane.api.tables.columns import Printer
from controlplane.api.tables.custom import DEFAULT_PRINTER, custom_printer

__all__ = ["build_table", "printer_for"]

INCLUDE_NONE, INCLUDE_METADATA, INCLUDE_OBJECT = "None", "Metadata", "Object"

PRINTERS: dict[tuple[str, str], Printer] = {
    **pods.PRINTERS,
    **core.PRINTERS,
    **events.PRINTERS,
    **workloads.PRINTERS,
    **other.PRINTERS,
}


def printer_for(
    group: str, resource: str, printer_columns: list[dict[str, Any]] | None = None
) -> Printer:
    """The printer for a resource: a custom resource's when ``printer_columns`` is given
    (even empty), else the built-in one, else the default Name/Created At table."""
    if printer_columns is not None:
        return custom_printer(printer_columns)
    return PRINTERS.get((group, resource), DEFAULT_PRINTER)


def build_table(
    group: str,
    resource: str,
    objects: list[dict],
    *,
    now: datetime.datetime,
    include_object: str = INCLUDE_METADATA,
    printer_columns: list[dict] | None = None,
    resource_version: str = "",
    continue_token: str = "",
    remaining_item_count: int | None = None,
    with_headers: bool = True,
) -> dict:
    """A Table with one row per object, in the order given.

    ``include_object`` is the request's ``includeObject`` parameter: "Metadata" (the
    default) puts a ``PartialObjectMetadata`` in each row, which kubectl needs for
    ``-A`` and ``--show-labels``; "Object" the whole object; "None" nothing.
    ``with_headers=False`` leaves ``columnDefinitions`` null: a watch sends the columns
    with its first event only, and kubectl keeps using them for the events that follow.
    """
    if include_object not in (INCLUDE_NONE, INCLUDE_METADATA, INCLUDE_OBJECT):
        raise ValueError(f"includeObject must be None, Metadata or Object: {include_object!r}")
    printer = printer_for(group, resource, printer_columns)
    metadata: dict[str, Any] = {"resourceVersion": resource_version, "continue": continue_token}
    if remaining_item_count is not None:
        metadata["remainingItemCount"] = remaining_item_count
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [dict(c) for c in printer.columns] if with_headers else None,
        "rows": [_row(printer, obj, now, include_object) for obj in objects],
    }


def _row(printer: Printer, obj: dict, now: datetime.datetime, include_object: str) -> dict:
    cells = printer.cells(obj, now)
    row: dict[str, Any] = {
        "cells": [_typed(c["type"], cell) for c, cell in zip(printer.columns, cells)],
    }
    conditions = printer.conditions(obj) if printer.conditions else []
    if conditions:
        row["conditions"] = conditions
    # Rows refer to the objects' own metadata rather than copies: a table is built to be
    # serialized at once, and nothing here changes it (copying 10,000 pods' metadata took
    # longer than everything else a `kubectl get pods` costs).
    if include_object == INCLUDE_METADATA:
        row["object"] = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata", {}),
        }
    elif include_object == INCLUDE_OBJECT:
        row["object"] = obj
    return row


def _typed(column_type: str, cell: Any) -> Any:
    """Upstream declares a few counting columns as strings but fills them with integers
    (a Deployment's Up-to-date and Available, a ConfigMap's Data, an Event's Count...).
    kubectl prints both the same way; kubeclass keeps the declared type and writes the
    number as text, so that every cell matches its column."""
    if column_type == "string" and isinstance(cell, int) and not isinstance(cell, bool):
        return str(cell)
    return cell
