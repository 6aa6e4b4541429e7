"""The API server's basic contract: health, auth, discovery, CRUD and its errors."""

from __future__ import annotations

import json

NS = "/api/v1/namespaces/default"


def cm(name: str, **data) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data or {"k": "v"}}


def test_health_and_version_need_no_credentials(api):
    for path in ("/healthz", "/livez", "/readyz"):
        r = api.get(path, token=None)
        assert r.status_code == 200 and r.text == "ok"
    r = api.get("/readyz?verbose", token=None)
    assert "[+]storage ok" in r.text and "readyz check passed" in r.text
    version = api.get("/version", token=None).json
    assert version["major"] == "1" and version["minor"] == "33" and version["gitVersion"].startswith("v1.33")


def test_everything_else_needs_credentials(api):
    for path in ("/api", "/apis", "/api/v1/namespaces", "/openapi/v3"):
        r = api.get(path, token=None)
        assert r.status_code == 401, path
        assert r.json["reason"] == "Unauthorized" and r.json["kind"] == "Status"
    assert api.get("/api/v1/namespaces", token="wrong").status_code == 401


def test_default_namespaces_and_kubernetes_service_exist(api):
    names = {n["metadata"]["name"] for n in api.get("/api/v1/namespaces").json["items"]}
    assert names == {"default", "kube-system", "kube-public", "kube-node-lease"}
    ns = api.get("/api/v1/namespaces/default").json
    assert ns["status"]["phase"] == "Active"
    assert ns["metadata"]["labels"]["kubernetes.io/metadata.name"] == "default"
    svc = api.get(f"{NS}/services/kubernetes").json
    assert svc["spec"]["clusterIP"] == "10.96.0.1"


def test_aggregated_discovery_is_sent_only_when_asked(api):
    accept = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
              "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")
    r = api.get("/apis", headers={"Accept": accept})
    assert r.headers["Content-Type"] == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    groups = [g["metadata"]["name"] for g in r.json["items"]]
    assert "" not in groups and "apps" in groups and "apiextensions.k8s.io" in groups
    r = api.get("/api", headers={"Accept": accept})
    core = r.json["items"][0]["versions"][0]["resources"]
    pods = next(x for x in core if x["resource"] == "pods")
    assert pods["shortNames"] == ["po"] and pods["categories"] == ["all"]
    eviction = next(s for s in pods["subresources"] if s["subresource"] == "eviction")
    assert eviction["responseKind"] == {"group": "policy", "version": "v1", "kind": "Eviction"}
    legacy = api.get("/api")
    assert legacy.headers["Content-Type"] == "application/json" and legacy.json["kind"] == "APIVersions"


