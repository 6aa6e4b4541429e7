"""Filter plugins, one table each: does the pod fit the node, and if not, the exact reason.

The reasons are upstream's words, since they are what ``kubectl describe pod`` shows a
student in ``FailedScheduling`` ("node(s) had untolerated taint {...}", "Insufficient
cpu"). Also here: the arithmetic under NodeResourcesFit (quantities, a pod's requests
with init containers and sidecars) and how the per-node reasons are counted into the
"0/N nodes are available" message.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from controlplane.scheduler.framework import SUCCESS, Code, Status, fit_error
from controlplane.scheduler.nodeinfo import NodeInfo, PodInfo
from controlplane.scheduler.plugins import (
    node_affinity,
    node_name,
    node_ports,
    node_resources_fit,
    node_unschedulable,
    taint_toleration,
)
from controlplane.scheduler.resources import QuantityError, parse_quantity, pod_requests
from controlplane.scheduler.testing import CONTROL_PLANE_TAINT, make_node, make_pod, taint

TAINTED = "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"


def node_info(node: dict, *pods: dict) -> NodeInfo:
    return NodeInfo.build(node["metadata"]["name"], node, tuple(PodInfo.of(p) for p in pods))


def check(plugin, pod: dict, node: NodeInfo, want: Status) -> None:
    got = plugin.filter(PodInfo.of(pod), node)
    assert (got.code, got.reasons) == (want.code, want.reasons)


# -- NodeUnschedulable ------------------------------------------------------------------------

TOLERATE_CORDON = {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}


@pytest.mark.parametrize("name, pod, node, want", [
    ("a schedulable node takes the pod", make_pod("p"), make_node("n"), SUCCESS),
    ("a cordoned node does not", make_pod("p"), make_node("n", unschedulable=True),
     Status.unresolvable("node(s) were unschedulable")),
    ("unless the pod tolerates the unschedulable taint", make_pod("p", tolerations=[TOLERATE_CORDON]),
     make_node("n", unschedulable=True), SUCCESS),
    ("a toleration of everything covers it too", make_pod("p", tolerations=[{"operator": "Exists"}]),
     make_node("n", unschedulable=True), SUCCESS),
    ("a toleration of another key does not", make_pod("p", tolerations=[{"key": "x", "operator": "Exists"}]),
     make_node("n", unschedulable=True), Status.unresolvable("node(s) were unschedulable")),
    ("a NoExecute-only toleration does not", make_pod("p", tolerations=[{**TOLERATE_CORDON, "effect": "NoExecute"}]),
     make_node("n", unschedulable=True), Status.unresolvable("node(s) were unschedulable")),
])
def test_node_unschedulable(name, pod, node, want):
    check(node_unschedulable.new(), pod, node_info(node), want)


# -- NodeName --------------------------------------------------------------------------------


@pytest.mark.parametrize("name, pod, node, want", [
    ("no node named: any node", make_pod("p"), make_node("n1"), SUCCESS),
    ("the named node", make_pod("p", node="n1"), make_node("n1"), SUCCESS),
    ("another node", make_pod("p", node="n1"), make_node("n2"),
     Status.unresolvable("node(s) didn't match the requested node name")),
])
def test_node_name(name, pod, node, want):
    check(node_name.new(), pod, node_info(node), want)


# -- TaintToleration (filter) -----------------------------------------------------------------

GPU = taint("dedicated", "NoSchedule", "gpu")


@pytest.mark.parametrize("name, tolerations, taints, want", [
    ("no taints", [], [], SUCCESS),
    ("control-plane taint, no toleration", [], [CONTROL_PLANE_TAINT], Status.unresolvable(TAINTED)),
    ("the message shows key and value", [], [GPU],
     Status.unresolvable("node(s) had untolerated taint {dedicated: gpu}")),
    ("NoExecute repels too", [], [taint("maintenance", "NoExecute")],
     Status.unresolvable("node(s) had untolerated taint {maintenance: }")),
    ("PreferNoSchedule does not filter", [], [taint("spot", "PreferNoSchedule")], SUCCESS),
    ("Equal with the same value", [{"key": "dedicated", "operator": "Equal", "value": "gpu"}], [GPU], SUCCESS),
    ("Equal is the default operator", [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}], [GPU],
     SUCCESS),
    ("Equal with another value", [{"key": "dedicated", "value": "cpu"}], [GPU],
     Status.unresolvable("node(s) had untolerated taint {dedicated: gpu}")),
    ("Exists with the key", [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}],
     [CONTROL_PLANE_TAINT], SUCCESS),
    ("Exists without a key tolerates every taint", [{"operator": "Exists"}], [GPU, CONTROL_PLANE_TAINT], SUCCESS),
    ("a toleration for another effect", [{"key": "dedicated", "value": "gpu", "effect": "NoExecute"}], [GPU],
     Status.unresolvable("node(s) had untolerated taint {dedicated: gpu}")),
    ("the first untolerated taint is named",
     [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}], [CONTROL_PLANE_TAINT, GPU],
     Status.unresolvable("node(s) had untolerated taint {dedicated: gpu}")),
])
def test_taint_toleration_filter(name, tolerations, taints, want):
    check(taint_toleration.new(), make_pod("p", tolerations=tolerations), node_info(make_node("n", taints=taints)),
          want)


# -- NodeAffinity (filter) -------------------------------------------------------------------

MISMATCH = Status.unresolvable("node(s) didn't match Pod's node affinity/selector")
SSD = {"disktype": "ssd", "cores": "8"}


def required(*terms: dict) -> dict:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


def expr(key: str, operator: str, *values: str) -> dict:
    return {"matchExpressions": [{"key": key, "operator": operator, **({"values": list(values)} if values else {})}]}


@pytest.mark.parametrize("name, pod, want", [
    ("nothing required", make_pod("p"), SUCCESS),
    ("nodeSelector matches", make_pod("p", node_selector={"disktype": "ssd"}), SUCCESS),
    ("nodeSelector: a different value", make_pod("p", node_selector={"disktype": "hdd"}), MISMATCH),
    ("nodeSelector: every pair must match", make_pod("p", node_selector={"disktype": "ssd", "gpu": "yes"}), MISMATCH),
    ("In", make_pod("p", affinity=required(expr("disktype", "In", "hdd", "ssd"))), SUCCESS),
    ("In, no value matches", make_pod("p", affinity=required(expr("disktype", "In", "hdd"))), MISMATCH),
    ("NotIn", make_pod("p", affinity=required(expr("disktype", "NotIn", "hdd"))), SUCCESS),
    ("NotIn matches a missing label", make_pod("p", affinity=required(expr("zone", "NotIn", "a"))), SUCCESS),
    ("Exists", make_pod("p", affinity=required(expr("disktype", "Exists"))), SUCCESS),
    ("DoesNotExist", make_pod("p", affinity=required(expr("disktype", "DoesNotExist"))), MISMATCH),
    ("Gt", make_pod("p", affinity=required(expr("cores", "Gt", "4"))), SUCCESS),
    ("Lt", make_pod("p", affinity=required(expr("cores", "Lt", "4"))), MISMATCH),
    ("Gt on a label that is not a number", make_pod("p", affinity=required(expr("disktype", "Gt", "1"))), MISMATCH),
    ("terms are ORed", make_pod("p", affinity=required(expr("disktype", "In", "hdd"), expr("cores", "In", "8"))),
     SUCCESS),
    ("expressions in a term are ANDed", make_pod("p", affinity=required(
        {"matchExpressions": [{"key": "disktype", "operator": "In", "values": ["ssd"]},
                              {"key": "cores", "operator": "In", "values": ["2"]}]})), MISMATCH),
    ("an empty term matches nothing", make_pod("p", affinity=required({})), MISMATCH),
    ("matchFields on the node's name", make_pod("p", affinity=required(
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}]})), SUCCESS),
    ("nodeSelector and affinity must both hold",
     make_pod("p", node_selector={"disktype": "ssd"}, affinity=required(expr("cores", "In", "2"))), MISMATCH),
])
def test_node_affinity_filter(name, pod, want):
    check(node_affinity.new(), pod, node_info(make_node("n", labels=SSD)), want)


# -- NodePorts -------------------------------------------------------------------------------

NO_PORTS = Status.unschedulable("node(s) didn't have free ports for the requested pod ports")


def with_port(name: str, port: int, protocol: str = "TCP", ip: str | None = None) -> dict:
    pod = make_pod(name)
    entry = {"containerPort": port, "hostPort": port, "protocol": protocol, **({"hostIP": ip} if ip else {})}
    pod["spec"]["containers"][0]["ports"] = [entry]
    return pod


@pytest.mark.parametrize("name, pod, running, want", [
    ("no host ports", make_pod("p"), [with_port("q", 8080)], SUCCESS),
    ("a free port", with_port("p", 8080), [with_port("q", 9090)], SUCCESS),
    ("the port is taken", with_port("p", 8080), [with_port("q", 8080)], NO_PORTS),
    ("same port, other protocol", with_port("p", 53, "UDP"), [with_port("q", 53, "TCP")], SUCCESS),
    ("two addresses of one node", with_port("p", 80, ip="10.0.0.1"), [with_port("q", 80, ip="10.0.0.2")], SUCCESS),
    ("0.0.0.0 taken means every address", with_port("p", 80, ip="10.0.0.1"), [with_port("q", 80)], NO_PORTS),
    ("wanting 0.0.0.0 clashes with any address", with_port("p", 80), [with_port("q", 80, ip="10.0.0.2")], NO_PORTS),
])
def test_node_ports(name, pod, running, want):
    check(node_ports.new(), pod, node_info(make_node("n"), *running), want)


# -- NodeResourcesFit (filter) ---------------------------------------------------------------


@pytest.mark.parametrize("name, pod, node, running, want", [
    ("fits", make_pod("p", cpu="1", memory="1Gi"), make_node("n", cpu="2", memory="2Gi"), [], SUCCESS),
    ("fits exactly", make_pod("p", cpu="1", memory="1Gi"), make_node("n", cpu="2", memory="2Gi"),
     [make_pod("q", cpu="1", memory="1Gi", node="n")], SUCCESS),
    ("not enough cpu left", make_pod("p", cpu="1500m"), make_node("n", cpu="2"),
     [make_pod("q", cpu="1", node="n")], Status.unschedulable("Insufficient cpu")),
    ("not enough memory", make_pod("p", memory="3Gi"), make_node("n", memory="2Gi"), [],
     Status.unschedulable("Insufficient memory")),
    ("one reason per resource, cpu first", make_pod("p", cpu="3", memory="3Gi"), make_node("n", cpu="2", memory="2Gi"),
     [], Status.unschedulable("Insufficient cpu", "Insufficient memory")),
    ("too many pods", make_pod("p"), make_node("n", pods=1), [make_pod("q", node="n")],
     Status.unschedulable("Too many pods")),
    ("too many pods comes before cpu", make_pod("p", cpu="3"), make_node("n", cpu="2", pods=1),
     [make_pod("q", node="n")], Status.unschedulable("Too many pods", "Insufficient cpu")),
    ("a pod without requests fits a node whose cpu is all requested", make_pod("p"), make_node("n", cpu="1"),
     [make_pod("q", cpu="1", node="n")], SUCCESS),
    ("an extended resource", make_pod("p", extra={"example.com/gpu": "2"}),
     make_node("n", extra={"example.com/gpu": "1"}), [], Status.unschedulable("Insufficient example.com/gpu")),
    ("an extended resource the node does not have", make_pod("p", extra={"example.com/gpu": "1"}), make_node("n"),
     [], Status.unschedulable("Insufficient example.com/gpu")),
    ("an init container bigger than the app counts",
     make_pod("p", cpu="500m", init=[{"name": "i", "resources": {"requests": {"cpu": "3"}}}]),
     make_node("n", cpu="2"), [], Status.unschedulable("Insufficient cpu")),
])
def test_node_resources_fit_filter(name, pod, node, running, want):
    check(node_resources_fit.new(), pod, node_info(node, *running), want)


# -- what a pod requests -----------------------------------------------------------------------


@pytest.mark.parametrize("text, want", [
    ("100m", Fraction(1, 10)), ("1", Fraction(1)), ("1.5", Fraction(3, 2)), ("128Mi", Fraction(128 * 2**20)),
    ("1Gi", Fraction(2**30)), ("1G", Fraction(10**9)), ("1e3", Fraction(1000)), ("500k", Fraction(500_000)),
    (2, Fraction(2)), (".5", Fraction(1, 2)),
])
def test_quantities(text, want):
    assert parse_quantity(text) == want


@pytest.mark.parametrize("text", ["", "abc", "1Xi", "1.2.3"])
def test_bad_quantities(text):
    with pytest.raises(QuantityError):
        parse_quantity(text)


def container(name: str, cpu: str, memory: str, restart: str | None = None) -> dict:
    c = {"name": name, "resources": {"requests": {"cpu": cpu, "memory": memory}}}
    if restart:
        c["restartPolicy"] = restart
    return c


@pytest.mark.parametrize("name, spec, want", [
    ("containers add up", {"containers": [container("a", "250m", "64Mi"), container("b", "250m", "64Mi")]},
     {"cpu": 500, "memory": 128 * 2**20}),
    ("upstream's example: the biggest init container wins where it is bigger",
     {"initContainers": [container("ic1", "2", "1G"), container("ic2", "2", "3G")],
      "containers": [container("c1", "2", "1G"), container("c2", "1", "1G")]},
     {"cpu": 3000, "memory": 3 * 10**9}),
    ("a sidecar runs beside the app and beside later init containers",
     {"initContainers": [container("proxy", "500m", "100M", restart="Always"), container("migrate", "1", "100M")],
      "containers": [container("app", "1", "100M")]},
     {"cpu": 1500, "memory": 200 * 10**6}),
    ("overhead is added", {"containers": [container("a", "1", "1G")], "overhead": {"cpu": "250m"}},
     {"cpu": 1250, "memory": 10**9}),
    ("cpu rounds up to a millicore", {"containers": [container("a", "0.0001", "1")]}, {"cpu": 1, "memory": 1}),
])
def test_pod_requests(name, spec, want):
    assert pod_requests({"spec": spec}) == want


def test_scoring_counts_missing_requests_as_defaults():
    pod = {"spec": {"containers": [{"name": "a"}, {"name": "b", "resources": {"requests": {"cpu": "0"}}}]}}
    assert pod_requests(pod) == {}
    # b stated zero cpu, which stays zero; everything missing counts 100m / 200Mi.
    assert pod_requests(pod, non_zero=True) == {"cpu": 100, "memory": 2 * 200 * 2**20}


# -- the aggregated message -----------------------------------------------------------------------


def test_fit_error_counts_reasons_per_node_and_sorts_them_as_text():
    statuses = {"m1": Status.unresolvable(TAINTED), "m2": Status.unresolvable(TAINTED),
                "m3": Status.unresolvable(TAINTED), "w1": Status.unschedulable("Insufficient cpu"),
                "w2": Status.unschedulable("Insufficient cpu", "Insufficient memory")}
    assert fit_error(5, statuses) == (f"0/5 nodes are available: 1 Insufficient memory, 2 Insufficient cpu, "
                                      f"3 {TAINTED}.")
    # Go's sort.Strings compares text: "10 ..." sorts before "2 ...".
    many = {f"n{i}": Status.unschedulable("Insufficient cpu") for i in range(10)}
    many.update({"x1": Status.unresolvable("node(s) were unschedulable"),
                 "x2": Status.unresolvable("node(s) were unschedulable")})
    assert fit_error(12, many, "preemption: x.") == (
        "0/12 nodes are available: 10 Insufficient cpu, 2 node(s) were unschedulable. preemption: x.")


def test_each_filter_plugin_names_itself_and_the_events_that_can_help():
    for plugin in (node_unschedulable, node_name, taint_toleration, node_affinity, node_ports, node_resources_fit):
        made = plugin.new()
        assert made.NAME == plugin.NAME
        assert "NodeAdd" in made.EVENTS, f"{plugin.NAME}: a new node can always help"
    assert "AssignedPodDelete" in node_resources_fit.EVENTS and "AssignedPodDelete" in node_ports.EVENTS
    assert Code.UNSCHEDULABLE is node_resources_fit.fits(
        PodInfo.of(make_pod("p", cpu="9")), node_info(make_node("n"))).code
