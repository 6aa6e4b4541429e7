"""Score plugins and how the framework adds them up: the numbers behind "why this node".

Each expected number is worked out by hand from upstream's formulas (quoted beside
it), so a student can check one against the other:

* NodeResourcesFit, LeastAllocated spreads and MostAllocated packs;
* PodTopologySpread spreads the pods of one ReplicaSet over nodes by default;
* TaintToleration prefers nodes without untolerated PreferNoSchedule taints;
* NodeAffinity prefers nodes matching heavier preferred terms;
* the framework weights them 3 (taints), 2 (affinity), 2 (spread), 1 (resources).
"""

from __future__ import annotations

import pytest

from controlplane.client.fake import FakeClient
from controlplane.scheduler.framework import Code, default_normalize
from controlplane.scheduler.nodeinfo import NodeInfo, PodInfo, Snapshot
from controlplane.scheduler.plugins import (
    build_framework,
    default_profile,
    node_affinity,
    node_resources_fit,
    pod_topology_spread,
    taint_toleration,
)
from controlplane.scheduler.plugins.node_resources_fit import least_requested, most_requested
from controlplane.scheduler.testing import make_node, make_pod, taint


def info(node: dict, *pods: dict) -> NodeInfo:
    return NodeInfo.build(node["metadata"]["name"], node, tuple(PodInfo.of(p) for p in pods))


def run_plugin(plugin, pod: dict, *nodes: NodeInfo) -> dict[str, int] | None:
    """pre_score, score every node, normalize: the plugin's final 0..100 per node (None: skipped)."""
    state: dict = {}
    p = PodInfo.of(pod)
    if plugin.pre_score(state, p, list(nodes), Snapshot(tuple(nodes))).code is Code.SKIP:
        return None
    scores = {n.name: plugin.score(state, p, n) for n in nodes}
    plugin.normalize(state, p, scores)
    return scores


# -- NodeResourcesFit -----------------------------------------------------------------------


@pytest.mark.parametrize("requested, capacity, least, most", [
    (0, 4000, 100, 0), (1000, 4000, 75, 25), (3000, 4000, 25, 75), (4000, 4000, 0, 100),
    (5000, 4000, 0, 100),   # over capacity (pods without requests): least 0, most capped at 100
    (1, 3, 66, 33),         # integer division, as in Go
    (10, 0, 0, 0),          # the node has none of it
])
def test_least_and_most_requested(requested, capacity, least, most):
    assert least_requested(requested, capacity) == least
    assert most_requested(requested, capacity) == most


EMPTY = make_node("empty", cpu="4", memory="8Gi")
BUSY = make_node("busy", cpu="4", memory="8Gi")
BUSY_PODS = [make_pod("b1", cpu="2", memory="4Gi", node="busy")]
POD = make_pod("web", cpu="1", memory="1Gi")


@pytest.mark.parametrize("strategy, want", [
    # empty: cpu (4000-1000)*100/4000 = 75, memory (8-1)*100/8 = 87 -> (75+87)/2 = 81
    # busy:  cpu (4000-3000)*100/4000 = 25, memory (8-5)*100/8 = 37 -> 31
    ("LeastAllocated", {"empty": 81, "busy": 31}),
    # empty: cpu 1000*100/4000 = 25, memory 1*100/8 = 12 -> 18; busy: 75, 62 -> 68
    ("MostAllocated", {"empty": 18, "busy": 68}),
])
def test_resource_scores_spread_or_pack(strategy, want):
    plugin = node_resources_fit.NodeResourcesFit(strategy)
    assert run_plugin(plugin, POD, info(EMPTY), info(BUSY, *BUSY_PODS)) == want


