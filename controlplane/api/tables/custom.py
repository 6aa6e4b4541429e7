"""Tables for custom resources, and the default table for everything without a printer.

Where it sits: ``build_table`` calls :func:`custom_printer` when it is given a CRD
version's ``additionalPrinterColumns``, and falls back to :data:`DEFAULT_PRINTER` for a
built-in resource without a printer of its own (roles, cluster roles, CRDs).

Custom resources follow the apiextensions-apiserver's table convertor:

* NAME first, then one column per printer column, with the CRD's name, type, format,
  description and priority;
* each cell is the *first* value the column's ``jsonPath`` finds (``[*]`` therefore
  shows only the first element, as upstream); no value, or one of the wrong type,
  gives an empty (``null``) cell;
* a ``date`` column shows an age ("5m"), not the timestamp;
* a CRD version without printer columns gets a single Age column.

The default table is upstream's ``rest.DefaultTableConvertor``: NAME and CREATED AT, the
latter a ``date`` column holding the RFC 3339 creation time, which kubectl prints as is.
"""

from __future__ import annotations

import datetime
import json
import math
from decimal import Decimal
from typing import Any

from controlplane.api import jsonpath
from controlplane.api.tables.columns import NAME, Printer, column, doc
from controlplane.api.tables.format import UNKNOWN, aware, human_duration, name_of, parse_time

# What the apiserver serves for a CRD version that declares no printer columns.
DEFAULT_CUSTOM_COLUMNS = (
    {
        "name": "Age",
        "type": "date",
        "description": doc("ObjectMeta.creationTimestamp"),
        "jsonPath": ".metadata.creationTimestamp",
    },
)


def custom_printer(printer_columns: list[dict[str, Any]]) -> Printer:
    """The printer for one CRD version, from its ``additionalPrinterColumns``."""
    definitions = printer_columns or list(DEFAULT_CUSTOM_COLUMNS)
    columns = [NAME]
    paths: list[jsonpath.JSONPath | None] = []
    for definition in definitions:
        path_text = definition.get("jsonPath", "")
        description = definition.get("description") or (
            f"Custom resource definition column (in JSONPath format): {path_text}"
        )
        columns.append(
            column(
                definition.get("name", ""),
                description,
                type=definition.get("type", "string"),
                format=definition.get("format", ""),
                priority=definition.get("priority", 0),
            )
        )
        try:
            paths.append(jsonpath.parse(path_text))
        except jsonpath.JSONPathError:
            paths.append(None)  # CRD validation rejects these; never fail a whole table

    def cells(obj: dict[str, Any], now: datetime.datetime) -> list[Any]:
        row: list[Any] = [name_of(obj)]
        for definition, path in zip(columns[1:], paths):
            found = path.find(obj) if path is not None else []
            row.append(cell(definition["type"], found[0], now) if found else None)
        return row

    return Printer(tuple(columns), cells)


def cell(column_type: str, value: Any, now: datetime.datetime) -> Any:
    """One custom column's cell: the found value, converted to the column's type."""
    if column_type == "string":
        return go_text(value)
    if value is None:
        return None
    if column_type == "integer" and _is_number(value):
        return int(value)  # a float is truncated, as Go's int64(f)
    if column_type == "number" and _is_number(value):
        return float(value)
    if column_type == "boolean" and isinstance(value, bool):
        return value
    if column_type == "date" and isinstance(value, str):
        if value in ("", "null"):
            return UNKNOWN
        moment = parse_time(value)
        return "<invalid>" if moment is None else human_duration(aware(now) - moment)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def go_text(value: Any) -> str:
    """A value as kubectl's JSONPath prints it: strings bare, maps and lists as compact
    JSON, numbers and booleans as Go's ``fmt`` does ("1e+06", "true")."""
    if value is None:
        return "<no value>"  # Go's text/template word for a null
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, (dict, list)):
        text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        # Go's encoder escapes these so JSON can be embedded in HTML.
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return str(value)


def go_float(value: float) -> str:
    """Go's ``%v`` for a float64: the shortest digits that round-trip, in exponent form
    when the exponent is below -4 or at least 6 ("0.5", "123456", "1e+06", "1.5e-05")."""
    if math.isnan(value) or math.isinf(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(map(str, digits))
    point = len(text) + int(exponent)  # where the decimal point goes in `text`
    minus = "-" if sign else ""
    power = point - 1
    if power < -4 or power >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{text}"
    if point >= len(text):
        return f"{minus}{text}{'0' * (point - len(text))}"
    return f"{minus}{text[:point]}.{text[point:]}"


# -- the default convertor ------------------------------------------------------------------

CREATED_AT = column("Created At", doc("ObjectMeta.creationTimestamp"), type="date")
ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time, which is what an unset timestamp prints


def created_at(obj: dict[str, Any]) -> str:
    moment = parse_time(obj.get("metadata", {}).get("creationTimestamp"))
    if moment is None:
        return ZERO_TIME
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_cells(obj: dict[str, Any], now: datetime.datetime) -> list[Any]:
    return [name_of(obj), created_at(obj)]


DEFAULT_PRINTER = Printer((NAME, CREATED_AT), default_cells)
