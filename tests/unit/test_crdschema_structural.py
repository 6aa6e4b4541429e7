"""What a CRD's openAPIV3Schema may say: the errors ``kubectl apply -f crd.yaml`` shows.

Every case starts from a good, structural schema and breaks one thing, the way students do.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from controlplane.api.crdschema import validate_structural
from controlplane.api.fielderrors import Path

PATH = Path("spec", "validation", "openAPIV3Schema")
P = "spec.validation.openAPIV3Schema"

GOOD = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "integer", "minimum": 1, "default": 1},
                "mode": {"type": "string", "enum": ["fast", "safe"], "default": "safe"},
                "port": {"x-kubernetes-int-or-string": True,
                         "anyOf": [{"type": "integer"}, {"type": "string"}]},
                "ports": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "required": ["name"],
                              "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}},
                },
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                             "x-kubernetes-preserve-unknown-fields": True},
                "resources": {"type": "object", "default": {"cpu": "1"},
                              "properties": {"cpu": {"type": "string"}}},
            },
            "oneOf": [{"required": ["size"]}, {"required": ["port"]}],
        },
        "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
    },
}


def errors_after(change: Callable[[dict], None]) -> list[str]:
    schema = copy.deepcopy(GOOD)
    change(schema)
    return [str(e) for e in validate_structural(schema, PATH)]


def spec(schema: dict) -> dict:
    return schema["properties"]["spec"]


def spec_props(schema: dict) -> dict:
    return schema["properties"]["spec"]["properties"]


def test_the_good_schema_is_structural() -> None:
    assert validate_structural(copy.deepcopy(GOOD), PATH) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: spec(s).pop("type"),
         f"{P}.properties[spec].type: Required value: must not be empty for specified object fields"),
        (lambda s: spec_props(s).update(tags={"type": "array", "items": {"description": "a tag"}}),
         f"{P}.properties[spec].properties[tags].items.type: Required value: must not be empty for specified array items"),
        (lambda s: s.pop("type"), f"{P}.type: Required value: must not be empty at the root"),
        (lambda s: s.update(type="array", items={"type": "string"}),
         f'{P}.type: Invalid value: "array": must be object at the root'),
        (lambda s: spec_props(s).update(tags={"type": "array"}),
         f"{P}.properties[spec].properties[tags].items: Required value: must be specified"),
        (lambda s: s.update(additionalProperties={"type": "string"}, properties={}),
         f"{P}.additionalProperties: Forbidden: must not be used at the root"),
        (lambda s: s["properties"]["metadata"].update(properties={"labels": {"type": "object"}}),
         f"{P}.properties[metadata]: Forbidden: must not specify anything other than name and generateName, "
         "but metadata is implicitly specified"),
        (lambda s: s["properties"]["kind"].update(type="integer"),
         f'{P}.properties[kind].type: Invalid value: "integer": must be string'),
        (lambda s: spec(s)["oneOf"].append({"type": "object", "required": ["mode"]}),
         f"{P}.properties[spec].oneOf[2].type: Forbidden: must be empty to be structural"),
        (lambda s: spec(s)["oneOf"].append({"required": ["mode"], "description": "x"}),
         f"{P}.properties[spec].oneOf[2].description: Forbidden: must be empty to be structural"),
        (lambda s: s.update(anyOf=[{"properties": {"extra": {"minLength": 1}}}]),
         f"{P}.properties[extra]: Required value: because it is defined in {P}.anyOf[0].properties[extra]"),
        (lambda s: s.update(allOf=[{"properties": {"metadata": {"required": ["name"]}}}]),
         f"{P}.allOf[0].properties[metadata]: Forbidden: must not be specified in a nested context"),
        (lambda s: spec_props(s)["port"].update(**{"x-kubernetes-preserve-unknown-fields": True}),
         f"{P}.properties[spec].properties[port].x-kubernetes-preserve-unknown-fields: Invalid value: true: "
         "must be false if x-kubernetes-int-or-string is true"),
        (lambda s: spec_props(s)["template"].pop("x-kubernetes-preserve-unknown-fields"),
         f"{P}.properties[spec].properties[template].properties: Required value: must not be empty if "
         "x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields"),
        (lambda s: spec_props(s)["size"].update(pattern="(a"),
         f'{P}.properties[spec].properties[size].pattern: Invalid value: "(a": must be a valid regular '
         "expression, but isn't: error parsing regexp: missing closing ): `(a`"),
    ],
)
def test_structural_violations(change: Callable[[dict], None], expected: str) -> None:
    assert errors_after(change) == [expected]


def test_several_structural_errors_come_sorted() -> None:
    def change(s: dict) -> None:
        del spec(s)["type"]
        del s["properties"]["status"]["type"]
        spec_props(s)["mode"].pop("type")
    assert errors_after(change) == [
        f"{P}.properties[spec].properties[mode].type: Required value: must not be empty for specified object fields",
        f"{P}.properties[spec].type: Required value: must not be empty for specified object fields",
        f"{P}.properties[status].type: Required value: must not be empty for specified object fields",
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: spec(s).update(additionalProperties={"type": "string"}),
         f"{P}.properties[spec].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"),
        (lambda s: spec_props(s)["size"].update(type="int"),
         f'{P}.properties[spec].properties[size].type: Unsupported value: "int": supported values: '
         '"array", "boolean", "integer", "number", "object", "string"'),
        (lambda s: spec_props(s).update(tags={"type": "array", "items": {"type": "string"}, "uniqueItems": True}),
         f"{P}.properties[spec].properties[tags].uniqueItems: Forbidden: uniqueItems cannot be set to true since "
         "the runtime complexity becomes quadratic"),
        (lambda s: s["properties"]["metadata"].update(default={"name": "x"}),
         f"{P}.properties[metadata].default: Forbidden: must not be set in top-level metadata"),
        (lambda s: spec_props(s)["labels"].update(**{"x-kubernetes-list-type": "set"}),
         f'{P}.properties[spec].properties[labels].type: Invalid value: "object": must be array if '
         "x-kubernetes-list-type is specified"),
        (lambda s: spec_props(s)["ports"].update(**{"x-kubernetes-list-type": "list"}),
         f'{P}.properties[spec].properties[ports].x-kubernetes-list-type: Invalid value: "list": '
         "must be map if x-kubernetes-list-map-keys is non-empty"),
        (lambda s: spec_props(s)["ports"].update(**{"x-kubernetes-list-map-keys": ["port"]}),
         f"{P}.properties[spec].properties[ports].items.properties[port].default: Required value: this property "
         "is in x-kubernetes-list-map-keys, so it must have a default or be a required property"),
        (lambda s: spec_props(s)["ports"].update(**{"x-kubernetes-list-map-keys": ["id"]}),
         f'{P}.properties[spec].properties[ports].x-kubernetes-list-map-keys: Invalid value: ["id"]: '
         "entries must all be names of item properties"),
        (lambda s: spec_props(s)["ports"].pop("x-kubernetes-list-map-keys"),
         f"{P}.properties[spec].properties[ports].x-kubernetes-list-map-keys: Required value: "
         "must not be empty if x-kubernetes-list-type is map"),
        (lambda s: spec_props(s)["config"].update(**{"x-kubernetes-preserve-unknown-fields": False, "properties": {}}),
         f"{P}.properties[spec].properties[config].x-kubernetes-preserve-unknown-fields: Invalid value: false: "
         "must be true or undefined"),
        (lambda s: spec_props(s).update(ref={"$ref": "#/definitions/x"}),
         f"{P}.properties[spec].properties[ref].$ref: Forbidden: $ref is not supported"),
        (lambda s: s.update(nullable=True), f"{P}.nullable: Forbidden: nullable cannot be true at the root"),
    ],
)
def test_openapi_schema_rules(change: Callable[[dict], None], expected: str) -> None:
    assert expected in errors_after(change)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: spec_props(s)["size"].update(default="one"),
         f'{P}.properties[spec].properties[size].default: Invalid value: "string":  in body must be of type '
         'integer: "string"'),
        (lambda s: spec_props(s)["size"].update(default=0),
         f"{P}.properties[spec].properties[size].default: Invalid value: 0:  in body should be greater than or equal to 1"),
        (lambda s: spec_props(s)["mode"].update(default="turbo"),
         f'{P}.properties[spec].properties[mode].default: Unsupported value: "turbo": supported values: "fast", "safe"'),
        (lambda s: spec_props(s)["resources"].update(default={"cpu": "1", "memory": "1Gi"}),
         f'{P}.properties[spec].properties[resources].default: Invalid value: {{"cpu":"1","memory":"1Gi"}}: '
         "must not have unknown fields"),
        (lambda s: spec_props(s)["template"].update(default={"spec": {}}),
         f"{P}.properties[spec].properties[template].default.apiVersion: Required value: must not be empty"),
    ],
)
def test_defaults_must_validate_and_be_pruned(change: Callable[[dict], None], expected: str) -> None:
    assert expected in errors_after(change)


def test_defaults_are_only_checked_on_a_structural_schema() -> None:
    def change(s: dict) -> None:
        spec_props(s)["size"]["default"] = "one"
        del s["properties"]["status"]["type"]
    assert errors_after(change) == [
        f"{P}.properties[status].type: Required value: must not be empty for specified object fields"]


def test_unconvertible_schema_is_reported_only_when_nothing_else_is() -> None:
    assert errors_after(lambda s: s.update(**{"$schema": "http://json-schema.org/draft-04/schema#"})) == [
        f"{P}: Invalid value: \"\": OpenAPIV3Schema 'schema' is not supported"]


def test_path_prefix_is_the_callers() -> None:
    schema = copy.deepcopy(GOOD)
    del spec(schema)["type"]
    path = Path("spec", "versions").index(1).child("schema", "openAPIV3Schema")
    assert [str(e) for e in validate_structural(schema, path)] == [
        "spec.versions[1].schema.openAPIV3Schema.properties[spec].type: Required value: "
        "must not be empty for specified object fields"]
