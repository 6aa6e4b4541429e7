"""The REST client against a scripted transport: paths, verbs, bodies, errors, failover, discovery."""

from __future__ import annotations

import json

import pytest

from controlplane.client import errors
from controlplane.client import resources as r
from controlplane.client.discovery import CachedDiscovery, preferred
from controlplane.client.faketransport import FakeResponse, FakeTransport
from controlplane.client.kubeconfig import ConnectionConfig
from controlplane.client.rest import Client

A, B = "http://10.0.0.1:6443", "http://10.0.0.2:6443"


def make(*servers: str, token: str | None = "s3cret") -> tuple[Client, FakeTransport]:
    t = FakeTransport()
    return Client(ConnectionConfig(servers=servers or (A,), token=token), transport=t), t


def body(req) -> object:  # type: ignore[no-untyped-def]
    return json.loads(req.body)


def test_paths_for_core_and_named_groups() -> None:
    assert r.PODS.path("default", "web") == "/api/v1/namespaces/default/pods/web"
    assert r.PODS.path() == "/api/v1/pods"
    assert r.DEPLOYMENTS.path("dev", "web", "scale") == "/apis/apps/v1/namespaces/dev/deployments/web/scale"
    assert r.NAMESPACES.path("dev", "dev", "finalize") == "/api/v1/namespaces/dev/finalize"  # cluster-scoped
    assert r.NODES.path(None, "n1") == "/api/v1/nodes/n1"
    assert r.resource_path("example.com", "v1", "widgets", namespace="a") == "/apis/example.com/v1/namespaces/a/widgets"
    assert r.DEPLOYMENTS.api_version == "apps/v1" and r.PODS.api_version == "v1"


def test_get_sends_the_bearer_token_and_returns_the_object() -> None:
    c, t = make()
    t.on("GET", "/api/v1/namespaces/default/pods/web", FakeResponse(200, {"kind": "Pod", "metadata": {"name": "web"}}))
    assert c.get(r.PODS, "web", "default")["metadata"]["name"] == "web"
    (req,) = t.calls()
    assert req.headers["Authorization"] == "Bearer s3cret"
    assert req.headers["Accept"] == "application/json"


def test_metadata_only_get_and_list_ask_for_partial_object_metadata() -> None:
    c, t = make()
    t.on("GET", "/api/v1/pods", FakeResponse(200, {"kind": "PartialObjectMetadataList", "metadata": {}, "items": []}))
    t.on("GET", "/api/v1/namespaces/a/pods/p", FakeResponse(200, {"kind": "PartialObjectMetadata", "metadata": {}}))
    c.list(r.PODS, metadata_only=True)
    c.get(r.PODS, "p", "a", metadata_only=True)
    lst, one = t.calls()
    assert lst.headers["Accept"] == "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
    assert one.headers["Accept"] == "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"


def test_errors_carry_the_status_and_answer_the_predicates() -> None:
    c, t = make()
    t.on("GET", "/apis/apps/v1/namespaces/a/deployments/x",
         FakeResponse.status_error(404, "NotFound", 'deployments.apps "x" not found'))
    t.on("PUT", "/api/v1/namespaces/a/configmaps/c", FakeResponse.status_error(409, "Conflict", "modified"))
    t.on("POST", "/api/v1/namespaces/a/configmaps", FakeResponse.status_error(409, "AlreadyExists", "exists"))
    with pytest.raises(errors.ApiError) as nf:
        c.get(r.DEPLOYMENTS, "x", "a")
    assert errors.is_not_found(nf.value) and not errors.is_conflict(nf.value)
    assert nf.value.code == 404 and nf.value.message == 'deployments.apps "x" not found'
    with pytest.raises(errors.ApiError) as cf:
        c.update(r.CONFIGMAPS, {"metadata": {"name": "c", "namespace": "a", "resourceVersion": "3"}})
    assert errors.is_conflict(cf.value)
    with pytest.raises(errors.ApiError) as ae:
        c.create(r.CONFIGMAPS, {"metadata": {"name": "c"}}, "a")
    assert errors.is_already_exists(ae.value) and not errors.is_conflict(ae.value)


