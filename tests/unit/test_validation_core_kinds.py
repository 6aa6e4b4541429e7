"""The smaller core kinds: Namespace, Node, ConfigMap, Secret, Event, Binding, ServiceAccount."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from controlplane.api.validation import meta
from controlplane.api.validation.core import RULES
from controlplane.api.validation.rules import KindRules

KEY_MSG = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g."
           " 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is"
           " '[-._a-zA-Z0-9]+')")
NAME_PART_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must"
                 " start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name', "
                 " or '123-abc', regex used for validation is"
                 " '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def check(kind: str, obj: dict) -> list[str]:
    rules = RULES[kind]
    rules.default(obj)
    return [str(e) for e in rules.validate(obj)]


def cases(names: str, table: list[tuple]) -> Any:
    return pytest.mark.parametrize(names, [c[1:] for c in table], ids=[c[0] for c in table])


def test_every_core_kind_has_rules():
    assert set(RULES) == {"Pod", "Service", "Namespace", "Node", "ConfigMap", "Secret",
                          "ServiceAccount", "Endpoints", "Event", "Binding"}
    assert all(isinstance(r, KindRules) for r in RULES.values())


@pytest.mark.parametrize("kind, name, check_name", [
    ("Namespace", "Dev", meta.is_dns1123_label),
    ("Namespace", "dev.team", meta.is_dns1123_label),
    ("Service", "1web", meta.is_dns1035_label),
    ("Event", "web.17a3f:x", meta.is_path_segment_name),
])
def test_name_rules(kind, name, check_name):
    rule = RULES[kind].name
    assert rule is not None and rule(name) == check_name(name)


def test_default_name_rule_is_a_dns_subdomain():
    assert RULES["ConfigMap"].name is None and RULES["Pod"].name is None


# -- Namespace ------------------------------------------------------------------------------


def test_namespace_finalizers():
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dev"},
          "spec": {"finalizers": ["cleanup", "example.com/x"]}}
    assert check("Namespace", ns) == [
        'spec.finalizers: Invalid value: "cleanup": name is neither a standard finalizer name'
        " nor is it fully qualified"]


@pytest.mark.parametrize("deleting, phase, expected", [
    (False, "Active", []),
    (False, "Terminating", ["status.Phase: Invalid value: \"Terminating\": may only be 'Active'"
                            " if `deletionTimestamp` is empty"]),
    (True, "Terminating", []),
    (True, "Active", ["status.Phase: Invalid value: \"Active\": may only be 'Terminating' if"
                      " `deletionTimestamp` is not empty"]),
])
def test_namespace_status(deleting, phase, expected):
    metadata = {"name": "dev"}
    if deleting:
        metadata["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    ns = {"metadata": metadata, "status": {"phase": phase}}
    assert [str(e) for e in RULES["Namespace"].validate_status_update(ns, ns)] == expected


# -- Node -------------------------------------------------------------------------------------


def node(**spec: Any) -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}, "spec": spec,
            "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}


def taints(*entries: dict) -> dict:
    return {"taints": list(entries)}


NODE_CASES = [
    ("valid", {**taints({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}),
               "podCIDR": "10.244.1.0/24"}, []),
    ("taint without effect", taints({"key": "dedicated"}),
     ["metadata.taints[0].effect: Required value"]),
    ("taint effect", taints({"key": "dedicated", "effect": "Never"}),
     ['metadata.taints[0].effect: Unsupported value: "Never": supported values: "NoSchedule",'
      ' "PreferNoSchedule", "NoExecute"']),
    ("taint key", taints({"key": "bad key", "effect": "NoSchedule"}),
     [f'metadata.taints[0].key: Invalid value: "bad key": {NAME_PART_MSG}']),
    ("duplicate taint", taints({"key": "a", "effect": "NoSchedule"},
                               {"key": "a", "value": "x", "effect": "NoSchedule"}),
     ['metadata.taints[1]: Duplicate value: core.Taint{Key:"a", Value:"x", Effect:"NoSchedule",'
      " TimeAdded:(*v1.Time)(nil)}: taints must be unique by key and effect pair"]),
    ("pod CIDR", {"podCIDRs": ["10.244.1.0/33"]},
     ['spec.podCIDRs[0]: Invalid value: "10.244.1.0/33": must be a valid CIDR value, (e.g.'
      " 10.9.8.0/24 or 2001:db8::/64)"]),
    ("two IPv4 pod CIDRs", {"podCIDRs": ["10.244.1.0/24", "10.245.1.0/24"]},
     ['spec.podCIDRs: Invalid value: []string{"10.244.1.0/24", "10.245.1.0/24"}: may specify'
      " no more than one CIDR for each IP family"]),
]


@cases("spec, expected", NODE_CASES)
def test_node(spec, expected):
    assert check("Node", node(**spec)) == expected


def test_node_capacity_must_be_whole_pods():
    n = node()
    n["status"]["capacity"]["pods"] = "1500m"
    # allocatable defaults to capacity, so the bad amount shows twice, as upstream
    assert check("Node", n) == [
        'status.capacity.pods: Invalid value: "1500m": must be an integer',
        'status.allocatable.pods: Invalid value: "1500m": must be an integer']


def test_node_pod_cidr_is_set_once():
    old = node(podCIDR="10.244.1.0/24")
    RULES["Node"].default(old)
    new = copy.deepcopy(old)
    new["spec"].update(podCIDR="10.244.2.0/24", podCIDRs=["10.244.2.0/24"])
    assert [str(e) for e in RULES["Node"].validate_update(new, old)] == [
        'spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid']
    assert RULES["Node"].validate_update(old, node()) == []


# -- ConfigMap and Secret -------------------------------------------------------------------------

TOO_LONG = "Too long: may not be more than 1048576 bytes"
CONFIG_MAP_CASES = [
    ("valid", {"data": {"app.conf": "x"}, "binaryData": {"logo.png": b64("png")}}, []),
    ("bad key", {"data": {"app conf": "x"}},
     [f'data[app conf]: Invalid value: "app conf": {KEY_MSG}']),
    ("dot dot key", {"data": {"..data": "x"}},
     ["data[..data]: Invalid value: \"..data\": must not start with '..'"]),
    ("key in both", {"data": {"a": "x"}, "binaryData": {"a": b64("x")}},
     ['data[a]: Invalid value: "a": duplicate of key present in binaryData']),
    ("too big", {"data": {"a": "x" * (1024 * 1024 + 1)}}, [TOO_LONG]),
]


@cases("body, expected", CONFIG_MAP_CASES)
def test_config_map(body, expected):
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "cfg", "namespace": "default"}, **body}
    assert check("ConfigMap", cm) == expected


def test_immutable_config_map_keeps_its_data():
    old = {"metadata": {"name": "cfg"}, "data": {"a": "1"}, "immutable": True}
    new = {"metadata": {"name": "cfg"}, "data": {"a": "2"}, "immutable": False}
    assert [str(e) for e in RULES["ConfigMap"].validate_update(new, old)] == [
        "immutable: Forbidden: field is immutable when `immutable` is set",
        "data: Forbidden: field is immutable when `immutable` is set"]
    assert RULES["ConfigMap"].validate_update(copy.deepcopy(old), old) == []


def typed(kind: str, **data: str) -> dict:
    return {"type": kind, "data": {k: b64(v) for k, v in data.items()}}


SECRET_CASES = [
    ("opaque", {"data": {"password": b64("s3cret")}}, []),
    ("string data is folded in", {"stringData": {"bad key": "x"}},
     [f'data[bad key]: Invalid value: "bad key": {KEY_MSG}']),
    ("tls without key", typed("kubernetes.io/tls", **{"tls.crt": "cert"}),
     ["data[tls.key]: Required value"]),
    ("docker config json", typed("kubernetes.io/dockerconfigjson"),
     ["data[.dockerconfigjson]: Required value"]),
    ("basic auth", typed("kubernetes.io/basic-auth"),
     ["data[username]: Required value", "data[password]: Required value"]),
    ("basic auth with a username", typed("kubernetes.io/basic-auth", username="me"), []),
    ("ssh auth", typed("kubernetes.io/ssh-auth"), ["data[ssh-privatekey]: Required value"]),
    ("service account token", {"type": "kubernetes.io/service-account-token"},
     ["metadata.annotations[kubernetes.io/service-account.name]: Required value"]),
    ("too big", {"data": {"a": b64("x" * (1024 * 1024 + 1))}}, [f"data: {TOO_LONG}"]),
]


@cases("body, expected", SECRET_CASES)
def test_secret(body, expected):
    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "s", "namespace": "default"}, **body}
    assert check("Secret", secret) == expected


def test_docker_config_must_be_json():
    secret = {"metadata": {"name": "s"},
              **typed("kubernetes.io/dockerconfigjson", **{".dockerconfigjson": "{not json"})}
    errs = RULES["Secret"].validate(secret)
    assert [(e.field, e.bad_value) for e in errs] == [
        ("data[.dockerconfigjson]", "<secret contents redacted>")]


def test_secret_type_and_immutable_data():
    old = {"metadata": {"name": "s"}, **typed("Opaque", a="1"), "immutable": True}
    new = {"metadata": {"name": "s"}, **typed("kubernetes.io/tls", a="2"), "immutable": True}
    assert [str(e) for e in RULES["Secret"].validate_update(new, old)] == [
        'type: Invalid value: "kubernetes.io/tls": field is immutable',
        "data: Forbidden: field is immutable when `immutable` is set",
        "data[tls.crt]: Required value", "data[tls.key]: Required value"]


# -- Event and Binding ----------------------------------------------------------------------------

POD_WEB = {"kind": "Pod", "name": "web", "namespace": "default"}
EVENT_CASES = [
    ("pod event", "default", {"involvedObject": POD_WEB}, []),
    ("node event in default", "default",
     {"involvedObject": {"kind": "Node", "name": "node-1"}}, []),
    ("namespace mismatch", "dev", {"involvedObject": POD_WEB},
     ['involvedObject.namespace: Invalid value: "default": does not match event.namespace']),
    ("new style without reporter", "default",
     {"eventTime": "2025-01-01T00:00:00.000000Z", "involvedObject": POD_WEB,
      "reportingInstance": "x", "action": "Pulling", "reason": "Pulling"},
     ["reportingController: Required value",
      'reportingController: Invalid value: "": name part must be non-empty',
      f'reportingController: Invalid value: "": {NAME_PART_MSG}']),
]


@cases("namespace, body, expected", EVENT_CASES)
def test_core_event(namespace, body, expected):
    event = {"apiVersion": "v1", "kind": "Event",
             "metadata": {"name": "web.1", "namespace": namespace}, **body}
    assert check("Event", event) == expected


@pytest.mark.parametrize("target, expected", [
    ({"kind": "Node", "name": "node-1"}, []),
    ({"name": "node-1"}, []),
    ({"kind": "Pod", "name": "node-1"},
     ['target.kind: Unsupported value: "Pod": supported values: "Node", "<empty>"']),
    ({"kind": "Node"}, ["target.name: Required value"]),
])
def test_binding(target, expected):
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web"}, "target": target}
    assert check("Binding", binding) == expected


def test_service_account_has_only_metadata_rules():
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "builder"},
          "secrets": []}
    assert check("ServiceAccount", sa) == []
