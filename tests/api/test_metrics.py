"""metrics.k8s.io/v1beta1, built from the node agents' summaries: what `kubectl top` reads."""

from __future__ import annotations

import time

import pytest

from controlplane.api.handlers.metrics import binary_quantity, decimal_quantity
from tests.api import test_podproxy
from tests.api.test_podproxy import closed_port, register, run_pod

# The node agent double and the API server that reaches it, shared with the pods/log tests.
ca, proxy_api, agent = test_podproxy.ca, test_podproxy.proxy_api, test_podproxy.agent

M = "/apis/metrics.k8s.io/v1beta1"
AGGREGATED = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
              "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")


def test_metrics_group_is_discovered_both_ways(api):
    groups = api.get("/apis", headers={"Accept": AGGREGATED}).json["items"]
    metrics = next(g for g in groups if g["metadata"]["name"] == "metrics.k8s.io")
    resources = {r["resource"]: r for r in metrics["versions"][0]["resources"]}
    assert metrics["versions"][0]["version"] == "v1beta1"
    assert resources["nodes"]["responseKind"] == {"group": "metrics.k8s.io", "version": "v1beta1",
                                                  "kind": "NodeMetrics"}
    assert (resources["nodes"]["scope"], resources["pods"]["scope"]) == ("Cluster", "Namespaced")
    assert resources["pods"]["verbs"] == ["get", "list"]
    legacy = api.get("/apis").json
    v1beta1 = {"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"}
    assert {"name": "metrics.k8s.io", "versions": [v1beta1], "preferredVersion": v1beta1} in legacy["groups"]
    assert api.get("/apis/metrics.k8s.io").json["preferredVersion"]["version"] == "v1beta1"
    listed = api.get(M).json
    assert listed["groupVersion"] == "metrics.k8s.io/v1beta1"
    assert [(r["name"], r["kind"], r["namespaced"], r["verbs"]) for r in listed["resources"]] == [
        ("nodes", "NodeMetrics", False, ["get", "list"]), ("pods", "PodMetrics", True, ["get", "list"])]


def test_without_agents_there_are_no_metrics(api):
    api.post("/api/v1/nodes", {"metadata": {"name": "lonely"}})
    assert api.get(f"{M}/nodes").json == {"kind": "NodeMetricsList", "apiVersion": "metrics.k8s.io/v1beta1",
                                          "metadata": {}, "items": []}
    r = api.get(f"{M}/nodes/lonely")
    assert r.status_code == 404 and r.json["message"] == 'nodemetrics.metrics.k8s.io "lonely" not found'
    r = api.get(f"{M}/namespaces/default/pods/nope")
    assert r.status_code == 404 and r.json["message"] == 'podmetrics.metrics.k8s.io "default/nope" not found'
    assert api.get(f"{M}/pods").json["items"] == []


def test_only_get_and_list(api):
    r = api.get(f"{M}/pods?watch=true")
    assert r.status_code == 405
    assert r.json["message"] == 'watch is not supported on resources of kind "pods.metrics.k8s.io"'
    r = api.post(f"{M}/namespaces/default/pods", {"metadata": {"name": "x"}})
    assert r.status_code == 405
    assert api.get(f"{M}/namespaces/default/nodes").status_code == 404
    assert api.get(f"{M}/widgets").status_code == 404


def test_node_metrics_from_the_summary(proxy_api, agent):
    register(proxy_api, "node-a", agent.host, agent.port, labels={"pool": "a"})
    register(proxy_api, "node-down", "127.0.0.1", closed_port(), labels={"pool": "b"})
    started = time.monotonic()
    items = proxy_api.get(f"{M}/nodes").json["items"]
    assert time.monotonic() - started < 5  # the node that does not answer is left out, quickly
    assert [i["metadata"]["name"] for i in items] == ["node-a"]
    node = items[0]
    assert node["usage"] == {"cpu": "250m", "memory": "123456Ki"} and node["window"] == "10s"
    assert node["metadata"]["labels"]["pool"] == "a" and node["timestamp"].endswith("Z")
    assert proxy_api.get(f"{M}/nodes/node-a").json["usage"]["cpu"] == "250m"
    assert proxy_api.get(f"{M}/nodes?labelSelector=pool%3Db").json["items"] == []
    assert proxy_api.get(f"{M}/nodes/node-down").status_code == 404


