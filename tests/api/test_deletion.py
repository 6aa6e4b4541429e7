"""Deletion: finalizers, propagation policies, preconditions, namespaces, graceful pods."""

from __future__ import annotations

NS = "/api/v1/namespaces/default"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"


def cm(api, name: str, finalizers: list[str] | None = None, ns: str = "default") -> dict:
    body = {"metadata": {"name": name, "finalizers": finalizers or []}, "data": {}}
    r = api.post(f"/api/v1/namespaces/{ns}/configmaps", body)
    assert r.status_code == 201, r.json
    return r.json


def test_finalizers_hold_an_object_until_removed(api):
    cm(api, "held", ["example.com/hold"])
    r = api.delete(f"{NS}/configmaps/held")
    assert r.status_code == 200 and r.json["metadata"]["deletionTimestamp"]
    assert r.json["metadata"]["deletionGracePeriodSeconds"] == 0
    still = api.get(f"{NS}/configmaps/held").json
    assert still["metadata"]["finalizers"] == ["example.com/hold"]
    # No new finalizers once deletion started; removing the last one deletes the object.
    r = api.patch(f"{NS}/configmaps/held", {"metadata": {"finalizers": None}})
    assert r.status_code == 200
    assert api.get(f"{NS}/configmaps/held").status_code == 404


def test_preconditions(api):
    created = cm(api, "pre")
    r = api.delete(f"{NS}/configmaps/pre", {"preconditions": {"uid": "not-the-uid"}})
    assert r.status_code == 409 and "Precondition failed: UID" in r.json["message"]
    r = api.delete(f"{NS}/configmaps/pre", {"preconditions": {"uid": created["metadata"]["uid"],
                                                            "resourceVersion": created["metadata"]["resourceVersion"]}})
    assert r.status_code == 200


def test_propagation_policies_become_gc_finalizers(api):
    labels = {"app": "p"}
    base = {"metadata": {"labels": labels}, "spec": {"selector": {"matchLabels": labels}, "template": {
        "metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    for name, policy, finalizer in (("orphan", "Orphan", "orphan"), ("fg", "Foreground", "foregroundDeletion")):
        api.post(DEPLOYS, {**base, "metadata": {**base["metadata"], "name": name}})
        r = api.delete(f"{DEPLOYS}/{name}", {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy})
        assert r.status_code == 200 and r.json["metadata"]["finalizers"] == [finalizer]
        assert r.json["metadata"]["deletionTimestamp"]
    api.post(DEPLOYS, {**base, "metadata": {**base["metadata"], "name": "bg"}})
    r = api.delete(f"{DEPLOYS}/bg?propagationPolicy=Background")  # the Python client's way: a query parameter
    assert r.status_code == 200 and r.json["kind"] == "Status"
    assert api.get(f"{DEPLOYS}/bg").status_code == 404


def test_namespace_deletion_waits_for_its_finalizer(api):
    api.post("/api/v1/namespaces", {"metadata": {"name": "doomed"}})
    cm(api, "inside", ns="doomed")
    r = api.delete("/api/v1/namespaces/doomed")
    assert r.status_code == 200 and r.json["status"]["phase"] == "Terminating"
    # No new content in a terminating namespace.
    r = api.post("/api/v1/namespaces/doomed/configmaps", {"metadata": {"name": "late"}})
    assert r.status_code == 403 and r.json["reason"] == "Forbidden"
    assert "because it is being terminated" in r.json["message"]
    assert r.json["details"]["causes"][0]["reason"] == "NamespaceTerminating"
    # What the namespace controller does: empty it, clear spec.finalizers via /finalize, delete.
    api.delete("/api/v1/namespaces/doomed/configmaps/inside")
    ns = api.get("/api/v1/namespaces/doomed").json
    ns["spec"]["finalizers"] = []
    r = api.put("/api/v1/namespaces/doomed/finalize", ns)
    assert r.status_code == 200
    api.delete("/api/v1/namespaces/doomed")
    assert api.get("/api/v1/namespaces/doomed").status_code == 404


def test_namespace_finalizers_change_only_through_finalize(api):
    api.post("/api/v1/namespaces", {"metadata": {"name": "fin"}})
    r = api.patch("/api/v1/namespaces/fin", {"spec": {"finalizers": []}})
    assert r.json["spec"]["finalizers"] == ["kubernetes"]


def pod(name: str, node: str | None = None) -> dict:
    spec = {"containers": [{"name": "c", "image": "nginx"}]}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": name}, "spec": spec}


def test_unbound_pods_go_at_once_bound_pods_gracefully(api):
    api.post(f"{NS}/pods", pod("loose"))
    assert api.delete(f"{NS}/pods/loose").status_code == 200
    assert api.get(f"{NS}/pods/loose").status_code == 404
    api.post(f"{NS}/pods", pod("bound", node="node-1"))
    r = api.delete(f"{NS}/pods/bound")
    assert r.json["metadata"]["deletionGracePeriodSeconds"] == 30
    assert api.get(f"{NS}/pods/bound").json["metadata"]["deletionTimestamp"]
    # What a node agent (or --force --grace-period=0) does once the containers are gone:
    assert api.delete(f"{NS}/pods/bound", {"gracePeriodSeconds": 0}).status_code == 200
    assert api.get(f"{NS}/pods/bound").status_code == 404


def test_delete_collection(api):
    for i in range(3):
        api.post(f"{NS}/configmaps", {"metadata": {"name": f"dc{i}", "labels": {"batch": "x" if i < 2 else "y"}}})
    r = api.delete(f"{NS}/configmaps?labelSelector=batch%3Dx")
    assert r.status_code == 200 and len(r.json["items"]) == 2
    left = [i["metadata"]["name"] for i in api.get(f"{NS}/configmaps?labelSelector=batch").json["items"]]
    assert left == ["dc2"]


def test_watchers_see_the_deletion(api):
    import json

    start = api.get(f"{NS}/configmaps").json["metadata"]["resourceVersion"]
    cm(api, "seen", ["example.com/hold"])
    api.delete(f"{NS}/configmaps/seen")
    api.patch(f"{NS}/configmaps/seen", {"metadata": {"finalizers": []}})
    r = api.get(f"{NS}/configmaps?watch=true&resourceVersion={start}&timeoutSeconds=1")
    events = [json.loads(line) for line in b"".join(r.response).decode().splitlines()]
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "MODIFIED", "DELETED"]
