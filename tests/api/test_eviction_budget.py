"""pods/eviction against a PodDisruptionBudget: one disruption is spent once, even when two
evictions arrive together, and the budget's status records it."""

from __future__ import annotations

import threading
import time
from typing import Any

from controlplane.api.registry.deletion import Deletion
from tests.conftest import TOKEN

NS = "/api/v1/namespaces/default"
PDBS = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"


def running_pod(api, name: str, owner: dict | None = None) -> None:
    """A pod bound to a node (so deleting it is graceful) and Ready."""
    meta: dict[str, Any] = {"name": name, "labels": {"app": "guarded"}}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": owner["apiVersion"], "kind": owner["kind"], "controller": True,
                                    "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]}]
    assert api.post(f"{NS}/pods", {"metadata": meta, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
                    ).status_code == 201
    assert api.post(f"{NS}/pods/{name}/binding", {"target": {"kind": "Node", "name": "n1"}}).status_code == 201
    status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    assert api.patch(f"{NS}/pods/{name}/status", {"status": status}).status_code == 200


def guard(api, **spec: Any) -> None:
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "guard"},
           "spec": {"selector": {"matchLabels": {"app": "guarded"}}, **spec}}
    assert api.post(PDBS, pdb).status_code == 201


def eviction(name: str, **options: Any) -> dict:
    body: dict[str, Any] = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name}}
    if options:
        body["deleteOptions"] = options
    return body


def test_two_evictions_in_a_row_spend_a_single_disruption_once(api) -> None:
    for name in ("p1", "p2"):
        running_pod(api, name)
    guard(api, minAvailable=1)
    first = api.post(f"{NS}/pods/p1/eviction", eviction("p1"))
    assert first.status_code == 201
    assert api.get(f"{NS}/pods/p1").json["metadata"]["deletionTimestamp"]  # going, gracefully
    second = api.post(f"{NS}/pods/p2/eviction", eviction("p2"))
    assert second.status_code == 429
    assert second.json["details"]["causes"][0] == {
        "reason": "DisruptionBudget", "message": "The disruption budget guard needs 1 healthy pods and has 1 currently"}
    assert "deletionTimestamp" not in api.get(f"{NS}/pods/p2").json["metadata"]
    status = api.get(f"{PDBS}/guard").json["status"]
    assert list(status["disruptedPods"]) == ["p1"] and status["disruptionsAllowed"] == 0
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("DisruptionAllowed", "False", "InsufficientPods")]


def test_two_evictions_at_once_spend_a_single_disruption_once(api, monkeypatch) -> None:
    for name in ("p1", "p2"):
        running_pod(api, name)
    guard(api, minAvailable=1)
    slow_delete = Deletion.delete

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.3)  # both requests are past their budget check before either pod is marked
        return slow_delete(self, *args, **kwargs)

    monkeypatch.setattr(Deletion, "delete", delete)
    codes: dict[str, int] = {}
    start = threading.Barrier(2)

    def evict(name: str) -> None:
        client = api.app.test_client()
        start.wait()
        codes[name] = client.post(f"{NS}/pods/{name}/eviction", json=eviction(name),
                                  headers={"Authorization": f"Bearer {TOKEN}"}).status_code

    threads = [threading.Thread(target=evict, args=(name,)) for name in ("p1", "p2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(codes.values()) == [201, 429]


def test_a_dry_run_eviction_spends_nothing(api) -> None:
    for name in ("p1", "p2"):
        running_pod(api, name)
    guard(api, minAvailable=1)
    assert api.post(f"{NS}/pods/p1/eviction", eviction("p1", dryRun=["All"])).status_code == 201
    assert (api.get(f"{PDBS}/guard").json.get("status") or {}).get("disruptedPods") in (None, {})
    assert api.post(f"{NS}/pods/p2/eviction", eviction("p2")).status_code == 201


def test_max_unavailable_counts_the_replica_sets_scale(api) -> None:
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
          "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "guarded"}},
                   "template": {"metadata": {"labels": {"app": "guarded"}},
                                "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    created = api.post("/apis/apps/v1/namespaces/default/replicasets", rs)
    assert created.status_code == 201
    for name in ("p1", "p2"):  # one replica of three is missing already
        running_pod(api, name, owner=created.json)
    guard(api, maxUnavailable=1)
    r = api.post(f"{NS}/pods/p1/eviction", eviction("p1"))
    assert r.status_code == 429
    assert r.json["details"]["causes"][0]["message"] == (
        "The disruption budget guard needs 2 healthy pods and has 2 currently")


def test_a_pod_whose_controller_is_gone_cannot_be_counted(api) -> None:
    ghost = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "ghost", "uid": "no-such-uid"}}
    running_pod(api, "p1", owner=ghost)
    guard(api, minAvailable="50%")
    r = api.post(f"{NS}/pods/p1/eviction", eviction("p1"))
    assert r.status_code == 429
    assert r.json["details"]["causes"][0]["message"] == (
        'The disruption budget guard cannot be computed: found no controllers for pod "p1"')
