"""Tables for custom resources, built from a CRD version's additionalPrinterColumns."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from controlplane.api.tables import build_table
from controlplane.api.tables.custom import go_float, go_text

NOW = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)

# As written in a CRD's spec.versions[].additionalPrinterColumns.
PRINTER_COLUMNS = [
    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
     "description": "Whether the database accepts connections"},
    {"name": "Engine", "type": "string", "jsonPath": ".spec.engine", "priority": 1},
    {"name": "Backup", "type": "date", "jsonPath": ".status.lastBackup"},
    {"name": "Load", "type": "number", "jsonPath": ".status.load"},
    {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused"},
    {"name": "Hosts", "type": "string", "jsonPath": ".spec.hosts[*].name"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]

DATABASE = {
    "apiVersion": "example.com/v1",
    "kind": "Database",
    "metadata": {"name": "orders", "namespace": "shop",
                 "creationTimestamp": "2024-04-30T12:00:00Z"},
    "spec": {"replicas": 3, "engine": "postgres", "paused": False,
             "hosts": [{"name": "db-0"}, {"name": "db-1"}]},
    "status": {
        "conditions": [{"type": "Scheduled", "status": "True"},
                       {"type": "Ready", "status": "False"}],
        "lastBackup": "2024-05-01T11:57:00Z",
        "load": 0.75,
    },
}


def table(objects: list[dict], columns: list[dict] | None = None) -> dict[str, Any]:
    return build_table("example.com", "databases", objects, now=NOW,
                       printer_columns=PRINTER_COLUMNS if columns is None else columns)


def test_columns_follow_the_crd() -> None:
    definitions = table([])["columnDefinitions"]
    assert definitions[0]["name"] == "Name" and definitions[0]["format"] == "name"
    assert [(c["name"], c["type"], c["priority"]) for c in definitions[1:]] == [
        (c["name"], c["type"], c.get("priority", 0)) for c in PRINTER_COLUMNS
    ]
    assert definitions[2]["description"] == "Whether the database accepts connections"
    assert definitions[1]["description"] == (
        "Custom resource definition column (in JSONPath format): .spec.replicas"
    )
    assert all(set(c) == {"name", "type", "format", "description", "priority"}
               for c in definitions)


def test_cells() -> None:
    assert table([DATABASE])["rows"][0]["cells"] == [
        "orders",
        3,  # integer
        "False",  # the filter picked the Ready condition
        "postgres",
        "3m",  # a date column shows an age
        0.75,
        False,
        "db-0",  # like upstream, only the first of several matches
        "24h",
    ]


def test_missing_values_are_null_cells() -> None:
    bare = {"metadata": {"name": "new", "creationTimestamp": "2024-05-01T11:59:30Z"}, "spec": {}}
    assert table([bare])["rows"][0]["cells"] == [
        "new", None, None, None, None, None, None, None, "30s",
    ]


@pytest.mark.parametrize(
    ("column_type", "value", "expected"),
    [
        ("integer", 2.9, 2),  # truncated like Go's int64(f)
        ("integer", "3", None),  # wrong type: no cell
        ("integer", True, None),  # a bool is not a number in JSON
        ("number", 2, 2.0),
        ("boolean", "true", None),
        ("string", 42, "42"),  # a string column prints any value
        ("string", 1e6, "1e+06"),
        ("string", True, "true"),
        ("string", {"b": 1, "a": [1, 2]}, '{"a":[1,2],"b":1}'),
        ("string", None, "<no value>"),  # an explicit null, as Go's template prints it
        ("date", "2024-05-01T11:00:00Z", "60m"),
        ("date", "not a time", "<invalid>"),
        ("date", "", "<unknown>"),
        ("date", 1714560000, None),
    ],
)
def test_cell_types(column_type: str, value: Any, expected: Any) -> None:
    columns = [{"name": "X", "type": column_type, "jsonPath": ".spec.x"}]
    obj = {"metadata": {"name": "a"}, "spec": {"x": value}}
    assert table([obj], columns)["rows"][0]["cells"] == ["a", expected]


def test_no_printer_columns_means_name_and_age() -> None:
    result = table([DATABASE], columns=[])
    assert [(c["name"], c["type"]) for c in result["columnDefinitions"]] == [
        ("Name", "string"), ("Age", "date"),
    ]
    assert result["rows"][0]["cells"] == ["orders", "24h"]


def test_a_broken_json_path_gives_empty_cells_not_an_error() -> None:
    columns = [{"name": "Bad", "type": "string", "jsonPath": ".spec[?(@.x"}]
    assert table([DATABASE], columns)["rows"][0]["cells"] == ["orders", None]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.5, "0.5"), (3.0, "3"), (123456.0, "123456"), (1234567.0, "1.234567e+06"),
     (1.5e-05, "1.5e-05"), (0.0001, "0.0001"), (-2.5, "-2.5"), (0.0, "0")],
)
def test_go_float(value: float, expected: str) -> None:
    assert go_float(value) == expected


def test_go_text_escapes_html_like_gos_json() -> None:
    assert go_text(["<a&b>"]) == '["\\u003ca\\u0026b\\u003e"]'
