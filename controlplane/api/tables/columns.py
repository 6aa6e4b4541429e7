"""What a printer is: the columns of one resource's table and the function that fills a row.

Where it sits: each area module (``pods``, ``core``, ``workloads``, ``events``, ``other``)
declares one :class:`Printer` per resource, and ``build_table`` in ``__init__`` looks the
printer up by (group, resource) and runs it over the objects.

A column definition is the plain ``meta.k8s.io/v1`` ``TableColumnDefinition`` dict with
all five fields (the wire format has no ``omitempty`` on them). Columns with priority 0
are what ``kubectl get`` shows; priority 1 columns appear with ``-o wide``. The server
always fills every column: kubectl, not the server, decides which ones to print.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable
from typing import Any

from controlplane.api.tables.descriptions import FIELD_DOCS

Cells = Callable[[dict[str, Any], datetime.datetime], list[Any]]
Conditions = Callable[[dict[str, Any]], list[dict[str, Any]]]


@dataclasses.dataclass(frozen=True)
class Printer:
    """How one resource becomes table rows.

    ``cells(obj, now)`` returns one cell per column, in column order. ``conditions``,
    when given, returns the row's ``conditions`` (upstream only sets them on pods, to
    mark a finished pod as ``Completed``).
    """

    columns: tuple[dict[str, Any], ...]
    cells: Cells
    conditions: Conditions | None = None


def column(
    name: str,
    description: str,
    *,
    type: str = "string",
    priority: int = 0,
    format: str = "",
) -> dict[str, Any]:
    """One ``TableColumnDefinition``; the keyword names are the wire field names.

    ``type`` is one of string, integer, number, boolean, date; ``format`` is "name" for
    the column that holds the object's name, which kubectl uses to build "pod/web-1".
    """
    return {
        "name": name,
        "type": type,
        "format": format,
        "description": description,
        "priority": priority,
    }


def doc(key: str) -> str:
    """The API documentation of a field, e.g. ``doc("PodSpec.nodeName")``."""
    return FIELD_DOCS[key]


# Columns that most tables share.
NAME = column("Name", doc("ObjectMeta.name"), format="name")
AGE = column("Age", doc("ObjectMeta.creationTimestamp"))
CONTAINERS = column("Containers", "Names of each container in the template.", priority=1)
IMAGES = column("Images", "Images referenced by each container in the template.", priority=1)