def test_pod_metrics_per_namespace_and_across(proxy_api, agent):
    register(proxy_api, "node-a", agent.host, agent.port)
    proxy_api.post("/api/v1/namespaces", {"metadata": {"name": "other"}})
    web = run_pod(proxy_api, "web", "node-a", containers=("app", "sidecar"), labels={"app": "web"})
    db = run_pod(proxy_api, "db", "node-a", ns="other", labels={"app": "db"})
    old = run_pod(proxy_api, "replaced", "node-a")
    run_pod(proxy_api, "quiet", "node-a")  # running, but the agent reports nothing yet
    agent.usage[("default", "web")] = (web["metadata"]["uid"], {"app": (1_500_000_000, 64 * 1024 * 1024),
                                                                "sidecar": (137_855_343, 1536)})
    agent.usage[("other", "db")] = (db["metadata"]["uid"], {"c": (5_000_000, 1000)})
    agent.usage[("default", "replaced")] = ("an-older-uid", {"c": (1, 1)})
    assert old["metadata"]["uid"] != "an-older-uid"

    items = proxy_api.get(f"{M}/namespaces/default/pods").json["items"]
    assert [i["metadata"]["name"] for i in items] == ["web"]
    assert items[0]["containers"] == [{"name": "app", "usage": {"cpu": "1500m", "memory": "64Mi"}},
                                      {"name": "sidecar", "usage": {"cpu": "137855343n", "memory": "1536"}}]
    assert items[0]["metadata"]["namespace"] == "default" and items[0]["metadata"]["labels"] == {"app": "web"}
    everywhere = proxy_api.get(f"{M}/pods").json
    assert everywhere["kind"] == "PodMetricsList"
    assert sorted((i["metadata"]["namespace"], i["metadata"]["name"]) for i in everywhere["items"]) == [
        ("default", "web"), ("other", "db")]
    db_metrics = proxy_api.get(f"{M}/namespaces/other/pods/db").json
    assert db_metrics["kind"] == "PodMetrics" and db_metrics["containers"][0]["usage"] == {"cpu": "5m",
                                                                                           "memory": "1k"}
    selected = proxy_api.get(f"{M}/pods?labelSelector=app%3Ddb").json["items"]
    assert [i["metadata"]["name"] for i in selected] == ["db"]
    table = proxy_api.get(f"{M}/namespaces/default/pods",
                          headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}).json
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "cpu", "memory", "Window"]
    assert [r["cells"] for r in table["rows"]] == [["web", "1637855343n", "67110400", "10s"]]
    assert table["rows"][0]["object"]["metadata"]["name"] == "web"
    assert proxy_api.get(f"{M}/namespaces/default/pods/quiet").status_code == 404
    assert proxy_api.get(f"{M}/namespaces/default/pods/replaced").status_code == 404
    # Only the node that runs the asked-for pods is asked.
    agent.requests.clear()
    proxy_api.get(f"{M}/namespaces/default/pods?labelSelector=app%3Dnone")
    assert agent.requests == []


@pytest.mark.parametrize("value, exponent, text", [
    (0, -9, "0"), (250_000_000, -9, "250m"), (137_855_343, -9, "137855343n"), (1_500_000_000, -9, "1500m"),
    (2_000_000_000, -9, "2"), (5000, 0, "5k"), (1_000, -9, "1u"), (12, 0, "12"),
])
def test_cpu_quantities_print_as_go_does(value, exponent, text):
    assert decimal_quantity(value, exponent) == text


@pytest.mark.parametrize("value, text", [
    (0, "0"), (512, "512"), (1000, "1k"), (1024, "1Ki"), (1536, "1536"), (123456 * 1024, "123456Ki"),
    (64 * 1024 * 1024, "64Mi"), (3 * 1024 ** 3, "3Gi"),
])
def test_memory_quantities_print_as_go_does(value, text):
    assert binary_quantity(value) == text



def test_table_sums_read_back_every_quantity_the_metrics_print():
    # A node's memory is usually a multiple of 1024 bytes, printed "37588Ki": the table sums
    # such values (found by the fuzz run once real node agents reported memory).
    from controlplane.api.handlers.metrics import _parse, binary_quantity, decimal_quantity

    for value in (38490112, 38490111, 1000, 999, 0, 5 * 1024**3):
        assert _parse(binary_quantity(value)) == value * 10**9
    for nanos in (250_000_000, 1_500_000_000, 137_855_343, 0):
        assert _parse(decimal_quantity(nanos, -9)) == nanos
