"""Strategic merge patch with upstream's schemas, fed the patches kubectl really sends."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from controlplane.api.patch import PatchError, strategic_merge_patch
from controlplane.api.schema import Schema, builtin_schema

DEPLOYMENT = builtin_schema("apps", "v1", "Deployment")
NODE = builtin_schema("", "v1", "Node")
SERVICE = builtin_schema("", "v1", "Service")
PDB = builtin_schema("policy", "v1", "PodDisruptionBudget")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _deployment() -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "finalizers": ["a.example.com/x"],
                     "annotations": {LAST_APPLIED: '{"old":true}\n'}},
        "spec": {
            "replicas": 2,
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {"spec": {
                "containers": [
                    {"name": "nginx", "image": "nginx:1.25", "args": ["-g", "daemon off;"],
                     "ports": [{"containerPort": 80, "protocol": "TCP"},
                               {"containerPort": 443, "protocol": "TCP"}],
                     "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                    {"name": "log", "image": "busybox"},
                ],
                "tolerations": [{"key": "k1", "operator": "Exists"}],
                "volumes": [{"name": "data", "emptyDir": {}}],
            }},
        },
    }


def _pod_spec(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]


def _containers(deployment: dict) -> dict[str, dict]:
    return {c["name"]: c for c in _pod_spec(deployment)["containers"]}


def _template_patch(pod_spec_patch: dict) -> dict:
    return {"spec": {"template": {"spec": pod_spec_patch}}}


def _directives(value: Any) -> list[str]:
    """Every key starting with "$" anywhere in ``value``."""
    if isinstance(value, dict):
        return [k for k in value if k.startswith("$")] + [
            d for v in value.values() for d in _directives(v)]
    if isinstance(value, list):
        return [d for v in value for d in _directives(v)]
    return []


# -- what kubectl sends --------------------------------------------------------------

def test_kubectl_apply_image_change() -> None:
    last_applied = json.dumps({"kind": "Deployment", "spec": {"x": 1}}) + "\n"
    patch = {
        "metadata": {"annotations": {LAST_APPLIED: last_applied}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "nginx"}, {"name": "log"}],
            "containers": [{"image": "nginx:1.26", "name": "nginx"}],
        }}},
    }
    result = strategic_merge_patch(_deployment(), patch, DEPLOYMENT)

    expected = _deployment()
    expected["metadata"]["annotations"][LAST_APPLIED] = last_applied
    _pod_spec(expected)["containers"][0]["image"] = "nginx:1.26"
    assert result == expected


def test_kubectl_set_image_without_element_order() -> None:
    patch = _template_patch({"containers": [{"image": "busybox:1.36", "name": "log"}]})
    result = strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    assert [c["name"] for c in _pod_spec(result)["containers"]] == ["nginx", "log"]
    assert _containers(result)["log"] == {"name": "log", "image": "busybox:1.36"}
    assert _containers(result)["nginx"] == _containers(_deployment())["nginx"]


@pytest.mark.parametrize(("patch", "paused"), [
    ({"spec": {"paused": True}}, True),      # kubectl rollout pause
    ({"spec": {"paused": None}}, None),      # kubectl rollout resume
])
def test_kubectl_rollout_pause_and_resume(patch: dict, paused: bool | None) -> None:
    live = _deployment()
    live["spec"]["paused"] = True
    result = strategic_merge_patch(live, patch, DEPLOYMENT)
    assert result["spec"].get("paused") == paused
    assert ("paused" in result["spec"]) is (paused is not None)
    assert result["spec"]["template"] == live["spec"]["template"]


def test_kubectl_rollout_restart_adds_a_template_annotation() -> None:
    patch = {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2026-11-22T18:29:15Z"}}}}}
    result = strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    assert result["spec"]["template"]["metadata"] == patch["spec"]["template"]["metadata"]
    assert _pod_spec(result) == _pod_spec(_deployment())


@pytest.mark.parametrize(("patch", "expected"), [
    ({"spec": {"unschedulable": True}}, {"podCIDR": "10.0.1.0/24", "unschedulable": True}),
    ({"spec": {"unschedulable": None}}, {"podCIDR": "10.0.1.0/24"}),
])
def test_kubectl_cordon_and_uncordon(patch: dict, expected: dict) -> None:
    node = {"kind": "Node", "metadata": {"name": "node1"},
            "spec": {"podCIDR": "10.0.1.0/24", "unschedulable": True},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    result = strategic_merge_patch(node, patch, NODE)
    assert result["spec"] == expected
    assert result["status"] == node["status"]


def test_kubectl_set_env_adds_a_variable_in_order() -> None:
    patch = _template_patch({
        "$setElementOrder/containers": [{"name": "nginx"}, {"name": "log"}],
        "containers": [{
            "$setElementOrder/env": [{"name": "A"}, {"name": "C"}, {"name": "B"}],
            "env": [{"name": "C", "value": "3"}],
            "name": "nginx",
        }],
    })
    result = strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    assert _containers(result)["nginx"]["env"] == [
        {"name": "A", "value": "1"}, {"name": "C", "value": "3"}, {"name": "B", "value": "2"}]
    assert _directives(result) == []


def test_kubectl_set_env_removes_a_variable() -> None:
    patch = _template_patch({
        "$setElementOrder/containers": [{"name": "nginx"}, {"name": "log"}],
        "containers": [{"$setElementOrder/env": [{"name": "B"}],
                        "env": [{"$patch": "delete", "name": "A"}], "name": "nginx"}],
    })
    result = strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    assert _containers(result)["nginx"]["env"] == [{"name": "B", "value": "2"}]


def test_changing_one_env_value_keeps_the_other_fields_of_the_item() -> None:
    live = _deployment()
    _pod_spec(live)["containers"][0]["env"][0] = {
        "name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    patch = _template_patch({"containers": [
        {"name": "nginx", "env": [{"name": "A", "value": "x", "valueFrom": None}]}]})
    result = strategic_merge_patch(live, patch, DEPLOYMENT)
    assert _containers(result)["nginx"]["env"][0] == {"name": "A", "value": "x"}


def test_deleting_a_container_port_by_its_merge_key() -> None:
    patch = _template_patch({
        "$setElementOrder/containers": [{"name": "nginx"}, {"name": "log"}],
        "containers": [{"$setElementOrder/ports": [{"containerPort": 80}],
                        "name": "nginx", "ports": [{"$patch": "delete", "containerPort": 443}]}],
    })
    result = strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    assert _containers(result)["nginx"]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]


def test_a_volume_source_change_under_retain_keys() -> None:
    patch = _template_patch({
        "$setElementOrder/volumes": [{"name": "data"}],
        "volumes": [{"$retainKeys": ["configMap", "name"], "configMap": {"name": "web-config"},
                     "name": "data"}],
    })
    result = strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    # Without $retainKeys the pod would have two sources, emptyDir and configMap: invalid.
    assert _pod_spec(result)["volumes"] == [{"name": "data", "configMap": {"name": "web-config"}}]


def test_kubectl_apply_strategy_rolling_update_to_recreate() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": None,
                                   "type": "Recreate"}}}
    result = strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    assert result["spec"]["strategy"] == {"type": "Recreate"}


def test_strategy_change_without_retain_keys_keeps_rolling_update() -> None:
    result = strategic_merge_patch(_deployment(), {"spec": {"strategy": {"type": "Recreate"}}},
                                   DEPLOYMENT)
    assert result["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%",
                                                           "maxUnavailable": "25%"}


def test_service_ports_merge_on_port() -> None:
    service = {"spec": {"selector": {"app": "web"}, "ports": [
        {"name": "http", "port": 80, "targetPort": 8080},
        {"name": "https", "port": 443, "targetPort": 8443}]}}
    result = strategic_merge_patch(service, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}},
                                   SERVICE)
    assert result["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": 9090},
                                       {"name": "https", "port": 443, "targetPort": 8443}]


# -- finalizers: a merged list of scalars --------------------------------------------

@pytest.mark.parametrize(("metadata_patch", "finalizers"), [
    # A bare add puts the new value first, exactly as upstream does.
    ({"finalizers": ["b.example.com/y"]}, ["b.example.com/y", "a.example.com/x"]),
    # kubectl apply sends the order it wants, and gets it.
    ({"$setElementOrder/finalizers": ["a.example.com/x", "b.example.com/y"],
      "finalizers": ["b.example.com/y"]}, ["a.example.com/x", "b.example.com/y"]),
    # A union never holds a value twice.
    ({"finalizers": ["a.example.com/x"]}, ["a.example.com/x"]),
    ({"$deleteFromPrimitiveList/finalizers": ["a.example.com/x"]}, []),
    ({"$deleteFromPrimitiveList/finalizers": ["not.there/z"]}, ["a.example.com/x"]),
    ({"finalizers": None}, None),
])
def test_finalizers_add_and_remove(metadata_patch: dict, finalizers: list | None) -> None:
    result = strategic_merge_patch(_deployment(), {"metadata": metadata_patch}, DEPLOYMENT)
    assert result["metadata"].get("finalizers") == finalizers
    assert _directives(result) == []


# -- lists without a merge strategy ---------------------------------------------------

@pytest.mark.parametrize(("pod_spec_patch", "field", "expected"), [
    ({"tolerations": [{"key": "k2", "operator": "Exists"}]},
     "tolerations", [{"key": "k2", "operator": "Exists"}]),
    ({"containers": [{"name": "nginx", "args": ["-v"]}]}, "args", ["-v"]),
])
def test_lists_without_merge_strategy_are_replaced(pod_spec_patch: dict, field: str,
                                                   expected: list) -> None:
    result = strategic_merge_patch(_deployment(), _template_patch(pod_spec_patch), DEPLOYMENT)
    got = _pod_spec(result).get(field) or _containers(result)["nginx"][field]
    assert got == expected


def test_a_map_with_replace_strategy_is_replaced() -> None:
    # PodDisruptionBudget's spec.selector is declared patchStrategy "replace".
    pdb = {"spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}}
    patch = {"spec": {"selector": {"matchExpressions": [
        {"key": "app", "operator": "In", "values": ["web"]}]}}}
    result = strategic_merge_patch(pdb, patch, PDB)
    assert result["spec"] == {"minAvailable": 1, "selector": patch["spec"]["selector"]}


# -- $patch directives ----------------------------------------------------------------

def test_patch_replace_on_a_map() -> None:
    patch = {"metadata": {"annotations": {"$patch": "replace", "only": "this"}}}
    result = strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    assert result["metadata"]["annotations"] == {"only": "this"}


def test_patch_delete_on_a_map_empties_it() -> None:
    result = strategic_merge_patch(_deployment(), {"spec": {"strategy": {"$patch": "delete"}}},
                                   DEPLOYMENT)
    assert result["spec"]["strategy"] == {}


def test_patch_delete_on_a_map_that_is_not_there_adds_nothing() -> None:
    result = strategic_merge_patch(_deployment(), {"spec": {"selector": {"$patch": "delete"}}},
                                   DEPLOYMENT)
    assert "selector" not in result["spec"]


def test_patch_merge_is_the_default() -> None:
    patch = {"spec": {"strategy": {"$patch": "merge", "type": "Recreate"}}}
    result = strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    assert result["spec"]["strategy"]["type"] == "Recreate"
    assert "rollingUpdate" in result["spec"]["strategy"]


def test_patch_replace_in_a_list_replaces_the_list() -> None:
    patch = _template_patch({"containers": [{"$patch": "replace"},
                                            {"name": "api", "image": "api:1"}]})
    result = strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    assert _pod_spec(result)["containers"] == [{"name": "api", "image": "api:1"}]


def test_deleting_a_whole_container() -> None:
    patch = _template_patch({"containers": [{"$patch": "delete", "name": "log"}]})
    result = strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    assert list(_containers(result)) == ["nginx"]


def test_new_values_arrive_without_directives_or_nulls() -> None:
    patch = _template_patch({
        "containers": [{"name": "side", "image": "envoy", "command": None,
                        "env": [{"name": "X", "value": "1"}, {"name": "Y", "$patch": "delete"}]}],
        "volumes": [{"$retainKeys": ["name", "secret"], "name": "certs",
                     "secret": {"secretName": "tls"}}],
    })
    result = strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    assert _containers(result)["side"] == {"name": "side", "image": "envoy",
                                           "env": [{"name": "X", "value": "1"}]}
    assert _pod_spec(result)["volumes"] == [{"name": "certs", "secret": {"secretName": "tls"}},
                                            {"name": "data", "emptyDir": {}}]
    assert _directives(result) == []


# -- order of merged lists -------------------------------------------------------------

def _names(deployment: dict) -> list[str]:
    return [c["name"] for c in _pod_spec(deployment)["containers"]]


def _with_containers(*names: str) -> dict:
    live = _deployment()
    _pod_spec(live)["containers"] = [{"name": n, "image": n} for n in names]
    return live


@pytest.mark.parametrize(("live", "pod_spec_patch", "order"), [
    # The patch's own order wins; items it does not mention keep their place before the
    # patch item that followed them.
    (["a", "b", "c"], {"containers": [{"name": "c"}, {"name": "a"}]}, ["b", "c", "a"]),
    (["a", "b"], {"containers": [{"name": "new"}]}, ["new", "a", "b"]),
    # kubectl apply adds a container while the server holds one kubectl never heard of.
    (["app", "sidecar"], {"$setElementOrder/containers": [{"name": "app"}, {"name": "new"}],
                          "containers": [{"name": "new"}]}, ["app", "new", "sidecar"]),
    # One deleted, one added: the unmentioned live item keeps its place (upstream's tests).
    (["a", "b", "x"], {"$setElementOrder/containers": [{"name": "b"}, {"name": "c"}],
                       "containers": [{"name": "c"}, {"name": "a", "$patch": "delete"}]},
     ["b", "x", "c"]),
    (["a", "x"], {"$setElementOrder/containers": [{"name": "b"}, {"name": "c"}],
                  "containers": [{"name": "b"}, {"name": "c"}, {"name": "a", "$patch": "delete"}]},
     ["x", "b", "c"]),
    # Only an order: the list's content does not change, its order does.
    (["a", "b"], {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}, ["b", "a"]),
])
def test_order_of_a_merged_list(live: list[str], pod_spec_patch: dict, order: list[str]) -> None:
    result = strategic_merge_patch(_with_containers(*live), _template_patch(pod_spec_patch),
                                   DEPLOYMENT)
    assert _names(result) == order


# -- where the schema says nothing ---------------------------------------------------------

@pytest.mark.parametrize("schema", [None, Schema({"type": "object",
                                                   "x-kubernetes-preserve-unknown-fields": True})])
def test_without_schema_it_is_a_merge_patch(schema: Schema | None) -> None:
    live = {"spec": {"items": [{"name": "a", "v": 1}], "keep": True, "drop": 1}}
    patch = {"spec": {"items": [{"name": "a", "v": 2}], "drop": None, "new": {"x": None, "y": 1}}}
    result = strategic_merge_patch(live, patch, schema)
    assert result == {"spec": {"items": [{"name": "a", "v": 2}], "keep": True, "new": {"y": 1}}}


def test_a_type_change_takes_the_patch_value() -> None:
    result = strategic_merge_patch({"spec": {"x": "text"}}, {"spec": {"x": {"a": [1]}}}, None)
    assert result == {"spec": {"x": {"a": [1]}}}


# -- errors ------------------------------------------------------------------------------

@pytest.mark.parametrize(("patch", "code", "message"), [
    (_template_patch({"containers": [{"image": "nginx:1.26"}]}), 422,
     'map: {"image": "nginx:1.26"} does not contain declared merge key: name'),
    (_template_patch({"containers": [{"$patch": "delete"}]}), 422,
     "does not contain declared merge key: name"),
    ({"metadata": {"finalizers": [["nested"]]}}, 422, "lists of lists are not supported"),
    ({"spec": {"strategy": {"$patch": "remove"}}}, 400, "unknown patch type: remove"),
    (_template_patch({"containers": [{"name": "log", "$patch": "upsert"}]}), 400,
     "unknown patch type: upsert"),
    ({"spec": {"$replaceAll": True}}, 400, "unknown patch directive '$replaceAll'"),
    ({"spec": {"strategy": {"$retainKeys": "type"}}}, 400, "invalid patch format of retainKeys"),
    ({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}}}}, 400,
     "invalid patch format of retainKeys: 'rollingUpdate' is not listed"),
    ({"metadata": {"$deleteFromPrimitiveList": ["x"]}}, 400,
     "invalid patch format of primitive list"),
    ({"metadata": {"$deleteFromPrimitiveList/finalizers": "x"}}, 400,
     "invalid patch format of primitive list"),
    (_template_patch({"$setElementOrder/containers": {"name": "log"}}), 400,
     "invalid patch format of setElementOrder list"),
    (_template_patch({"$setElementOrder/containers": [{"name": "nginx"}],
                      "containers": [{"name": "log", "image": "x"}]}), 400,
     "doesn't match $setElementOrder list"),
])
def test_a_patch_that_cannot_be_applied(patch: dict, code: int, message: str) -> None:
    with pytest.raises(PatchError) as caught:
        strategic_merge_patch(_deployment(), patch, DEPLOYMENT)
    assert caught.value.code == code
    assert message in caught.value.message


def test_an_item_without_its_merge_key_is_refused_even_when_the_live_list_is_empty() -> None:
    live = _deployment()
    _containers(live)["log"]["ports"] = []
    patch = _template_patch({"containers": [{"name": "log", "ports": [{"protocol": "UDP"}]}]})
    with pytest.raises(PatchError) as caught:
        strategic_merge_patch(live, patch, DEPLOYMENT)
    assert caught.value.code == 422
    assert "does not contain declared merge key: containerPort" in caught.value.message


def test_a_union_tells_json_true_from_one() -> None:
    schema = Schema({"type": "object", "properties": {
        "flags": {"type": "array", "items": {}, "x-kubernetes-patch-strategy": "merge"}}})
    result = strategic_merge_patch({"flags": [1]}, {"flags": [True]}, schema)
    assert result == {"flags": [True, 1]}


def test_a_patch_that_is_not_an_object_is_400() -> None:
    with pytest.raises(PatchError) as caught:
        strategic_merge_patch(_deployment(), [{"op": "add"}], DEPLOYMENT)  # type: ignore[arg-type]
    assert caught.value.code == 400


def test_inputs_are_not_changed_and_the_result_shares_nothing_with_them() -> None:
    live = _deployment()
    patch = _template_patch({
        "$setElementOrder/containers": [{"name": "nginx"}, {"name": "log"}],
        "containers": [{"name": "nginx", "env": [{"name": "A", "$patch": "delete"}]},
                       {"name": "log", "image": "busybox:2"}],
        "volumes": [{"$retainKeys": ["name", "configMap"], "name": "data",
                     "configMap": {"name": "c"}}],
    })
    live_before, patch_before = copy.deepcopy(live), copy.deepcopy(patch)

    result = strategic_merge_patch(live, patch, DEPLOYMENT)
    assert live == live_before
    assert patch == patch_before

    _containers(result)["nginx"]["ports"].clear()
    _pod_spec(result)["volumes"][0]["configMap"]["name"] = "changed"
    assert live == live_before
    assert patch == patch_before
