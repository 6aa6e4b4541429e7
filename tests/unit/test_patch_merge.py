"""JSON merge patch (RFC 7386): the RFC's own examples, and the patches kubectl sends."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controlplane.api.patch import merge_patch, strategic_merge_patch

# RFC 7386, Appendix A: (original, patch, result).
RFC_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("original", "patch", "expected"), RFC_EXAMPLES)
def test_rfc_7386_examples(original: Any, patch: Any, expected: Any) -> None:
    assert merge_patch(original, patch) == expected


def _deployment() -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "template": {"spec": {"containers": [
                {"name": "nginx", "image": "nginx:1.25"},
                {"name": "log", "image": "busybox"},
            ]}},
        },
    }


def test_kubectl_label_adds_a_label_and_keeps_the_rest() -> None:
    result = merge_patch(_deployment(), {"metadata": {"labels": {"env": "dev"}}})
    assert result["metadata"]["labels"] == {"app": "web", "env": "dev"}
    assert result["spec"] == _deployment()["spec"]


def test_kubectl_label_with_a_dash_sends_null_and_removes_the_label() -> None:
    result = merge_patch(_deployment(), {"metadata": {"labels": {"app": None}}})
    assert result["metadata"]["labels"] == {}


def test_kubectl_scale_changes_only_replicas() -> None:
    result = merge_patch(_deployment(), {"spec": {"replicas": 3}})
    assert result["spec"]["replicas"] == 3
    assert result["spec"]["template"] == _deployment()["spec"]["template"]


def test_a_list_is_replaced_whole_never_merged() -> None:
    # The reason strategic merge patch exists: sending one container drops the other.
    one = [{"name": "nginx", "image": "nginx:1.27"}]
    result = merge_patch(_deployment(), {"spec": {"template": {"spec": {"containers": one}}}})
    assert result["spec"]["template"]["spec"]["containers"] == one


def test_deleting_a_key_that_is_not_there_is_not_an_error() -> None:
    assert merge_patch({"a": 1}, {"b": None}) == {"a": 1}


def test_keys_keep_their_order_and_new_keys_come_last() -> None:
    result = merge_patch({"a": 1, "b": 2, "c": 3}, {"d": 4, "a": 10})
    assert list(result) == ["a", "b", "c", "d"]


def test_inputs_are_not_changed_and_the_result_shares_nothing_with_them() -> None:
    original = _deployment()
    patch = {"metadata": {"annotations": {"note": "x"}}, "spec": {"replicas": None}}
    original_before, patch_before = copy.deepcopy(original), copy.deepcopy(patch)

    result = merge_patch(original, patch)
    assert original == original_before
    assert patch == patch_before
    assert "replicas" not in result["spec"]

    result["spec"]["template"]["spec"]["containers"][0]["image"] = "changed"
    result["metadata"]["annotations"]["note"] = "changed"
    assert original == original_before
    assert patch == patch_before


# -- properties --------------------------------------------------------------------

_scalars = st.booleans() | st.integers() | st.text(max_size=3)
_keys = st.sampled_from(["a", "b", "c", "d"])
_without_nulls = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=3),
    max_leaves=8,
)
# Nulls anywhere but under a list: RFC 7386 keeps a list as it is, while a strategic merge
# patch (upstream's too) drops null members of the objects in it. Without a schema, that is
# the one place where the two differ.
_values = st.recursive(
    st.none() | _scalars,
    lambda inner: st.lists(_without_nulls, max_size=3) | st.dictionaries(_keys, inner, max_size=3),
    max_leaves=12,
)
_objects = st.dictionaries(_keys, _values, max_size=4)


@given(_objects, _objects)
def test_applying_the_same_merge_patch_twice_changes_nothing_more(original: dict,
                                                                 patch: dict) -> None:
    once = merge_patch(original, patch)
    assert merge_patch(once, patch) == once


@given(_objects, _objects)
def test_strategic_merge_without_schema_is_a_merge_patch(original: dict, patch: dict) -> None:
    assert strategic_merge_patch(original, patch, None) == merge_patch(original, patch)
