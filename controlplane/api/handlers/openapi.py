"""OpenAPI v3: the schema of every resource, one document per group-version.

Where it sits: kubectl reads it before ``apply``, ``create -f``, ``replace`` and ``diff``
(to learn that the server validates fields itself: the ``fieldValidation`` parameter
of each kind's PATCH operation) and for ``kubectl explain`` (``components.schemas``).

``GET /openapi/v3`` lists the documents with a content hash in their URL;
``GET /openapi/v3/apis/apps/v1`` is one document: the paths of that group-version's
resources, with upstream's operations and parameters, and the transitive closure of
the schemas they use. Built-in schemas are upstream's own (see ``schema.py``); a
custom resource's schema is its CRD's ``openAPIV3Schema`` with ``apiVersion``,
``kind`` and ``metadata`` added, as the apiextensions server publishes it.
"""

from __future__ import annotations

import copy
import functools
import hashlib
from typing import Any

from flask import Blueprint, Response, current_app, request

from ... import KUBERNETES_VERSION
from .. import errors
from ..resources import ResourceInfo
from ..schema import OBJECT_META, REF_PREFIX, builtin_definitions, definition_name
from .render import dumps

bp = Blueprint("openapi", __name__)

META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_COMMON = [META + n for n in ("Status", "DeleteOptions", "Patch", "WatchEvent", "APIResourceList")]


def _doc_path(info: ResourceInfo) -> str:
    return f"api/{info.version}" if not info.group else f"apis/{info.group}/{info.version}"


