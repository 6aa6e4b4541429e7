"""Decoding request bodies of built-in kinds: the messages kubectl would print.

Every expected string below is the Go apiserver's (1.33) for the same body.
"""

from __future__ import annotations

import copy
import json

import pytest

from controlplane.api.decoding import (
    DecodeError,
    Findings,
    check_object,
    parse_json,
    prune_unknown,
    strict_error_message,
    type_error_message,
    unknown_field_warnings,
    unrecognized_message,
)
from controlplane.api.goparse import base64_error_offset, go_time_error, quantity_error
from controlplane.api.schema import builtin_schema

DEPLOYMENT = builtin_schema("apps", "v1", "Deployment")
POD = builtin_schema("", "v1", "Pod")
SECRET = builtin_schema("", "v1", "Secret")


def deployment(**spec_overrides: object) -> dict:
    container = {"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}
    spec = {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container]}},
    }
    spec.update(spec_overrides)
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}}, "spec": spec}


# -- parse_json ----------------------------------------------------------------------


def test_parse_json_returns_value_and_no_duplicates_for_clean_body() -> None:
    value, duplicates = parse_json(json.dumps(deployment()).encode())
    assert value == deployment()
    assert duplicates == []


def test_duplicate_keys_are_reported_with_strict_paths_and_last_value_wins() -> None:
    body = (b'{"metadata":{"name":"a","name":"b","labels":{"app.kubernetes.io/name":"x",'
            b'"app.kubernetes.io/name":"y"}},"spec":{"template":{"spec":{"containers":'
            b'[{"name":"c","image":"a","image":"b"}]}}}}')
    value, duplicates = parse_json(body)
    assert duplicates == [
        "metadata.name",
        "metadata.labels.app.kubernetes.io/name",  # map keys join with a dot, as in Go
        "spec.template.spec.containers[0].image",
    ]
    assert value["metadata"]["name"] == "b"
    assert value["spec"]["template"]["spec"]["containers"][0]["image"] == "b"


def test_a_key_repeated_three_times_is_one_duplicate() -> None:
    _, duplicates = parse_json(b'{"a":1,"a":2,"a":3}')
    assert duplicates == ["a"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "unexpected end of JSON input"),
        (b"apiVersion: v1", "invalid character 'a' looking for beginning of value"),
        (b'{"kind":"Pod",}', "invalid character '}' looking for beginning of object key string"),
        (b'{"kind" "Pod"}', "invalid character '\"' after object key"),
        (b'{"kind":"Pod" "x":1}', "invalid character '\"' after object key:value pair"),
        (b'{"a":[1 2]}', "invalid character '2' after array element"),
        (b"{} {}", "invalid character '{' after top-level value"),
        (b'{"a":"\\q"}', "invalid character 'q' in string escape code"),
        (b'{"a":"x\ny"}', "invalid character '\\n' in string literal"),
        (b'{"a":NaN}', "invalid character 'N' looking for beginning of value"),
        (b'{"a":"unterminated', "unexpected end of JSON input"),
        (b'{"a":1', "unexpected end of JSON input"),
        (b"\xef\xbb\xbf{}", "invalid character '\u00ef' looking for beginning of value"),
    ],
)
def test_malformed_json_gives_gos_message(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError) as raised:
        parse_json(body)
    assert raised.value.message == message


def test_unrecognized_message_wraps_the_json_error_with_a_summary_of_the_body() -> None:
    body = b'{"apiVersion":"v1","kind":"Pod",'
    with pytest.raises(DecodeError) as raised:
        parse_json(body)
    assert unrecognized_message("Pod", raised.value, body) == (
        "the object provided is unrecognized (must be of type Pod): couldn't get version/kind; "
        'json parse error: unexpected end of JSON input ({"apiVersion":"v1","kind":"Pod ...)')
    assert unrecognized_message("Pod", DecodeError("x"), b"").endswith("x (<empty>)")
    assert unrecognized_message("Pod", DecodeError("x"), b"ab").endswith("x (6162)")


# -- unknown fields ------------------------------------------------------------------


def test_clean_deployment_has_no_findings() -> None:
    assert check_object(deployment(), DEPLOYMENT) == Findings([], [])


def test_typo_deep_in_a_container_is_an_unknown_field_with_its_index() -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["imagee"] = "nginx"
    obj["spec"]["foo"] = 1
    obj["metadata"]["labelz"] = {}
    findings = check_object(obj, DEPLOYMENT)
    assert findings.unknown == [
        "metadata.labelz",
        "spec.template.spec.containers[0].imagee",
        "spec.foo",
    ]
    assert findings.type_errors == []


