"""Schemas: the shape of every kind, as upstream Kubernetes publishes it.

Where it sits: one source of truth about fields, used by

* ``/openapi/v3`` (what ``kubectl explain`` and ``kubectl apply`` read),
* decoding (``fieldValidation``: unknown fields, wrong types),
* strategic merge patch (``x-kubernetes-patch-merge-key`` / ``-patch-strategy``),
* server-side apply (``x-kubernetes-list-type``, ``-list-map-keys``, ``-map-type``).

Built-in kinds use upstream's own definitions for Kubernetes 1.33, shipped in the
``kubernetes-validate`` package as JSON Schema; :func:`builtin_definitions` converts
them once per process into OpenAPI v3 ``components.schemas``. A CRD's
``openAPIV3Schema`` is already in that shape (without references).

:class:`Schema` is a read-only view of one node with references resolved, so the
code that walks objects never deals with ``$ref``.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from typing import Any

DEFINITIONS_VERSION = "v1.33.0"

REF_PREFIX = "#/components/schemas/"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
TIME_FORMATS = ("date-time",)


class Schema:
    """A view of one OpenAPI v3 schema node, with ``$ref`` / ``allOf: [{$ref}]`` resolved.

    ``ref`` is the definition name the node came from (``io.k8s.api.core.v1.PodSpec``),
    or "" for inline nodes (all of a CRD's schema).
    """

    __slots__ = ("node", "ref", "_defs", "_props")

    def __init__(self, node: dict[str, Any], defs: dict[str, dict] | None = None, ref: str = "") -> None:
        self._defs = defs
        target = _ref_target(node)
        if target and defs is not None and target in defs:
            # Siblings of the reference (description, default) win over the target's own.
            merged = dict(defs[target])
            merged.update({k: v for k, v in node.items() if k not in ("$ref", "allOf")})
            node, ref = merged, target
        self.node = node
        self.ref = ref
        self._props: dict[str, Schema] | None = None

    def _wrap(self, node: Any) -> Schema | None:
        return Schema(node, self._defs) if isinstance(node, dict) else None

    # -- structure -----------------------------------------------------------------

    @property
    def type(self) -> str:
        """``object``, ``array``, ``string``, ``integer``, ``number``, ``boolean`` or "" (any)."""
        return self.node.get("type", "")

    @property
    def properties(self) -> dict[str, Schema]:
        if self._props is None:
            self._props = {k: Schema(v, self._defs) for k, v in self.node.get("properties", {}).items()}
        return self._props

    def prop(self, name: str) -> Schema | None:
        return self.properties.get(name)

    @property
    def items(self) -> Schema | None:
        return self._wrap(self.node.get("items"))

    @property
    def additional_properties(self) -> Schema | None:
        """The value schema of a map (``additionalProperties: {...}``), else None."""
        return self._wrap(self.node.get("additionalProperties"))

    @property
    def required(self) -> list[str]:
        return list(self.node.get("required", []))

    @property
    def description(self) -> str:
        return self.node.get("description", "")

    @property
    def is_free_form(self) -> bool:
        """True when any value is allowed: no type, no properties, nothing to check."""
        return (
            not self.type
            and "properties" not in self.node
            and "items" not in self.node
            and "additionalProperties" not in self.node
            and not self.int_or_string
        )

    # -- Kubernetes extensions -----------------------------------------------------

    @property
    def int_or_string(self) -> bool:
        return (
            self.ref == INT_OR_STRING
            or self.node.get("x-kubernetes-int-or-string") is True
            or self.node.get("format") == "int-or-string"
        )

    @property
    def is_quantity(self) -> bool:
        """A resource quantity (``"500m"``, ``"1Gi"``, or a plain number)."""
        return self.ref == QUANTITY

    @property
    def preserve_unknown_fields(self) -> bool:
        return self.node.get("x-kubernetes-preserve-unknown-fields") is True

    @property
    def embedded_resource(self) -> bool:
        return self.node.get("x-kubernetes-embedded-resource") is True

    @property
    def patch_strategy(self) -> str:
        """"" | "merge" | "replace" | "retainKeys" | "merge,retainKeys"."""
        return self.node.get("x-kubernetes-patch-strategy", "")

    @property
    def patch_merge_key(self) -> str:
        return self.node.get("x-kubernetes-patch-merge-key", "")

    @property
    def list_type(self) -> str:
        """"" (atomic by default) | "atomic" | "set" | "map"."""
        return self.node.get("x-kubernetes-list-type", "")

    @property
    def list_map_keys(self) -> list[str]:
        return list(self.node.get("x-kubernetes-list-map-keys", []))

    @property
    def map_type(self) -> str:
        """"" (granular) | "atomic" | "granular"."""
        return self.node.get("x-kubernetes-map-type", "")

    @property
    def gvks(self) -> list[dict[str, str]]:
        return list(self.node.get("x-kubernetes-group-version-kind", []))

    def __repr__(self) -> str:
        return f"Schema({self.ref or self.type or 'any'})"


def _ref_target(node: dict[str, Any]) -> str:
    ref = node.get("$ref")
    if ref is None and len(node.get("allOf", [])) == 1:
        ref = node["allOf"][0].get("$ref")
    if isinstance(ref, str) and ref.startswith(REF_PREFIX):
        return ref[len(REF_PREFIX):]
    return ""


# -- upstream definitions ----------------------------------------------------------


def _load_upstream() -> dict[str, dict]:
    path = (
        importlib.resources.files("kubernetes_validate")
        / "kubernetes-json-schema" / f"{DEFINITIONS_VERSION}-local" / "_definitions.json"
    )
    return json.loads(path.read_text())["$defs"]


def _convert(node: Any) -> Any:
    """One JSON-Schema node of kubernetes-validate's files -> the OpenAPI v3 node upstream serves."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for k, v in node.items():
        if k == "$ref":
            continue
        if k == "type" and isinstance(v, list):
            types = [t for t in v if t != "null"]
            if types:
                out["type"] = types[0]
        elif k == "properties":
            out[k] = {name: _convert(p) for name, p in v.items()}
        elif k in ("items", "additionalProperties"):
            out[k] = _convert(v)
        else:
            out[k] = v
    ref = node.get("$ref")
    if isinstance(ref, str):
        target = REF_PREFIX + ref.rsplit("/", 1)[-1]
        if out:  # upstream wraps a reference that has siblings in allOf
            out["allOf"] = [{"$ref": target}]
        else:
            out["$ref"] = target
    return out


@functools.cache
def builtin_definitions() -> dict[str, dict]:
    """Upstream's ``components.schemas`` for every built-in type (converted once per process)."""
    defs = {name: _convert(node) for name, node in _load_upstream().items()}
    for name in (INT_OR_STRING, QUANTITY):
        description = defs[name].get("description", "")
        defs[name] = {"description": description, "type": "string"}
    defs[INT_OR_STRING]["format"] = "int-or-string"
    for node in defs.values():
        if node.get("x-kubernetes-group-version-kind"):
            for prop in ("apiVersion", "kind"):  # kubernetes-validate adds these enums; upstream has none
                node.get("properties", {}).get(prop, {}).pop("enum", None)
    return defs


@functools.cache
def _gvk_index() -> dict[tuple[str, str, str], str]:
    index: dict[tuple[str, str, str], str] = {}
    for name, node in builtin_definitions().items():
        for gvk in node.get("x-kubernetes-group-version-kind", []):
            key = (gvk.get("group", ""), gvk["version"], gvk["kind"])
            # DeleteOptions and WatchEvent are listed under every group; keep the first.
            index.setdefault(key, name)
    return index


def definition_name(group: str, version: str, kind: str) -> str:
    """``io.k8s.api.apps.v1.Deployment`` for (apps, v1, Deployment), or "" if unknown."""
    return _gvk_index().get((group, version, kind), "")


def builtin_schema(group: str, version: str, kind: str) -> Schema | None:
    """The schema of a built-in kind, or None if upstream has no such kind."""
    name = definition_name(group, version, kind)
    if not name:
        return None
    defs = builtin_definitions()
    return Schema(defs[name], defs, ref=name)


def definition(name: str) -> Schema:
    """A named upstream definition, e.g. ``io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta``."""
    defs = builtin_definitions()
    return Schema(defs[name], defs, ref=name)


OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
