"""Breaking valid objects a little, and writing patches against them.

Where it sits: between ``seeds.py`` (valid objects) and ``strategies.py`` (whole
requests). A valid object with one or two things wrong is the input most likely to get
deep into the server (past decoding, into defaulting, validation, managed fields,
storage) and find the code that trusts what it was given. So:

* :func:`mutated` deletes fields, replaces values with the wrong type or an odd value,
  adds unknown fields, breaks names, labels, selectors, kinds and system metadata;
* :func:`json_patches`, :func:`merge_patches`, :func:`strategic_patches` write the
  three patch types against an object, with bad operations, paths and directives.

Everything is a hypothesis strategy, so a seed reproduces a run.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st

from .values import chance, constants, deep_values, json_values, odd_labels, odd_names, odd_values

Path = tuple[str | int, ...]

# -- walking a JSON value -------------------------------------------------------------


def paths(value: Any, prefix: Path = ()) -> Iterator[Path]:
    """Every node's path, the root included, parents before children."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths(v, prefix + (i,))


def get(value: Any, path: Path) -> Any:
    for p in path:
        value = value[p]
    return value


def put(root: Any, path: Path, new: Any) -> Any:
    if not path:
        return new
    get(root, path[:-1])[path[-1]] = new
    return root


def remove(root: Any, path: Path) -> Any:
    if not path:
        return {}
    parent = get(root, path[:-1])
    del parent[path[-1]]
    return root


def pointer(path: Path) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


# -- one change to an object ----------------------------------------------------------

