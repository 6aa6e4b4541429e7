"""The parts of a request: paths from discovery (and mangled ones), query strings, headers.

Where it sits: ``world.py`` learns the server into a :class:`World` (its resources from
discovery, the objects the test seeded, names it must not touch); ``generator.py``
draws a whole request from the strategies here and from ``bodies.py``. The shapes:

* :func:`targets`: a collection, an object or a subresource of a discovered resource,
  mostly of the shape the method is for (POST to collections, PUT and PATCH to objects),
  in the test's namespace and naming its seeded objects, so that most requests get past
  routing into decoding, validation and storage;
* :func:`mangle`: the same path with a segment dropped, doubled, replaced or made huge;
* :func:`queries`: every query parameter the API reads, with good and broken values;
* :func:`headers`: Accept and Content-Type of every kind, odd agents and credentials.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

from . import seeds
from .client import WATCH_TRUE
from .values import (
    RESOURCE_VERSIONS,
    chance,
    continue_tokens,
    field_selectors,
    label_selectors,
    odd_names,
)

JSON, YAML = "application/json", "application/yaml"
JSON_PATCH, MERGE_PATCH = "application/json-patch+json", "application/merge-patch+json"
STRATEGIC, APPLY = "application/strategic-merge-patch+json", "application/apply-patch+yaml"
SUBRESOURCES = ["status", "scale", "binding", "eviction", "log", "finalize", "bogus", "exec", "proxy",
                "ephemeralcontainers", "resize", "token", "approval"]


@dataclasses.dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...]
    subresources: tuple[str, ...]

    @property
    def prefix(self) -> str:
        return "/" + "/".join(self.root)

    @property
    def root(self) -> list[str]:
        return ["apis", self.group, self.version] if self.group else ["api", self.version]

    def template(self) -> seeds.Factory:
        """Valid objects of this resource, in this resource's version."""
        factory = seeds.KINDS.get((self.group, self.kind)) \
            or seeds.generic(self.group, self.version, self.kind)
        api_version = f"{self.group}/{self.version}" if self.group else self.version

        def make(name: str, ns: str) -> dict[str, Any]:
            return {**factory(name, ns), "apiVersion": api_version}

        return make


@dataclasses.dataclass
class World:
    """What the fuzzer knows about the server and owns in it."""

    run: str  # a prefix for the names this run creates
    main_ns: str  # holds the seeded objects; never deleted or rewritten
    spare_ns: str  # may be rewritten and deleted
    resources: list[Resource]
    objects: dict[tuple[str, str], list[dict[str, Any]]]  # (group, plural) -> seeded objects, as stored
    protected: frozenset[str]  # names of namespaces and cluster-scoped objects the test does not own
    continue_tokens: list[str]
    resource_versions: list[str]

    @property
    def ours(self) -> tuple[str, str]:
        return (self.main_ns, self.spare_ns)

    def names(self, r: Resource) -> list[str]:
        return [o["metadata"]["name"] for o in self.objects.get((r.group, r.plural), [])]

    def stored(self, r: Resource, name: str) -> dict[str, Any] | None:
        found = self.objects.get((r.group, r.plural), [])
        return next((o for o in found if o["metadata"]["name"] == name), None)


# -- paths ---------------------------------------------------------------------------

SAFE = "~!$&'()*+,;=:@"  # what a path segment may hold unencoded (RFC 3986 pchar)


def encode(segment: str) -> str:
    return quote(segment.encode("utf-8", "surrogatepass"), safe=SAFE)


# Path shapes by method: mostly what the method is for, sometimes not.
SHAPES = {
    "GET": ["collection"] * 4 + ["item"] * 4 + ["sub"] * 2 + ["allns"] * 2,
    "POST": ["collection"] * 8 + ["sub"] * 2 + ["item", "allns"],
    "PUT": ["item"] * 8 + ["sub"] * 4 + ["collection", "allns"],
    "PATCH": ["item"] * 8 + ["sub"] * 4 + ["collection", "allns"],
    "DELETE": ["item"] * 6 + ["collection"] * 3 + ["sub", "allns"],
}


@dataclasses.dataclass
class Target:
    resource: Resource
    namespace: str
    name: str
    subresource: str
    segments: list[str]  # the path's segments, not yet encoded


def discovery_paths(world: World) -> list[str]:
    groups = sorted({(r.group, r.version) for r in world.resources if r.group})
    paths = ["/api", "/apis", "/api/v1", "/api/v2", "/apis/nope", "/apis/nope/v1", "/version", "/openapi/v2",
             "/openapi/v3", "/openapi/v3/api/v1", "/openapi/v3/apis/nope/v1", "/healthz", "/readyz", "/livez",
             "/healthz/etcd", "/metrics", "/", "/logs", "/.well-known/openid-configuration",
             "/apis/apps/v1/namespaces", "/api/v1/namespaces/x/namespaces/y"]
    for g, v in groups:
        paths += [f"/apis/{g}", f"/apis/{g}/{v}", f"/apis/{g}/v0", f"/openapi/v3/apis/{g}/{v}"]
    return paths


