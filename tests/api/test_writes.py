"""Writes: update, the four patch types, server-side apply, dry run, field validation,
optimistic concurrency, the status and scale subresources, and generation."""

from __future__ import annotations

DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
NS = "/api/v1/namespaces/default"


def deployment(name: str = "web", replicas: int = 2, image: str = "nginx:1.25") -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "nginx", "image": image,
                                                       "ports": [{"containerPort": 80}]}]}}},
    }


def test_create_fills_upstream_defaults(api):
    d = api.post(DEPLOYS, deployment()).json
    assert d["metadata"]["generation"] == 1
    assert d["spec"]["strategy"] == {"type": "RollingUpdate",
                                     "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert d["spec"]["revisionHistoryLimit"] == 10 and d["spec"]["progressDeadlineSeconds"] == 600
    container = d["spec"]["template"]["spec"]["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent" and container["ports"][0]["protocol"] == "TCP"
    assert d["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    assert "status" not in d or d["status"] == {}


def test_invalid_objects_get_422_with_causes(api):
    bad = deployment()
    bad["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    bad["spec"]["replicas"] = -1
    r = api.post(DEPLOYS, bad)
    assert r.status_code == 422 and r.json["reason"] == "Invalid"
    assert r.json["details"]["kind"] == "Deployment" and r.json["details"]["group"] == "apps"
    fields = {c["field"] for c in r.json["details"]["causes"]}
    assert {"spec.replicas", "spec.template.metadata.labels"} <= fields
    assert r.json["message"].startswith('Deployment.apps "web" is invalid: [')
    r = api.post(f"{NS}/configmaps", {"metadata": {"name": "Bad_Name"}})
    assert r.status_code == 422 and r.json["details"]["causes"][0]["field"] == "metadata.name"


def test_generation_counts_spec_changes_only(api):
    api.post(DEPLOYS, deployment())
    r = api.patch(f"{DEPLOYS}/web", {"metadata": {"labels": {"tier": "front"}}})
    assert r.json["metadata"]["generation"] == 1
    r = api.patch(f"{DEPLOYS}/web", {"spec": {"replicas": 3}})
    assert r.json["metadata"]["generation"] == 2


def test_stale_update_is_a_conflict(api):
    created = api.post(DEPLOYS, deployment()).json
    first = dict(created, spec={**created["spec"], "replicas": 4})
    assert api.put(f"{DEPLOYS}/web", first).status_code == 200
    stale = dict(created, spec={**created["spec"], "replicas": 5})  # still carries the old resourceVersion
    r = api.put(f"{DEPLOYS}/web", stale)
    assert r.status_code == 409 and r.json["reason"] == "Conflict"
    assert r.json["message"] == ('Operation cannot be fulfilled on deployments.apps "web": the object has been '
                                 "modified; please apply your changes to the latest version and try again")
    assert api.get(f"{DEPLOYS}/web").json["spec"]["replicas"] == 4


def test_put_without_resource_version_is_unconditional(api):
    created = api.post(f"{NS}/configmaps", {"metadata": {"name": "c"}, "data": {"a": "1"}}).json
    body = {"metadata": {"name": "c"}, "data": {"a": "2"}}
    r = api.put(f"{NS}/configmaps/c", body)
    assert r.status_code == 200 and r.json["data"] == {"a": "2"}
    assert r.json["metadata"]["uid"] == created["metadata"]["uid"]
    assert r.json["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]


def test_immutable_fields(api):
    created = api.post(DEPLOYS, deployment()).json
    changed = dict(created)
    changed["spec"] = {**created["spec"], "selector": {"matchLabels": {"app": "web", "x": "y"}}}
    changed["spec"]["template"] = {**created["spec"]["template"],
                                   "metadata": {"labels": {"app": "web", "x": "y"}}}
    r = api.put(f"{DEPLOYS}/web", changed)
    assert r.status_code == 422 and any(c["field"] == "spec.selector" for c in r.json["details"]["causes"])


def test_strategic_merge_patch_merges_containers_by_name(api):
    api.post(DEPLOYS, deployment())
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox"}]}}}}
    r = api.patch(f"{DEPLOYS}/web", patch, content_type="application/strategic-merge-patch+json")
    names = [c["name"] for c in r.json["spec"]["template"]["spec"]["containers"]]
    assert sorted(names) == ["nginx", "sidecar"]


def test_merge_patch_replaces_lists(api):
    api.post(DEPLOYS, deployment())
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "busybox"}]}}}}
    r = api.patch(f"{DEPLOYS}/web", patch)
    assert [c["name"] for c in r.json["spec"]["template"]["spec"]["containers"]] == ["only"]


def test_json_patch_test_op(api):
    created = api.post(f"{NS}/configmaps", {"metadata": {"name": "j"}, "data": {"a": "1"}}).json
    rv = created["metadata"]["resourceVersion"]
    ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": rv},
           {"op": "add", "path": "/metadata/finalizers", "value": ["example.com/hold"]}]
    r = api.patch(f"{NS}/configmaps/j", ops, content_type="application/json-patch+json")
    assert r.status_code == 200 and r.json["metadata"]["finalizers"] == ["example.com/hold"]
    r = api.patch(f"{NS}/configmaps/j", ops, content_type="application/json-patch+json")  # rv is stale now
    assert r.status_code == 422


