"""Tables for nodes, services, endpoints, namespaces, config maps, secrets, service accounts."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from controlplane.api.tables import build_table

NOW = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
CREATED = "2024-04-29T12:00:00Z"  # two days before NOW


def meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "creationTimestamp": CREATED, **extra}


def row(resource: str, obj: dict) -> dict[str, Any]:
    """The first row of a table, keyed by column name."""
    table = build_table("", resource, [obj], now=NOW)
    return dict(zip([c["name"] for c in table["columnDefinitions"]], table["rows"][0]["cells"]))


def headers(resource: str) -> list[tuple[str, int]]:
    table = build_table("", resource, [], now=NOW)
    return [(c["name"], c["priority"]) for c in table["columnDefinitions"]]


# -- nodes ----------------------------------------------------------------------------------


def node(conditions: list[dict] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": meta("node-1", labels={
            "kubernetes.io/hostname": "node-1",
            "node-role.kubernetes.io/control-plane": "",
            "node-role.kubernetes.io/etcd": "true",
        }),
        "spec": spec,
        "status": {
            "conditions": conditions if conditions is not None else [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": "True"},
            ],
            "addresses": [
                {"type": "Hostname", "address": "node-1"},
                {"type": "InternalIP", "address": "192.168.56.11"},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.33.1",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "kernelVersion": "6.1.0-21-amd64",
                "containerRuntimeVersion": "kubeclass://0.1.0",
            },
        },
    }


def test_node_row() -> None:
    assert row("nodes", node()) == {
        "Name": "node-1",
        "Status": "Ready",
        "Roles": "control-plane,etcd",
        "Age": "2d",
        "Version": "v1.33.1",
        "Internal-IP": "192.168.56.11",
        "External-IP": "<none>",
        "OS-Image": "Debian GNU/Linux 12 (bookworm)",
        "Kernel-Version": "6.1.0-21-amd64",
        "Container-Runtime": "kubeclass://0.1.0",
    }
    assert headers("nodes")[5:] == [
        ("Internal-IP", 1), ("External-IP", 1), ("OS-Image", 1),
        ("Kernel-Version", 1), ("Container-Runtime", 1),
    ]


@pytest.mark.parametrize(
    ("conditions", "spec", "expected"),
    [
        ([{"type": "Ready", "status": "True"}], {}, "Ready"),
        ([{"type": "Ready", "status": "False"}], {}, "NotReady"),
        ([{"type": "Ready", "status": "Unknown"}], {}, "NotReady"),
        ([], {}, "Unknown"),
        ([{"type": "Ready", "status": "True"}], {"unschedulable": True},
         "Ready,SchedulingDisabled"),
        ([{"type": "Ready", "status": "False"}], {"unschedulable": True},
         "NotReady,SchedulingDisabled"),
    ],
    ids=["ready", "not-ready", "ready-unknown", "no-ready-condition", "cordoned", "cordoned-down"],
)
def test_node_status(conditions: list[dict], spec: dict, expected: str) -> None:
    assert row("nodes", node(conditions, **spec))["Status"] == expected


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({}, "<none>"),
        ({"node-role.kubernetes.io/worker": ""}, "worker"),
        ({"kubernetes.io/role": "master", "node-role.kubernetes.io/ingress": ""}, "ingress,master"),
        ({"kubernetes.io/role": ""}, "<none>"),
        ({"node-role.kubernetes.io/": "x"}, "<none>"),
    ],
)
def test_node_roles(labels: dict, expected: str) -> None:
    obj = node()
    obj["metadata"]["labels"] = labels
    assert row("nodes", obj)["Roles"] == expected


def test_node_without_node_info() -> None:
    cells = row("nodes", {"metadata": meta("bare")})
    assert cells["Version"] == ""
    assert (cells["OS-Image"], cells["Kernel-Version"], cells["Container-Runtime"]) == (
        "<unknown>", "<unknown>", "<unknown>",
    )
    assert (cells["Internal-IP"], cells["External-IP"]) == ("<none>", "<none>")


# -- services -------------------------------------------------------------------------------


def service(**spec: Any) -> dict[str, Any]:
    return {"metadata": meta("web", namespace="default"), "spec": spec, "status": {}}


SERVICE_CASES = [
    (
        "cluster ip",
        service(type="ClusterIP", clusterIP="10.96.0.10", clusterIPs=["10.96.0.10"],
                ports=[{"port": 80, "protocol": "TCP", "targetPort": 8080}],
                selector={"app": "web", "tier": "front"}),
        ("ClusterIP", "10.96.0.10", "<none>", "80/TCP", "app=web,tier=front"),
    ),
    (
        "node port",
        service(type="NodePort", clusterIP="10.96.12.7", clusterIPs=["10.96.12.7"],
                ports=[{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                       {"port": 53, "nodePort": 30053, "protocol": "UDP"}],
                selector={"app": "web"}),
        ("NodePort", "10.96.12.7", "<none>", "80:30080/TCP,53:30053/UDP", "app=web"),
    ),
    (
        "load balancer waiting for an address",
        service(type="LoadBalancer", clusterIPs=["10.96.3.3"], ports=[{"port": 443}]),
        ("LoadBalancer", "10.96.3.3", "<pending>", "443/TCP", "<none>"),
    ),
    (
        "headless, no ports",
        service(type="ClusterIP", clusterIP="None", clusterIPs=["None"]),
        ("ClusterIP", "None", "<none>", "<none>", "<none>"),
    ),
    (
        "external name",
        service(type="ExternalName", externalName="db.example.com"),
        ("ExternalName", "<none>", "db.example.com", "<none>", "<none>"),
    ),
    (
        "external IPs on a cluster IP service",
        service(type="ClusterIP", clusterIPs=["10.96.0.5"], externalIPs=["203.0.113.5"],
                ports=[{"port": 8080, "protocol": "TCP"}]),
        ("ClusterIP", "10.96.0.5", "203.0.113.5", "8080/TCP", "<none>"),
    ),
]


@pytest.mark.parametrize(
    ("obj", "expected"), [c[1:] for c in SERVICE_CASES], ids=[c[0] for c in SERVICE_CASES]
)
def test_service_row(obj: dict, expected: tuple) -> None:
    cells = row("services", obj)
    shown = ("Type", "Cluster-IP", "External-IP", "Port(s)", "Selector")
    assert tuple(cells[name] for name in shown) == expected
    assert cells["Age"] == "2d"


def test_load_balancer_addresses_are_sorted_and_joined_with_external_ips() -> None:
    obj = service(type="LoadBalancer", clusterIPs=["10.96.3.3"], ports=[{"port": 80}],
                  externalIPs=["198.51.100.1"])
    obj["status"] = {"loadBalancer": {"ingress": [
        {"ip": "203.0.113.9"}, {"hostname": "lb.example.com"}, {"ip": "203.0.113.2"},
    ]}}
    assert row("services", obj)["External-IP"] == (
        "203.0.113.2,203.0.113.9,lb.example.com,198.51.100.1"
    )


def test_service_columns() -> None:
    assert headers("services") == [
        ("Name", 0), ("Type", 0), ("Cluster-IP", 0), ("External-IP", 0), ("Port(s)", 0),
        ("Age", 0), ("Selector", 1),
    ]


# -- endpoints ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subsets", "expected"),
    [
        ([], "<none>"),
        ([{"addresses": [{"ip": "10.244.1.5"}, {"ip": "10.244.2.6"}],
           "ports": [{"port": 8080, "protocol": "TCP"}]}], "10.244.1.5:8080,10.244.2.6:8080"),
        ([{"addresses": [{"ip": "10.244.1.5"}, {"ip": "10.244.2.6"}],
           "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]}],
         "10.244.1.5:80,10.244.2.6:80,10.244.1.5:443 + 1 more..."),
        ([{"addresses": [{"ip": "10.244.1.5"}]}], "10.244.1.5"),  # headless without ports
        ([{"addresses": [{"ip": "fd00::5"}], "ports": [{"port": 80}]}], "[fd00::5]:80"),
        ([{"notReadyAddresses": [{"ip": "10.244.1.5"}], "ports": [{"port": 80}]}], ""),
    ],
)
def test_endpoints(subsets: list[dict], expected: str) -> None:
    assert row("endpoints", {"metadata": meta("web"), "subsets": subsets})["Endpoints"] == expected


# -- the small ones -------------------------------------------------------------------------


def test_namespace() -> None:
    obj = {"metadata": meta("team-a"), "spec": {"finalizers": ["kubernetes"]},
           "status": {"phase": "Active"}}
    assert row("namespaces", obj) == {"Name": "team-a", "Status": "Active", "Age": "2d"}
    obj["status"]["phase"] = "Terminating"
    assert row("namespaces", obj)["Status"] == "Terminating"


def test_configmap_counts_data_and_binary_data() -> None:
    obj = {"metadata": meta("settings"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}
    assert row("configmaps", obj) == {"Name": "settings", "Data": "3", "Age": "2d"}
    assert row("configmaps", {"metadata": meta("empty")})["Data"] == "0"


def test_secret() -> None:
    obj = {"metadata": meta("tls"), "type": "kubernetes.io/tls",
           "data": {"tls.crt": "LS0t", "tls.key": "LS0t"}}
    assert row("secrets", obj) == {"Name": "tls", "Type": "kubernetes.io/tls", "Data": "2",
                                   "Age": "2d"}


def test_serviceaccount() -> None:
    obj = {"metadata": meta("default"), "secrets": [{"name": "default-token"}]}
    assert row("serviceaccounts", obj) == {"Name": "default", "Secrets": "1", "Age": "2d"}
    assert row("serviceaccounts", {"metadata": meta("builder")})["Secrets"] == "0"