@st.composite
def targets(draw: st.DrawFn, world: World, method: str) -> Target:
    """A resource path; mostly of the shape the method is for, so that requests get far."""
    r = draw(st.sampled_from(world.resources))
    ns = ""
    if r.namespaced:
        ns = draw(odd_names) if draw(chance(12)) else draw(st.sampled_from(
            [world.main_ns] * 24 + [world.spare_ns, f"{world.run}-none", "default", ""]))
    known = world.names(r)
    fresh = [f"{world.run}-{i}" for i in range(8)]
    name_pool = odd_names if draw(chance(10)) else st.sampled_from(known * 24 + fresh if known else fresh)
    shape = draw(st.sampled_from(SHAPES.get(method, SHAPES["GET"])))
    if shape == "sub" and not r.subresources and not draw(chance(4)):
        shape = "item"  # a resource without subresources: a made-up one now and then is enough
    if r.plural == "namespaces" and shape != "collection":
        name = draw(odd_names) if draw(chance(6)) else draw(st.sampled_from(
            [world.main_ns, world.spare_ns, f"{world.run}-ns"]))
        return Target(r, "", name, "", [*r.root, "namespaces", name]
                      + draw(st.sampled_from([[], [], ["status"], ["finalize"], ["bogus"]])))
    base = r.root + (["namespaces", ns] if ns and shape != "allns" else [])
    if shape in ("collection", "allns"):
        return Target(r, ns if shape != "allns" else "", "", "", base + [r.plural])
    name = draw(name_pool)
    if shape == "item":
        return Target(r, ns, name, "", base + [r.plural, name])
    sub = draw(st.sampled_from(list(r.subresources) * 10 + SUBRESOURCES))
    return Target(r, ns, name, sub, base + [r.plural, name, sub])


@st.composite
def mangle(draw: st.DrawFn, segments: list[str]) -> str:
    """A path with extra or missing segments, odd characters, very long names, extra slashes."""
    segs = list(segments)
    i = draw(st.sampled_from(range(len(segs))))
    how = draw(st.sampled_from(["drop", "dup", "insert", "replace", "upper", "long", "empty", "slash"]))
    if how == "drop" and len(segs) > 1:
        del segs[i]
    elif how == "dup":
        segs.insert(i, segs[i])
    elif how == "insert":
        extra = st.sampled_from(["status", "namespaces", "v1", "api", "apis", "watch", ".", ".."])
        segs.insert(i + 1, draw(extra | odd_names))
    elif how == "replace":
        segs[i] = draw(odd_names | st.text(max_size=30))
    elif how == "upper":
        segs[i] = segs[i].upper()
    elif how == "long":
        segs[i] = "n" * draw(st.sampled_from([254, 300, 1000, 4000, 9000]))
    elif how == "empty":
        segs.insert(i + 1, "")  # a double slash
    else:
        return build_path(segs) + "/"
    return build_path(segs)


def build_path(segments: list[str]) -> str:
    return "/" + "/".join(encode(s) for s in segments)


# -- query strings -------------------------------------------------------------------


def query_values(world: World) -> dict[str, st.SearchStrategy[str]]:
    ints = st.sampled_from(["0", "1", "2", "-1", "500", "9223372036854775808", "1e3", "abc", "", " 1",
                            "0x10"])
    return {
        "labelSelector": label_selectors, "fieldSelector": field_selectors,
        "limit": ints | st.integers().map(str), "continue": continue_tokens(world.continue_tokens),
        "resourceVersion": st.sampled_from(RESOURCE_VERSIONS + world.resource_versions)
        | st.integers().map(str),
        "resourceVersionMatch": st.sampled_from(["Exact", "NotOlderThan", "", "exact", "bogus"]),
        "watch": st.sampled_from(["true", "1", "false", "0", "yes", "", "True"]),
        "allowWatchBookmarks": st.sampled_from(["true", "false", "x"]),
        "timeoutSeconds": st.sampled_from(["1", "-1", "abc", "0", "99999999999999999999"]),
        "dryRun": st.sampled_from(["All", "All", "", "all", "None", "All,All"]),
        "fieldManager": st.sampled_from(["fuzz", "", "m" * 128, "m" * 129, "m" * 5000, "ü", "kubectl",
                                         "before-first-apply", "kubectl-client-side-apply"])
        | st.text(max_size=10),
        "fieldValidation": st.sampled_from(["Strict", "Warn", "Ignore", "", "strict", "bogus"]),
        "force": st.sampled_from(["true", "false", "x", ""]),
        "propagationPolicy": st.sampled_from(["Orphan", "Background", "Foreground", "", "orphan", "bogus"]),
        "orphanDependents": st.sampled_from(["true", "false", "x"]),
        "gracePeriodSeconds": ints | st.integers().map(str),
        "includeObject": st.sampled_from(["None", "Metadata", "Object", "bogus", ""]),
        "sendInitialEvents": st.sampled_from(["true", "false", "x"]),
        "container": st.sampled_from(["main", "init", "nope", ""]),
        "tailLines": ints, "previous": st.sampled_from(["true", "x"]),
        "pretty": st.sampled_from(["true", "1"]),
        "export": st.sampled_from(["true"]), "exact": st.sampled_from(["true"]),
        "zzz": st.text(max_size=8),
    }


