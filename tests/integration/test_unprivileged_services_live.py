"""Services on node agents without network namespaces (``--network loopback``).

Where a node agent runs without root, each pod gets a loopback address of its own
(``127.<100+n>.x.y``) instead of a network namespace. Those addresses must still become
endpoints (kubeclass's validation accepts that one loopback range, upstream's rejects all
of loopback) so that a NodePort reaches the pods. This starts a cluster in that mode
(as root, the mode is chosen by hand) and checks what a student without root would see.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.test_classroom_e2e import answers, generate, k, kjson, pod_of, ready_pods, wait_for
from tests.livecluster import Cluster, own_cluster

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def kc(tmp_path_factory) -> Iterator[Cluster]:
    with own_cluster(tmp_path_factory.mktemp("loopback"), workers=1, network="loopback") as cluster:
        yield cluster


def test_a_node_port_reaches_pods_on_loopback_addresses(kc: Cluster) -> None:
    generate(kc, "create", "deployment", "hello", "-n", "default", "--image=kubeclass/hello:1", "--replicas=2")
    k(kc, "expose", "deployment", "hello", "-n", "default", "--port=80", "--target-port=8080", "--type=NodePort")
    running = ready_pods(kc, "app=hello", 2, ns="default")
    assert all(p["status"]["podIP"].startswith("127.") for p in running)
    slice_ = wait_for("an EndpointSlice with both pods", lambda: next(
        (s for s in kjson(kc, "get", "endpointslices", "-n", "default", "-l", "kubernetes.io/service-name=hello")["items"]
         if len(s.get("endpoints") or []) == 2), None))
    assert sorted(a for e in slice_["endpoints"] for a in e["addresses"]) == sorted(p["status"]["podIP"] for p in running)
    service = kjson(kc, "get", "service", "hello", "-n", "default")
    node = kjson(kc, "get", "node", "worker-1")["status"]["addresses"][0]["address"]
    url = f"http://{node}:{service['spec']['ports'][0]['nodePort']}/"
    wait_for("the NodePort to answer", lambda: _try(url))
    assert {pod_of(a) for a in answers(url, 20)} == {p["metadata"]["name"] for p in running}


def _try(url: str) -> bool:
    try:
        return "Hello" in answers(url, 1)[0]
    except Exception:
        return False
