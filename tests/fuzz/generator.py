"""One generated request from end to end, and the guard that keeps its writes in the test's space.

Where it sits: the strategy ``test_fuzz_api.py`` hands to hypothesis. It picks a method,
a target (a resource path from discovery, one in eight mangled, or one in twenty a
discovery path), a body that fits the two (or not), a query and headers, and passes the
result through :func:`guard`, which promises:

* a write names no namespace and no cluster-scoped object that existed before the run
  (such a request is sent as a GET instead), and no ``.`` or ``..`` segment;
* the test's main namespace and the Widget CRD are never rewritten or deleted (the rest
  of the run needs them);
* a DELETE outside the test's namespaces (a cluster-scoped collection, a mangled path)
  carries the run's label selector, so it can only delete what the run created.

Anything other than GET, HEAD and OPTIONS counts as a write here, odd methods included.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import quote, unquote

from hypothesis import strategies as st

from . import seeds
from .bodies import bodies
from .client import FuzzRequest
from .strategies import (
    APPLY,
    World,
    build_path,
    discovery_paths,
    headers,
    mangle,
    queries,
    query_values,
    targets,
    watch_safe,
)
from .values import chance

# About 1 in 12 requests uses a method outside the five the API serves.
METHODS = ["GET"] * 18 + ["POST"] * 12 + ["PUT"] * 9 + ["PATCH"] * 15 + ["DELETE"] * 6 + [
    "HEAD", "HEAD", "OPTIONS", "TRACE", "PROPFIND", "get", "FOO"]
READS = ("GET", "HEAD", "OPTIONS")


def fuzz_requests(world: World, token: str) -> st.SearchStrategy[FuzzRequest]:
    """Whole requests against ``world``, each through :func:`guard`."""
    values = query_values(world)  # built once: the strategies are the same for every request
    discovery = st.sampled_from(discovery_paths(world))
    plurals = frozenset(r.plural for r in world.resources)

    @st.composite
    def one(draw: st.DrawFn) -> FuzzRequest:
        method = draw(st.sampled_from(METHODS))
        target = None
        if draw(chance(20)):
            path = draw(discovery)
        else:
            target = draw(targets(world, method))
            path = draw(mangle(target.segments)) if draw(chance(8)) else build_path(target.segments)
        content_type, body, note = draw(bodies(world, target, method))
        query = draw(queries(values, method))
        if content_type == APPLY and "fieldManager" not in dict(query) and not draw(chance(5)):
            query.append(("fieldManager", "fuzz-apply"))
        req = FuzzRequest(method, path, watch_safe(query), draw(headers(content_type, token)), body,
                          f"{method} {note}".strip())
        return guard(req, world, plurals)

    return one()


def guard(req: FuzzRequest, world: World, plurals: frozenset[str]) -> FuzzRequest:
    """Keep writes to what this test owns (the promises are in the module docstring)."""
    if req.method in READS:
        return req
    segs = [s for s in unquote(req.path).split("/") if s]  # as the server splits PATH_INFO
    if (any(s in world.protected or s in (".", "..") for s in segs) or f"widgets.{seeds.CR_GROUP}" in segs
            or touches_namespace(segs, world.main_ns, plurals)):
        return dataclasses.replace(req, method="GET", body=None, note=f"{req.note} (made a GET by the guard)")
    if req.method == "DELETE" and not any(ns in segs for ns in world.ours):
        # A collection outside our namespaces (cluster-scoped, or a mangled path): only our objects.
        drawn = next((v for k, v in req.query if k == "labelSelector" and v), "")
        selector = quote(f"fuzz-run={world.run}", safe="") + ("," + drawn if drawn else "")
        query = [(k, v) for k, v in req.query if k != "labelSelector"] + [("labelSelector", selector)]
        return dataclasses.replace(req, query=query)
    return req


def touches_namespace(segs: list[str], name: str, plurals: frozenset[str]) -> bool:
    """Whether a path names the Namespace object ``name`` itself (or a subresource of it)."""
    for i in range(len(segs) - 1):
        if segs[i] == "namespaces" and segs[i + 1] == name:
            rest = segs[i + 2:]
            if not rest or (len(rest) == 1 and rest[0] not in plurals):
                return True
    return False
