"""Request bodies, chosen to fit the method and the target (and sometimes chosen not to).

Where it sits: ``generator.py`` asks :func:`bodies` for the Content-Type and bytes of
each request. What a body is made from:

* POST and PUT: a valid object of the target's kind (the stored one for a PUT of a
  seeded object), mutated by ``mutations.py``; subresources get a Binding, an Eviction,
  a Scale or a Namespace to finalize; sometimes random JSON or malformed bytes instead;
* PATCH: one of the four patch types written against the stored object; an apply patch
  is a whole mutated object, in YAML or JSON;
* DELETE: nothing, DeleteOptions (valid or mutated), or junk;
* GET and the odd methods: mostly nothing.

:func:`tame` keeps a valid write from asking for thousands of Pods: a replica count
between 4 and 2**31 becomes 2**31, which the server must refuse.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import strategies as st

from . import seeds
from .mutations import json_patches, merge_patches, mutated, strategic_patches
from .strategies import APPLY, JSON, JSON_PATCH, MERGE_PATCH, STRATEGIC, YAML, Target, World
from .values import chance, dumps, json_values, malformed_bodies

Body = tuple[str | None, bytes | None, str]  # Content-Type, bytes, what it is
COUNTS = ("replicas", "parallelism", "completions", "minReplicas", "maxReplicas")
STATUSES = [
    {"phase": "Running",
     "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": seeds.TIME}]},
    {"replicas": 1, "readyReplicas": 1, "observedGeneration": 1, "selector": "app=fuzz"},
    {"loadBalancer": {"ingress": [{"ip": "10.9.9.9"}]}}, {"phase": "Terminating"}, {"succeeded": 1},
    {"conditions": [{"type": "Established", "status": "False"}]},
    {"currentHealthy": 1, "disruptionsAllowed": 0},
]


def tame(value: Any) -> Any:
    """No write may ask for thousands of Pods: counts in [4, 2**31) become 2**31 (invalid)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k in COUNTS and isinstance(v, int) and not isinstance(v, bool) and 4 <= v < 2**31:
                value[k] = 2**31
            else:
                tame(v)
        path, count = value.get("path"), value.get("value")  # a JSON patch operation
        if isinstance(path, str) and path.rsplit("/", 1)[-1] in COUNTS and isinstance(count, int):
            value["value"] = 2**31 if count >= 4 else count
    elif isinstance(value, list):
        for v in value:
            tame(v)
    return value


@st.composite
def encoded(draw: st.DrawFn, value: Any, content_type: str) -> bytes:
    """JSON, or YAML when the Content-Type says so (JSON text is YAML too)."""
    value = tame(value)
    if content_type in (YAML, APPLY, "text/yaml") and draw(st.booleans()):
        try:
            return yaml.safe_dump(value, sort_keys=False, allow_unicode=True).encode("utf-8", "surrogatepass")
        except (yaml.YAMLError, UnicodeError):
            pass  # a lone surrogate: send it as JSON instead
    return dumps(value, ascii_only=not draw(chance(10)))


def base_object(draw: st.DrawFn, world: World, target: Target, method: str) -> dict[str, Any]:
    """The valid object a write starts from, before any mutation."""
    r, ns = target.resource, target.namespace or world.main_ns
    factory = seeds.SUBRESOURCE_BODIES.get(target.subresource)
    if factory:
        return factory(target.name, ns)
    name = target.name or f"{world.run}-{draw(st.integers(0, 2**40)):x}"  # a few repeat: AlreadyExists
    stored = world.stored(r, target.name) if method != "POST" else None
    if stored is not None and not draw(chance(4)):
        obj = copy.deepcopy(stored)
        if draw(st.booleans()):
            obj["metadata"].pop("resourceVersion", None)  # an unconditional update
    else:
        obj = r.template()(name, ns if r.namespaced else "")
        if method == "POST" and draw(chance(5)):
            obj["metadata"]["generateName"] = obj["metadata"].pop("name") + "-"
    if target.subresource == "status":
        obj["status"] = copy.deepcopy(draw(st.sampled_from(STATUSES)))
    return obj