def test_maps_and_free_form_fields_accept_any_keys() -> None:
    obj = deployment()
    obj["metadata"]["annotations"] = {"anything/goes": "x"}
    obj["metadata"]["managedFields"] = [{"manager": "kubectl", "fieldsV1": {"f:spec": {"f:x": {}}}}]
    assert check_object(obj, DEPLOYMENT).unknown == []
    crd = builtin_schema("apiextensions.k8s.io", "v1", "CustomResourceDefinition")
    schema = {"openAPIV3Schema": {"type": "object", "x-anything": {"nested": [1]}}}
    crd_obj = {"spec": {"versions": [{"name": "v1", "schema": schema}]}}
    # JSONSchemaProps is a struct: x-anything is unknown; inside a free-form JSON value nothing is.
    assert check_object(crd_obj, crd).unknown == ["spec.versions[0].schema.openAPIV3Schema.x-anything"]


def test_unknown_field_inside_a_map_value_struct_uses_the_map_key() -> None:
    crd = builtin_schema("apiextensions.k8s.io", "v1", "CustomResourceDefinition")
    props = {"spec": {"type": "object", "typo": True}}
    obj = {"spec": {"versions": [{"schema": {"openAPIV3Schema": {"properties": props}}}]}}
    assert check_object(obj, crd).unknown == [
        "spec.versions[0].schema.openAPIV3Schema.properties.spec.typo"]


def test_empty_go_struct_rejects_every_key() -> None:
    crd = builtin_schema("apiextensions.k8s.io", "v1", "CustomResourceDefinition")
    obj = {"spec": {"versions": [{"subresources": {"status": {"enabled": True}}}]}}
    assert check_object(obj, crd).unknown == ["spec.versions[0].subresources.status.enabled"]


def test_prune_unknown_removes_exactly_the_unknown_fields() -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["imagee"] = "nginx"
    obj["spec"]["foo"] = {"deep": 1}
    prune_unknown(obj, DEPLOYMENT)
    assert obj == deployment()


# -- type errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["spec"].update(replicas="3"),
         "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"),
        (lambda d: d["spec"].update(replicas=1.5),
         "json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32"),
        (lambda d: d["spec"].update(replicas=3_000_000_000),
         "json: cannot unmarshal number 3000000000 into Go struct field DeploymentSpec.spec.replicas of type int32"),
        (lambda d: d["spec"].update(paused="yes"),
         "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.paused of type bool"),
        (lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(containerPort="80"),
         "json: cannot unmarshal string into Go struct field ContainerPort"
         ".spec.template.spec.containers.ports.containerPort of type int32"),
        (lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image=5),
         "json: cannot unmarshal number into Go struct field Container.spec.template.spec.containers.image of type string"),
        (lambda d: d["spec"]["template"]["spec"].update(containers={"name": "x"}),
         "json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec.containers of type []v1.Container"),
        (lambda d: d.update(spec="web"),
         "json: cannot unmarshal string into Go struct field Deployment.spec of type v1.DeploymentSpec"),
        (lambda d: d["metadata"]["labels"].update(tier=1),
         "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string"),
        (lambda d: d["metadata"].update(labels=["app"]),
         "json: cannot unmarshal array into Go struct field ObjectMeta.metadata.labels of type map[string]string"),
        (lambda d: d["spec"]["template"]["spec"]["containers"][0].update(resources={"limits": "1"}),
         "json: cannot unmarshal string into Go struct field ResourceRequirements"
         ".spec.template.spec.containers.resources.limits of type v1.ResourceList"),
    ],
)
def test_wrong_json_type_gives_gos_unmarshal_error(mutate, message: str) -> None:
    obj = deployment()
    mutate(obj)
    findings = check_object(obj, DEPLOYMENT)
    assert findings.type_errors == [message]


def test_values_with_their_own_unmarshaller() -> None:
    container = {"name": "c", "resources": {"limits": {"cpu": "500m", "memory": 1.5}},
                 "livenessProbe": {"httpGet": {"port": "http"}}}
    ok = {"metadata": {"creationTimestamp": None}, "spec": {"containers": [container]}}
    assert check_object(ok, POD).type_errors == []

    def errors(container_patch: dict, meta: dict | None = None) -> list[str]:
        pod = {"metadata": meta or {}, "spec": {"containers": [{"name": "c", **container_patch}]}}
        return check_object(pod, POD).type_errors

    assert errors({"resources": {"limits": {"memory": "1Gb"}}}) == [
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"]
    assert errors({"resources": {"limits": {"memory": "1K"}}}) == ["unable to parse quantity's suffix"]
    assert errors({"livenessProbe": {"httpGet": {"port": 80.5}}}) == [
        "json: cannot unmarshal number 80.5 into Go value of type int32"]
    assert errors({"livenessProbe": {"httpGet": {"port": True}}}) == [
        "json: cannot unmarshal bool into Go value of type int32"]
    assert errors({}, {"creationTimestamp": 17}) == [
        "json: cannot unmarshal number into Go value of type string"]
    assert errors({}, {"creationTimestamp": "2024-13-01T00:00:00Z"}) == [
        'parsing time "2024-13-01T00:00:00Z": month out of range']


def test_an_unmarshaller_error_wins_over_earlier_plain_type_errors() -> None:
    obj = deployment(replicas="3")
    obj["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "lots"}}
    findings = check_object(obj, DEPLOYMENT)
    assert findings.type_errors[0].startswith("quantities must match")
    assert type_error_message("Deployment", "v1", findings) == (
        'Deployment in version "v1" cannot be handled as a Deployment: ' + findings.type_errors[0])


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ("aGVsbG8=", ""),
        ("aGVs\nbG8=", ""),
        ("aGVsbG8", "illegal base64 data at input byte 4"),
        ("hello!", "illegal base64 data at input byte 5"),
        ("aGVsbG8=x", "illegal base64 data at input byte 8"),
        ("aG=sbG8=", "illegal base64 data at input byte 2"),
        ("s3cr3t-password", "illegal base64 data at input byte 6"),
    ],
)
def test_secret_data_must_be_base64(data: str, error: str) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"password": data}}
    assert check_object(secret, SECRET).type_errors == ([error] if error else [])


