"""CustomResourceDefinitions and the resources they define, served dynamically."""

from __future__ import annotations

import json

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def crontab_crd(scope: str = "Namespaced", group: str = "stable.example.com") -> dict:
    schema = {
        "type": "object",
        "properties": {
            "spec": {"type": "object", "required": ["cronSpec"], "properties": {
                "cronSpec": {"type": "string"},
                "image": {"type": "string"},
                "replicas": {"type": "integer", "minimum": 1, "default": 1},
                "mode": {"type": "string", "enum": ["fast", "slow"]},
            }},
            "status": {"type": "object", "properties": {
                "replicas": {"type": "integer"}, "selector": {"type": "string"}, "phase": {"type": "string"}}},
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"crontabs.{group}"},
        "spec": {
            "group": group, "scope": scope,
            "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]},
            "versions": [{
                "name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema},
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                         "statusReplicasPath": ".status.replicas",
                                                         "labelSelectorPath": ".status.selector"}},
                "additionalPrinterColumns": [
                    {"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"},
                    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
            }],
        },
    }


CT = "/apis/stable.example.com/v1/namespaces/default/crontabs"


def crontab(name: str, **spec) -> dict:
    return {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": name},
            "spec": {"cronSpec": "* * * * */5", **spec}}


def test_crd_is_established_and_discoverable(api):
    r = api.post(CRDS, crontab_crd())
    assert r.status_code == 201, r.json
    status = r.json["status"]
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert status["acceptedNames"]["kind"] == "CronTab" and status["storedVersions"] == ["v1"]
    resources = api.get("/apis/stable.example.com/v1").json["resources"]
    crontabs = next(x for x in resources if x["name"] == "crontabs")
    assert crontabs["shortNames"] == ["ct"] and crontabs["kind"] == "CronTab" and crontabs["namespaced"]
    assert {x["name"] for x in resources} == {"crontabs", "crontabs/status", "crontabs/scale"}
    groups = [g["name"] for g in api.get("/apis").json["groups"]]
    assert "stable.example.com" in groups


def test_custom_resource_crud_defaults_and_validation(api):
    api.post(CRDS, crontab_crd())
    r = api.post(CT, crontab("every"))
    assert r.status_code == 201, r.json
    assert r.json["spec"]["replicas"] == 1 and r.json["metadata"]["generation"] == 1  # schema default
    r = api.post(CT, crontab("bad", replicas=0, mode="medium"))
    assert r.status_code == 422
    fields = {c["field"] for c in r.json["details"]["causes"]}
    assert fields == {"spec.replicas", "spec.mode"}
    r = api.post(CT, {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"},
                      "spec": {}})
    assert r.status_code == 422 and r.json["details"]["causes"][0]["field"] == "spec.cronSpec"
    listed = api.get(CT).json
    assert listed["kind"] == "CronTabList" and [i["metadata"]["name"] for i in listed["items"]] == ["every"]


def test_unknown_fields_of_custom_resources(api):
    api.post(CRDS, crontab_crd())
    body = crontab("typo", imagee="x")
    r = api.post(f"{CT}?fieldValidation=Strict", body)
    assert r.status_code == 400 and 'unknown field "spec.imagee"' in r.json["message"]
    r = api.post(CT, body)
    assert r.status_code == 201 and "imagee" not in r.json["spec"] and "Warning" in r.headers


def test_status_and_scale_of_custom_resources(api):
    api.post(CRDS, crontab_crd())
    api.post(CT, crontab("sc", replicas=2))
    r = api.patch(f"{CT}/sc", {"status": {"phase": "Ignored"}})
    assert "status" not in r.json
    r = api.patch(f"{CT}/sc/status", {"status": {"replicas": 2, "selector": "app=sc"}})
    assert r.json["status"] == {"replicas": 2, "selector": "app=sc"}
    scale = api.get(f"{CT}/sc/scale").json
    assert scale["spec"]["replicas"] == 2 and scale["status"] == {"replicas": 2, "selector": "app=sc"}
    api.patch(f"{CT}/sc/scale", {"spec": {"replicas": 4}})
    assert api.get(f"{CT}/sc").json["spec"]["replicas"] == 4


def test_strategic_merge_patch_is_refused_for_custom_resources(api):
    api.post(CRDS, crontab_crd())
    api.post(CT, crontab("smp"))
    r = api.patch(f"{CT}/smp", {"spec": {"image": "x"}}, content_type="application/strategic-merge-patch+json")
    assert r.status_code == 415


def test_printer_columns_in_tables(api):
    api.post(CRDS, crontab_crd())
    api.post(CT, crontab("cols", replicas=3))
    table = api.get(CT, headers={"Accept": TABLE}).json
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Spec", "Replicas", "Age"]
    assert table["rows"][0]["cells"][:3] == ["cols", "* * * * */5", 3]


def test_cluster_scoped_custom_resources(api):
    api.post(CRDS, crontab_crd(scope="Cluster", group="cluster.example.com"))
    path = "/apis/cluster.example.com/v1/crontabs"
    body = crontab("global")
    body["apiVersion"] = "cluster.example.com/v1"
    r = api.post(path, body)
    assert r.status_code == 201 and "namespace" not in r.json["metadata"]
    assert api.get(f"{path}/global").status_code == 200


def test_invalid_crds_are_refused(api):
    bad = crontab_crd()
    bad["metadata"]["name"] = "wrong.name"
    r = api.post(CRDS, bad)
    assert r.status_code == 422
    assert any(c["field"] == "metadata.name" for c in r.json["details"]["causes"])


def test_deleting_a_crd_deletes_its_objects(api):
    import time

    api.post(CRDS, crontab_crd())
    api.post(CT, crontab("goes"))
    r = api.delete(f"{CRDS}/crontabs.stable.example.com")
    assert r.status_code == 200
    deadline = time.monotonic() + 10
    while api.get(f"{CRDS}/crontabs.stable.example.com").status_code != 404 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert api.get(f"{CRDS}/crontabs.stable.example.com").status_code == 404
    assert api.get("/apis/stable.example.com/v1").status_code == 404


def test_openapi_documents(api):
    api.post(CRDS, crontab_crd())
    root = api.get("/openapi/v3").json["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/stable.example.com/v1"} <= set(root)
    url = root["apis/apps/v1"]["serverRelativeURL"]
    doc = api.get(url).json
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert any(p["name"] == "fieldValidation" for p in patch["parameters"])
    spec = doc["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentSpec"]
    assert "template" in spec["properties"] and spec["required"] == ["selector", "template"]
    custom = api.get(root["apis/stable.example.com/v1"]["serverRelativeURL"]).json
    schema = custom["components"]["schemas"]["com.example.stable.v1.CronTab"]
    assert schema["x-kubernetes-group-version-kind"][0]["kind"] == "CronTab"
    assert "metadata" in schema["properties"]
    assert json.dumps(custom).count("strategic-merge-patch") == 0


def test_nulls_in_a_custom_resources_metadata_are_decoded_as_go_does(api):
    api.post(CRDS, crontab_crd())
    body = crontab("nulls")
    body["metadata"]["managedFields"] = [None]
    r = api.post(CT, body)
    assert r.status_code == 422 and "managedFields[0]" in r.json["message"]
