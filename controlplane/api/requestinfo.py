"""What a request is about, read from its path and method (apiserver's RequestInfoFactory).

Where it sits: the first step of every ``/api`` and ``/apis`` request, before
authentication decides anything and before the handlers run. Paths look like::

    /api/v1/namespaces/default/pods/web-1/status
    /apis/apps/v1/namespaces/default/deployments
    /api/v1/nodes/node-1                      (cluster-scoped)
    /api/v1/pods                              (all namespaces)
    /api/v1/namespaces/default                (the Namespace object itself)
"""

from __future__ import annotations

import dataclasses

_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "GET": "get", "DELETE": "delete"}


@dataclasses.dataclass(frozen=True)
class RequestInfo:
    verb: str  # get, list, watch, create, update, patch, delete, deletecollection
    group: str
    version: str
    resource: str = ""
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    is_resource_request: bool = True  # False for /api, /apis, /apis/<group>, /apis/<g>/<v>

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


class NotAResourcePath(ValueError):
    """The path is under /api or /apis but names nothing the server could serve."""


def parse(method: str, path: str, watch: bool) -> RequestInfo:
    parts = [p for p in path.strip("/").split("/") if p]
    if not parts or parts[0] not in ("api", "apis"):
        raise NotAResourcePath(path)
    if parts[0] == "api":
        if len(parts) < 2:
            return RequestInfo("get", "", "", is_resource_request=False)
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) < 3:
            group = parts[1] if len(parts) == 2 else ""
            return RequestInfo("get", group, "", is_resource_request=False)
        group, version, rest = parts[1], parts[2], parts[3:]
    if not rest:
        return RequestInfo("get", group, version, is_resource_request=False)

    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 2 and (len(rest) > 2 or group == ""):
        # /namespaces/<ns>/<resource>...; but /api/v1/namespaces/<name>[/status|/finalize]
        # is the Namespace itself, which is decided below by the number of parts.
        if len(rest) >= 3 and not (group == "" and len(rest) == 3 and rest[2] in ("status", "finalize")):
            namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        raise NotAResourcePath(path)
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""

    verb = _VERBS.get(method, method.lower())
    if not name:
        if verb == "get":
            verb = "watch" if watch else "list"
        elif verb == "delete":
            verb = "deletecollection"
    return RequestInfo(verb, group, version, resource, namespace, name, subresource)
