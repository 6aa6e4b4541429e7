"""Tables for events, leases, endpoint slices, autoscalers, disruption budgets, RBAC
bindings, and the default Name/Created At table."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from controlplane.api.tables import build_table

NOW = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
RBAC = "rbac.authorization.k8s.io"


def ago(seconds: int, micro: bool = False) -> str:
    moment = NOW - datetime.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


def row(group: str, resource: str, obj: dict) -> dict[str, Any]:
    table = build_table(group, resource, [obj], now=NOW)
    return dict(zip([c["name"] for c in table["columnDefinitions"]], table["rows"][0]["cells"]))


def meta(name: str) -> dict[str, Any]:
    return {"name": name, "namespace": "default", "creationTimestamp": ago(600)}


# -- events ---------------------------------------------------------------------------------

CORE_EVENT = {
    "metadata": meta("web-1.17c3a5b2"),
    "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-1",
                       "fieldPath": "spec.containers{nginx}"},
    "reason": "Pulled",
    "message": "Successfully pulled image \"nginx:1.27\"\n",
    "source": {"component": "kubelet", "host": "node-1"},
    "firstTimestamp": ago(300),
    "lastTimestamp": ago(60),
    "count": 4,
    "type": "Normal",
}

# The same event as an events.k8s.io/v1 client writes it.
NEW_EVENT = {
    "metadata": meta("web-1.17c3a5b2"),
    "regarding": {"kind": "Pod", "namespace": "default", "name": "web-1",
                  "fieldPath": "spec.containers{nginx}"},
    "reason": "Pulled",
    "note": "Successfully pulled image \"nginx:1.27\"\n",
    "reportingController": "kubelet",
    "reportingInstance": "node-1",
    "eventTime": ago(300, micro=True),
    "series": {"count": 4, "lastObservedTime": ago(60, micro=True)},
    "action": "Pulling",
    "type": "Normal",
}

EXPECTED_EVENT = {
    "Last Seen": "60s",
    "Type": "Normal",
    "Reason": "Pulled",
    "Object": "pod/web-1",
    "Subobject": "spec.containers{nginx}",
    "Source": "kubelet, node-1",
    "Message": "Successfully pulled image \"nginx:1.27\"",
    "First Seen": "5m",
    "Count": "4",
    "Name": "web-1.17c3a5b2",
}


@pytest.mark.parametrize(("group", "obj"), [("", CORE_EVENT), ("events.k8s.io", NEW_EVENT)])
def test_both_event_shapes_print_alike(group: str, obj: dict) -> None:
    assert row(group, "events", obj) == EXPECTED_EVENT


def test_event_columns() -> None:
    table = build_table("events.k8s.io", "events", [], now=NOW)
    assert [(c["name"], c["priority"], c["format"]) for c in table["columnDefinitions"]] == [
        ("Last Seen", 0, ""), ("Type", 0, ""), ("Reason", 0, ""), ("Object", 0, ""),
        ("Subobject", 1, ""), ("Source", 1, ""), ("Message", 0, ""), ("First Seen", 1, ""),
        ("Count", 1, ""), ("Name", 1, "name"),
    ]


def test_singleton_event_from_the_new_api() -> None:
    obj = {"metadata": meta("node-1.abc"), "regarding": {"kind": "Node", "name": "node-1"},
           "reason": "Starting", "note": "Starting kubelet.", "type": "Normal",
           "reportingController": "kubelet", "eventTime": ago(45, micro=True)}
    cells = row("events.k8s.io", "events", obj)
    assert (cells["Last Seen"], cells["First Seen"], cells["Count"]) == ("45s", "45s", "1")
    assert (cells["Object"], cells["Source"]) == ("node/node-1", "kubelet")


def test_event_without_any_time() -> None:
    obj = {"metadata": meta("x"), "involvedObject": {"kind": "Namespace"}, "reason": "R"}
    cells = row("", "events", obj)
    assert (cells["Last Seen"], cells["First Seen"], cells["Object"]) == (
        "<unknown>", "<unknown>", "namespace",
    )


def test_converting_a_new_event_leaves_the_input_alone() -> None:
    before = dict(NEW_EVENT)
    build_table("events.k8s.io", "events", [NEW_EVENT], now=NOW)
    assert NEW_EVENT == before and "involvedObject" not in NEW_EVENT


# -- leases and endpoint slices -------------------------------------------------------------


def test_lease() -> None:
    obj = {"metadata": meta("kube-scheduler"),
           "spec": {"holderIdentity": "cp-1_4c9d", "leaseDurationSeconds": 15}}
    assert row("coordination.k8s.io", "leases", obj) == {
        "Name": "kube-scheduler", "Holder": "cp-1_4c9d", "Age": "10m",
    }
    assert row("coordination.k8s.io", "leases", {"metadata": meta("free")})["Holder"] == ""


@pytest.mark.parametrize(
    ("ports", "endpoints", "expected_ports", "expected_endpoints"),
    [
        ([{"name": "http", "port": 80, "protocol": "TCP"}],
         [{"addresses": ["10.244.1.5"]}, {"addresses": ["10.244.2.6"]}],
         "80", "10.244.1.5,10.244.2.6"),
        ([{"name": "http"}, {}, {"port": 1}, {"port": 2}],
         [{"addresses": [f"10.0.0.{i}"]} for i in range(5)],
         "http,*,1 + 1 more...", "10.0.0.0,10.0.0.1,10.0.0.2 + 2 more..."),
        ([], [], "<unset>", "<unset>"),
    ],
)
def test_endpointslice(ports: list, endpoints: list, expected_ports: str,
                       expected_endpoints: str) -> None:
    obj = {"metadata": meta("web-abc12"), "addressType": "IPv4", "ports": ports,
           "endpoints": endpoints}
    assert row("discovery.k8s.io", "endpointslices", obj) == {
        "Name": "web-abc12", "AddressType": "IPv4", "Ports": expected_ports,
        "Endpoints": expected_endpoints, "Age": "10m",
    }


# -- horizontal pod autoscalers -------------------------------------------------------------


def cpu(utilization: int) -> dict:
    return {"type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                   "averageUtilization": utilization}}}


def hpa(metrics: list, current: list | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": meta("web"),
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "maxReplicas": 10, "metrics": metrics, **spec},
        "status": {"currentReplicas": 3, "desiredReplicas": 3,
                   **({"currentMetrics": current} if current is not None else {})},
    }


CPU_AT_50 = {"type": "Resource", "resource": {"name": "cpu", "current": {
    "averageUtilization": 50, "averageValue": "250m"}}}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (hpa([cpu(80)], [CPU_AT_50], minReplicas=2), "cpu: 50%/80%"),
        (hpa([cpu(80)]), "cpu: <unknown>/80%"),
        (hpa([{"type": "Resource", "resource": {"name": "memory", "target": {
            "type": "AverageValue", "averageValue": "500Mi"}}}],
            [{"type": "Resource", "resource": {"name": "memory", "current": {
                "averageValue": "300Mi"}}}]),
         "memory: 300Mi/500Mi"),
        (hpa([{"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {
            "type": "AverageValue", "averageValue": "1k"}}}]), "<unknown>/1k"),
        (hpa([{"type": "External", "external": {"metric": {"name": "queue"}, "target": {
            "type": "AverageValue", "averageValue": "30"}}}]), "<unknown>/30 (avg)"),
        (hpa([{"type": "Object", "object": {"metric": {"name": "rps"}, "target": {
            "type": "Value", "value": "2k"}}}],
            [{"type": "Object", "object": {"current": {"value": "1500"}}}]), "1500/2k"),
        (hpa([cpu(80), cpu(70), cpu(60)]), "cpu: <unknown>/80%, cpu: <unknown>/70% + 1 more..."),
        (hpa([]), "<none>"),
    ],
    ids=["cpu", "cpu-unmeasured", "memory-value", "pods", "external-avg", "object", "three",
         "none"],
)
def test_hpa_targets(obj: dict, expected: str) -> None:
    assert row("autoscaling", "horizontalpodautoscalers", obj)["Targets"] == expected


def test_hpa_row() -> None:
    assert row("autoscaling", "horizontalpodautoscalers", hpa([cpu(80)], [CPU_AT_50],
                                                               minReplicas=2)) == {
        "Name": "web", "Reference": "Deployment/web", "Targets": "cpu: 50%/80%",
        "MinPods": "2", "MaxPods": "10", "Replicas": "3", "Age": "10m",
    }
    assert row("autoscaling", "horizontalpodautoscalers", hpa([]))["MinPods"] == "<unset>"


# -- pod disruption budgets -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"minAvailable": 2}, ("2", "N/A")),
        ({"maxUnavailable": "25%"}, ("N/A", "25%")),
    ],
)
def test_pdb(spec: dict, expected: tuple[str, str]) -> None:
    obj = {"metadata": meta("web"), "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec},
           "status": {"disruptionsAllowed": 1, "currentHealthy": 3, "desiredHealthy": 2}}
    cells = row("policy", "poddisruptionbudgets", obj)
    assert (cells["Min Available"], cells["Max Unavailable"]) == expected
    assert cells["Allowed Disruptions"] == 1


# -- RBAC -----------------------------------------------------------------------------------

SUBJECTS = [
    {"kind": "User", "name": "alice", "apiGroup": RBAC},
    {"kind": "Group", "name": "devs", "apiGroup": RBAC},
    {"kind": "ServiceAccount", "name": "ci", "namespace": "build"},
    {"kind": "User", "name": "bob", "apiGroup": RBAC},
]


@pytest.mark.parametrize("resource", ["rolebindings", "clusterrolebindings"])
def test_bindings(resource: str) -> None:
    obj = {"metadata": meta("viewers"), "subjects": SUBJECTS,
           "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "view"}}
    assert row(RBAC, resource, obj) == {
        "Name": "viewers", "Role": "ClusterRole/view", "Age": "10m",
        "Users": "alice, bob", "Groups": "devs", "ServiceAccounts": "build/ci",
    }


def test_binding_column_descriptions_name_the_kind() -> None:
    table = build_table(RBAC, "clusterrolebindings", [], now=NOW)
    assert table["columnDefinitions"][3]["description"] == "Users in the clusterRoleBinding"


# -- the default table ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "resource"),
    [(RBAC, "roles"), (RBAC, "clusterroles"), ("apiextensions.k8s.io",
                                                "customresourcedefinitions"),
     ("example.com", "unknowns")],
)
def test_default_table(group: str, resource: str) -> None:
    obj = {"metadata": {"name": "thing", "creationTimestamp": "2024-05-01T13:30:00+02:00"}}
    table = build_table(group, resource, [obj], now=NOW)
    assert [(c["name"], c["type"], c["format"]) for c in table["columnDefinitions"]] == [
        ("Name", "string", "name"), ("Created At", "date", ""),
    ]
    assert table["rows"][0]["cells"] == ["thing", "2024-05-01T11:30:00Z"]


def test_default_table_without_a_creation_time_prints_gos_zero_time() -> None:
    table = build_table("example.com", "unknowns", [{"metadata": {"name": "x"}}], now=NOW)
    assert table["rows"][0]["cells"] == ["x", "0001-01-01T00:00:00Z"]
