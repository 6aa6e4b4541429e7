"""JSON patch (RFC 6902): the six operations, all-or-nothing, and the HTTP code of each failure."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from controlplane.api.patch import PatchError, json_patch


def _deployment() -> dict:
    return {
        "metadata": {"name": "web", "annotations": {"deployment.kubernetes.io/revision": "2"}},
        "spec": {
            "replicas": 2,
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.26"}]},
            },
        },
    }


@pytest.mark.parametrize(("operation", "path", "expected"), [
    ({"op": "add", "path": "/metadata/labels", "value": {"tier": "fe"}},
     "/metadata/labels", {"tier": "fe"}),
    ({"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "log"}},
     "/spec/template/spec/containers", [{"name": "nginx", "image": "nginx:1.26"}, {"name": "log"}]),
    ({"op": "add", "path": "/spec/template/spec/containers/0", "value": {"name": "init"}},
     "/spec/template/spec/containers",
     [{"name": "init"}, {"name": "nginx", "image": "nginx:1.26"}]),
    ({"op": "replace", "path": "/spec/replicas", "value": 5}, "/spec/replicas", 5),
    ({"op": "remove", "path": "/spec/template/metadata/labels/app"},
     "/spec/template/metadata/labels", {}),
    ({"op": "move", "from": "/spec/replicas", "path": "/spec/count"}, "/spec",
     {"count": 2, "template": _deployment()["spec"]["template"]}),
    ({"op": "copy", "from": "/spec/template/metadata/labels", "path": "/metadata/labels"},
     "/metadata/labels", {"app": "web"}),
    ({"op": "test", "path": "/spec/replicas", "value": 2}, "/spec/replicas", 2),
])
def test_each_operation(operation: dict, path: str, expected: Any) -> None:
    result = json_patch(_deployment(), [operation])
    assert _get(result, path) == expected


def _get(obj: Any, pointer: str) -> Any:
    for part in pointer.strip("/").split("/"):
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    return obj


def test_rollout_undo_replaces_the_template_and_the_annotations() -> None:
    # What `kubectl rollout undo` sends: an old ReplicaSet's template.
    old_template = {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}}
    operations = [
        {"op": "replace", "path": "/spec/template", "value": old_template},
        {"op": "replace", "path": "/metadata/annotations",
         "value": {"deployment.kubernetes.io/revision": "1"}},
    ]
    result = json_patch(_deployment(), operations)
    assert result["spec"]["template"] == old_template
    assert result["metadata"]["annotations"] == {"deployment.kubernetes.io/revision": "1"}
    assert result["spec"]["replicas"] == 2


def test_a_failed_test_is_422_with_the_library_message_and_nothing_is_applied() -> None:
    original = _deployment()
    operations = [
        {"op": "replace", "path": "/spec/replicas", "value": 9},
        {"op": "test", "path": "/metadata/name", "value": "api"},
    ]
    with pytest.raises(PatchError) as caught:
        json_patch(original, operations)
    assert caught.value.code == 422
    assert caught.value.message == (
        "web (<class 'str'>) is not equal to tested value api (<class 'str'>)")
    assert original["spec"]["replicas"] == 2


@pytest.mark.parametrize(("operation", "message"), [
    ({"op": "replace", "path": "/spec/paused", "value": True},
     "can't replace a non-existent object 'paused'"),
    ({"op": "remove", "path": "/metadata/labels"}, "can't remove a non-existent object 'labels'"),
    ({"op": "add", "path": "/status/replicas", "value": 1}, "member 'status' not found in"),
    ({"op": "move", "from": "/spec/paused", "path": "/spec/x"}, "paused"),
    ({"op": "replace", "path": "/spec/template/spec/containers/3", "value": {}},
     "can't replace outside of list"),
    ({"op": "test", "path": "/spec/paused", "value": True}, "member 'paused' not found in"),
])
def test_an_operation_on_a_missing_path_is_422(operation: dict, message: str) -> None:
    with pytest.raises(PatchError) as caught:
        json_patch(_deployment(), [operation])
    assert caught.value.code == 422
    assert message in caught.value.message


def test_test_tells_true_from_one() -> None:
    with pytest.raises(PatchError) as caught:
        json_patch({"spec": {"replicas": 1}},
                   [{"op": "test", "path": "/spec/replicas", "value": True}])
    assert caught.value.code == 422


@pytest.mark.parametrize(("body", "message"), [
    ({"op": "add", "path": "/a", "value": 1}, "a JSON patch must be a list of operations"),
    ("[]", "a JSON patch must be a list of operations"),
    (["add"], "a JSON patch must be a list of operations"),
    ([{"op": "upsert", "path": "/a", "value": 1}], "Unknown operation 'upsert'"),
    ([{"path": "/a", "value": 1}], "Operation does not contain 'op' member"),
    ([{"op": "add", "value": 1}], "Operation must have a 'path' member"),
    ([{"op": "add", "path": "/a"}], "The operation does not contain a 'value' member"),
    ([{"op": "move", "path": "/a"}], "The operation does not contain a 'from' member"),
])
def test_a_body_that_is_not_a_list_of_operations_is_400(body: Any, message: str) -> None:
    with pytest.raises(PatchError) as caught:
        json_patch(_deployment(), body)
    assert caught.value.code == 400
    assert caught.value.message == message


def test_an_empty_list_changes_nothing() -> None:
    assert json_patch(_deployment(), []) == _deployment()


def test_replacing_the_whole_document_with_a_list_is_refused() -> None:
    with pytest.raises(PatchError) as caught:
        json_patch(_deployment(), [{"op": "replace", "path": "", "value": [1]}])
    assert caught.value.code == 422


def test_inputs_are_not_changed_and_the_result_shares_nothing_with_them() -> None:
    original = _deployment()
    operations = [{"op": "add", "path": "/metadata/labels", "value": {"tier": "fe"}},
                  {"op": "remove", "path": "/spec/replicas"}]
    original_before, operations_before = copy.deepcopy(original), copy.deepcopy(operations)

    result = json_patch(original, operations)
    assert "replicas" not in result["spec"]
    result["metadata"]["labels"]["tier"] = "changed"
    result["spec"]["template"]["spec"]["containers"][0]["image"] = "changed"
    assert original == original_before
    assert operations == operations_before
