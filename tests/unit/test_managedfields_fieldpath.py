"""Field sets, their fieldsV1 encoding, and the paths printed in conflicts."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.api.managedfields import entries
from controlplane.api.managedfields.fieldpath import (
    from_fields_v1, go_json, key, recursive_difference, render, to_fields_v1, value,
)

NGINX = key({"name": "nginx"})


def test_elements_are_written_as_upstream_writes_them() -> None:
    assert NGINX == 'k:{"name":"nginx"}'
    port = key({"protocol": "TCP", "containerPort": 80})
    assert port == 'k:{"containerPort":80,"protocol":"TCP"}'
    assert key({"port": 80.0}) == 'k:{"port":80}'
    assert value("example.com/a") == 'v:"example.com/a"'
    assert go_json({"b": "<&>", "a": 1}) == '{"a":1,"b":"\\u003c\\u0026\\u003e"}'


def test_encoding_marks_members_with_children_and_sorts_like_upstream() -> None:
    paths = {
        ("f:spec", "f:containers", NGINX),
        ("f:spec", "f:containers", NGINX, "f:image"),
        ("f:spec", "f:ports", key({"port": 8080})),
        ("f:spec", "f:ports", key({"port": 80})),
        ("f:spec", "f:finalizers", value("b")),
        ("f:spec", "f:finalizers", value(10)),
        ("f:metadata", "f:labels", "f:app"),
    }
    encoded = to_fields_v1(paths)
    assert encoded == {
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {
            "f:containers": {NGINX: {".": {}, "f:image": {}}},
            "f:finalizers": {"v:10": {}, 'v:"b"': {}},  # numbers before strings
            "f:ports": {'k:{"port":80}': {}, 'k:{"port":8080}': {}},  # by value, not by text
        },
    }
    assert list(encoded) == ["f:metadata", "f:spec"]
    assert list(encoded["f:spec"]["f:finalizers"]) == ["v:10", 'v:"b"']
    assert list(encoded["f:spec"]["f:ports"]) == ['k:{"port":80}', 'k:{"port":8080}']
    assert from_fields_v1(encoded) == paths


def test_decoding_reads_what_clients_send() -> None:
    sent = {
        "f:spec": {'k:{ "protocol": "TCP", "containerPort": 80 }': {".": {}, "f:name": {}}},
        "x:unknown": {},  # kinds upstream does not know are dropped
        "f:metadata": {"f:labels": {}},  # nothing below: the node itself is the member
    }
    assert from_fields_v1(sent) == {
        ("f:spec", 'k:{"containerPort":80,"protocol":"TCP"}'),
        ("f:spec", 'k:{"containerPort":80,"protocol":"TCP"}', "f:name"),
        ("f:metadata", "f:labels"),
    }
    with pytest.raises(ValueError):
        from_fields_v1({"k:not-json": {}})
    with pytest.raises(ValueError):
        from_fields_v1({"f:spec": []})


def test_paths_render_as_in_conflict_messages() -> None:
    assert render(("f:spec", "f:replicas")) == ".spec.replicas"
    image = ("f:spec", "f:containers", NGINX, "f:image")
    assert render(image) == '.spec.containers[name="nginx"].image'
    assert render(("f:ports", key({"containerPort": 80, "protocol": "TCP"}))) == (
        '.ports[containerPort=80,protocol="TCP"]')
    assert render(("f:metadata", "f:finalizers", value("a/b"))) == '.metadata.finalizers[="a/b"]'


def test_recursive_difference_takes_subtrees_along() -> None:
    paths = frozenset({("f:spec",), ("f:spec", "f:x"), ("f:status", "f:y"), ("f:statusX",)})
    kept = recursive_difference(paths, frozenset({("f:spec",)}))
    assert kept == {("f:status", "f:y"), ("f:statusX",)}


def test_managed_fields_entries_round_trip_and_sort() -> None:
    def wire_entry(manager: str, operation: str, seconds: int, data_key: str) -> dict[str, Any]:
        return {"manager": manager, "operation": operation, "apiVersion": "v1",
                "time": f"2025-01-01T00:00:0{seconds}Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {"f:" + data_key: {}}}}

    wire = [wire_entry("z-ctl", "Update", 5, "b"),
            wire_entry("a-ctl", "Update", 5, "a") | {"subresource": "status"},
            wire_entry("kubectl", "Apply", 9, "c")]
    # Apply first, then by time, then by manager name.
    assert entries.encode(entries.decode(wire)) == [wire[2], wire[1], wire[0]]


VALID = {"manager": "m", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1"}


@pytest.mark.parametrize("change, message", [
    ({"operation": "Patch"}, "operation must be `Apply` or `Update`"),
    ({"apiVersion": ""}, "apiVersion must not be empty"),
    ({"fieldsType": ""}, "missing fieldsType"),
    ({"fieldsType": "FieldsV2"}, "invalid fieldsType"),
])
def test_invalid_entries_are_refused(change: dict[str, str], message: str) -> None:
    entries.decode([VALID])
    with pytest.raises(ValueError, match=message):
        entries.decode([VALID | change])


def test_reset_means_an_empty_list_or_one_empty_entry() -> None:
    assert entries.is_reset([]) and entries.is_reset([{}])
    assert not entries.is_reset(None) and not entries.is_reset([{}, {}])