def test_base64_offsets_match_go() -> None:
    assert base64_error_offset("") is None
    assert base64_error_offset("YQ==") is None
    assert base64_error_offset("YQ=") == 3
    assert base64_error_offset("Y") == 0
    assert base64_error_offset("YQ==YQ==") == 4


def test_quantities() -> None:
    for good in ("1", "0.5", "500m", "1Gi", "1e3", "+1", "-2k", ".5", "1E-2"):
        assert quantity_error(good) == "", good
    assert quantity_error("").startswith("quantities must match")
    assert quantity_error("1 Gi").startswith("quantities must match")
    assert quantity_error("1Gib").startswith("quantities must match")  # "b" is no suffix letter
    assert quantity_error("1mi") == "unable to parse quantity's suffix"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("2024-05-01T10:00:00Z", ""),
        ("2024-05-01T10:00:00.5+02:00", ""),
        ("2024-05-01", 'parsing time "2024-05-01" as "2006-01-02T15:04:05Z07:00": cannot parse "" as "T"'),
        ("yesterday", 'parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"'),
        ("2024-02-30T00:00:00Z", 'parsing time "2024-02-30T00:00:00Z": day out of range'),
        ("2024-05-01T25:00:00Z", 'parsing time "2024-05-01T25:00:00Z": hour out of range'),
        ("2024-05-01T10:00:00Z trailing", 'parsing time "2024-05-01T10:00:00Z trailing": extra text: " trailing"'),
    ],
)
def test_times_parse_like_go(value: str, error: str) -> None:
    assert go_time_error(value) == error


# -- messages the handler sends --------------------------------------------------------


def test_strict_message_lists_duplicates_then_unknown_fields() -> None:
    obj, duplicates = parse_json(
        b'{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"a","name":"a"},'
        b'"spec":{"foo":1,"bar":{"x":1,"x":2}}}')
    findings = check_object(obj, DEPLOYMENT)
    assert strict_error_message("Deployment", "v1", findings, duplicates) == (
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
        'duplicate field "metadata.name", unknown field "spec.foo", unknown field "spec.bar"')
    assert unknown_field_warnings(findings, duplicates) == [
        'duplicate field "metadata.name"', 'unknown field "spec.foo"', 'unknown field "spec.bar"']


def test_no_strict_message_for_a_clean_object() -> None:
    findings = check_object(deployment(), DEPLOYMENT)
    assert strict_error_message("Deployment", "v1", findings, []) == ""
    assert unknown_field_warnings(findings, []) == []
    assert type_error_message("Deployment", "v1", findings) == ""


def test_duplicate_of_an_unknown_field_is_reported_once_as_unknown() -> None:
    obj, duplicates = parse_json(b'{"spec":{"foo":1,"foo":2}}')
    findings = check_object(obj, DEPLOYMENT)
    assert unknown_field_warnings(findings, duplicates) == ['unknown field "spec.foo"']


def test_check_does_not_modify_the_object() -> None:
    obj = deployment(foo=1)
    before = copy.deepcopy(obj)
    check_object(obj, DEPLOYMENT)
    assert obj == before


def test_custom_resources_report_duplicates_even_inside_unknown_fields() -> None:
    _, duplicates = parse_json(b'{"spec":{"extra":{"a":1,"a":2}}}')
    findings = Findings(unknown=["spec.extra"])  # what crdschema.prune returned
    assert strict_error_message("Database", "v1", findings, duplicates, custom_resource=True) == (
        'Database in version "v1" cannot be handled as a Database: strict decoding error: '
        'duplicate field "spec.extra.a", unknown field "spec.extra"')
    assert unknown_field_warnings(findings, duplicates) == ['unknown field "spec.extra"']
