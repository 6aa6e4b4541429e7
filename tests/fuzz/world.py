"""The part of the cluster the fuzz test owns: set up before the run, kept up during it, removed after.

Where it sits: ``test_fuzz_api.py`` calls :func:`build_world` before the first
generated request and :func:`cleanup` after the last. In between, :func:`seed_requests`
gives the requests that put back seeded objects the fuzzer deleted, so that updates,
patches and subresources keep hitting real objects for the whole run.

Setup is plain HTTP through one ``requests.Session``: discovery (``/api``, ``/apis``,
every group version), the test's two namespaces, its two CRDs, one valid object of
every kind, a few continue tokens and resource versions. Every object the test creates
carries the label ``fuzz-run=<run>``.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import requests

from . import seeds
from .client import FuzzRequest
from .strategies import Resource, World
from .values import dumps

RUN = "fuzz"
CLUSTER_SEEDS = ("Node", "ClusterRole", "ClusterRoleBinding", "Gadget")


def _json(http: requests.Session, url: str, **kw: Any) -> dict[str, Any]:
    resp = http.get(url, timeout=30, **kw)
    resp.raise_for_status()
    return resp.json()


def discover(http: requests.Session, server: str) -> list[Resource]:
    """Every resource of every served group version, with its subresources."""
    prefixes = [f"/api/{v}" for v in _json(http, server + "/api")["versions"]]
    for group in _json(http, server + "/apis")["groups"]:
        prefixes += [f"/apis/{v['groupVersion']}" for v in group["versions"]]
    found = []
    for prefix in prefixes:
        entries = _json(http, server + prefix)["resources"]
        subs: dict[str, list[str]] = {}
        for e in entries:
            if "/" in e["name"]:
                parent, sub = e["name"].split("/", 1)
                subs.setdefault(parent, []).append(sub)
        parts = prefix.strip("/").split("/")
        group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
        found += [Resource(group, version, e["name"], e["kind"], e["namespaced"], tuple(e["verbs"]),
                           tuple(subs.get(e["name"], ()))) for e in entries if "/" not in e["name"]]
    return found


def labelled(obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"].setdefault("labels", {})["fuzz-run"] = RUN
    return obj


def _create(http: requests.Session, url: str, obj: dict[str, Any]) -> requests.Response:
    return http.post(url, data=dumps(obj), headers={"Content-Type": "application/json"}, timeout=30)


def seed_objects(resources: list[Resource], main_ns: str) -> list[tuple[Resource, str, dict[str, Any]]]:
    """(resource, collection path, object) for one valid object of every kind we know."""
    out = []
    for r in resources:
        if (r.group, r.kind) not in seeds.KINDS or "create" not in r.verbs \
                or r.kind in ("Namespace", "CustomResourceDefinition"):
            continue
        factory = r.template()
        # Versions of a kind, and core and events.k8s.io Events, share storage: names must differ.
        suffix = f"{r.kind.lower()}-{r.group.split('.')[0] or 'core'}-{r.version}"
        if r.namespaced:
            path = f"{r.prefix}/namespaces/{main_ns}/{r.plural}"
            out.append((r, path, labelled(factory(f"seed-{suffix}", main_ns))))
            if r.kind == "ConfigMap":  # two, so that a list with limit=1 has a continue token
                out.append((r, path, labelled(factory(f"seed2-{suffix}", main_ns))))
        elif r.kind in CLUSTER_SEEDS:
            out.append((r, f"{r.prefix}/{r.plural}", labelled(factory(f"{RUN}-{suffix}", ""))))
    return out


def wait_for_crds(http: requests.Session, server: str, plurals: set[str], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resp = http.get(f"{server}/apis/{seeds.CR_GROUP}/v1", timeout=30)
        if resp.ok and plurals <= {r["name"] for r in resp.json()["resources"]}:
            return
        time.sleep(0.2)
    raise AssertionError(f"the CRDs {sorted(plurals)} were not served within {timeout:.0f}s")


def names_of(http: requests.Session, server: str, r: Resource) -> set[str]:
    resp = http.get(f"{server}{r.prefix}/{r.plural}", timeout=30)
    return {o["metadata"]["name"] for o in resp.json().get("items", [])} if resp.ok else set()


def build_world(http: requests.Session, server: str) -> tuple[World, list[FuzzRequest]]:
    """Create what the run owns; returns the world and the requests that re-seed it."""
    main_ns, spare_ns = f"{RUN}-main", f"{RUN}-spare"
    before = [r for r in discover(http, server) if not r.namespaced and "list" in r.verbs]
    protected = set().union(*(names_of(http, server, r) for r in before))
    for ns in (main_ns, spare_ns):
        _create(http, f"{server}/api/v1/namespaces", labelled(seeds.namespace(ns)))
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    for crd in (seeds.widget_crd(), seeds.gadget_crd()):
        resp = _create(http, server + crds, labelled(crd))
        assert resp.status_code == 201, \
            f"creating CRD {crd['metadata']['name']}: {resp.status_code} {resp.text}"
    wait_for_crds(http, server, {"widgets", "gadgets"})
    resources = discover(http, server)
    objects: dict[tuple[str, str], list[dict[str, Any]]] = {}
    reseed, refused = [], []
    for r, path, obj in seed_objects(resources, main_ns):
        resp = _create(http, server + path, obj)
        if resp.status_code != 201:
            refused.append(f"{obj['kind']} {obj['metadata']['name']}: {resp.status_code} {resp.text[:300]}")
            continue
        objects.setdefault((r.group, r.plural), []).append(resp.json())
        reseed.append(FuzzRequest("POST", path, [], {"Content-Type": "application/json"}, dumps(obj),
                                  "POST re-seed"))
    assert not refused, "the server refused valid seed objects:\n" + "\n".join(refused)
    reseed.append(FuzzRequest("POST", "/api/v1/namespaces", [], {"Content-Type": "application/json"},
                              dumps(labelled(seeds.namespace(spare_ns))), "POST re-seed"))
    tokens, versions = [], []
    for path in ("/api/v1/configmaps", "/api/v1/namespaces", f"/api/v1/namespaces/{main_ns}/configmaps"):
        meta = _json(http, server + path, params={"limit": "1"})["metadata"]
        tokens += [meta["continue"]] if meta.get("continue") else []
        versions.append(meta["resourceVersion"])
    world = World(RUN, main_ns, spare_ns, resources, objects, frozenset(protected - {main_ns, spare_ns}),
                  tokens, versions)
    return world, reseed


# -- cleanup ---------------------------------------------------------------------------


def cleanup(http: requests.Session, server: str, world: World) -> None:
    """Remove what the run created: its namespaces and every cluster-scoped object new since setup.

    Finalizers the fuzzer added would hold a deletion forever, so they are removed first.
    Best effort: a failure here is reported by the next test that trips over it, not here.
    """
    resources = discover(http, server)
    cluster_scoped = [r for r in resources if not r.namespaced and {"list", "delete"} <= set(r.verbs)]
    core_namespaces = next(r for r in resources if (r.group, r.plural) == ("", "namespaces"))
    namespaces = names_of(http, server, core_namespaces)
    ours = (namespaces - world.protected) | set(world.ours)
    for r in resources:
        if not r.namespaced or "list" not in r.verbs:
            continue
        for ns in ours:
            items = http.get(f"{server}{r.prefix}/namespaces/{ns}/{r.plural}", timeout=30)
            for obj in items.json().get("items", []) if items.ok else []:
                if obj["metadata"].get("finalizers"):
                    name = requests.utils.quote(obj["metadata"]["name"], safe="")
                    _unfinalize(http, f"{server}{r.prefix}/namespaces/{ns}/{r.plural}/{name}")
    doomed = []
    for r in cluster_scoped:
        for name in names_of(http, server, r) - world.protected:
            if r.plural != "namespaces" or name in ours:
                doomed.append(f"{server}{r.prefix}/{r.plural}/{requests.utils.quote(name, safe='')}")
    for url in doomed:
        http.delete(url, timeout=30)
    time.sleep(3)  # the CRD catalog and the namespace controller finish most deletions by now
    for url in doomed:
        if http.get(url, timeout=30).ok:
            _unfinalize(http, url)  # held by a finalizer the fuzzer added


def _unfinalize(http: requests.Session, url: str) -> None:
    http.patch(url, data=b'{"metadata":{"finalizers":null}}',
               headers={"Content-Type": "application/merge-patch+json"}, timeout=30)
