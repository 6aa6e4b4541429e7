"""The EndpointSlice controller and its planner: slices of at most 100 endpoints per port set."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from controlplane.client import resources as r
from controlplane.controllers import endpoints_pods as ep
from controlplane.controllers import endpointslice_plan as planner
from controlplane.controllers.base import RequeueAfter
from controlplane.controllers.endpointslice import EndpointSliceController
from tests.unit.test_controller_endpoints import pod, service
from tests.unit.test_podutil import World

Obj = dict[str, Any]
KEY = "default/web"


class SliceWorld(World):
    def __init__(self) -> None:
        super().__init__(EndpointSliceController)
        self.seed(r.NODES, {"metadata": {"name": "worker-1", "labels": {"topology.kubernetes.io/zone": "zone-a"}}})

    def slices(self) -> list[Obj]:
        return sorted((o for (gr, _, _), o in self.fake.objects.items() if gr == "endpointslices.discovery.k8s.io"),
                      key=lambda s: s["metadata"]["name"])

    def sizes(self) -> list[int]:
        return sorted(len(s["endpoints"]) for s in self.slices())

    def add_pods(self, first: int, count: int, **kwargs: Any) -> None:
        for i in range(first, first + count):
            self.seed(r.PODS, pod(f"p{i:03d}", f"10.2.{i // 250}.{i % 250 + 1}", **kwargs))


@pytest.fixture
def w() -> SliceWorld:
    return SliceWorld()


def test_a_slice_says_what_a_proxy_needs(w: SliceWorld) -> None:
    svc = w.seed(r.SERVICES, service())
    w.seed(r.PODS, pod("a", "10.1.0.2"))
    w.seed(r.PODS, pod("b", "10.1.0.3", ready=False))
    w.reconcile(KEY)
    [s] = w.slices()
    assert s["metadata"]["generateName"] == "web-"
    assert s["metadata"]["labels"] == {"team": "a", "kubernetes.io/service-name": "web",
                                       "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
    assert s["metadata"]["ownerReferences"] == [{"apiVersion": "v1", "kind": "Service", "name": "web",
                                                 "uid": svc["metadata"]["uid"], "controller": True,
                                                 "blockOwnerDeletion": True}]
    assert ep.TRIGGER_TIME_ANNOTATION in s["metadata"]["annotations"]
    assert s["addressType"] == "IPv4"
    assert s["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    a = next(e for e in s["endpoints"] if e["addresses"] == ["10.1.0.2"])
    assert a["conditions"] == {"ready": True, "serving": True, "terminating": False}
    assert (a["nodeName"], a["zone"], a["targetRef"]["name"]) == ("worker-1", "zone-a", "a")
    b = next(e for e in s["endpoints"] if e["addresses"] == ["10.1.0.3"])
    assert b["conditions"] == {"ready": False, "serving": False, "terminating": False}


def test_terminating_pods_stay_listed_as_terminating(w: SliceWorld) -> None:
    w.seed(r.SERVICES, service())
    w.seed(r.PODS, pod("a", "10.1.0.2", meta={"deletionTimestamp": "2025-03-01T12:00:00Z", "finalizers": ["x"]}))
    w.reconcile(KEY)
    [s] = w.slices()
    assert s["endpoints"][0]["conditions"] == {"ready": False, "serving": True, "terminating": True}


def test_slices_split_at_one_hundred_endpoints(w: SliceWorld) -> None:
    w.seed(r.SERVICES, service())
    w.add_pods(0, 250)
    w.reconcile(KEY)
    assert w.sizes() == [50, 100, 100]
    assert w.reconcile(KEY) == [], "nothing changed, nothing written"


def test_a_new_pod_goes_into_a_slice_with_room_not_a_new_slice(w: SliceWorld) -> None:
    w.seed(r.SERVICES, service())
    w.add_pods(0, 150)
    w.reconcile(KEY)
    w.add_pods(150, 1)
    writes = w.reconcile(KEY)
    assert [(a.verb, a.resource) for a in writes] == [("update", "endpointslices.discovery.k8s.io")]
    assert w.sizes() == [51, 100]


def test_removed_pods_leave_their_slice_and_an_empty_slice_goes(w: SliceWorld) -> None:
    w.seed(r.SERVICES, service())
    w.add_pods(0, 120)
    w.reconcile(KEY)
    small, big = sorted(w.slices(), key=lambda s: len(s["endpoints"]))
    for e in small["endpoints"] + big["endpoints"][:1]:
        w.fake.delete(r.PODS, e["targetRef"]["name"], "default")
    w.reconcile(KEY)
    assert [(s["metadata"]["name"], len(s["endpoints"])) for s in w.slices()] == [(big["metadata"]["name"], 99)]


def test_a_service_without_endpoints_keeps_one_empty_placeholder(w: SliceWorld) -> None:
    w.seed(r.SERVICES, service())
    w.reconcile(KEY)
    [s] = w.slices()
    assert (s["endpoints"], s["ports"]) == ([], [])
    assert w.reconcile(KEY) == []
    w.add_pods(0, 1)
    w.reconcile(KEY)
    [s] = w.slices()
    assert len(s["endpoints"]) == 1 and s["ports"], "the placeholder's name is reused for the real slice"


def test_pods_serving_different_port_numbers_get_separate_slices(w: SliceWorld) -> None:
    w.seed(r.SERVICES, service(ports=[{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}]))
    w.seed(r.PODS, pod("old", "10.1.0.2", ports=[{"name": "web", "containerPort": 8080}]))
    w.seed(r.PODS, pod("new", "10.1.0.3", ports=[{"name": "web", "containerPort": 9090}]))
    w.reconcile(KEY)
    assert sorted((s["ports"][0]["port"], len(s["endpoints"])) for s in w.slices()) == [(8080, 1), (9090, 1)]


def test_a_lagging_slice_cache_does_not_create_duplicates(w: SliceWorld) -> None:
    w.seed(r.SERVICES, service())
    w.add_pods(0, 3)
    w.reconcile(KEY)
    with pytest.raises(RequeueAfter, match="caught up"):
        w.ctl.reconcile(KEY)  # the informer has not shown our new slice yet
    assert len(w.slices()) == 1
    w.sync()
    w.ctl.reconcile(KEY)
    assert len(w.slices()) == 1


def test_slices_follow_the_services_labels(w: SliceWorld) -> None:
    w.seed(r.SERVICES, service())
    w.add_pods(0, 2)
    w.reconcile(KEY)
    w.edit(r.SERVICES, "web", "default", lambda s: s["metadata"].update(labels={"team": "b"}))
    w.reconcile(KEY)
    assert w.slices()[0]["metadata"]["labels"]["team"] == "b"


def test_headless_services_get_the_headless_label_and_hostnames(w: SliceWorld) -> None:
    w.seed(r.SERVICES, service(clusterIP="None", ports=[]))
    w.seed(r.PODS, pod("web-0", "10.1.0.2", hostname="web-0", subdomain="web"))
    w.reconcile(KEY)
    [s] = w.slices()
    assert s["metadata"]["labels"][ep.HEADLESS_LABEL] == ""
    assert s["endpoints"][0]["hostname"] == "web-0"


def test_a_pod_on_an_unknown_node_waits_for_the_node(w: SliceWorld) -> None:
    w.seed(r.SERVICES, service())
    w.seed(r.PODS, pod("a", "10.1.0.2", node="worker-9"))
    w.reconcile(KEY)
    assert [s["endpoints"] for s in w.slices()] == [[]]


# -- the planner, table-driven -----------------------------------------------------------

PORTS = [{"name": "http", "port": 80, "protocol": "TCP"}]
EMPTY = {"metadata": {"generateName": "web-"}, "addressType": "IPv4", "endpoints": [], "ports": []}


def endpoint(i: int, ready: bool = True) -> Obj:
    return {"addresses": [f"10.0.0.{i}"], "conditions": {"ready": ready},
            "targetRef": {"kind": "Pod", "namespace": "default", "name": f"p{i}"}}


def existing(name: str, ids: list[int]) -> Obj:
    return {"metadata": {"name": name, "uid": f"uid-{name}"}, "addressType": "IPv4", "ports": copy.deepcopy(PORTS),
            "endpoints": [endpoint(i) for i in ids]}


def desired(ids: list[int], ready: bool = True) -> dict[str, tuple[list[Obj], list[Obj]]]:
    return {planner.ports_key(PORTS): (PORTS, [endpoint(i, ready) for i in ids])}


def summary(plan: planner.Plan) -> tuple[list[int], list[tuple[str, int]], list[str]]:
    return ([len(s["endpoints"]) for s in plan.create],
            sorted((s["metadata"]["name"], len(s["endpoints"])) for s in plan.update),
            sorted(s["metadata"]["name"] for s in plan.delete))


@pytest.mark.parametrize("slices, want_ids, max_per, expect", [
    # nothing yet: new slices of at most max_per
    ([], list(range(7)), 3, ([3, 3, 1], [], [])),
    # unchanged: no writes
    ([existing("a", [1, 2])], [1, 2], 3, ([], [], [])),
    # one more endpoint fits in the unchanged slice closest to full
    ([existing("a", [1]), existing("b", [2, 3])], [1, 2, 3, 4], 4, ([], [("b", 3)], [])),
    # slices rewritten anyway take the newcomers, fullest first; no new slice
    ([existing("a", [1, 2, 3]), existing("b", [4, 5])], [1, 2, 4, 6], 3, ([], [("a", 3), ("b", 1)], [])),
    # a slice left empty is deleted
    ([existing("a", [1, 2]), existing("b", [3])], [1, 2], 3, ([], [], ["b"])),
    # all gone: the last slice becomes the placeholder (same name, one update)
    ([existing("a", [1, 2])], [], 3, ([], [("a", 0)], [])),
])
def test_plan(slices, want_ids, max_per, expect) -> None:
    wanted = desired(want_ids) if want_ids else {}
    assert summary(planner.plan(EMPTY, slices, wanted, max_per)) == expect


def test_plan_rewrites_a_changed_endpoint_in_place() -> None:
    plan = planner.plan(EMPTY, [existing("a", [1, 2])], desired([1, 2], ready=False), 100)
    assert summary(plan) == ([], [("a", 2)], [])
    assert all(e["conditions"] == {"ready": False} for e in plan.update[0]["endpoints"])