SYSTEM_METADATA = {
    "uid": constants(["", "not-a-uid", "00000000-0000-0000-0000-000000000000"]) | odd_values,
    "resourceVersion": constants(["", "1", "0", "-1", "abc", "99999999999999999999"]) | odd_values,
    "generation": constants([0, -1, 2**63, "1"]) | odd_values,
    "creationTimestamp": constants(["", "yesterday", "2024-05-01T10:00:00Z", None]) | odd_values,
    "deletionTimestamp": constants(["2024-05-01T10:00:00Z", "soon"]) | odd_values,
    "deletionGracePeriodSeconds": constants([0, -1, 30]) | odd_values,
    "namespace": constants(["default", "kube-system", "other", ""]) | odd_names,
    "generateName": constants(["gen-", "GEN", "g" * 300, ""]) | odd_names,
    "finalizers": constants([["example.com/x"], ["bad finalizer"], ["kubernetes"], ["x", "x"], [""], "x",
                                   [1], ["foregroundDeletion"], ["orphan"]]) | odd_values,
    "ownerReferences": constants([
        [{"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u1"}],
        [{"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u1", "controller": True},
         {"apiVersion": "v1", "kind": "Pod", "name": "q", "uid": "u2", "controller": True}],
        [{"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u1", "blockOwnerDeletion": "yes"}],
        [{"kind": "Pod"}], [{}], [None], "x", [{"apiVersion": "", "kind": "", "name": "", "uid": ""}],
    ]) | odd_values,
    "managedFields": constants([
        [{"manager": "m", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1",
          "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}}}],
        [{"manager": "m", "operation": "Update", "fieldsType": "FieldsV1",
          "fieldsV1": {"f:spec": {"k:{bad": {}}}}],
        [{"manager": "m", "operation": "Update", "fieldsType": "FieldsV1",
          "fieldsV1": {"f:spec": {"f:containers": {'k:{"name":"main"}': {".": {}, "f:image": {}}}}}}],
        [{"manager": "m", "operation": "Update", "fieldsType": "FieldsV1",
          "fieldsV1": {"v:1": {}, "i:0": {}}}],
        [{"manager": "m", "operation": "Bogus", "fieldsType": "FieldsV2", "fieldsV1": "x", "time": "never"}],
        [{"manager": "", "operation": "Apply", "fieldsV1": {"f:": {"f:": {}}}, "subresource": "status"}],
        [{"fieldsV1": []}], [{}], [None], [1], "x", {}, [{"manager": 1, "operation": None, "fieldsV1": 1}],
        [{"manager": "m", "operation": "Apply"}, {"manager": "m", "operation": "Apply"}],
    ]) | odd_values,
    "annotations": constants([
        {"kubectl.kubernetes.io/last-applied-configuration": "{not json"},
        {"kubectl.kubernetes.io/last-applied-configuration": '{"kind":"Pod","metadata":{"name":1}}'},
        {"kubectl.kubernetes.io/last-applied-configuration": "[]"},
        {"deployment.kubernetes.io/revision": "x"}, {"a": 1}, {"a": None}, {"": "x"}, {"a" * 300: "b"},
        {"big": "x" * 300_000},
    ]) | odd_labels,
}

KIND_SWAPS = [("v1", "Pod"), ("apps/v1", "Deployment"), ("v1", "Status"), ("v1", "List"),
              ("v1", "DeleteOptions"), ("apps/v1beta1", "Deployment"), ("v2", "Pod"), ("", ""),
              ("v1", "ConfigMapList"), ("x/y/z", "Q"),
              ("meta.k8s.io/v1", "Table"), ("autoscaling/v1", "Scale"), ("fuzz.kubeclass.test/v1", "Widget")]

SELECTORS = constants([
    {"matchLabels": {"app": "other"}}, {"matchLabels": {}}, {}, {"matchExpressions": [{"key": "app"}]},
    {"matchExpressions": [{"key": "app", "operator": "In", "values": []}]},
    {"matchExpressions": [{"key": "app", "operator": "Exists", "values": ["x"]}]},
    {"matchExpressions": [{"key": "app", "operator": "Bogus"}]}, {"matchExpressions": "x"},
    {"matchLabels": {"app": ["x"]}}, {"matchLabels": "app=x"}, {"matchExpressions": [None]},
    {"matchExpressions": [{"key": "", "operator": "DoesNotExist"}]}, {"matchLabels": {"a b": "c"}},
]) | odd_values


@st.composite
def one_change(draw: st.DrawFn, obj: Any) -> Any:
    """Apply one random change to ``obj`` (in place where it can) and return the result."""
    nodes = list(paths(obj))
    what = draw(st.sampled_from(["delete", "delete", "replace", "replace", "retype", "add", "add", "metadata",
                                 "name", "labels", "selector", "kind", "duplicate", "deep"]))
    if what in ("metadata", "name", "labels", "selector", "kind") and not isinstance(obj, dict):
        what = "replace"
    if what == "delete" and len(nodes) > 1:
        return remove(obj, draw(st.sampled_from(nodes[1:])))
    if what == "replace":
        return put(obj, draw(st.sampled_from(nodes)), draw(odd_values))
    if what == "retype":
        path = draw(st.sampled_from(nodes))
        old = get(obj, path)
        new = [old] if not isinstance(old, list) else {"0": old[0] if old else None}
        return put(obj, path, draw(st.sampled_from([new, str(old)[:50], None])))
    if what == "add":
        containers = [p for p in nodes if isinstance(get(obj, p), (dict, list))] or [()]
        path = draw(st.sampled_from(containers))
        target = get(obj, path)
        value = draw(odd_values)
        if isinstance(target, dict):
            target[draw(st.sampled_from(["unknownField", "$patch", "", "metadata", "apiVersion"])
                        | st.text(max_size=10))] = value
        elif isinstance(target, list):
            target.append(copy.deepcopy(target[0]) if target and draw(st.booleans()) else value)
        return obj
    if what == "duplicate":
        lists = [p for p in nodes if isinstance(get(obj, p), list) and get(obj, p)]
        if lists:
            target = get(obj, draw(st.sampled_from(lists)))
            target.append(copy.deepcopy(target[0]))
        return obj
    if what == "deep":
        return put(obj, draw(st.sampled_from(nodes)), draw(deep_values)) if len(nodes) > 1 else obj
    if not isinstance(obj, dict):
        return obj  # a "delete" of the root: nothing left to change
    meta = obj.setdefault("metadata", {}) if isinstance(obj.get("metadata"), dict) else obj
    if what == "metadata":
        field = draw(st.sampled_from(sorted(SYSTEM_METADATA)))
        meta[field] = draw(SYSTEM_METADATA[field])
    elif what == "name":
        meta["name"] = draw(odd_names | odd_values)
    elif what == "labels":
        meta["labels"] = draw(odd_labels)
    elif what == "selector":
        spec = obj.get("spec")
        target = spec if isinstance(spec, dict) else obj
        target["selector"] = draw(SELECTORS)
    elif what == "kind":
        obj["apiVersion"], obj["kind"] = draw(st.sampled_from(KIND_SWAPS) | st.tuples(odd_values, odd_values))
    return obj


@st.composite
def mutated(draw: st.DrawFn, obj: Any, max_changes: int = 3) -> Any:
    """A copy of ``obj`` with 0 to ``max_changes`` changes (0 keeps some writes valid)."""
    result = copy.deepcopy(obj)
    for _ in range(draw(st.sampled_from(range(max_changes + 1)))):
        result = draw(one_change(result))
    return result


# -- patches ------------------------------------------------------------------------

OPS = ["add", "remove", "replace", "move", "copy", "test", "bogus", "", "ADD", None, 1]
BAD_POINTERS = ["", "/", "no-slash", "/metadata/labels/~2", "/metadata/labels/~", "/spec/containers/99",
                "/spec/containers/-", "/spec/containers/-1", "/spec/containers/01", "/metadata/name/x/y",
                "/metadata/labels/a~1b", "/-", "//", "/spec/containers/0/ports/-/x", "/status/conditions/0",
                "/metadata/finalizers/-", "/metadata/managedFields/0/fieldsV1", "/" + "a/" * 200]


@st.composite
def json_patches(draw: st.DrawFn, obj: Any) -> Any:
    """An RFC 6902 patch against ``obj``: mostly well-formed, with bad ops, paths and values."""
    if draw(chance(10)):
        not_a_patch = constants([{}, "x", [1], [[]], [{}], [{"op": "add"}], None, [{"op": "remove"}]])
        return draw(not_a_patch | json_values)
    pointers = [pointer(p) for p in paths(obj)] + BAD_POINTERS
    ops = []
    for _ in range(draw(st.sampled_from([1, 1, 2, 3, 4]))):
        op: dict[str, Any] = {"op": draw(st.sampled_from(OPS))}
        path = draw(st.sampled_from(pointers))
        if draw(chance(4)):
            path += draw(st.sampled_from(["/-", "/new", "/0", "/~1x"]))
        op["path"] = draw(odd_values) if draw(chance(20)) else path
        if op["op"] in ("add", "replace", "test") or draw(chance(6)):
            op["value"] = draw(odd_values | st.just(path).map(lambda p: copy.deepcopy(get_or_none(obj, p))))
        if op["op"] in ("move", "copy") or draw(chance(10)):
            op["from"] = draw(st.sampled_from(pointers + [path, path + "/x"]))
        if draw(chance(10)):
            del op[draw(st.sampled_from(sorted(op)))]
        ops.append(op)
    return ops


def get_or_none(obj: Any, ptr: str) -> Any:
    try:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in ptr.split("/")[1:]]
        for p in parts:
            obj = obj[int(p)] if isinstance(obj, list) else obj[p]
        return obj
    except (KeyError, IndexError, ValueError, TypeError):
        return None


@st.composite
def merge_patches(draw: st.DrawFn, obj: Any) -> Any:
    """A JSON merge patch: part of a mutated ``obj``, with nulls that delete."""
    if draw(chance(10)) or not isinstance(obj, dict):
        return draw(json_values | constants([None, [], "x", 1, [{"metadata": {}}]]))
    full = draw(mutated(obj))
    if not isinstance(full, dict) or not full:
        return full
    keys = draw(st.lists(st.sampled_from(sorted(full)), min_size=1, max_size=3, unique=True))
    patch = {k: full[k] for k in keys}
    for path in draw(st.lists(st.sampled_from(list(paths(patch))[1:] or [()]), max_size=2)):
        try:
            put(patch, path, None)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier null removed this path's parent
    return patch


def _directive(list_fields: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    field = st.sampled_from(list_fields + ["", "nope", "containers", "finalizers", "ports"])
    return st.one_of(
        st.builds(lambda v: {"$patch": v}, constants(["replace", "delete", "merge", "bogus", 1, None, ""])),
        st.builds(lambda v: {"$retainKeys": v}, constants([["spec"], ["nope"], "x", [1], {}, None, []])),
        st.builds(lambda f, v: {f"$setElementOrder/{f}": v}, field, constants(
            [[{"name": "main"}], ["x"], "x", [{}], [{"bogus": 1}], None, [1, 1], [{"name": "main"}] * 2])),
        st.builds(lambda f, v: {f"$deleteFromPrimitiveList/{f}": v}, field, constants(
            [["a"], "x", [{}], None, [["x"]]])),
        st.builds(lambda v: {"$unknownDirective": v}, odd_values),
    )


@st.composite
def strategic_patches(draw: st.DrawFn, obj: Any) -> Any:
    """A strategic merge patch: a merge patch with ``$patch``/``$retainKeys``/``$setElementOrder``."""
    patch = draw(merge_patches(obj))
    for _ in range(draw(st.sampled_from([0, 1, 1, 2, 3]))):
        nodes = [p for p in paths(patch) if isinstance(get(patch, p), (dict, list))]
        if not nodes:
            break
        where = get(patch, draw(st.sampled_from(nodes)))
        if isinstance(where, dict):
            lists = [k for k, v in where.items() if isinstance(v, list)]
            where.update(draw(_directive(lists)))
        else:
            where.append(draw(constants([{"$patch": "delete", "name": "main"}, {"$patch": "replace"},
                                               {"$patch": "delete"}, {"$patch": "merge", "name": "x"},
                                               {"name": "main", "$patch": "bogus"}, {"$retainKeys": ["x"]}])))
    return patch
