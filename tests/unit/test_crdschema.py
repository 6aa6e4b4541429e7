"""Custom resources against their CRD schema: prune, default, validate.

The schema is the kind a student writes for an operator: spec with an enum, bounds,
required fields, defaults, a list-map, a preserve-unknown-fields subtree; status.
Expected messages are the 1.33 apiserver's (several are copied from upstream's own
``pkg/apiserver/validation/validation_test.go``).
"""

from __future__ import annotations

import copy

import pytest

from controlplane.api.crdschema import apply_defaults, prune, validate
from controlplane.api.schema import Schema

DATABASE = Schema({
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "integer", "minimum": 1, "maximum": 10},
                "engine": {"type": "string", "enum": ["postgres", "mysql"], "default": "postgres"},
                "image": {"type": "string", "pattern": "^[a-z0-9./:-]+$", "maxLength": 40},
                "ports": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "required": ["name"], "properties": {
                        "name": {"type": "string"},
                        "port": {"type": "integer", "default": 5432},
                    }},
                },
                "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "config": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "properties": {"tls": {"type": "object", "properties": {"enabled": {"type": "boolean"}}}},
                },
                "backup": {"type": "object", "properties": {
                    "schedule": {"type": "string", "minLength": 9},
                    "retention": {"x-kubernetes-int-or-string": True},
                    "startAt": {"type": "string", "format": "date-time"},
                    "ratio": {"type": "number", "multipleOf": 0.25, "exclusiveMaximum": True, "maximum": 1},
                }},
                "podTemplate": {"type": "object", "x-kubernetes-embedded-resource": True,
                                "x-kubernetes-preserve-unknown-fields": True},
            },
        },
        "status": {"type": "object", "properties": {"phase": {"type": "string"}, "ready": {"type": "boolean"}}},
    },
})


def database(**spec: object) -> dict:
    return {"apiVersion": "example.com/v1", "kind": "Database",
            "metadata": {"name": "db", "namespace": "default"}, "spec": {"size": 3, **spec}}


def messages(obj: dict) -> list[str]:
    return [str(e) for e in validate(obj, DATABASE)]


# -- prune ----------------------------------------------------------------------------


def test_prune_removes_unknown_fields_and_reports_sorted_paths() -> None:
    obj = database(sizee=3, ports=[{"name": "pg", "port": 5432, "protocol": "TCP"}])
    obj["status"] = {"phase": "Ready", "message": "hi"}
    assert prune(obj, DATABASE) == ["spec.ports[0].protocol", "spec.sizee", "status.message"]
    assert obj == {**database(ports=[{"name": "pg", "port": 5432}]), "status": {"phase": "Ready"}}


def test_prune_keeps_type_and_object_meta_at_the_root() -> None:
    obj = database()
    obj["metadata"]["labels"] = {"app": "db"}
    assert prune(obj, DATABASE) == []
    assert obj["apiVersion"] == "example.com/v1" and obj["metadata"]["labels"] == {"app": "db"}


def test_preserve_unknown_fields_keeps_unknown_keys_but_prunes_known_subtrees() -> None:
    obj = database(config={"anything": {"goes": [1, 2]}, "tls": {"enabled": True, "cert": "x"}})
    assert prune(obj, DATABASE) == ["spec.config.tls.cert"]
    assert obj["spec"]["config"] == {"anything": {"goes": [1, 2]}, "tls": {"enabled": True}}


def test_embedded_resource_keeps_its_own_type_and_object_meta() -> None:
    template = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": 1}}
    obj = database(podTemplate=copy.deepcopy(template))
    assert prune(obj, DATABASE) == []
    assert obj["spec"]["podTemplate"] == template


def test_map_values_are_kept_and_fields_under_junctors_are_not_structural() -> None:
    schema = Schema({"type": "object", "properties": {"spec": {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "anyOf": [{"properties": {"b": {"minLength": 1}}}],
    }}})
    obj = {"spec": {"a": "x", "b": "y"}}
    assert prune(obj, schema) == ["spec.b"]


def test_prune_drops_nulls_the_schema_does_not_allow_without_reporting_them() -> None:
    schema = Schema({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "a": {"type": "string"},
        "b": {"type": "string", "nullable": True},
        "c": {"type": "string", "default": "x"},
    }}}})
    obj = {"spec": {"a": None, "b": None, "c": None}}
    assert prune(obj, schema) == []
    assert obj == {"spec": {"b": None, "c": None}}


# -- defaults --------------------------------------------------------------------------


def test_defaults_fill_absent_fields_in_objects_and_list_items() -> None:
    obj = database(ports=[{"name": "pg"}, {"name": "metrics", "port": 9187}])
    apply_defaults(obj, DATABASE)
    assert obj["spec"]["engine"] == "postgres"
    assert obj["spec"]["ports"] == [{"name": "pg", "port": 5432}, {"name": "metrics", "port": 9187}]


