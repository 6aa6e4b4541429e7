"""Tables for deployments, replica sets, daemon sets, stateful sets, revisions and jobs."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from controlplane.api.tables import build_table

NOW = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)


def ago(seconds: int) -> str:
    return (NOW - datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def row(group: str, resource: str, obj: dict) -> dict[str, Any]:
    table = build_table(group, resource, [obj], now=NOW)
    return dict(zip([c["name"] for c in table["columnDefinitions"]], table["rows"][0]["cells"]))


def columns(group: str, resource: str) -> list[tuple[str, str, int]]:
    table = build_table(group, resource, [], now=NOW)
    return [(c["name"], c["type"], c["priority"]) for c in table["columnDefinitions"]]


TEMPLATE = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"},
                            {"name": "sidecar", "image": "busybox:1.36"}]},
}


def workload(name: str, spec: dict, status: dict, **metadata: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "creationTimestamp": ago(300),
                     **metadata},
        "spec": {"template": TEMPLATE, **spec},
        "status": status,
    }


def test_deployment_with_partial_availability() -> None:
    obj = workload(
        "web",
        {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}},
        {"replicas": 3, "updatedReplicas": 3, "readyReplicas": 2, "availableReplicas": 2,
         "unavailableReplicas": 1},
    )
    assert row("apps", "deployments", obj) == {
        "Name": "web",
        "Ready": "2/3",
        "Up-to-date": "3",
        "Available": "2",
        "Age": "5m",
        "Containers": "nginx,sidecar",
        "Images": "nginx:1.27,busybox:1.36",
        "Selector": "app=web",
    }
    assert columns("apps", "deployments")[4:] == [
        ("Age", "string", 0), ("Containers", "string", 1), ("Images", "string", 1),
        ("Selector", "string", 1),
    ]


def test_new_deployment_without_status() -> None:
    obj = workload("web", {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}}, {})
    cells = row("apps", "deployments", obj)
    assert (cells["Ready"], cells["Up-to-date"], cells["Available"]) == ("0/2", "0", "0")


def test_deployment_with_an_invalid_selector() -> None:
    bad = {"matchExpressions": [{"key": "app", "operator": "Near", "values": ["x"]}]}
    obj = workload("web", {"replicas": 1, "selector": bad}, {})
    assert row("apps", "deployments", obj)["Selector"] == "<invalid>"


def test_replicaset_cells_are_integers() -> None:
    obj = workload(
        "web-7d4b9c",
        {"replicas": 3, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "7d4b9c"}}},
        {"replicas": 3, "readyReplicas": 1},
    )
    cells = row("apps", "replicasets", obj)
    assert (cells["Desired"], cells["Current"], cells["Ready"]) == (3, 3, 1)
    assert cells["Selector"] == "app=web,pod-template-hash=7d4b9c"
    assert columns("apps", "replicasets")[1:4] == [
        ("Desired", "integer", 0), ("Current", "integer", 0), ("Ready", "integer", 0),
    ]


def test_scaled_down_replicaset() -> None:
    obj = workload("web-old", {"replicas": 0, "selector": {}}, {"replicas": 0})
    cells = row("apps", "replicasets", obj)
    assert (cells["Desired"], cells["Current"], cells["Ready"]) == (0, 0, 0)
    assert cells["Selector"] == "<none>"


def test_daemonset() -> None:
    obj = workload(
        "node-exporter",
        {"selector": {"matchLabels": {"app": "node-exporter"}}},
        {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
         "updatedNumberScheduled": 3, "numberAvailable": 2},
    )
    obj["spec"]["template"] = {"spec": {"containers": [{"name": "exporter", "image": "ne:1"}],
                                        "nodeSelector": {"kubernetes.io/os": "linux"}}}
    assert row("apps", "daemonsets", obj) == {
        "Name": "node-exporter", "Desired": 3, "Current": 3, "Ready": 2, "Up-to-date": 3,
        "Available": 2, "Node Selector": "kubernetes.io/os=linux", "Age": "5m",
        "Containers": "exporter", "Images": "ne:1", "Selector": "app=node-exporter",
    }


def test_statefulset() -> None:
    obj = workload("db", {"replicas": 3, "serviceName": "db"}, {"replicas": 2, "readyReplicas": 1})
    assert row("apps", "statefulsets", obj) == {
        "Name": "db", "Ready": "1/3", "Age": "5m",
        "Containers": "nginx,sidecar", "Images": "nginx:1.27,busybox:1.36",
    }


@pytest.mark.parametrize(
    ("owners", "expected"),
    [
        ([{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "fluentd", "controller": True}],
         "daemonset.apps/fluentd"),
        ([{"apiVersion": "v1", "kind": "Pod", "name": "p", "controller": True}], "pod/p"),
        ([{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db"}], "<none>"),
        ([], "<none>"),
    ],
)
def test_controllerrevision(owners: list[dict], expected: str) -> None:
    obj = {"metadata": {"name": "fluentd-5f7d", "creationTimestamp": ago(300),
                        "ownerReferences": owners},
           "revision": 2, "data": {}}
    assert row("apps", "controllerrevisions", obj) == {
        "Name": "fluentd-5f7d", "Controller": expected, "Revision": "2", "Age": "5m",
    }


# -- jobs -----------------------------------------------------------------------------------


def job(spec: dict, status: dict, **metadata: Any) -> dict[str, Any]:
    return workload("pi", {"selector": {"matchLabels": {"batch.kubernetes.io/job-name": "pi"}},
                           **spec}, status, **metadata)


COMPLETE = {"type": "Complete", "status": "True"}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (job({"completions": 3}, {"active": 1, "succeeded": 1, "startTime": ago(125)}),
         ("Running", "1/3", "2m5s")),
        (job({"completions": 1}, {"succeeded": 1, "startTime": ago(200),
                                  "completionTime": ago(170), "conditions": [COMPLETE]}),
         ("Complete", "1/1", "30s")),
        (job({"completions": 1, "backoffLimit": 0},
             {"failed": 1, "startTime": ago(60),
              "conditions": [{"type": "FailureTarget", "status": "True"},
                             {"type": "Failed", "status": "True"}]}),
         ("Failed", "0/1", "60s")),
        (job({"parallelism": 4}, {"active": 4, "startTime": ago(10)}),
         ("Running", "0/1 of 4", "10s")),
        (job({}, {}), ("Running", "0/1", "")),  # not started yet
        (job({"completions": 2, "suspend": True},
             {"conditions": [{"type": "Suspended", "status": "True"}]}),
         ("Suspended", "0/2", "")),
        (job({"completions": 2}, {"startTime": ago(30)}, deletionTimestamp=ago(5)),
         ("Terminating", "0/2", "30s")),
        (job({"completions": 1}, {"succeeded": 1, "startTime": ago(40), "completionTime": ago(20),
                                  "conditions": [COMPLETE]}, deletionTimestamp=ago(5)),
         ("Complete", "1/1", "20s")),
    ],
    ids=["running", "complete", "failed", "work-queue", "new", "suspended", "terminating",
         "complete-while-deleting"],
)
def test_job(obj: dict, expected: tuple[str, str, str]) -> None:
    cells = row("batch", "jobs", obj)
    assert (cells["Status"], cells["Completions"], cells["Duration"]) == expected
    assert cells["Selector"] == "batch.kubernetes.io/job-name=pi"


def test_job_columns() -> None:
    assert [name for name, _, _ in columns("batch", "jobs")] == [
        "Name", "Status", "Completions", "Duration", "Age", "Containers", "Images", "Selector",
    ]
