"""Names, labels, selectors and ObjectMeta: the messages kubectl prints, word for word."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.api.fielderrors import Path
from controlplane.api.validation import meta

SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric"
                 " characters, '-' or '.', and must start and end with an alphanumeric character"
                 " (e.g. 'example.com', regex used for validation is"
                 " '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or"
             " '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or"
             " '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-',"
               " start with an alphabetic character, and end with an alphanumeric character"
               " (e.g. 'my-name',  or 'abc-123', regex used for validation is"
               " '[a-z]([-a-z0-9]*[a-z0-9])?')")
NAME_PART_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must"
                 " start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name', "
                 " or '123-abc', regex used for validation is"
                 " '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters,"
                   " '-', '_' or '.', and must start and end with an alphanumeric character (e.g."
                   " 'MyValue',  or 'my_value',  or '12345', regex used for validation is"
                   " '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")


@pytest.mark.parametrize("check, value, expected", [
    (meta.is_dns1123_subdomain, "web.example.com", []),
    (meta.is_dns1123_subdomain, "Bad_Name", [SUBDOMAIN_MSG]),
    (meta.is_dns1123_subdomain, "a" * 254, ["must be no more than 253 characters"]),
    (meta.is_dns1123_label, "web-1", []),
    (meta.is_dns1123_label, "web.1", ["must not contain dots"]),
    (meta.is_dns1123_label, "-web", [LABEL_MSG]),
    (meta.is_dns1123_label, "a" * 64, ["must be no more than 63 characters"]),
    (meta.is_dns1035_label, "web", []),
    (meta.is_dns1035_label, "1web", [DNS1035_MSG]),
    (meta.is_qualified_name, "app.kubernetes.io/name", []),
    (meta.is_qualified_name, "-app", [NAME_PART_MSG]),
    (meta.is_qualified_name, "/app", ["prefix part must be non-empty"]),
    (meta.is_qualified_name, "example.com/", ["name part must be non-empty", NAME_PART_MSG]),
    (meta.is_qualified_name, "Bad_Prefix/app", ["prefix part " + SUBDOMAIN_MSG]),
    (meta.is_valid_label_value, "", []),
    (meta.is_valid_label_value, "v1.2_3", []),
    (meta.is_valid_label_value, "-v", [LABEL_VALUE_MSG]),
    (meta.is_path_segment_name, "system:controller", []),
    (meta.is_path_segment_name, "..", ["may not be '..'"]),
    (meta.is_path_segment_name, "a/b%c", ["may not contain '/'", "may not contain '%'"]),
])
def test_name_checks(check, value, expected):
    assert check(value) == expected


def test_qualified_name_with_two_slashes_explains_the_whole_format():
    assert meta.is_qualified_name("a/b/c") == [
        "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must"
        " start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or"
        " '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]


def messages(errors) -> list[str]:
    return [str(e) for e in errors]


def test_labels_report_bad_keys_and_values_at_the_map():
    errs = meta.validate_labels({"-app": "web", "tier": "-front"}, Path("metadata", "labels"))
    assert messages(errs) == [f'metadata.labels: Invalid value: "-app": {NAME_PART_MSG}',
                              f'metadata.labels: Invalid value: "-front": {LABEL_VALUE_MSG}']


def test_annotation_keys_ignore_case_and_the_total_is_limited():
    path = Path("metadata", "annotations")
    assert meta.validate_annotations({"Example.COM/Owner": "me"}, path) == []
    errs = meta.validate_annotations({"big": "x" * (256 * 1024)}, path)
    assert messages(errs) == ["metadata.annotations: Too long: may not be more than 262144 bytes"]


EXPR = "spec.selector.matchExpressions[0]"


@pytest.mark.parametrize("expr, expected", [
    ({"key": "tier", "operator": "In", "values": ["a"]}, []),
    ({"key": "tier", "operator": "In"},
     [f"{EXPR}.values: Required value: must be specified when `operator` is 'In' or 'NotIn'"]),
    ({"key": "tier", "operator": "Exists", "values": ["a"]},
     [f"{EXPR}.values: Forbidden: may not be specified when `operator` is 'Exists' or"
      " 'DoesNotExist'"]),
    ({"key": "tier", "operator": "Equals", "values": ["a"]},
     [f'{EXPR}.operator: Invalid value: "Equals": not a valid selector operator']),
    ({"key": "tier", "operator": "NotIn", "values": ["-x"]},
     [f'{EXPR}.values[0]: Invalid value: "-x": {LABEL_VALUE_MSG}']),
])
def test_label_selector_requirements(expr, expected):
    errs = meta.validate_label_selector({"matchExpressions": [expr]}, Path("spec", "selector"))
    assert messages(errs) == expected


def expr(operator: str, *values: str) -> dict[str, Any]:
    """A selector with one requirement on the key "tier"."""
    requirement: dict[str, Any] = {"key": "tier", "operator": operator}
    if values:
        requirement["values"] = list(values)
    return {"matchExpressions": [requirement]}


@pytest.mark.parametrize("selector, labels, matches", [
    (None, {"app": "web"}, False),
    ({}, {"app": "web"}, True),
    ({"matchLabels": {"app": "web"}}, {"app": "web", "tier": "a"}, True),
    ({"matchLabels": {"app": "web"}}, {"app": "db"}, False),
    (expr("In", "a", "b"), {"tier": "b"}, True),
    (expr("In", "a", "b"), {}, False),
    (expr("NotIn", "a"), {}, True),
    (expr("NotIn", "a"), {"tier": "a"}, False),
    (expr("Exists"), {"tier": ""}, True),
    (expr("DoesNotExist"), {"tier": ""}, False),
    (expr("Bogus"), {"tier": "a"}, False),
])
def test_label_selector_matches(selector, labels, matches):
    assert meta.label_selector_matches(selector, labels) is matches


@pytest.mark.parametrize("selector, text", [
    (None, "<none>"),
    ({}, "<none>"),
    ({"matchLabels": {"tier": "web", "app": "shop"}}, "app=shop,tier=web"),
    ({"matchLabels": {"app": "web"},
      "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]},
                           {"key": "env", "operator": "NotIn", "values": ["prod"]},
                           {"key": "canary", "operator": "DoesNotExist"},
                           {"key": "zone", "operator": "Exists"}]},
     "app=web,!canary,env notin (prod),tier in (a,b),zone"),
    (expr("Bogus"), "<error>"),
])
def test_selector_to_string(selector, text):
    assert meta.selector_to_string(selector) == text


def obj(**metadata: Any) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}


WEB = {"name": "web", "namespace": "default"}


@pytest.mark.parametrize("metadata, namespaced, expected", [
    (WEB, True, []),
    ({"namespace": "default"}, True,
     ["metadata.name: Required value: name or generateName is required"]),
    ({**WEB, "name": "Bad_Name"}, True,
     [f'metadata.name: Invalid value: "Bad_Name": {SUBDOMAIN_MSG}']),
    ({"name": "web"}, True, ["metadata.namespace: Required value"]),
    ({**WEB, "namespace": "Dev"}, True, [f'metadata.namespace: Invalid value: "Dev": {LABEL_MSG}']),
    (WEB, False, ["metadata.namespace: Forbidden: not allowed on this type"]),
    ({**WEB, "name": "web-x2k9q", "generateName": "web-"}, True, []),
    ({**WEB, "name": "Web-x2k9q", "generateName": "Web-"}, True,
     [f'metadata.generateName: Invalid value: "Web-": {SUBDOMAIN_MSG}',
      f'metadata.name: Invalid value: "Web-x2k9q": {SUBDOMAIN_MSG}']),
    ({**WEB, "finalizers": ["example.com/cleanup", "kubernetes"]}, True, []),
    ({**WEB, "finalizers": ["cleanup"]}, True,
     ['metadata.finalizers[0]: Invalid value: "cleanup": name is neither a standard finalizer'
      " name nor is it fully qualified"]),
    ({**WEB, "finalizers": ["orphan", "foregroundDeletion"]}, True,
     ['metadata.finalizers: Invalid value: []string{"orphan", "foregroundDeletion"}: finalizer'
      " orphan and foregroundDeletion cannot be both set"]),
    ({**WEB, "generation": -1}, True,
     ["metadata.generation: Invalid value: -1: must be greater than or equal to 0"]),
    ({**WEB, "managedFields": [{"manager": "kubectl", "operation": "Patch"}]}, True,
     ['metadata.managedFields[0].operation: Invalid value: "Patch": must be `Apply` or'
      " `Update`"]),
])
def test_object_meta_on_create(metadata, namespaced, expected):
    assert messages(meta.validate_object_meta(obj(**metadata), namespaced=namespaced)) == expected


def test_object_meta_uses_the_kinds_name_rule():
    errs = meta.validate_object_meta(obj(name="1web", namespace="default"), namespaced=True,
                                     name_check=meta.is_dns1035_label)
    assert messages(errs) == [f'metadata.name: Invalid value: "1web": {DNS1035_MSG}']


def test_custom_resources_may_use_unqualified_finalizers():
    cr = {"apiVersion": "stable.example.com/v1", "metadata": {**WEB, "finalizers": ["cleanup"]}}
    assert meta.validate_object_meta(cr, namespaced=True) == []


OWNER = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "u1",
         "controller": True}
REFS = "metadata.ownerReferences"


@pytest.mark.parametrize("refs, expected", [
    ([OWNER], []),
    ([{"apiVersion": "", "kind": "", "name": "", "uid": ""}],
     [(f"{REFS}.apiVersion", "version must not be empty"), (f"{REFS}.kind", "must not be empty"),
      (f"{REFS}.name", "must not be empty"), (f"{REFS}.uid", "must not be empty")]),
    ([{**OWNER, "apiVersion": "a/b/c"}], [(f"{REFS}.apiVersion", "version must not be empty")]),
    ([OWNER, {**OWNER, "name": "web-2", "uid": "u2"}],
     [(REFS, 'Only one reference can have Controller set to true. Found "true" in references'
             " for ReplicaSet/web-1 and ReplicaSet/web-2")]),
    ([{"apiVersion": "v1", "kind": "Event", "name": "e", "uid": "u"}],
     [(REFS, "/v1, Kind=Event is disallowed from being an owner")]),
])
def test_owner_references(refs, expected):
    # Upstream prints a bad reference list with Go's %#v, pointer addresses and all; compare
    # what does not depend on that.
    errs = meta.validate_object_meta(obj(**WEB, ownerReferences=refs), namespaced=True)
    assert [(e.field, e.detail) for e in errs] == expected
    assert all(e.type == "FieldValueInvalid" for e in errs)


STORED = {**WEB, "uid": "u1", "resourceVersion": "7", "generation": 2,
          "creationTimestamp": "2025-01-01T00:00:00Z"}
LATER = "2025-02-02T00:00:00Z"


@pytest.mark.parametrize("change, expected", [
    ({}, []),
    ({"labels": {"app": "web"}}, []),
    ({"name": "web2"}, ['metadata.name: Invalid value: "web2": field is immutable']),
    ({"namespace": "other"}, ['metadata.namespace: Invalid value: "other": field is immutable']),
    ({"uid": "u2"}, ['metadata.uid: Invalid value: "u2": field is immutable']),
    ({"creationTimestamp": LATER},
     ["metadata.creationTimestamp: Invalid value: 2025-02-02 00:00:00 +0000 UTC: field is"
      " immutable"]),
    ({"deletionTimestamp": LATER},
     ["metadata.deletionTimestamp: Invalid value: 2025-02-02 00:00:00 +0000 UTC: field is"
      " immutable"]),
    ({"deletionGracePeriodSeconds": 30},
     ["metadata.deletionGracePeriodSeconds: Invalid value: 30: field is immutable"]),
    ({"resourceVersion": ""},
     ['metadata.resourceVersion: Invalid value: "": must be specified for an update']),
    ({"generation": 1}, ["metadata.generation: Invalid value: 1: must not be decremented"]),
    ({"labels": {"app": "-web"}}, [f'metadata.labels: Invalid value: "-web": {LABEL_VALUE_MSG}']),
])
def test_object_meta_on_update(change, expected):
    new = obj(**{**STORED, **change})
    assert messages(meta.validate_object_meta_update(new, obj(**STORED))) == expected


def test_no_new_finalizers_once_deleting():
    old = obj(**STORED, deletionTimestamp=LATER, finalizers=["a.io/x"])
    new = obj(**STORED, deletionTimestamp=LATER, finalizers=["a.io/x", "b.io/y", "a.io/z"])
    assert messages(meta.validate_object_meta_update(new, old)) == [
        "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being"
        ' deleted, found new finalizers []string{"a.io/z", "b.io/y"}']
