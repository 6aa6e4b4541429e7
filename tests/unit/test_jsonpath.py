"""The JSONPath subset that CRD printer columns (and kubectl -o jsonpath) use."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.api.jsonpath import JSONPathError, find, parse

OBJ: dict[str, Any] = {
    "metadata": {
        "name": "orders",
        "labels": {"app": "shop", "app.kubernetes.io/name": "orders"},
        "annotations": None,
    },
    "spec": {
        "replicas": 3,
        "paused": False,
        "items": [
            {"name": "a", "port": 80, "weight": 0.5},
            {"name": "b", "port": 8080},
            {"name": "c", "port": 9090, "tags": {"name": "nested"}},
        ],
    },
    "status": {
        "conditions": [
            {"type": "Scheduled", "status": "True"},
            {"type": "Ready", "status": "False", "reason": "Starting"},
        ],
    },
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (".spec.replicas", [3]),
        (".spec.paused", [False]),
        (".metadata.labels.app", ["shop"]),
        (r".metadata.labels.app\.kubernetes\.io/name", ["orders"]),
        (".metadata.labels['app.kubernetes.io/name']", ["orders"]),
        ('.metadata.labels["app"]', ["shop"]),
        ('.status.conditions[?(@.type=="Ready")].status', ["False"]),
        (".status.conditions[?(@.type == 'Ready')].reason", ["Starting"]),
        ('.status.conditions[?(@.type!="Ready")].type', ["Scheduled"]),
        (".status.conditions[?(@.reason)].type", ["Ready"]),  # has the field
        (".spec.items[?(@.port > 1000)].name", ["b", "c"]),
        (".spec.items[?(@.port<=80)].name", ["a"]),
        (".spec.items[?(@.weight == 0.5)].name", ["a"]),
        (".spec.items[0].name", ["a"]),
        (".spec.items[-1].name", ["c"]),
        (".spec.items[1:].name", ["b", "c"]),
        (".spec.items[0:3:2].name", ["a", "c"]),
        (".spec.items[*].name", ["a", "b", "c"]),
        (".spec.items[*].tags.name", ["nested"]),
        ("..port", [80, 8080, 9090]),
        (".metadata.*", ["orders", {"app": "shop", "app.kubernetes.io/name": "orders"}, None]),
        ("{.spec.replicas}", [3]),  # kubectl's template braces
        ("$.spec.replicas", [3]),
        ("", [OBJ]),
    ],
)
def test_find(expression: str, expected: list[Any]) -> None:
    assert find(expression, OBJ) == expected


@pytest.mark.parametrize(
    "expression",
    [
        ".spec.missing",
        ".spec.missing.deeper",
        ".spec.items[7].name",  # out of range: no match, as upstream with missing keys allowed
        ".spec.items[2:9]",
        ".spec.replicas[0]",  # indexing a number
        ".spec.items.name",  # a field of a list
        ".metadata.annotations.x",  # below a null
        '.status.conditions[?(@.type=="Gone")].status',
        ".spec.items[?(@.port == '80')].name",  # a string never equals a number
        ".spec.items[?(@.name > 1)].name",  # nor compares with one
    ],
)
def test_no_match_is_an_empty_list(expression: str) -> None:
    assert find(expression, OBJ) == []


def test_an_explicit_null_is_a_match() -> None:
    assert find(".metadata.annotations", OBJ) == [None]


def test_a_compiled_path_is_reusable() -> None:
    path = parse(".spec.replicas")
    assert path.find(OBJ) == [3]
    assert path.find({"spec": {"replicas": 5}}) == [5]


@pytest.mark.parametrize(
    "expression",
    [
        "spec.replicas",  # must start with "."
        ".spec[",
        ".spec.items[a]",
        ".spec.items[1:2:3:4]",
        ".status.conditions[?(@.type==)]",
        ".status.conditions[?(@.type==\"Ready\"]",
        ".spec.items[?('x')]",
        ".spec.",
    ],
)
def test_malformed_expressions_are_rejected(expression: str) -> None:
    with pytest.raises(JSONPathError):
        parse(expression)