def test_defaults_never_override_a_value_and_replace_a_non_nullable_null() -> None:
    obj = database(engine="mysql")
    apply_defaults(obj, DATABASE)
    assert obj["spec"]["engine"] == "mysql"
    obj = database(engine=None)
    apply_defaults(obj, DATABASE)
    assert obj["spec"]["engine"] == "postgres"


def test_default_objects_are_copied_and_apply_inside_map_values() -> None:
    schema = Schema({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "limits": {"type": "object", "default": {"cpu": "1"}, "properties": {"cpu": {"type": "string"}}},
        "backends": {"type": "object", "additionalProperties": {
            "type": "object", "properties": {"weight": {"type": "integer", "default": 1}}}},
    }}}})
    first, second = {"spec": {"backends": {"blue": {}, "green": {"weight": 3}}}}, {"spec": {}}
    apply_defaults(first, schema)
    apply_defaults(second, schema)
    assert first["spec"] == {"limits": {"cpu": "1"}, "backends": {"blue": {"weight": 1}, "green": {"weight": 3}}}
    first["spec"]["limits"]["cpu"] = "2"
    assert second["spec"]["limits"] == {"cpu": "1"}


# -- validate ------------------------------------------------------------------------------


def test_valid_database_has_no_errors() -> None:
    obj = database(engine="mysql", image="postgres:16", ports=[{"name": "pg", "port": 5432}],
                   tags=["a", "b"], labels={"team": "x"},
                   backup={"schedule": "0 3 * * *", "retention": "7d", "startAt": "2024-05-01T03:00:00Z",
                           "ratio": 0.75},
                   podTemplate={"apiVersion": "v1", "kind": "Pod", "spec": {}})
    assert messages(obj) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"size": "3"}, 'spec.size: Invalid value: "string": spec.size in body must be of type integer: "string"'),
        ({"size": 0}, "spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1"),
        ({"size": 11}, "spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10"),
        ({"size": 2.5}, 'spec.size: Invalid value: "number": spec.size in body must be of type integer: "number"'),
        ({"engine": "oracle"}, 'spec.engine: Unsupported value: "oracle": supported values: "postgres", "mysql"'),
        ({"image": "Nginx"}, """spec.image: Invalid value: "Nginx": spec.image in body should match '^[a-z0-9./:-]+$'"""),
        ({"image": "a" * 41}, "spec.image: Too long: may not be more than 40 bytes"),
        ({"labels": {"team": 1}}, 'spec.labels.team: Invalid value: "integer": spec.labels.team in body must be of type string: "integer"'),
        ({"backup": {"schedule": "daily"}},
         'spec.backup.schedule: Invalid value: "daily": spec.backup.schedule in body should be at least 9 chars long'),
        ({"backup": {"retention": True}},
         'spec.backup.retention: Invalid value: "boolean": spec.backup.retention in body must be of type integer,string: "boolean"'),
        ({"backup": {"startAt": "tomorrow"}},
         'spec.backup.startAt: Invalid value: "tomorrow": spec.backup.startAt in body must be of type date-time: "tomorrow"'),
        ({"backup": {"ratio": 0.3}}, "spec.backup.ratio: Invalid value: 0.3: spec.backup.ratio in body should be a multiple of 0.25"),
        ({"backup": {"ratio": 1.5}}, "spec.backup.ratio: Invalid value: 1.5: spec.backup.ratio in body should be less than 1"),
        ({"ports": [{"port": 1}]}, "spec.ports[0].name: Required value"),
        ({"ports": "5432"}, 'spec.ports: Invalid value: "string": spec.ports in body must be of type array: "string"'),
    ],
)
def test_single_problem_messages(spec: dict, expected: str) -> None:
    obj = database()
    obj["spec"].update(spec)
    assert messages(obj) == [expected]


def test_integer_in_a_number_field_meets_gos_integer_arithmetic() -> None:
    # Go checks an int64 against int64(multipleOf): 0.25 becomes 0.
    obj = database(backup={"ratio": 1})
    assert messages(obj) == [
        "spec.backup.ratio: Invalid value: 0: factor MultipleOf declared for spec.backup.ratio must be positive: 0",
        "spec.backup.ratio: Invalid value: 1: spec.backup.ratio in body should be less than 1",
    ]


def test_required_field_missing() -> None:
    obj = database()
    del obj["spec"]["size"]
    assert messages(obj) == ["spec.size: Required value"]


def test_wrong_type_with_an_enum_reports_both() -> None:
    obj = database(engine=5)
    assert messages(obj) == [
        'spec.engine: Invalid value: "integer": spec.engine in body must be of type string: "integer"',
        'spec.engine: Unsupported value: 5: supported values: "postgres", "mysql"',
    ]