def test_pods_without_requests_still_fill_a_node_for_scoring():
    # Ten pods with no requests count as 10 x 100m = 1 core and 10 x 200Mi = 2000Mi.
    idle = [make_pod(f"i{i}", node="busy") for i in range(10)]
    scores = run_plugin(node_resources_fit.new(), make_pod("p"), info(EMPTY), info(BUSY, *idle))
    # empty: cpu (4000-100)*100/4000 = 97, memory (8192-200)*100/8192 = 97 -> 97
    # busy:  cpu (4000-1100)*100/4000 = 72, memory (8192-2200)*100/8192 = 73 -> 72
    assert scores == {"empty": 97, "busy": 72}


def test_an_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="not supported"):
        node_resources_fit.new({"scoringStrategy": {"type": "RequestedToCapacityRatio"}})


# -- PodTopologySpread --------------------------------------------------------------------------


def three_nodes(*pods: dict) -> list[NodeInfo]:
    return [info(make_node(n), *[p for p in pods if p["spec"].get("nodeName") == n]) for n in ("n1", "n2", "n3")]


def test_pods_of_one_replicaset_spread_over_nodes():
    running = [make_pod("web-a", owner="web", node="n1"), make_pod("web-b", owner="web", node="n1"),
               make_pod("web-c", owner="web", node="n2")]
    # hostname constraint, maxSkew 3, weight log(3 nodes + 2) = 1.609:
    #   n1: 2*1.609 + 2 = 5.2 -> 5;  n2: 1*1.609 + 2 = 3.6 -> 4;  n3: 0 + 2 = 2
    # (no node has a zone label, so the zone constraint adds nothing)
    # normalize 100 * (max + min - s) / max with max 5, min 2: n1 40, n2 60, n3 100
    scores = run_plugin(pod_topology_spread.new(), make_pod("web-d", owner="web"), *three_nodes(*running))
    assert scores == {"n1": 40, "n2": 60, "n3": 100}


def test_only_pods_of_the_same_controller_and_namespace_count():
    running = [make_pod("other-a", owner="other", node="n1"), make_pod("other-b", owner="other", node="n1"),
               make_pod("web-a", owner="web", node="n2", namespace="elsewhere")]
    scores = run_plugin(pod_topology_spread.new(), make_pod("web-d", owner="web"), *three_nodes(*running))
    assert scores == {"n1": 100, "n2": 100, "n3": 100}


def test_zones_spread_too_when_nodes_have_them():
    nodes = [info(make_node("a1", labels={"topology.kubernetes.io/zone": "a"}),
                  make_pod("w1", owner="web", node="a1")),
             info(make_node("a2", labels={"topology.kubernetes.io/zone": "a"})),
             info(make_node("b1", labels={"topology.kubernetes.io/zone": "b"}))]
    scores = run_plugin(pod_topology_spread.new(), make_pod("w2", owner="web"), *nodes)
    # hostname: weight log(5) = 1.609, maxSkew 3; zone: 2 zones, weight log(4) = 1.386, maxSkew 5
    #   a1: (1.609 + 2) + (1.386 + 4) = 9.0 -> 9;  a2: 2 + 5.386 = 7.4 -> 7;  b1: 2 + 4 = 6
    # normalize with max 9, min 6: a1 100*6/9 = 66, a2 100*8/9 = 88, b1 100
    assert scores == {"a1": 66, "a2": 88, "b1": 100}


def test_a_pod_without_a_controller_is_not_spread():
    assert run_plugin(pod_topology_spread.new(), make_pod("lonely"), *three_nodes()) is None


def test_a_pods_own_soft_constraint_replaces_the_defaults():
    pod = make_pod("db-2", labels={"app": "db"})
    pod["spec"]["topologySpreadConstraints"] = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                                 "whenUnsatisfiable": "ScheduleAnyway",
                                                 "labelSelector": {"matchLabels": {"app": "db"}}}]
    running = [make_pod("db-0", labels={"app": "db"}, node="n1"), make_pod("db-1", labels={"app": "db"}, node="n2")]
    # maxSkew 1 adds nothing; n1 and n2: 1 * log(5) = 1.6 -> 2, n3: 0 -> normalize max 2, min 0
    assert run_plugin(pod_topology_spread.new(), pod, *three_nodes(*running)) == {"n1": 0, "n2": 0, "n3": 100}