def test_unknown_patch_type_is_415(api):
    api.post(f"{NS}/configmaps", {"metadata": {"name": "p"}})
    r = api.patch(f"{NS}/configmaps/p", {"data": {}}, content_type="text/plain")
    assert r.status_code == 415


def test_field_validation_strict_warn_ignore(api):
    body = deployment("strict")
    body["spec"]["replica"] = 3  # a typo
    r = api.post(f"{DEPLOYS}?fieldValidation=Strict", body)
    assert r.status_code == 400
    assert 'strict decoding error: unknown field "spec.replica"' in r.json["message"]
    r = api.post(f"{DEPLOYS}?fieldValidation=Warn", body)
    assert r.status_code == 201 and 'unknown field \\"spec.replica\\"' in r.headers["Warning"]
    assert "replica" not in r.json["spec"]
    body["metadata"]["name"] = "ignored"
    r = api.post(f"{DEPLOYS}?fieldValidation=Ignore", body)
    assert r.status_code == 201 and "Warning" not in r.headers


def test_wrong_types_are_bad_requests(api):
    body = deployment("typed")
    body["spec"]["replicas"] = "three"
    r = api.post(DEPLOYS, body)
    assert r.status_code == 400 and "cannot unmarshal string" in r.json["message"]


def test_dry_run_persists_nothing(api):
    r = api.post(f"{DEPLOYS}?dryRun=All", deployment("dry"))
    assert r.status_code == 201 and r.json["metadata"]["name"] == "dry"
    assert api.get(f"{DEPLOYS}/dry").status_code == 404
    api.post(DEPLOYS, deployment("real"))
    r = api.patch(f"{DEPLOYS}/real?dryRun=All", {"spec": {"replicas": 9}})
    assert r.json["spec"]["replicas"] == 9
    assert api.get(f"{DEPLOYS}/real").json["spec"]["replicas"] == 2
    assert api.delete(f"{DEPLOYS}/real?dryRun=All").status_code == 200
    assert api.get(f"{DEPLOYS}/real").status_code == 200


def test_status_subresource(api):
    api.post(DEPLOYS, deployment())
    r = api.patch(f"{DEPLOYS}/web", {"status": {"replicas": 7}, "spec": {"replicas": 3}})
    assert r.json["spec"]["replicas"] == 3 and r.json.get("status", {}).get("replicas") is None
    r = api.patch(f"{DEPLOYS}/web/status", {"status": {"replicas": 7}, "spec": {"replicas": 1}})
    assert r.status_code == 200 and r.json["status"]["replicas"] == 7 and r.json["spec"]["replicas"] == 3
    assert r.json["metadata"]["generation"] == 2  # status writes never count


def test_scale_subresource(api):
    created = api.post(DEPLOYS, deployment()).json
    scale = api.get(f"{DEPLOYS}/web/scale").json
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 2} and scale["status"]["selector"] == "app=web"
    assert scale["metadata"]["uid"] == created["metadata"]["uid"]
    r = api.patch(f"{DEPLOYS}/web/scale", {"spec": {"replicas": 5}})
    assert r.status_code == 200 and r.json["spec"]["replicas"] == 5
    d = api.get(f"{DEPLOYS}/web").json
    assert d["spec"]["replicas"] == 5 and d["metadata"]["generation"] == 2
    r = api.patch(f"{DEPLOYS}/web/scale", {"spec": {"replicas": -1}})
    assert r.status_code == 422


def test_server_side_apply_creates_and_detects_conflicts(api):
    import json

    manifest = json.dumps(deployment("ssa"))
    r = api.call("PATCH", f"{DEPLOYS}/ssa?fieldManager=kubectl&force=false", raw=manifest.encode(),
                 content_type="application/apply-patch+yaml")
    assert r.status_code == 201
    managers = {m["manager"]: m["operation"] for m in r.json["metadata"]["managedFields"]}
    assert managers == {"kubectl": "Apply"}
    api.patch(f"{DEPLOYS}/ssa/scale?fieldManager=kubectl-scale", {"spec": {"replicas": 4}})
    r = api.call("PATCH", f"{DEPLOYS}/ssa?fieldManager=kubectl&force=false", raw=manifest.encode(),
                 content_type="application/apply-patch+yaml")
    assert r.status_code == 409 and r.json["reason"] == "Conflict"
    assert r.json["details"]["causes"][0]["reason"] == "FieldManagerConflict"
    assert r.json["details"]["causes"][0]["field"] == ".spec.replicas"
    r = api.call("PATCH", f"{DEPLOYS}/ssa?fieldManager=kubectl&force=true", raw=manifest.encode(),
                 content_type="application/apply-patch+yaml")
    assert r.status_code == 200 and r.json["spec"]["replicas"] == 2


def test_apply_requires_a_field_manager(api):
    import json

    r = api.call("PATCH", f"{DEPLOYS}/x", raw=json.dumps(deployment("x")).encode(),
                 content_type="application/apply-patch+yaml", headers={"User-Agent": ""})
    assert r.status_code == 400


def test_update_can_create_where_upstream_allows_it(api):
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
             "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}}
    r = api.put("/apis/coordination.k8s.io/v1/namespaces/default/leases/l", lease)
    assert r.status_code == 201
    r = api.put(f"{NS}/configmaps/absent", {"metadata": {"name": "absent"}})
    assert r.status_code == 404