def test_list_map_and_set_report_the_second_occurrence() -> None:
    obj = database(ports=[{"name": "pg"}, {"name": "metrics"}, {"name": "pg"}], tags=["a", "b", "a", "a"])
    assert messages(obj) == ['spec.ports[2]: Duplicate value: {"name":"pg"}', 'spec.tags[2]: Duplicate value: "a"']


def test_embedded_resource_needs_api_version_and_kind() -> None:
    assert messages(database(podTemplate={"spec": {}})) == [
        "spec.podTemplate.apiVersion: Required value: must not be empty",
        "spec.podTemplate.kind: Required value: must not be empty",
    ]
    assert messages(database(podTemplate={"apiVersion": "a/b/c", "kind": "my_pod"})) == [
        'spec.podTemplate.apiVersion: Invalid value: "a/b/c": unexpected GroupVersion string: a/b/c',
        'spec.podTemplate.kind: Invalid value: "my_pod": may have mixed case, but should otherwise match: '
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
        "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
        "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
    ]


INT_OR_STRING = Schema({"type": "object", "properties": {"field": {
    "x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}}})


@pytest.mark.parametrize("value", [42, "foo"])
def test_int_or_string_accepts_both(value: object) -> None:
    assert validate({"field": value}, INT_OR_STRING) == []


def test_int_or_string_failure_names_the_anyof_and_its_first_branch() -> None:
    assert [str(e) for e in validate({"field": True}, INT_OR_STRING)] == [
        'field: Invalid value: "boolean": field in body must be of type integer,string: "boolean"',
        '<nil>: Invalid value: "": "field" must validate at least one schema (anyOf)',
        'field: Invalid value: "boolean": field in body must be of type integer: "boolean"',
    ]


def test_null_needs_nullable() -> None:
    schema = Schema({"type": "object", "properties": {
        "a": {"type": "object"}, "b": {"type": "object", "nullable": True}}})
    assert [str(e) for e in validate({"a": None, "b": None}, schema)] == [
        'a: Invalid value: "null": a in body must be of type object: "null"']


def test_one_of_and_not() -> None:
    schema = Schema({"type": "object", "properties": {"spec": {
        "type": "object",
        "properties": {"cron": {"type": "string"}, "interval": {"type": "string"}},
        "oneOf": [{"required": ["cron"]}, {"required": ["interval"]}],
        "not": {"required": ["legacy"]},
    }}})
    assert [str(e) for e in validate({"spec": {"cron": "x", "legacy": 1}}, schema)] == [
        '<nil>: Invalid value: "": "spec" must not validate the schema (not)']
    assert validate({"spec": {"cron": "x"}}, schema) == []
    assert [str(e) for e in validate({"spec": {"cron": "x", "interval": "y"}}, schema)] == [
        '<nil>: Invalid value: "": "spec" must validate one and only one schema (oneOf). Found 2 valid alternatives']
    assert [str(e) for e in validate({"spec": {}}, schema)] == [
        '<nil>: Invalid value: "": "spec" must validate one and only one schema (oneOf). Found none valid',
        "spec.cron: Required value",
    ]


def test_object_and_array_size_limits() -> None:
    schema = Schema({"type": "object", "properties": {
        "m": {"type": "object", "minProperties": 1, "maxProperties": 2, "additionalProperties": {"type": "string"}},
        "l": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}},
        "closed": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False},
    }})
    assert [str(e) for e in validate({"m": {}, "l": [], "closed": {"a": "x", "b": "y"}}, schema)] == [
        "m: Invalid value: 0: m in body should have at least 1 properties",
        "l: Invalid value: 0: l in body should have at least 1 items",
        'closed: Invalid value: "b": closed.b in body is a forbidden property',
    ]
    assert [str(e) for e in validate({"m": {"a": "", "b": "", "c": ""}, "l": ["a", "b", "c"]}, schema)] == [
        "m: Too many: 3: must have at most 2 items",
        "l: Too many: 3: must have at most 2 items",
    ]


def test_status_subtree_can_be_validated_under_its_own_path() -> None:
    # As for PUT .../status upstream: the field path starts at status, the message does not.
    from controlplane.api.crdschema_validate import validate_value
    status_node = DATABASE.prop("status").node
    assert [str(e) for e in validate_value({"ready": "yes"}, status_node, "status")] == [
        'status.ready: Invalid value: "string": ready in body must be of type boolean: "string"']


def test_full_pipeline_as_the_handler_runs_it() -> None:
    obj = database(sizee=4, ports=[{"name": "pg"}])
    del obj["spec"]["size"]
    assert prune(obj, DATABASE) == ["spec.sizee"]
    apply_defaults(obj, DATABASE)
    assert obj["spec"]["ports"] == [{"name": "pg", "port": 5432}]
    assert messages(obj) == ["spec.size: Required value"]
