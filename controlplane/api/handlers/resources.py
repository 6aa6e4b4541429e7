"""The resource endpoints: every ``/api/v1/...`` and ``/apis/<group>/<version>/...`` request.

Where it sits: after authentication (``auth.py``), before the registry. A request is
parsed into a :class:`~controlplane.api.requestinfo.RequestInfo`, its store is looked
up in the catalog, and the verb is dispatched:

    GET one -> get    GET many -> list (or watch with ?watch=true)    POST -> create
    PUT -> update     PATCH -> patch (four patch types)               DELETE -> delete / deletecollection

Subresources: ``status`` and ``namespaces/finalize`` are partial updates; ``scale``,
``binding`` and ``eviction`` live in ``registry/subresources.py``; ``pods/log``,
``pods/exec`` and ``pods/attach`` are relayed to the pod's node agent (``podproxy.py``).
``metrics.k8s.io`` is not stored at all: ``metrics.py`` builds it from the node agents.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request

from .. import errors, requestinfo
from ..registry import (
    APPLY_PATCH, JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, DeleteOptions, ListOptions, RESTStore, WriteOptions,
)
from ..registry import subresources as sub
from ..registry.options import parse_bool
from . import bodies, discovery, metrics, podproxy
from .render import Renderer
from .watch import watch_response

bp = Blueprint("resources", __name__)
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH)


def registry():
    return current_app.extensions["kubeclass"].registry


@bp.route("/api", methods=METHODS, strict_slashes=False)
@bp.route("/apis", methods=METHODS, strict_slashes=False)
@bp.route("/api/<path:rest>", methods=METHODS)
@bp.route("/apis/<path:rest>", methods=METHODS)
# Werkzeug routes a WebSocket upgrade (pods/exec, pods/attach) only to rules that say so.
@bp.route("/api/<path:rest>", methods=["GET"], websocket=True)
@bp.route("/apis/<path:rest>", methods=["GET"], websocket=True)
def resource(rest: str = "") -> Response:
    try:
        watch = parse_bool("watch", request.args.get("watch"))
        info = requestinfo.parse(request.method, request.path, watch)
    except requestinfo.NotAResourcePath:
        raise errors.path_not_found() from None
    if not info.is_resource_request:
        if request.method != "GET":
            raise errors.method_not_allowed()
        return discovery.serve(registry(), info)
    if info.group == metrics.GROUP:
        return metrics.serve(registry(), info)
    store = registry().store(info.group, info.version, info.resource)
    if store is None or (info.namespace and not store.info.namespaced):
        raise errors.path_not_found()
    render = Renderer(request.headers.get("Accept"))
    if info.subresource:
        return _subresource(store, info, render)
    if info.verb not in store.info.verbs:
        raise errors.method_not_supported(store.info.resource, store.info.group, info.verb)
    if store.info.namespaced and not info.namespace and info.verb not in ("list", "watch"):
        raise errors.path_not_found()
    return _verb(store, info, render)


def _write_options() -> WriteOptions:
    user = getattr(request, "kubeclass_user", None)
    return WriteOptions.from_args(request.args, request.headers.get("User-Agent", ""), user.name if user else "")


def _verb(store: RESTStore, info: requestinfo.RequestInfo, render: Renderer) -> Response:
    ns, name = info.namespace, info.name
    if info.verb == "get":
        return render.object(store, store.get(ns, name))
    if info.verb == "list":
        return render.list(store, store.list(ns, ListOptions.from_args(request.args)))
    if info.verb == "watch":
        return watch_response(store, ns, ListOptions.from_args(request.args), render)
    if info.verb == "create":
        if info.group == "" and info.resource == "bindings":
            body, _ = bodies.read()
            binding = sub.checked_binding(body)
            return render.response(sub.bind(_pods(), ns, binding["metadata"].get("name", ""), binding), 201)
        body, dups = bodies.read()
        outcome = store.create(ns, body, dups, _write_options())
        return render.object(store, outcome.obj, 201, outcome.warnings)
    if info.verb == "update":
        body, dups = bodies.read()
        outcome = store.update(ns, name, body, dups, _write_options())
        return render.object(store, outcome.obj, 201 if outcome.created else 200, outcome.warnings)
    if info.verb == "patch":
        patch_type, body, dups = _read_patch()
        outcome = store.patch(ns, name, patch_type, body, dups, _write_options())
        return render.object(store, outcome.obj, 201 if outcome.created else 200, outcome.warnings)
    if info.verb == "delete":
        body, _ = bodies.read_optional()
        result, _gone = store.delete(ns, name, DeleteOptions.from_request(request.args, body))
        return render.object(store, result)
    if info.verb == "deletecollection":
        body, _ = bodies.read_optional()
        done = store.delete_collection(ns, ListOptions.from_args(request.args),
                                       DeleteOptions.from_request(request.args, body))
        return render.response({"kind": store.info.list_kind, "apiVersion": store.info.api_version,
                                "metadata": {}, "items": done})
    raise errors.method_not_allowed()


def _read_patch() -> tuple[str, Any, list[str]]:
    patch_type = bodies.content_type()
    if patch_type not in PATCH_TYPES:
        raise errors.unsupported_media_type(patch_type or "none", list(PATCH_TYPES))
    body, dups = bodies.read()
    return patch_type, body, dups


def _pods() -> RESTStore:
    return registry().store("", "v1", "pods")


def _nodes() -> RESTStore:
    return registry().store("", "v1", "nodes")


def _subresource(store: RESTStore, info: requestinfo.RequestInfo, render: Renderer) -> Response:
    spec = store.info.subresource(info.subresource)
    if spec is None or not info.name:
        raise errors.path_not_found()
    verb = "create" if request.method == "POST" else info.verb
    if verb not in spec.verbs:
        raise errors.method_not_supported(f"{store.info.resource}/{info.subresource}", store.info.group, verb)
    ns, name, what = info.namespace, info.name, info.subresource
    if what in ("status", "finalize"):
        if verb == "get":
            return render.object(store, store.get(ns, name))
        if verb == "update":
            body, dups = bodies.read()
            outcome = store.update(ns, name, body, dups, _write_options(), subresource=what)
        else:
            patch_type, body, dups = _read_patch()
            outcome = store.patch(ns, name, patch_type, body, dups, _write_options(), subresource=what)
        return render.object(store, outcome.obj, 200, outcome.warnings)
    if what == "scale":
        if verb == "get":
            return render.response(sub.get_scale(store, ns, name))
        if verb == "update":
            body, _ = bodies.read()
            return render.response(sub.write_scale(store, ns, name, _write_options(), body=body))
        patch_type, body, _ = _read_patch()
        return render.response(sub.write_scale(store, ns, name, _write_options(), patch_type=patch_type, patch=body))
    if what == "binding":
        body, _ = bodies.read()
        return render.response(sub.bind(store, ns, name, body), 201)
    if what == "eviction":
        body, _ = bodies.read()
        pdbs = registry().store("policy", "v1", "poddisruptionbudgets")
        return render.response(sub.evict(store, pdbs, ns, name, body), 201)
    if what == "log":
        return podproxy.log_response(store, _nodes(), ns, name)
    if what in ("exec", "attach"):
        return podproxy.stream_response(store, _nodes(), ns, name, what)
    raise errors.path_not_found()