# -- TaintToleration and NodeAffinity (scores) ---------------------------------------------------


def test_prefer_no_schedule_taints_lower_a_nodes_score():
    spot = info(make_node("spot", taints=[taint("spot", "PreferNoSchedule"), taint("old", "PreferNoSchedule")]))
    half = info(make_node("half", taints=[taint("spot", "PreferNoSchedule")]))
    clean = info(make_node("clean"))
    # raw: untolerated PreferNoSchedule taints 2, 1, 0; reversed: 100 - 100*raw/max
    assert run_plugin(taint_toleration.new(), make_pod("p"), spot, half, clean) == {"spot": 0, "half": 50, "clean": 100}
    tolerant = make_pod("p", tolerations=[{"key": "spot", "operator": "Exists", "effect": "PreferNoSchedule"}])
    assert run_plugin(taint_toleration.new(), tolerant, spot, half, clean) == {"spot": 0, "half": 100, "clean": 100}


def test_preferred_node_affinity_adds_the_weights_of_matching_terms():
    affinity = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 80, "preference": {"matchExpressions": [{"key": "disktype", "operator": "In", "values": ["ssd"]}]}},
        {"weight": 20, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}},
    ]}}
    nodes = [info(make_node("both", labels={"disktype": "ssd", "zone": "a"})),
             info(make_node("ssd", labels={"disktype": "ssd"})), info(make_node("zone", labels={"zone": "a"})),
             info(make_node("none"))]
    assert run_plugin(node_affinity.new(), make_pod("p", affinity=affinity), *nodes) == {
        "both": 100, "ssd": 80, "zone": 20, "none": 0}
    assert run_plugin(node_affinity.new(), make_pod("p"), *nodes) is None, "no preference: skipped"


def test_default_normalize():
    scores = {"a": 0, "b": 5, "c": 10}
    default_normalize(scores)
    assert scores == {"a": 0, "b": 50, "c": 100}
    zeros = {"a": 0, "b": 0}
    default_normalize(zeros, reverse=True)
    assert zeros == {"a": 100, "b": 100}


# -- the weighted total --------------------------------------------------------------------------


def test_the_framework_weights_and_adds_the_plugins():
    framework = build_framework(default_profile(), FakeClient())
    pod = PodInfo.of(make_pod("web-b", cpu="1", memory="1Gi", owner="web"))
    nodes = [info(EMPTY), info(BUSY, *BUSY_PODS, make_pod("web-a", owner="web", node="busy"))]
    ranked = framework.score(pod, nodes, Snapshot(tuple(nodes)))
    assert [s.node for s in ranked] == ["empty", "busy"]
    best = ranked[0]
    # NodeAffinity is skipped (no preference): weights TaintToleration 3, NodeResourcesFit 1, spread 2.
    assert set(best.by_plugin) == {"TaintToleration", "NodeResourcesFit", "PodTopologySpread"}
    assert best.weight_sum == 6
    assert best.total == sum(w * best.by_plugin[n] for n, w in
                             (("TaintToleration", 3), ("NodeResourcesFit", 1), ("PodTopologySpread", 2)))
    assert best.out_of_100 == round(best.total / 6)
    # busy (two pods: 2.1 cores, 4Gi+200Mi) with the new pod: cpu 22, memory 35 -> 28; one web pod there
    assert ranked[1].by_plugin["NodeResourcesFit"] == 28
    assert ranked[1].by_plugin["PodTopologySpread"] < best.by_plugin["PodTopologySpread"]


def test_most_allocated_profile_prefers_the_fuller_node():
    framework = build_framework(default_profile("most"), FakeClient())
    pod = PodInfo.of(make_pod("p", cpu="1", memory="1Gi"))
    nodes = [info(EMPTY), info(BUSY, *BUSY_PODS)]
    assert framework.score(pod, nodes, Snapshot(tuple(nodes)))[0].node == "busy"
    with pytest.raises(ValueError, match="unknown scoring strategy"):
        default_profile("balanced")