def test_a_non_status_error_body_is_classified_by_its_code() -> None:
    c, t = make()
    t.on("GET", "/api/v1/nodes/n1", FakeResponse(502, "<html>bad gateway</html>"))
    with pytest.raises(errors.ApiError) as e:
        c.get(r.NODES, "n1")
    assert e.value.code == 502 and e.value.reason == "Unknown"


def test_list_follows_continue_and_keeps_the_first_pages_resource_version() -> None:
    c, t = make()
    pages = [
        {"kind": "PodList", "metadata": {"resourceVersion": "10", "continue": "tok1", "remainingItemCount": 1},
         "items": [{"metadata": {"name": "a"}}]},
        {"kind": "PodList", "metadata": {"resourceVersion": "10"}, "items": [{"metadata": {"name": "b"}}]},
    ]
    t.on("GET", "/api/v1/namespaces/d/pods", FakeResponse(200, pages[0]), FakeResponse(200, pages[1]))
    result = c.list(r.PODS, "d", label_selector="app=web")
    assert [i["metadata"]["name"] for i in result["items"]] == ["a", "b"]
    assert result["metadata"] == {"resourceVersion": "10"}
    first, second = t.calls()
    assert FakeTransport.query(first) == {"labelSelector": "app=web", "limit": "500"}
    assert FakeTransport.query(second) == {"labelSelector": "app=web", "limit": "500", "continue": "tok1"}


def test_list_starts_over_unpaged_when_the_continue_token_expired() -> None:
    c, t = make()
    t.on("GET", "/api/v1/pods",
         FakeResponse(200, {"metadata": {"resourceVersion": "5", "continue": "old"}, "items": [{"metadata": {"name": "a"}}]}),
         FakeResponse.status_error(410, "Expired", "continue token expired"),
         FakeResponse(200, {"metadata": {"resourceVersion": "9"}, "items": [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]}))
    result = c.list(r.PODS)
    assert len(result["items"]) == 2 and result["metadata"]["resourceVersion"] == "9"
    assert "limit" not in FakeTransport.query(t.calls()[-1])


def test_patch_types_and_field_manager() -> None:
    c, t = make()
    t.on("PATCH", "/apis/apps/v1/namespaces/d/deployments/w", FakeResponse(200, {"metadata": {"name": "w"}}))
    c.patch(r.DEPLOYMENTS, "w", {"spec": {"replicas": 2}}, "d")
    c.patch(r.DEPLOYMENTS, "w", [{"op": "test", "path": "/metadata/resourceVersion", "value": "3"}], "d", patch_type="json")
    c.patch(r.DEPLOYMENTS, "w", {"spec": {"replicas": 2}}, "d", patch_type="strategic")
    c.patch(r.DEPLOYMENTS, "w", {"apiVersion": "apps/v1"}, "d", patch_type="apply", field_manager="me", force=True)
    types = [req.headers["Content-Type"] for req in t.calls()]
    assert types == ["application/merge-patch+json", "application/json-patch+json",
                     "application/strategic-merge-patch+json", "application/apply-patch+yaml"]
    assert FakeTransport.query(t.calls()[-1]) == {"fieldManager": "me", "force": "true"}
    with pytest.raises(ValueError):
        c.patch(r.DEPLOYMENTS, "w", {}, "d", patch_type="apply")


def test_delete_sends_delete_options() -> None:
    c, t = make()
    t.on("DELETE", "/apis/apps/v1/namespaces/d/replicasets/rs", FakeResponse(200, {"kind": "Status", "status": "Success"}))
    c.delete(r.REPLICASETS, "rs", "d", propagation_policy="Foreground", preconditions={"uid": "u1"})
    assert body(t.calls()[0]) == {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground",
                                  "preconditions": {"uid": "u1"}}


def test_failover_moves_to_the_next_endpoint_and_sticks_to_it() -> None:
    c, t = make(A, B)
    t.down.add(A)
    t.on("GET", "/api/v1/namespaces", FakeResponse(200, {"items": [], "metadata": {"resourceVersion": "1"}}))
    c.list(r.NAMESPACES)
    assert c.server == B
    t.down.clear()
    c.list(r.NAMESPACES)
    assert [req.url.split("/api")[0] for req in t.calls()] == [B, B], "it stays with the endpoint that answered"


