"""CustomResourceDefinition validation, with upstream's internal field paths."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from controlplane.api.validation import rules_for

CRD = rules_for("apiextensions.k8s.io", "CustomResourceDefinition")
Mutation = Callable[[dict], object]
SCHEMA = {"openAPIV3Schema": {"type": "object", "properties": {
    "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
    "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}}}
DNS1035 = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
           "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
           "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")


def version(name: str = "v1", storage: bool = True, **extra: object) -> dict:
    return {"name": name, "served": True, "storage": storage, "schema": copy.deepcopy(SCHEMA), **extra}


def crd() -> dict:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                     "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
                     "versions": [version()]}}


def spec(**fields: object) -> Mutation:
    return lambda obj: obj["spec"].update(fields)


def names(**fields: object) -> Mutation:
    return lambda obj: obj["spec"]["names"].update(fields)


def first_version(**fields: object) -> Mutation:
    return lambda obj: obj["spec"]["versions"][0].update(fields)


def errors(mutate: Mutation) -> list[str]:
    obj = crd()
    mutate(obj)
    CRD.default(obj)
    return [str(e) for e in CRD.validate(obj)]


def go_version(name: str, storage: bool) -> str:
    return (f'apiextensions.CustomResourceDefinitionVersion{{Name:"{name}", Served:true, '
            f"Storage:{str(storage).lower()}, Deprecated:false, DeprecationWarning:(*string)(nil), "
            "Schema:(*apiextensions.CustomResourceValidation)(nil), "
            "Subresources:(*apiextensions.CustomResourceSubresources)(nil), "
            "AdditionalPrinterColumns:[]apiextensions.CustomResourceColumnDefinition(nil), "
            "SelectableFields:[]apiextensions.SelectableField(nil)}")


CASES = [
    ("valid", spec(), []),
    ("name is not plural.group", lambda o: o["metadata"].update(name="widget.example.com"),
     ['metadata.name: Invalid value: "widget.example.com": must be spec.names.plural+"."+spec.group']),
    ("group without a dot", lambda o: (o["metadata"].update(name="widgets.example"),
                                       o["spec"].update(group="example")),
     ['spec.group: Invalid value: "example": should be a domain with at least one dot']),
    ("missing scope", spec(scope=""), ["spec.scope: Required value"]),
    ("unknown scope", spec(scope="Global"),
     ['spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced"']),
    ("no schema", first_version(schema=None),
     ["spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required"]),
    # A shared schema is checked (and named) as spec.validation, as upstream's internal type has it.
    ("schema problem", lambda o: o["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
     ["properties"].update(size={}),
     ["spec.validation.openAPIV3Schema.properties[spec].properties[size].type: Required value: "
      "must not be empty for specified object fields"]),
    ("two storage versions", spec(versions=[version("v1"), version("v2")]),
     ["spec.versions: Invalid value: []apiextensions.CustomResourceDefinitionVersion{"
      f'{go_version("v1", True)}, {go_version("v2", True)}}}: must have exactly one version marked as '
      "storage version",
      # Only the first storage version was recorded as stored.
      'status.storedVersions: Invalid value: []string{"v1"}: must have the storage version v2']),
    ("no storage version", first_version(storage=False),
     ["spec.versions: Invalid value: []apiextensions.CustomResourceDefinitionVersion{"
      f'{go_version("v1", False)}}}: must have exactly one version marked as storage version',
      "status.storedVersions: Invalid value: []string(nil): must have at least one stored version"]),
    ("duplicate version names", spec(versions=[version("v1"), version("v1", storage=False)]),
     ["spec.versions: Invalid value: []apiextensions.CustomResourceDefinitionVersion{"
      f'{go_version("v1", True)}, {go_version("v1", False)}}}: must contain unique version names']),
    ("version name", first_version(name="V1"),
     [f'spec.versions[0].name: Invalid value: "V1": {DNS1035}', f'spec.version: Invalid value: "V1": {DNS1035}']),
    ("warning without deprecation", first_version(deprecationWarning="use v2"),
     ['spec.versions[0].deprecationWarning: Invalid value: "use v2": can only be set for deprecated versions']),
    ("kind", lambda o: (o["metadata"].update(name="widgets.example.com"), names(kind="Wid_get")(o)),
     # singular and listKind are defaulted from the kind, so they inherit its problem.
     [f'spec.names.singular: Invalid value: "wid_get": {DNS1035}',
      'spec.names.kind: Invalid value: "Wid_get": may have mixed case, but should otherwise match: '
      + DNS1035, 'spec.names.listKind: Invalid value: "Wid_getList": may have mixed case, but should '
      "otherwise match: " + DNS1035]),
    ("kind equals listKind", names(listKind="Widget"),
     ['spec.names.listKind: Invalid value: "Widget": kind and listKind may not be the same']),
    ("short name", names(shortNames=["w!"]), [f'spec.names.shortNames[0]: Invalid value: "w!": {DNS1035}']),
    ("missing kind", names(kind=""),
     ["spec.names.singular: Required value", "spec.names.kind: Required value",
      "spec.names.listKind: Required value"]),
    ("printer columns", first_version(additionalPrinterColumns=[
        {"name": "Size", "type": "float", "jsonPath": "spec.size"}, {"name": "Age", "type": "date"}]),
     ['spec.additionalPrinterColumns[0].type: Invalid value: "float": must be one of '
      "boolean,date,integer,number,string",
      'spec.additionalPrinterColumns[0].JSONPath: Invalid value: "spec.size": must be a simple json path '
      "starting with .",
      "spec.additionalPrinterColumns[1].JSONPath: Required value"]),
    ("columns that differ per version stay per version",
     spec(versions=[version("v1"), version("v2", storage=False, additionalPrinterColumns=[
         {"name": "Size", "type": "int", "jsonPath": ".spec.size"}])]),
     ['spec.versions[1].additionalPrinterColumns[0].type: Invalid value: "int": must be one of '
      "boolean,date,integer,number,string"]),
    ("scale paths", first_version(subresources={"scale": {"specReplicasPath": ".status.replicas"}}),
     ['spec.subresources.scale.specReplicasPath: Invalid value: ".status.replicas": should be a json path '
      "under .spec", "spec.subresources.scale.statusReplicasPath: Required value"]),
    ("status subresource and root fields", lambda o: (
        o["spec"]["versions"][0].update(subresources={"status": {}}),
        o["spec"]["versions"][0]["schema"]["openAPIV3Schema"].update(maxProperties=3)),
     ["spec.validation.openAPIV3Schema: Invalid value: apiextensions.JSONSchemaProps{...}: only [Description "
      "Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum MaxLength MinLength Pattern "
      "MaxItems MinItems UniqueItems MultipleOf Required Items Properties ExternalDocs Example "
      "XPreserveUnknownFields XValidations] fields are allowed at the root of the schema if the status "
      "subresource is enabled"]),
    ("webhook without config", spec(conversion={"strategy": "Webhook"}),
     ["spec.conversion.webhookClientConfig: Required value: required when strategy is set to Webhook",
      "spec.conversion.conversionReviewVersions: Required value"]),
    ("webhook problems", spec(conversion={"strategy": "Webhook", "webhook": {
        "clientConfig": {"url": "http://user@conv.example.com/x?y=1"}, "conversionReviewVersions": ["v2"]}}),
     ['spec.conversion.webhookClientConfig.url: Invalid value: "http": \'https\' is the only allowed URL '
      "scheme; desired format: https://host[/path]",
      'spec.conversion.webhookClientConfig.url: Invalid value: "user": user information is not permitted '
      "in the URL",
      'spec.conversion.webhookClientConfig.url: Invalid value: "y=1": query parameters are not permitted '
      "in the URL",
      'spec.conversion.conversionReviewVersions: Invalid value: []string{"v2"}: must include at least one '
      "of v1, v1beta1"]),
    ("webhook service", spec(conversion={"strategy": "Webhook", "webhook": {
        "clientConfig": {"service": {"name": "conv", "path": "/convert/"}}, "conversionReviewVersions": ["v1"]}}),
     ["spec.conversion.webhookClientConfig.service.namespace: Required value: service namespace is required"]),
    ("None with webhook settings", spec(conversion={"strategy": "None", "webhook": {
        "clientConfig": {"url": "https://conv.example.com"}, "conversionReviewVersions": ["v1"]}}),
     ["spec.conversion.webhookClientConfig: Forbidden: should not be set when strategy is not set to Webhook",
      "spec.conversion.conversionReviewVersions: Forbidden: should not be set when strategy is not set to "
      "Webhook"]),
    ("preserveUnknownFields", spec(preserveUnknownFields=True),
     ["spec.preserveUnknownFields: Invalid value: true: cannot set to true, set "
      "x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead"]),
]


@pytest.mark.parametrize("name, mutate, expected", CASES, ids=[c[0] for c in CASES])
def test_crd(name: str, mutate: Mutation, expected: list[str]) -> None:
    assert errors(mutate) == expected


def protected(annotation: str | None) -> Mutation:
    def mutate(obj: dict) -> None:
        obj["metadata"]["name"] = "widgets.apps.k8s.io"
        obj["spec"]["group"] = "apps.k8s.io"
        if annotation is not None:
            obj["metadata"]["annotations"] = {"api-approved.kubernetes.io": annotation}
    return mutate


@pytest.mark.parametrize("annotation, expected", [
    (None, ["metadata.annotations[api-approved.kubernetes.io]: Required value: protected groups must have "
            'approval annotation "api-approved.kubernetes.io", see '
            "https://github.com/kubernetes/enhancements/pull/1111"]),
    ("https://github.com/kubernetes/kubernetes/pull/78458", []),
    ("unapproved, just for the lab", []),
    ("yes", ['metadata.annotations[api-approved.kubernetes.io]: Invalid value: "yes": protected groups must '
             'have approval annotation "api-approved.kubernetes.io" with either a URL or a reason starting '
             'with "unapproved", see https://github.com/kubernetes/enhancements/pull/1111']),
])
def test_protected_groups_need_approval(annotation: str | None, expected: list[str]) -> None:
    assert errors(protected(annotation)) == expected


def stored(mutate: Mutation = spec()) -> dict:
    obj = crd()
    mutate(obj)
    CRD.default(obj)
    return obj


def update_errors(old: dict, mutate: Mutation) -> list[str]:
    new = copy.deepcopy(old)
    mutate(new)
    CRD.default(new)
    return [str(e) for e in CRD.validate_update(new, old)]


def test_group_and_plural_never_change() -> None:
    assert update_errors(stored(), spec(group="example.org")) == [
        'spec.group: Invalid value: "example.org": field is immutable']
    assert update_errors(stored(), names(plural="gadgets")) == [
        'spec.names.plural: Invalid value: "gadgets": field is immutable']


def test_scope_and_kind_are_fixed_once_established() -> None:
    old = stored()
    assert update_errors(old, spec(scope="Cluster")) == []
    old["status"]["conditions"] = [{"type": "Established", "status": "True"}]
    assert update_errors(old, lambda o: (o["spec"].update(scope="Cluster"), names(kind="Gadget")(o))) == [
        'spec.scope: Invalid value: "Cluster": field is immutable',
        'spec.names.kind: Invalid value: "Gadget": field is immutable']


def test_a_stored_version_cannot_leave_spec_versions() -> None:
    old = stored(spec(versions=[version("v1", storage=False), version("v2")]))
    old["status"]["storedVersions"] = ["v1", "v2"]
    assert update_errors(old, spec(versions=[version("v2")])) == [
        'status.storedVersions[0]: Invalid value: "v1": missing from spec.versions; v1 was previously a '
        "storage version, and must remain in spec.versions until a storage migration ensures no data "
        "remains persisted in v1 and removes v1 from status.storedVersions"]


def test_moving_storage_adds_a_stored_version() -> None:
    old = stored(spec(versions=[version("v1"), version("v2", storage=False)]))
    new = copy.deepcopy(old)
    new["spec"]["versions"][0]["storage"], new["spec"]["versions"][1]["storage"] = False, True
    CRD.default(new)
    assert new["status"]["storedVersions"] == ["v1", "v2"]
    assert CRD.validate_update(new, old) == []


def test_status_update_checks_accepted_names() -> None:
    old = stored()
    new = copy.deepcopy(old)
    new["status"]["acceptedNames"] = {"plural": "Widgets", "kind": "Widget"}
    assert [str(e) for e in CRD.validate_status_update(new, old)] == [
        f'status.acceptedNames.plural: Invalid value: "Widgets": {DNS1035}']
