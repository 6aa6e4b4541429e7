"""The Endpoints controller: a Service's ready and not-ready pods, on the ports they serve."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.client import resources as r
from controlplane.controllers import endpoints_pods as ep
from controlplane.controllers.base import RequeueAfter
from controlplane.controllers.endpoints import (
    ENDPOINTS,
    OVER_CAPACITY_ANNOTATION,
    EndpointsController,
)
from tests.unit.test_podutil import T0, World

Obj = dict[str, Any]
KEY = "default/web"


def service(*, ports: list[Obj] | None = None, selector: dict[str, str] | None = None, **spec: Any) -> Obj:
    body: Obj = {"apiVersion": "v1", "kind": "Service",
                 "metadata": {"name": "web", "namespace": "default", "labels": {"team": "a"}},
                 "spec": {"clusterIP": "10.96.0.10", "ports": ports if ports is not None else [
                     {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}], **spec}}
    if selector is not None or "selector" not in spec:
        body["spec"]["selector"] = selector if selector is not None else {"app": "web"}
    return body


def pod(name: str, ip: str, *, ready: bool = True, node: str = "worker-1", labels: dict[str, str] | None = None,
        ports: list[Obj] | None = None, **extra: Any) -> Obj:
    body: Obj = {"metadata": {"name": name, "namespace": "default", "labels": labels or {"app": "web"}},
                 "spec": {"nodeName": node, "containers": [{"name": "c", "ports": ports or []}]},
                 "status": {"phase": "Running", "podIP": ip, "conditions": [
                     {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": "2025-03-01T11:00:00Z"}]}}
    body["metadata"].update(extra.pop("meta", {}))
    body["spec"].update(extra)
    return body


@pytest.fixture
def w() -> World:
    return World(EndpointsController)


def endpoints(w: World) -> Obj | None:
    return w.fake.stored(ENDPOINTS, "web", "default")


def addr(w: World, name: str, ip: str, node: str = "worker-1") -> Obj:
    uid = w.fake.stored(r.PODS, name, "default")["metadata"]["uid"]
    return {"ip": ip, "nodeName": node, "targetRef": {"kind": "Pod", "namespace": "default", "name": name,
                                                      "uid": uid}}


def test_ready_and_not_ready_pods(w: World) -> None:
    w.seed(r.SERVICES, service())
    w.seed(r.PODS, pod("a", "10.1.0.2"))
    w.seed(r.PODS, pod("b", "10.1.0.3", ready=False))
    w.seed(r.PODS, pod("other", "10.1.0.4", labels={"app": "other"}))
    w.reconcile(KEY)
    e = endpoints(w)
    assert e["subsets"] == [{"addresses": [addr(w, "a", "10.1.0.2")], "notReadyAddresses": [addr(w, "b", "10.1.0.3")],
                             "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]
    assert e["metadata"]["labels"] == {"team": "a"}, "the Service's labels"
    assert e["metadata"]["annotations"][ep.TRIGGER_TIME_ANNOTATION].startswith("2025-03-01T11:00:00")


@pytest.mark.parametrize("change", [
    {"status": {"phase": "Running"}},                                   # no IP yet
    {"status": {"phase": "Succeeded", "podIP": "10.1.0.9"}},            # finished
    {"meta": {"deletionTimestamp": "2025-03-01T12:00:00Z", "finalizers": ["x"]}},  # terminating
])
def test_pods_without_ip_finished_or_terminating_are_left_out(w: World, change: Obj) -> None:
    w.seed(r.SERVICES, service())
    p = pod("a", "10.1.0.2")
    p["metadata"].update(change.get("meta", {}))
    if "status" in change:
        p["status"] = change["status"]
    w.seed(r.PODS, p)
    w.reconcile(KEY)
    assert "subsets" not in endpoints(w), "an Endpoints object with no subsets"


def test_named_target_ports_are_looked_up_in_each_pod(w: World) -> None:
    w.seed(r.SERVICES, service(ports=[{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}]))
    w.seed(r.PODS, pod("old", "10.1.0.2", ports=[{"name": "web", "containerPort": 8080}]))
    w.seed(r.PODS, pod("new", "10.1.0.3", ports=[{"name": "web", "containerPort": 9090}]))
    w.seed(r.PODS, pod("none", "10.1.0.4", ports=[{"name": "metrics", "containerPort": 9100}]))
    w.reconcile(KEY)
    by_port = {s["ports"][0]["port"]: [a["ip"] for a in s["addresses"]] for s in endpoints(w)["subsets"]}
    assert by_port == {8080: ["10.1.0.2"], 9090: ["10.1.0.3"]}, "a pod without the port is not an endpoint"


def test_addresses_serving_the_same_ports_share_a_subset(w: World) -> None:
    ports = [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
             {"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"}]
    w.seed(r.SERVICES, service(ports=ports))
    for name, ip in (("b", "10.1.0.3"), ("a", "10.1.0.2")):
        w.seed(r.PODS, pod(name, ip))
    w.reconcile(KEY)
    [subset] = endpoints(w)["subsets"]
    assert [a["ip"] for a in subset["addresses"]] == ["10.1.0.2", "10.1.0.3"]
    assert [p["name"] for p in subset["ports"]] == ["dns", "http"]


def test_publish_not_ready_addresses(w: World) -> None:
    w.seed(r.SERVICES, service(publishNotReadyAddresses=True))
    w.seed(r.PODS, pod("a", "10.1.0.2", ready=False))
    w.reconcile(KEY)
    assert [a["ip"] for a in endpoints(w)["subsets"][0]["addresses"]] == ["10.1.0.2"]


def test_headless_service_publishes_hostnames(w: World) -> None:
    w.seed(r.SERVICES, service(clusterIP="None", ports=[]))
    w.seed(r.PODS, pod("web-0", "10.1.0.2", hostname="web-0", subdomain="web"))
    w.reconcile(KEY)
    e = endpoints(w)
    assert e["metadata"]["labels"][ep.HEADLESS_LABEL] == ""
    assert e["subsets"] == [{"addresses": [dict(addr(w, "web-0", "10.1.0.2"), hostname="web-0")]}]


def test_no_write_when_nothing_changed(w: World) -> None:
    w.seed(r.SERVICES, service())
    w.seed(r.PODS, pod("a", "10.1.0.2"))
    w.reconcile(KEY)
    assert w.reconcile(KEY) == []


def test_a_pod_turning_ready_moves_its_address(w: World) -> None:
    w.seed(r.SERVICES, service())
    w.seed(r.PODS, pod("a", "10.1.0.2", ready=False))
    w.reconcile(KEY)
    w.run_pod("a", ip="10.1.0.2", node="worker-1")
    w.sync()
    assert "default/web" in {w.ctl.queue.get(timeout=0) for _ in range(len(w.ctl.queue))}, "the pod event enqueued it"
    w.reconcile(KEY)
    subset = endpoints(w)["subsets"][0]
    assert [a["ip"] for a in subset["addresses"]] == ["10.1.0.2"] and "notReadyAddresses" not in subset
    assert endpoints(w)["metadata"]["annotations"][ep.TRIGGER_TIME_ANNOTATION].startswith(T0.strftime("%Y-%m-%dT%H"))


def test_services_without_selector_or_external_name_are_left_alone(w: World) -> None:
    manual = service()
    del manual["spec"]["selector"]
    w.seed(r.SERVICES, manual)
    w.seed(r.PODS, pod("a", "10.1.0.2"))
    assert w.reconcile(KEY) == []
    external = service(type="ExternalName", externalName="example.com")
    external["metadata"]["name"] = "ext"
    w.seed(r.SERVICES, external)
    assert w.reconcile("default/ext") == []


def test_a_deleted_service_takes_its_endpoints_along(w: World) -> None:
    w.seed(r.SERVICES, service())
    w.reconcile(KEY)
    w.fake.delete(r.SERVICES, "web", "default")
    w.reconcile(KEY)
    assert endpoints(w) is None


def test_a_stale_cache_is_not_written_over(w: World) -> None:
    w.seed(r.SERVICES, service())
    w.seed(r.PODS, pod("a", "10.1.0.2"))
    w.reconcile(KEY)
    w.sync()
    w.seed(r.PODS, pod("b", "10.1.0.3"))
    w.reconcile(KEY)  # updates, replacing the resourceVersion the cache holds
    w.seed(r.PODS, pod("c", "10.1.0.4"))
    w.ctl.pods._list()  # pods are current, the Endpoints informer is not
    with pytest.raises(RequeueAfter, match="caught up"):
        w.ctl.reconcile(KEY)


def test_over_capacity_is_truncated_and_flagged(w: World) -> None:
    w.seed(r.SERVICES, service())
    for i in range(1001):
        w.seed(r.PODS, pod(f"p{i}", f"10.2.{i // 250}.{i % 250 + 1}", ready=i % 2 == 0))
    w.reconcile(KEY)
    e = endpoints(w)
    assert e["metadata"]["annotations"][OVER_CAPACITY_ANNOTATION] == "truncated"
    [subset] = e["subsets"]
    assert (len(subset["addresses"]), len(subset["notReadyAddresses"])) == (501, 499), "ready ones first"


def test_endpoints_left_by_a_service_deleted_while_we_were_down_go_at_start_up(w: World) -> None:
    w.seed(ENDPOINTS, {"metadata": {"name": "gone", "namespace": "default"}})
    w.seed(ENDPOINTS, {"metadata": {"name": "lock", "namespace": "default",
                                    "annotations": {"control-plane.alpha.kubernetes.io/leader": "{}"}}})
    w.sync()
    assert w.ctl.wait_for_sync()
    queued = {w.ctl.queue.get(timeout=0) for _ in range(len(w.ctl.queue))}
    assert queued == {"default/gone"}, "leader-election records are not leftovers"
    w.reconcile("default/gone")
    assert w.fake.stored(ENDPOINTS, "gone", "default") is None