def test_legacy_discovery_documents(api):
    v1 = api.get("/api/v1").json
    assert v1["kind"] == "APIResourceList" and v1["groupVersion"] == "v1"
    eviction = next(r for r in v1["resources"] if r["name"] == "pods/eviction")
    assert (eviction["group"], eviction["version"], eviction["kind"]) == ("policy", "v1", "Eviction")
    namespaces = next(r for r in v1["resources"] if r["name"] == "namespaces")
    assert "deletecollection" not in namespaces["verbs"] and namespaces["namespaced"] is False
    apps = api.get("/apis/apps").json
    assert apps["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
    assert api.get("/apis/apps/v1").json["groupVersion"] == "apps/v1"
    assert api.get("/apis/nope.example.com").status_code == 404


def test_create_get_list_delete(api):
    r = api.post(f"{NS}/configmaps", cm("one", a="1"))
    assert r.status_code == 201
    created = r.json
    meta = created["metadata"]
    assert isinstance(meta["resourceVersion"], str) and meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert "generation" not in meta  # configmaps have no generation upstream
    assert api.get(f"{NS}/configmaps/one").json == created
    listed = api.get(f"{NS}/configmaps").json
    assert listed["kind"] == "ConfigMapList" and [i["metadata"]["name"] for i in listed["items"]] == ["one"]
    assert int(listed["metadata"]["resourceVersion"]) >= int(meta["resourceVersion"])
    r = api.delete(f"{NS}/configmaps/one", {"propagationPolicy": "Background"})
    assert r.status_code == 200 and r.json["status"] == "Success" and r.json["details"]["uid"] == meta["uid"]
    r = api.get(f"{NS}/configmaps/one")
    assert r.status_code == 404
    assert r.json["message"] == 'configmaps "one" not found' and r.json["details"]["kind"] == "configmaps"


def test_errors_are_kubernetes_statuses(api):
    api.post(f"{NS}/configmaps", cm("dup"))
    r = api.post(f"{NS}/configmaps", cm("dup"))
    assert r.status_code == 409 and r.json["reason"] == "AlreadyExists"
    assert r.json["message"] == 'configmaps "dup" already exists'
    r = api.get("/apis/apps/v1/namespaces/default/deployments/nope")
    assert r.json["message"] == 'deployments.apps "nope" not found'
    r = api.get("/api/v1/nosuchthings")
    assert r.status_code == 404 and r.json["kind"] == "Status"
    r = api.post("/api/v1/namespaces/nowhere/configmaps", cm("x"))
    assert r.status_code == 404 and r.json["message"] == 'namespaces "nowhere" not found'
    r = api.call("PUT", "/version")
    assert r.status_code == 405 and r.json["kind"] == "Status"


def test_empty_namespace_lists_are_empty_not_missing(api):
    r = api.get("/api/v1/namespaces/nosuchns/pods")
    assert r.status_code == 200 and r.json["items"] == []


def test_generate_name(api):
    body = {"metadata": {"generateName": "gen-"}, "data": {}}
    name = api.post(f"{NS}/configmaps", body).json["metadata"]["name"]
    assert name.startswith("gen-") and len(name) == 9


def test_body_namespace_must_match_the_path(api):
    body = cm("x")
    body["metadata"]["namespace"] = "kube-system"
    r = api.post(f"{NS}/configmaps", body)
    assert r.status_code == 400
    assert r.json["message"] == "the namespace of the provided object does not match the namespace sent on the request"


def test_wrong_kind_for_the_endpoint(api):
    r = api.post(f"{NS}/configmaps", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}})
    assert r.status_code == 400 and "kind" in r.json["message"]


def test_body_without_content_type_is_json(api):
    r = api.call("POST", f"{NS}/configmaps", raw=json.dumps(cm("plain")).encode(), content_type="")
    assert r.status_code == 201


def test_protobuf_is_refused_with_what_to_do(api):
    r = api.call("POST", "/api/v1/namespaces", raw=b"k8s\x00\x0a\x0f", content_type="application/vnd.kubernetes.protobuf")
    assert r.status_code == 415 and r.json["reason"] == "UnsupportedMediaType"
    assert "--dry-run=client -o yaml | kubectl apply -f -" in r.json["message"]


def test_bodies_over_3_mib_are_refused(api):
    big = cm("big", blob="x" * (3 * 1024 * 1024))
    r = api.post(f"{NS}/configmaps", big)
    assert r.status_code == 413 and r.json["reason"] == "RequestEntityTooLarge"
    assert api.get(f"{NS}/configmaps/big").status_code == 404


def test_malformed_json_is_a_bad_request(api):
    r = api.call("POST", f"{NS}/configmaps", raw=b'{"metadata": ', content_type="application/json")
    assert r.status_code == 400 and r.json["kind"] == "Status"


def test_yaml_output(api):
    api.post(f"{NS}/configmaps", cm("y"))
    r = api.get(f"{NS}/configmaps/y", headers={"Accept": "application/yaml"})
    assert r.headers["Content-Type"].startswith("application/yaml") and "kind: ConfigMap" in r.text


def test_cluster_scoped_objects_lose_a_namespace(api):
    body = {"metadata": {"name": "team-a", "namespace": "default"}}
    created = api.post("/api/v1/namespaces", body).json
    assert "namespace" not in created["metadata"]
    assert created["spec"]["finalizers"] == ["kubernetes"]


def test_empty_metadata_collections_are_left_out_as_upstream_does(api):
    body = {"metadata": {"name": "bare", "labels": {}, "annotations": {}, "finalizers": []}, "data": {}}
    created = api.post(f"{NS}/configmaps", body).json["metadata"]
    assert not {"labels", "annotations", "finalizers"} & set(created)
    held = api.post(f"{NS}/configmaps", {"metadata": {"name": "held", "finalizers": ["example.com/x"]}}).json
    r = api.patch(f"{NS}/configmaps/held", {"metadata": {"finalizers": []}})
    assert "finalizers" not in r.json["metadata"] and held["metadata"]["finalizers"] == ["example.com/x"]
