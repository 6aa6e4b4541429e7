"""Addressing a resource: (group, version, resource) plus a namespace becomes a URL path.

Where it sits: used by :mod:`controlplane.client.rest` to build every request path, and
by discovery to describe what the server serves. Kubernetes has two path families:

* the core ("legacy") group lives under ``/api/v1``:
  ``/api/v1/namespaces/default/pods/web``, ``/api/v1/nodes/n1``;
* every named group lives under ``/apis/<group>/<version>``:
  ``/apis/apps/v1/namespaces/default/deployments/web``.

Namespaced resources put ``namespaces/<ns>/`` before the resource name; listing one
without a namespace lists across all namespaces. A Namespace is itself cluster-scoped,
so ``/api/v1/namespaces/<ns>/finalize`` is a subresource of that object.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import quote


@dataclasses.dataclass(frozen=True)
class Resource:
    """One served resource. ``kind``, ``namespaced`` and ``verbs`` come from discovery;
    the well-known constants below fill them in by hand."""

    group: str
    version: str
    resource: str  # the plural, lower-case name used in URLs: "deployments"
    kind: str = ""
    namespaced: bool = True
    verbs: frozenset[str] = frozenset()

    @property
    def api_version(self) -> str:
        """What objects of this resource carry in ``apiVersion``: "v1" or "apps/v1"."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """"deployments.apps" or "pods", as error messages and RBAC name it."""
        return f"{self.resource}.{self.group}" if self.group else self.resource

    def supports(self, *verbs: str) -> bool:
        return all(v in self.verbs for v in verbs)

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        return resource_path(self.group, self.version, self.resource, namespace=namespace if self.namespaced else None,
                             name=name, subresource=subresource)

    def __str__(self) -> str:
        return f"{self.group_resource}/{self.version}"


def group_version_path(group: str, version: str) -> str:
    """``/api/v1`` for the core group, ``/apis/<group>/<version>`` for the others."""
    return f"/api/{version}" if not group else f"/apis/{group}/{version}"


def resource_path(group: str, version: str, resource: str, *, namespace: str | None = None,
                  name: str | None = None, subresource: str | None = None) -> str:
    """The URL path of a collection, an object or an object's subresource."""
    parts = [group_version_path(group, version)]
    if namespace:
        parts += ["namespaces", quote(namespace, safe="")]
    parts.append(resource)
    if name is not None:
        parts.append(quote(name, safe=""))
        if subresource:
            parts.append(subresource)
    elif subresource:
        raise ValueError("a subresource needs an object name")
    return "/".join(parts)


def split_api_version(api_version: str) -> tuple[str, str]:
    """"apps/v1" -> ("apps", "v1"); "v1" -> ("", "v1")."""
    group, _, version = api_version.rpartition("/")
    return group, version


def object_key(obj: dict[str, Any]) -> str:
    """client-go's MetaNamespaceKeyFunc: "namespace/name", or "name" when cluster-scoped."""
    meta = obj.get("metadata") or {}
    namespace, name = meta.get("namespace") or "", meta.get("name") or ""
    return f"{namespace}/{name}" if namespace else name


def split_key(key: str) -> tuple[str, str]:
    """The inverse of :func:`object_key`: "ns/name" -> ("ns", "name"), "name" -> ("", "name")."""
    namespace, _, name = key.rpartition("/")
    return namespace, name


_ALL = frozenset({"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"})

NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False,
                      verbs=_ALL - {"deletecollection"})
SERVICEACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount", verbs=_ALL)
PODS = Resource("", "v1", "pods", "Pod", verbs=_ALL)
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap", verbs=_ALL)
SECRETS = Resource("", "v1", "secrets", "Secret", verbs=_ALL)
SERVICES = Resource("", "v1", "services", "Service", verbs=_ALL)
NODES = Resource("", "v1", "nodes", "Node", namespaced=False, verbs=_ALL)
EVENTS = Resource("", "v1", "events", "Event", verbs=_ALL)
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment", verbs=_ALL)
REPLICASETS = Resource("apps", "v1", "replicasets", "ReplicaSet", verbs=_ALL)
DAEMONSETS = Resource("apps", "v1", "daemonsets", "DaemonSet", verbs=_ALL)
STATEFULSETS = Resource("apps", "v1", "statefulsets", "StatefulSet", verbs=_ALL)
JOBS = Resource("batch", "v1", "jobs", "Job", verbs=_ALL)
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease", verbs=_ALL)
