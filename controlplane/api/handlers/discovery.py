"""Discovery: which groups, versions and resources this server has.

Where it sits: the first thing every client asks (``GET /api``, ``GET /apis``); kubectl
caches the answer on disk. Two formats, both required:

* aggregated (apidiscovery.k8s.io/v2): one document per prefix with every resource,
  sent only when the client asks for it, with the exact Content-Type
  ``application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList``; the
  client recognises the format by that header alone;
* legacy: ``APIVersions``/``APIGroupList`` for ``/api``/``/apis``, ``APIGroup`` for
  ``/apis/<g>``, ``APIResourceList`` for ``/api/v1`` and ``/apis/<g>/<v>`` (kubectl
  drain, the Python DynamicClient and kopf read these).

Custom resources appear as soon as their CRD exists (the catalog re-reads CRDs);
``metrics.k8s.io`` (``resources.METRICS``, served from the node agents) is always there.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from flask import Response, request

from .. import errors
from ..requestinfo import RequestInfo
from ..resources import GROUP_ORDER, METRICS, ResourceInfo
from .render import dumps

AGGREGATED = "application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList"


def _wants_aggregated() -> str:
    """"v2" or "v2beta1" if the client accepts aggregated discovery, else ""."""
    for part in request.headers.get("Accept", "").split(","):
        params = dict(p.strip().split("=", 1) for p in part.split(";")[1:] if "=" in p)
        if params.get("as") == "APIGroupDiscoveryList" and params.get("g") == "apidiscovery.k8s.io":
            if params.get("v") in ("v2", "v2beta1"):
                return params["v"]
    return ""


def _version_key(version: str) -> tuple[int, int, int]:
    """Kubernetes' version priority: v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > others."""
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not m:
        return (-1, 0, 0)
    stability = {"alpha": 0, "beta": 1, None: 2}[m.group(2)]
    return (stability, int(m.group(1)), int(m.group(3) or 0))


def _groups(infos: list[ResourceInfo]) -> list[tuple[str, list[str]]]:
    """(group, versions preferred-first), core group first, then upstream's order, then CRD groups."""
    versions: dict[str, set[str]] = defaultdict(set)
    for info in infos:
        versions[info.group].add(info.version)
    order = {g: i for i, g in enumerate(GROUP_ORDER)}
    groups = sorted(versions, key=lambda g: (order.get(g, len(order)), g))
    return [(g, sorted(versions[g], key=_version_key, reverse=True)) for g in groups]


def _kind(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "version": version, "kind": kind}


def _aggregated_resource(info: ResourceInfo) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": info.resource,
        "responseKind": _kind(info.group, info.version, info.kind),
        "scope": "Namespaced" if info.namespaced else "Cluster",
        "singularResource": info.singular,
        "verbs": list(info.verbs),
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    if info.subresources:
        entry["subresources"] = [
            {"subresource": s.name,
             "responseKind": _kind(s.group or info.group, s.version or info.version, s.kind),
             "verbs": list(s.verbs)}
            for s in info.subresources
        ]
    return entry


def _legacy_resources(infos: list[ResourceInfo]) -> list[dict[str, Any]]:
    out = []
    for info in sorted(infos, key=lambda i: i.resource):
        entry: dict[str, Any] = {"name": info.resource, "singularName": info.singular,
                                 "namespaced": info.namespaced, "kind": info.kind, "verbs": list(info.verbs)}
        if info.short_names:
            entry["shortNames"] = list(info.short_names)
        if info.categories:
            entry["categories"] = list(info.categories)
        out.append(entry)
        for s in sorted(info.subresources, key=lambda s: s.name):
            sub: dict[str, Any] = {"name": f"{info.resource}/{s.name}", "singularName": "",
                                   "namespaced": info.namespaced, "kind": s.kind, "verbs": list(s.verbs)}
            if s.group or s.version:  # kubectl drain looks for group/version on pods/eviction
                sub["group"], sub["version"] = s.group, s.version
            out.append(sub)
    return out


def _aggregated(infos: list[ResourceInfo], core: bool, v: str) -> Response:
    items = []
    for group, versions in _groups(infos):
        if (group == "") != core:
            continue
        entries = []
        for version in versions:
            resources = sorted((i for i in infos if i.group == group and i.version == version),
                               key=lambda i: i.resource)
            entries.append({"version": version, "resources": [_aggregated_resource(i) for i in resources],
                            "freshness": "Current"})
        items.append({"metadata": {"name": group, "creationTimestamp": None}, "versions": entries})
    body = {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{v}", "metadata": {}, "items": items}
    return Response(dumps(body), content_type=AGGREGATED.format(v=v))


def _group_entry(group: str, versions: list[str]) -> dict[str, Any]:
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}


def serve(registry, info: RequestInfo) -> Response:
    infos = registry.resources() + list(METRICS)
    path = request.path.rstrip("/")
    aggregated = _wants_aggregated()
    if path == "/api":
        if aggregated:
            return _aggregated(infos, core=True, v=aggregated)
        host = request.host or "127.0.0.1:6443"
        return _json({"kind": "APIVersions", "versions": ["v1"],
                      "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]})
    if path == "/apis":
        if aggregated:
            return _aggregated(infos, core=False, v=aggregated)
        groups = [_group_entry(g, vs) for g, vs in _groups(infos) if g]
        return _json({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    matching = [i for i in infos if i.group == info.group]
    if not matching:
        raise errors.path_not_found()
    if not info.version:  # /apis/<group>
        versions = dict(_groups(matching))[info.group]
        return _json({"kind": "APIGroup", "apiVersion": "v1", **_group_entry(info.group, versions)})
    in_version = [i for i in matching if i.version == info.version]
    if not in_version:
        raise errors.path_not_found()
    return _json({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": in_version[0].group_version,
                  "resources": _legacy_resources(in_version)})


def _json(body: dict[str, Any]) -> Response:
    return Response(dumps(body), mimetype="application/json")