def _encode_query(value: str) -> str:
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


@st.composite
def queries(draw: st.DrawFn, values: dict[str, st.SearchStrategy[str]], method: str) -> list[tuple[str, str]]:
    likely = {"GET": ["labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "watch"],
              "DELETE": ["propagationPolicy", "gracePeriodSeconds", "dryRun", "labelSelector"],
              }.get(method, ["dryRun", "fieldManager", "fieldValidation", "force"])
    keys = draw(st.lists(st.sampled_from(likely * 3 + sorted(values)), max_size=4))
    pairs = [(k, _encode_query(draw(values[k]))) for k in keys]
    if draw(chance(20)):
        pairs.append(draw(st.sampled_from([("bare", None), ("", "x"), ("a+b", "c+d"), ("%FF", "%FE"),
                                           ("limit", "%00"), ("labelSelector", "a%3Db%26c")])))
    return pairs


def watch_safe(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A watch lasts at most a second: exactly one timeoutSeconds=1, whatever was drawn."""
    if not any(k == "watch" and v in WATCH_TRUE for k, v in pairs):
        return pairs
    return [(k, v) for k, v in pairs if k != "timeoutSeconds"] + [("timeoutSeconds", "1")]


# -- headers -------------------------------------------------------------------------

# Mostly no Accept (JSON), then JSON, tables, metadata, YAML, protobuf, and what nobody serves.
ACCEPTS = [None] * 12 + ["application/json"] * 3 + ["application/json;as=Table;v=v1;g=meta.k8s.io"] * 2 + [
    "application/yaml",
    ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
     "application/json"),
    "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io",
    "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io", "application/json;as=Table",
    "application/json;as=Table;v=v9;g=meta.k8s.io", "application/vnd.kubernetes.protobuf",
    "application/vnd.kubernetes.protobuf;stream=watch",
    "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
    "text/html", "*/*", "garbage;;;==", ";", "application/json;q=0", "text/plain, */*;q=0.1", "", "a" * 3000,
]
CONTENT_TYPES = [None, JSON, "application/json; charset=utf-8", YAML, "text/yaml", JSON_PATCH, MERGE_PATCH,
                 STRATEGIC, APPLY, "application/vnd.kubernetes.protobuf", "text/plain", "garbage", "",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json;;;",
                 "APPLICATION/JSON", "application/apply-patch+json"]
AGENTS = [None, "kubectl/v1.33.0 (linux/amd64) kubernetes/abcdef", "", "/", "é/1", "u" * 300,
          "kube-controller"]
AUTHS = ["", "Bearer", "Bearer wrong", "Basic Zm9vOmJhcg==", "bearer {token}", "Bearer  {token}",
         "Token {token}", "Bearer {token}x", "Bearer {token}, Bearer x"]


@st.composite
def headers(draw: st.DrawFn, content_type: str | None, token: str) -> dict[str, str | None]:
    h: dict[str, str | None] = {"Accept": draw(st.sampled_from(ACCEPTS))}
    if draw(chance(10)):
        content_type = draw(st.sampled_from(CONTENT_TYPES))
    h["Content-Type"] = content_type
    if draw(chance(5)):
        h["User-Agent"] = draw(st.sampled_from(AGENTS))
    if draw(chance(40)):
        h["Authorization"] = draw(st.sampled_from(AUTHS)).format(token=token)
    if draw(chance(50)):
        h.update(draw(st.sampled_from([{"Impersonate-User": "alice"}, {"Impersonate-Group": "system:masters"},
                                       {"Content-Encoding": "gzip"}, {"X-Remote-User": "admin"},
                                       {"Accept-Encoding": "br"}])))
    return h