@st.composite
def bodies(draw: st.DrawFn, world: World, target: Target | None, method: str) -> Body:
    junk = draw(chance(10))
    if method in ("GET", "HEAD", "OPTIONS") or method not in ("POST", "PUT", "PATCH", "DELETE"):
        if not draw(chance(8)):
            return None, None, ""
        junk = True
    if junk or target is None:
        content_type = draw(st.sampled_from([JSON, YAML, MERGE_PATCH, JSON_PATCH, STRATEGIC, APPLY, None]))
        if draw(st.booleans()):
            return content_type, draw(malformed_bodies), "malformed body"
        return content_type, dumps(draw(json_values)), "random JSON"
    if method == "DELETE":
        if draw(st.booleans()):
            return None, None, ""
        options = draw(mutated(seeds.delete_options(), max_changes=2))
        return JSON, draw(encoded(options, JSON)), "DeleteOptions"
    obj = base_object(draw, world, target, method)
    kind = obj.get("kind", "?")
    if method in ("POST", "PUT"):
        content_type = draw(st.sampled_from([JSON] * 6 + [YAML, "application/json; charset=utf-8"]))
        return content_type, draw(encoded(draw(mutated(obj)), content_type)), f"mutated {kind}"
    patch_type = draw(st.sampled_from([JSON_PATCH, MERGE_PATCH, MERGE_PATCH, STRATEGIC, STRATEGIC, APPLY]))
    if patch_type == JSON_PATCH:
        patch = draw(json_patches(obj))
    elif patch_type == MERGE_PATCH:
        patch = draw(merge_patches(obj))
    elif patch_type == STRATEGIC:
        patch = draw(strategic_patches(obj))
    else:
        for field in ("resourceVersion", "managedFields", "uid", "creationTimestamp"):
            obj.get("metadata", {}).pop(field, None)  # what kubectl apply --server-side sends
        patch = draw(mutated(obj))
    return patch_type, draw(encoded(patch, patch_type)), f"{patch_type.split('/')[1]} of {kind}"


# -- a few huge bodies ---------------------------------------------------------------

MiB = 1024 * 1024


def configmap_of_size(name: str, ns: str, size: int) -> bytes:
    """A ConfigMap whose JSON is exactly ``size`` bytes (padding in one data value)."""
    head = dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns},
                  "data": {"big": ""}})
    pad = size - len(head)
    return head.replace(b'"big":""', b'"big":"' + b"x" * pad + b'"')


def huge_bodies(world: World) -> list[tuple[str, str, str, bytes, str]]:
    """(method, path, Content-Type, body, what it is): near and over the 3 MiB limit."""
    ns, run = world.main_ns, world.run
    cms = f"/api/v1/namespaces/{ns}/configmaps"
    widget = seeds.widget(f"{run}-huge", ns)
    widget["spec"]["extra"] = {"list": list(range(200_000))}
    many_labels = seeds.configmap(f"{run}-labels", ns)
    many_labels["metadata"]["labels"] = {f"k{i}": "v" for i in range(20_000)}
    return [
        ("POST", cms, JSON, configmap_of_size(f"{run}-1mib", ns, MiB - 1024), "ConfigMap under 1 MiB"),
        ("POST", cms, JSON, configmap_of_size(f"{run}-1mibplus", ns, MiB + 1024), "ConfigMap over 1 MiB"),
        ("POST", cms, JSON, configmap_of_size(f"{run}-3mib", ns, 3 * MiB - 16), "body 16 bytes under 3 MiB"),
        ("POST", cms, JSON, configmap_of_size(f"{run}-3mibeq", ns, 3 * MiB), "body of exactly 3 MiB"),
        ("POST", cms, JSON, configmap_of_size(f"{run}-3mib1", ns, 3 * MiB + 1), "body 1 byte over 3 MiB"),
        ("PUT", f"{cms}/{run}-1mib", JSON, configmap_of_size(f"{run}-1mib", ns, 4 * MiB), "PUT of 4 MiB"),
        ("PATCH", f"{cms}/{run}-1mib", MERGE_PATCH, configmap_of_size(f"{run}-1mib", ns, 3 * MiB + 100),
         "merge patch over 3 MiB"),
        ("POST", cms, YAML, b"data:\n  a: " + b"y" * (3 * MiB) + b"\n", "YAML over 3 MiB"),
        ("GET", cms, JSON, b"x" * (5 * MiB), "GET with a 5 MiB body"),
        ("POST", f"/apis/{seeds.CR_GROUP}/v1/namespaces/{ns}/widgets", JSON, dumps(widget),
         "Widget with a list of 200,000 numbers"),
        ("POST", cms, JSON, dumps(many_labels), "ConfigMap with 20,000 labels"),
        ("POST", cms, JSON, b"[" * (3 * MiB - 10), "3 MiB of ["),
    ]