def test_no_endpoint_answering_raises_server_unavailable() -> None:
    c, t = make(A, B)
    t.down.update({A, B})
    with pytest.raises(errors.ServerUnavailable) as e:
        c.get(r.PODS, "x", "d")
    assert "10.0.0.1" in str(e.value) and "10.0.0.2" in str(e.value)


def test_an_http_error_is_an_answer_not_a_reason_to_fail_over() -> None:
    c, t = make(A, B)
    t.on("GET", "/api/v1/nodes/x", FakeResponse.status_error(500, "InternalError", "boom"))
    with pytest.raises(errors.ApiError):
        c.get(r.NODES, "x")
    assert len(t.calls()) == 1 and c.server == A


def test_discover_reads_legacy_discovery_and_skips_subresources() -> None:
    c, t = make()
    t.on("GET", "/api", FakeResponse(200, {"kind": "APIVersions", "versions": ["v1"]}))
    t.on("GET", "/apis", FakeResponse(200, {"kind": "APIGroupList", "groups": [
        {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
         "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}},
        {"name": "example.com", "versions": [{"version": "v1beta1"}, {"version": "v1"}],
         "preferredVersion": {"version": "v1"}}]}))
    t.on("GET", "/api/v1", FakeResponse(200, {"resources": [
        {"name": "pods", "namespaced": True, "kind": "Pod", "verbs": ["get", "list", "watch", "delete"]},
        {"name": "pods/status", "namespaced": True, "kind": "Pod", "verbs": ["get", "patch"]},
        {"name": "namespaces", "namespaced": False, "kind": "Namespace", "verbs": ["get", "list"]}]}))
    t.on("GET", "/apis/apps/v1", FakeResponse(200, {"resources": [
        {"name": "deployments", "namespaced": True, "kind": "Deployment", "verbs": ["list", "watch", "delete"]}]}))
    t.on("GET", "/apis/example.com/v1", FakeResponse(200, {"resources": [
        {"name": "widgets", "namespaced": True, "kind": "Widget", "verbs": ["list"]}]}))
    t.on("GET", "/apis/example.com/v1beta1", FakeResponse(200, {"resources": [
        {"name": "widgets", "namespaced": True, "kind": "Widget", "verbs": ["list"]}]}))
    found = c.discover()
    assert [(x.group, x.version, x.resource) for x in found] == [
        ("", "v1", "pods"), ("", "v1", "namespaces"), ("apps", "v1", "deployments"),
        ("example.com", "v1", "widgets"), ("example.com", "v1beta1", "widgets")]
    pods = found[0]
    assert pods.kind == "Pod" and pods.namespaced and pods.supports("list", "watch", "delete")
    assert not found[1].namespaced
    assert [(x.group, x.version) for x in preferred(found) if x.resource == "widgets"] == [("example.com", "v1")]


def test_cached_discovery_maps_api_version_and_kind_and_refreshes_on_a_miss() -> None:
    c, t = make()
    now = [0.0]
    t.on("GET", "/api", FakeResponse(200, {"versions": ["v1"]}))
    t.on("GET", "/apis", FakeResponse(200, {"groups": []}),
         FakeResponse(200, {"groups": [{"name": "example.com", "versions": [{"version": "v1"}],
                                        "preferredVersion": {"version": "v1"}}]}))
    t.on("GET", "/api/v1", FakeResponse(200, {"resources": [
        {"name": "pods", "namespaced": True, "kind": "Pod", "verbs": ["list"]}]}))
    t.on("GET", "/apis/example.com/v1", FakeResponse(200, {"resources": [
        {"name": "widgets", "namespaced": True, "kind": "Widget", "verbs": ["list"]}]}))
    d = CachedDiscovery(c, ttl=30, min_refresh=2, clock=lambda: now[0])
    assert d.resource_for("v1", "Pod") == r.Resource("", "v1", "pods", "Pod", True, frozenset({"list"}))
    assert d.resource_for("example.com/v1", "Widget") is None, "too soon after the last discovery to ask again"
    now[0] = 5.0  # a CRD appeared meanwhile; a miss now refreshes
    widget = d.resource_for("example.com/v1", "Widget")
    assert widget is not None and widget.resource == "widgets"
    assert len(t.calls("GET", "/apis")) == 2
