"""The Table around the rows: metadata, headers, includeObject, and the promises every
printer keeps (all five column fields, cells typed like their columns, inputs untouched)."""

from __future__ import annotations

import copy
import datetime
from typing import Any

import pytest

from controlplane.api.tables import PRINTERS, build_table

NOW = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)

POD = {
    "metadata": {
        "name": "web-1", "generateName": "web-", "namespace": "default", "uid": "1f0c",
        "resourceVersion": "118", "creationTimestamp": "2024-05-01T11:59:27Z",
        "labels": {"app": "web"}, "deletionTimestamp": "2024-05-01T11:59:58Z",
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                             "uid": "dda4", "controller": True}],
    },
    "spec": {"containers": [{"name": "nginx", "image": "nginx"}], "nodeName": "node-1"},
    "status": {"phase": "Running", "podIP": "10.0.0.96",
               "containerStatuses": [{"name": "nginx", "ready": True, "restartCount": 0,
                                      "state": {"running": {}}}]},
}


def test_list_table_shape() -> None:
    table = build_table("", "pods", [POD], now=NOW, resource_version="121",
                        continue_token="MQ==", remaining_item_count=3)
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "121", "continue": "MQ==",
                                 "remainingItemCount": 3}
    assert table["rows"][0]["cells"] == [
        "web-1", "1/1", "Terminating", "0", "33s", "10.0.0.96", "node-1", "<none>", "<none>",
    ]


def test_metadata_without_remaining_item_count() -> None:
    table = build_table("", "pods", [], now=NOW, resource_version="7")
    assert table["metadata"] == {"resourceVersion": "7", "continue": ""}
    assert table["rows"] == []


def test_include_metadata_is_the_default_and_carries_all_of_it() -> None:
    row = build_table("", "pods", [POD], now=NOW)["rows"][0]
    assert row["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": POD["metadata"],
    }


def test_include_object() -> None:
    row = build_table("", "pods", [POD], now=NOW, include_object="Object")["rows"][0]
    assert row["object"] == POD


def test_include_none() -> None:
    row = build_table("", "pods", [POD], now=NOW, include_object="None")["rows"][0]
    assert "object" not in row


def test_unknown_include_object_is_refused() -> None:
    with pytest.raises(ValueError):
        build_table("", "pods", [POD], now=NOW, include_object="Everything")


def test_without_headers_column_definitions_are_null() -> None:
    table = build_table("", "configmaps", [{"metadata": {"name": "a"}}], now=NOW,
                        with_headers=False)
    assert table["columnDefinitions"] is None
    assert table["rows"][0]["cells"] == ["a", "0", "<unknown>"]


def test_rows_keep_the_order_of_the_objects() -> None:
    objects = [{"metadata": {"name": name}} for name in ("b", "c", "a")]
    table = build_table("", "secrets", objects, now=NOW)
    assert [row["cells"][0] for row in table["rows"]] == ["b", "c", "a"]


@pytest.mark.parametrize("include", ["Metadata", "Object"])
def test_building_a_table_leaves_the_input_unchanged(include: str) -> None:
    # Rows refer to the input's metadata (no copies: tables are serialized at once), so
    # what matters is that building one never changes the objects it was given...
    objects = [copy.deepcopy(POD)]
    table = build_table("", "pods", objects, now=NOW, include_object=include)
    assert objects == [POD]
    assert table["rows"][0]["object"]["metadata"] == POD["metadata"]
    # ...and that the shared column definitions are not handed out for changing.
    table["columnDefinitions"][0]["name"] = "changed"
    assert build_table("", "pods", [], now=NOW)["columnDefinitions"][0]["name"] == "Name"


# -- promises every printer keeps -----------------------------------------------------------

# One sample object per printer, filled enough that every cell is computed from data.
SAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("", "pods"): POD,
    ("", "nodes"): {"metadata": {"name": "n", "labels": {"node-role.kubernetes.io/worker": ""}},
                    "spec": {"unschedulable": True},
                    "status": {"conditions": [{"type": "Ready", "status": "True"}],
                               "nodeInfo": {"kubeletVersion": "v1.33.1"}}},
    ("", "services"): {"metadata": {"name": "s"},
                       "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}},
    ("", "events"): {"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "p"},
                     "count": 2, "firstTimestamp": "2024-05-01T11:00:00Z"},
    ("events.k8s.io", "events"): {"metadata": {"name": "e"}, "regarding": {"kind": "Pod"},
                                  "deprecatedCount": 5},
    ("apps", "deployments"): {"metadata": {"name": "d"}, "spec": {"replicas": 3},
                              "status": {"readyReplicas": 2, "updatedReplicas": 3,
                                         "availableReplicas": 2}},
    ("apps", "controllerrevisions"): {"metadata": {"name": "r"}, "revision": 4},
    ("autoscaling", "horizontalpodautoscalers"): {
        "metadata": {"name": "h"}, "spec": {"maxReplicas": 5, "minReplicas": 1},
        "status": {"currentReplicas": 2}},
}


@pytest.mark.parametrize("key", sorted(PRINTERS), ids=lambda key: "/".join(key).strip("/"))
def test_every_printer_keeps_the_table_promises(key: tuple[str, str]) -> None:
    obj = SAMPLES.get(key, {"metadata": {"name": "x", "creationTimestamp": "2024-05-01T11:00:00Z"}})
    before = copy.deepcopy(obj)
    table = build_table(*key, [obj], now=NOW)
    definitions = table["columnDefinitions"]
    assert all(set(c) == {"name", "type", "format", "description", "priority"}
               for c in definitions)
    assert all(c["description"] for c in definitions)
    assert [c["name"] for c in definitions if c["format"] == "name"] == ["Name"]
    cells = table["rows"][0]["cells"]
    assert len(cells) == len(definitions)
    python_type = {"string": str, "integer": int, "date": str, "boolean": bool, "number": float}
    for definition, cell in zip(definitions, cells):
        assert isinstance(cell, python_type[definition["type"]]), (definition["name"], cell)
        assert not (definition["type"] == "integer" and isinstance(cell, bool))
    assert obj == before
