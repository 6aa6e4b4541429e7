"""Discovery: which resources the server serves, and what an ownerReference points at.

Where it sits: controllers that work on *every* resource (the garbage collector, the
namespace controller) ask discovery instead of hard-coding a list, so custom
resources are handled as soon as their CRD is served. It reads the legacy discovery
documents, the ones kubectl's older code paths and the Python DynamicClient use:

* ``GET /api`` -> ``APIVersions`` (just "v1"), then ``GET /api/v1`` -> ``APIResourceList``;
* ``GET /apis`` -> ``APIGroupList``, then ``GET /apis/<g>/<v>`` -> ``APIResourceList``
  for every version of every group.

Subresources (``pods/status``, ``namespaces/finalize``) are left out: nobody lists,
watches or deletes them on their own.

:class:`CachedDiscovery` keeps the answer for a while and doubles as a REST mapper,
(apiVersion, kind) -> resource, which the garbage collector needs to look up an
owner named only by its ownerReference.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import ApiError, is_not_found
from .resources import Resource, group_version_path, split_api_version

if TYPE_CHECKING:
    from .rest import Client

log = logging.getLogger(__name__)


def discover(client: Client) -> list[Resource]:
    """Every served resource in every version, each group's preferred version first.

    A group version that vanishes between the two requests (a CRD just deleted) is
    skipped rather than failing the whole discovery.
    """
    group_versions: list[tuple[str, str]] = [("", v) for v in _get(client, "/api").get("versions", [])]
    for group in _get(client, "/apis").get("groups", []):
        preferred = (group.get("preferredVersion") or {}).get("version")
        versions = [v["version"] for v in group.get("versions", [])]
        versions.sort(key=lambda v: v != preferred)  # stable: preferred first, then the server's order
        group_versions += [(group["name"], v) for v in versions]

    resources: list[Resource] = []
    for group, version in group_versions:
        try:
            doc = _get(client, group_version_path(group, version))
        except ApiError as e:
            if is_not_found(e):
                log.info("discovery: %s vanished while discovering; skipping it", group_version_path(group, version))
                continue
            raise
        resources += parse_resource_list(group, version, doc)
    return resources


def _get(client: Client, path: str) -> dict[str, Any]:
    doc = client.request("GET", path).json()
    return doc if isinstance(doc, dict) else {}


def parse_resource_list(group: str, version: str, doc: dict[str, Any]) -> list[Resource]:
    """The resources of one ``APIResourceList``, subresources left out."""
    out = []
    for entry in doc.get("resources", []):
        if "/" in entry.get("name", ""):
            continue
        out.append(Resource(group=group, version=version, resource=entry["name"], kind=entry.get("kind", ""),
                            namespaced=bool(entry.get("namespaced")), verbs=frozenset(entry.get("verbs") or [])))
    return out


def preferred(resources: list[Resource]) -> list[Resource]:
    """One version per (group, resource): the first, i.e. the most preferred, that serves it
    (upstream's ``ServerPreferredResources``). Watching one object through two versions
    would show it twice."""
    seen: set[tuple[str, str]] = set()
    out = []
    for r in resources:
        if (r.group, r.resource) not in seen:
            seen.add((r.group, r.resource))
            out.append(r)
    return out


class CachedDiscovery:
    """Discovery answers kept for ``ttl`` seconds, and a mapper from (apiVersion, kind).

    Thread-safe. A lookup that misses refreshes early (at most every
    ``min_refresh`` seconds), because the usual reason for a miss is a CRD created
    moments ago.
    """

    def __init__(self, client: Client, *, ttl: float = 30.0, min_refresh: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._ttl = ttl
        self._min_refresh = min_refresh
        self._clock = clock
        self._lock = threading.Lock()
        self._resources: list[Resource] = []
        self._fetched_at: float | None = None

    def resources(self, *, refresh: bool = False) -> list[Resource]:
        """All served resources in all versions (a copy of the cached list)."""
        with self._lock:
            now = self._clock()
            if refresh or self._fetched_at is None or now - self._fetched_at >= self._ttl:
                self._resources = self._client.discover()
                self._fetched_at = now
            return list(self._resources)

    def preferred(self, *, refresh: bool = False) -> list[Resource]:
        return preferred(self.resources(refresh=refresh))

    def resource_for(self, api_version: str, kind: str) -> Resource | None:
        """The resource serving ``kind`` in ``api_version``, or None if the server has none."""
        found = self._lookup(api_version, kind)
        if found is None:
            with self._lock:
                stale = self._fetched_at is None or self._clock() - self._fetched_at >= self._min_refresh
            if stale:
                self.resources(refresh=True)
                found = self._lookup(api_version, kind)
        return found

    def _lookup(self, api_version: str, kind: str) -> Resource | None:
        group, version = split_api_version(api_version)
        for r in self.resources():
            if r.group == group and r.version == version and r.kind == kind:
                return r
        return None