def _custom_schema_name(info: ResourceInfo) -> str:
    return ".".join(reversed(info.group.split("."))) + f".{info.version}.{info.kind}"


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            found.add(ref[len(REF_PREFIX):])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _closure(names: list[str], defs: dict[str, dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    todo = [n for n in names if n in defs]
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out[name] = defs[name]
        found: set[str] = set()
        _refs(defs[name], found)
        todo.extend(f for f in found if f not in out and f in defs)
    return out


def _param(name: str, where: str = "query", kind: str = "string", required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path",
            "schema": {"type": kind}, "uniqueItems": True}


_WRITE = [_param("dryRun"), _param("fieldManager"), _param("fieldValidation")]
_LIST = [_param(n) for n in ("continue", "fieldSelector", "labelSelector", "resourceVersion", "resourceVersionMatch")] + \
    [_param("limit", kind="integer"), _param("timeoutSeconds", kind="integer"),
     _param("watch", kind="boolean"), _param("allowWatchBookmarks", kind="boolean")]


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": REF_PREFIX + name}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}, "required": True}


def _operations(info: ResourceInfo, schema_name: str, list_name: str) -> dict[str, dict]:
    gvk = {"group": info.group, "version": info.version, "kind": info.kind}
    prefix = "/" + _doc_path(info)
    base = f"{prefix}/namespaces/{{namespace}}/{info.resource}" if info.namespaced else f"{prefix}/{info.resource}"
    scope = [_param("namespace", "path")] if info.namespaced else []
    item_params = [_param("name", "path"), *scope]
    ok = {"200": {"description": "OK", "content": {"application/json": {"schema": _ref(schema_name)}}}}
    created = {**ok, "201": {"description": "Created", "content": {"application/json": {"schema": _ref(schema_name)}}}}
    patch_types = ["application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json"]
    if not info.is_custom:
        patch_types.append("application/strategic-merge-patch+json")
    patch_body = {"content": {t: {"schema": _ref(META + "Patch")} for t in patch_types}, "required": True}

    def op(action: str, **extra: Any) -> dict[str, Any]:
        return {"operationId": f"{action}{info.kind}", "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk, "tags": [info.group_version], **extra}

    paths: dict[str, dict] = {}
    collection: dict[str, Any] = {}
    if "list" in info.verbs:
        collection["get"] = op("list", parameters=_LIST,
                               responses={"200": {"description": "OK",
                                                  "content": {"application/json": {"schema": _ref(list_name)}}}})
    if "create" in info.verbs:
        collection["post"] = op("post", parameters=_WRITE, requestBody=_json_body(_ref(schema_name)), responses=created)
    if "deletecollection" in info.verbs:
        collection["delete"] = op("deletecollection", parameters=_LIST,
                                  responses={"200": {"description": "OK"}})
    if collection:
        collection["parameters"] = scope
        paths[base] = collection
    item: dict[str, Any] = {"parameters": item_params}
    if "get" in info.verbs:
        item["get"] = op("get", responses=ok)
    if "update" in info.verbs:
        item["put"] = op("put", parameters=_WRITE, requestBody=_json_body(_ref(schema_name)), responses=created)
    if "patch" in info.verbs:
        item["patch"] = op("patch", parameters=[*_WRITE, _param("force", kind="boolean")],
                           requestBody=patch_body, responses=created)
    if "delete" in info.verbs:
        item["delete"] = op("delete", parameters=[_param("gracePeriodSeconds", kind="integer"),
                                                  _param("propagationPolicy"), _param("dryRun")],
                            requestBody={"content": {"application/json": {"schema": _ref(META + "DeleteOptions")}}},
                            responses={"200": {"description": "OK"}, "202": {"description": "Accepted"}})
    if len(item) > 1:
        paths[f"{base}/{{name}}"] = item
    for sub in info.subresources:
        if sub.name == "status":
            paths[f"{base}/{{name}}/status"] = {
                "parameters": item_params, "get": op("get", responses=ok),
                "put": op("put", parameters=_WRITE, requestBody=_json_body(_ref(schema_name)), responses=created),
                "patch": op("patch", parameters=[*_WRITE, _param("force", kind="boolean")],
                            requestBody=patch_body, responses=created)}
    if info.namespaced and "list" in info.verbs:
        paths[f"{prefix}/{info.resource}"] = {"get": op("list", parameters=_LIST, responses={
            "200": {"description": "OK", "content": {"application/json": {"schema": _ref(list_name)}}}})}
    return paths


def _custom_schemas(info: ResourceInfo, raw: dict[str, Any]) -> tuple[str, dict[str, dict]]:
    name = _custom_schema_name(info)
    node = copy.deepcopy(raw or {"type": "object", "x-kubernetes-preserve-unknown-fields": True})
    props = node.setdefault("properties", {})
    props["apiVersion"] = {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}
    props["kind"] = {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}
    props["metadata"] = {"allOf": [_ref(OBJECT_META)], "description": "Standard object's metadata."}
    node["type"] = "object"
    gvk = [{"group": info.group, "version": info.version, "kind": info.kind}]
    node["x-kubernetes-group-version-kind"] = gvk
    list_schema = {"type": "object", "required": ["items"], "x-kubernetes-group-version-kind":
                   [{"group": info.group, "version": info.version, "kind": info.list_kind}],
                   "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                                  "items": {"type": "array", "items": _ref(name)},
                                  "metadata": {"allOf": [_ref(META + "ListMeta")]}}}
    return name, {name: node, name + "List": list_schema}


def build_document(infos: list[ResourceInfo], custom_schemas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The OpenAPI v3 document of one group-version (``custom_schemas``: CRD schema per resource)."""
    defs = builtin_definitions()
    paths: dict[str, dict] = {}
    schemas: dict[str, dict] = {}
    roots = list(_COMMON)
    for info in infos:
        if info.is_custom:
            name, extra = _custom_schemas(info, custom_schemas.get(info.resource, {}))
            schemas.update(extra)
            roots.extend([OBJECT_META, META + "ListMeta"])
            paths.update(_operations(info, name, name + "List"))
            continue
        name = definition_name(info.group, info.version, info.kind)
        list_name = definition_name(info.group, info.version, info.list_kind) or name
        roots.extend([name, list_name])
        paths.update(_operations(info, name, list_name))
    schemas.update(_closure(roots, defs))
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
            "paths": paths, "components": {"schemas": schemas}}


@functools.lru_cache(maxsize=64)
def _builtin_document(path: str, infos: tuple[ResourceInfo, ...]) -> bytes:
    return dumps(build_document(list(infos), {}))


def documents(registry, only: str | None = None) -> dict[str, bytes]:
    """Every group-version's document (or just the one at path ``only``), as JSON, by path."""
    by_path: dict[str, list[ResourceInfo]] = {}
    for info in registry.resources():
        path = _doc_path(info)
        if only is None or path == only:
            by_path.setdefault(path, []).append(info)
    crd_schemas = _crd_schemas(registry.crds) if any(i.is_custom for v in by_path.values() for i in v) else {}
    out = {}
    for path, infos in by_path.items():
        if any(i.is_custom for i in infos):
            schemas = {i.resource: crd_schemas.get((i.crd_name, i.version), {}) for i in infos}
            out[path] = dumps(build_document(infos, schemas))
        else:
            out[path] = _builtin_document(path, tuple(infos))
    return out


def _crd_schemas(crds: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for crd in crds:
        for version in (crd.get("spec") or {}).get("versions") or []:
            raw = ((version.get("schema") or {}).get("openAPIV3Schema")) or {}
            found[(crd["metadata"]["name"], version.get("name"))] = raw
    return found


def _hash(document: bytes) -> str:
    return hashlib.sha512(document).hexdigest().upper()


@bp.route("/openapi/v3")
def root() -> Response:
    docs = documents(current_app.extensions["kubeclass"].registry)
    paths = {p: {"serverRelativeURL": f"/openapi/v3/{p}?hash={_hash(text)}"} for p, text in sorted(docs.items())}
    return Response(dumps({"paths": paths}), mimetype="application/json")


@bp.route("/openapi/v3/<path:path>")
def document(path: str) -> Response:
    path = path.strip("/")
    text = documents(current_app.extensions["kubeclass"].registry, only=path).get(path)
    if text is None:
        raise errors.path_not_found()
    resp = Response(text, mimetype="application/json")
    if request.args.get("hash") == _hash(text):
        resp.headers["Cache-Control"] = "public, immutable"  # the URL names this exact content
    resp.headers["Etag"] = '"' + _hash(text) + '"'
    return resp


V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"


@bp.route("/openapi/v2")
def v2() -> Response:
    """An empty OpenAPI v2 document: kubeclass publishes its schemas in v3 only.

    kubectl still asks for v2 when v3 does not know a kind yet, e.g. a custom resource
    whose CRD is created by the same ``kubectl apply``. A real cluster's v2 document
    lacks that kind too, and kubectl then skips client-side validation and lets the
    server validate (``fieldValidation=Strict``). An empty document gives the same
    outcome; a 404 would fail the apply instead. client-go reads v2 as protobuf, and
    an empty protobuf message is a valid, empty ``Document``.
    """
    if "com.github.proto-openapi.spec.v2" in request.headers.get("Accept", ""):
        # Clients ask with "@v1.0"; Go's MIME parser refuses "@" in a reply, so upstream
        # answers with ".v1.0" and so do we.
        return Response(b"", content_type=V2_PROTOBUF.replace("@", "."))
    body = {"swagger": "2.0", "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
            "paths": {}, "definitions": {}}
    return Response(dumps(body), mimetype="application/json")
