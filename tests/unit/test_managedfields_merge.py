"""The schema-aware walkers: merging, field sets, comparison and removal."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.api.managedfields.errors import InvalidObjectError
from controlplane.api.managedfields.merge import merge
from controlplane.api.managedfields.typed import compare, ensure_named_fields, field_set, remove
from controlplane.api.schema import Schema, builtin_schema

POD = builtin_schema("", "v1", "Pod")


def pod_spec(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}


def names(obj: dict[str, Any]) -> list[str]:
    return [c["name"] for c in obj["spec"]["containers"]]


@pytest.mark.parametrize("live, applied, expected", [
    (["a", "b", "x", "c"], ["b", "c"], ["a", "b", "x", "c"]),  # live-only items stay in place
    (["c", "b"], ["b", "c"], ["b", "c"]),  # shared items take the applied order
    (["a"], ["b"], ["a", "b"]),
    (["x", "a"], ["b", "a"], ["x", "b", "a"]),
])
def test_list_map_merge_order(live: list[str], applied: list[str], expected: list[str]) -> None:
    def containers(ns: list[str]) -> dict[str, Any]:
        return pod_spec(containers=[{"name": n} for n in ns])

    assert names(merge(containers(live), containers(applied), POD)) == expected


def test_items_merge_field_by_field_and_leaves_take_the_applied_value() -> None:
    app = {"name": "app", "image": "v1", "args": ["a", "b"], "imagePullPolicy": "Always"}
    live = pod_spec(containers=[app], nodeSelector={"disk": "ssd", "zone": "a"})
    applied = pod_spec(containers=[{"name": "app", "image": "v2", "args": ["c"]}],
                       nodeSelector={"zone": "b"})

    merged = merge(live, applied, POD)
    # args is an atomic list: replaced. Unmentioned fields stay.
    assert merged["spec"]["containers"] == [app | {"image": "v2", "args": ["c"]}]
    # nodeSelector is atomic in 1.33: replaced as a whole.
    assert merged["spec"]["nodeSelector"] == {"zone": "b"}


def test_granular_and_atomic_maps() -> None:
    deployment = builtin_schema("apps", "v1", "Deployment")
    def obj(label: str) -> dict[str, Any]:
        labels = {label: "1"}
        return {"metadata": {"labels": labels}, "spec": {"selector": {"matchLabels": labels}}}

    live, applied = obj("a"), obj("b")
    merged = merge(live, applied, deployment)
    assert merged["metadata"]["labels"] == {"a": "1", "b": "1"}
    assert merged["spec"]["selector"] == {"matchLabels": {"b": "1"}}


def test_applied_null_claims_a_container_without_emptying_it() -> None:
    live = pod_spec(containers=[{"name": "app"}], nodeName="n1")
    merged = merge(live, {"spec": {"containers": None, "nodeName": None}}, POD)
    assert merged["spec"] == {"containers": [{"name": "app"}], "nodeName": None}
    assert ("f:spec", "f:containers") in field_set({"spec": {"containers": None}}, POD)


def test_field_set_of_a_pod() -> None:
    obj = pod_spec(containers=[{"name": "app", "ports": [{"containerPort": 80, "protocol": "UDP"}],
                                "resources": {}}],
                   tolerations=[{"key": "k"}])
    app = ("f:spec", "f:containers", 'k:{"name":"app"}')
    port = app + ("f:ports", 'k:{"containerPort":80,"protocol":"UDP"}')
    assert field_set(obj, POD) == {
        ("f:apiVersion",), ("f:kind",), ("f:metadata", "f:name"),
        app, app + ("f:name",),
        app + ("f:resources",),  # an empty struct is a leaf
        port, port + ("f:containerPort",), port + ("f:protocol",),
        ("f:spec", "f:tolerations"),  # atomic list
    }


@pytest.mark.parametrize("item, message", [
    ({"image": "x"}, "element 0: associative list with keys has an element that omits all key "
                     'fields ["name"] (and doesn\'t have default values for any key fields)'),
    ("app", "element 0: associative list with keys may not have non-map elements"),
])
def test_items_that_cannot_be_keyed(item: Any, message: str) -> None:
    with pytest.raises(InvalidObjectError) as err:
        field_set(pod_spec(containers=[item]), POD)
    assert str(err.value) == ".spec.containers: " + message


def test_compare_reports_added_modified_removed() -> None:
    old = pod_spec(containers=[{"name": "a", "image": "1"}, {"name": "b"}], hostname="h")
    new = pod_spec(containers=[{"name": "a", "image": "2"}, {"name": "c"}], hostname="h")
    diff = compare(old, new, POD)
    c = ("f:spec", "f:containers")
    assert diff.modified == {c + ('k:{"name":"a"}', "f:image")}
    assert diff.added == {c + ('k:{"name":"c"}',), c + ('k:{"name":"c"}', "f:name")}
    assert diff.removed == {c + ('k:{"name":"b"}',), c + ('k:{"name":"b"}', "f:name")}
    assert compare(old, old, POD).changed == frozenset()
    assert compare({"spec": {"x": 1}}, {"spec": {"x": True}}, None).modified == {("f:spec", "f:x")}


def test_remove_takes_subtrees_and_drops_emptied_containers() -> None:
    obj = pod_spec(containers=[{"name": "a", "image": "1"}, {"name": "b"}])
    obj["metadata"]["labels"] = {"x": "1"}
    out = remove(obj, frozenset({("f:spec", "f:containers", 'k:{"name":"b"}'),
                                 ("f:metadata", "f:labels", "f:x")}), POD)
    assert out["spec"]["containers"] == [{"name": "a", "image": "1"}]
    assert out["metadata"] == {"name": "p"}
    assert obj["metadata"]["labels"] == {"x": "1"}, "remove must not change its input"


def test_ensure_named_fields_adds_struct_fields_but_not_map_keys_or_items() -> None:
    paths = frozenset({("f:spec", "f:containers", 'k:{"name":"a"}', "f:image"),
                       ("f:metadata", "f:labels", "f:x")})
    assert ensure_named_fields(paths, POD) == paths | {
        ("f:spec",), ("f:spec", "f:containers"), ("f:metadata",), ("f:metadata", "f:labels")}


def test_custom_resource_schema_lists_and_maps() -> None:
    schema = Schema({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "hosts": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
        "rules": {"type": "array",
                  "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                  "items": {"type": "object", "properties": {"name": {"type": "string"},
                                                             "port": {"type": "integer"}}}},
        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    }}}})
    def spec(host: str, port: int, extra: dict[str, int]) -> dict[str, Any]:
        return {"spec": {"hosts": [host], "rules": [{"name": "r1", "port": port}],
                         "extra": {"k": extra}}}

    live, applied = spec("a", 1, {"x": 1}), spec("b", 2, {"y": 2})
    merged = merge(live, applied, schema)
    assert merged["spec"] == {"hosts": ["a", "b"], "rules": [{"name": "r1", "port": 2}],
                              "extra": {"k": {"x": 1, "y": 2}}}
    # metadata is ObjectMeta even when the custom resource's schema says nothing about it
    labelled = field_set({"metadata": {"labels": {"a": "1"}}}, schema)
    assert ("f:metadata", "f:labels", "f:a") in labelled
    assert ("f:metadata", "f:labels") not in labelled
