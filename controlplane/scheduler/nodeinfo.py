"""What the scheduler knows about one pod and one node, precomputed once.

Where it sits: the cache (:mod:`.cache`) builds these from informer events; every
plugin reads them. They are values: a change to a node builds a new
:class:`NodeInfo`, so a :class:`Snapshot` taken at the start of a scheduling cycle
stays the same while the informer threads keep updating the cache (upstream's
``NodeInfo`` and ``Snapshot``, without the generation bookkeeping).

* :class:`PodInfo` - a pod with what the plugins ask of it already worked out:
  its requests (as NodeResourcesFit counts them and as scoring counts them), its
  host ports, its priority, its controller.
* :class:`NodeInfo` - a node with the pods on it (bound, or assumed by us) and their
  sums: ``requested``, ``non_zero_requested`` and the host ports in use.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from . import resources
from .resources import Resources

Obj = dict[str, Any]


def pod_key(pod: Obj) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"


@dataclasses.dataclass(frozen=True)
class PodInfo:
    key: str                    # "namespace/name"
    pod: Obj                    # the object as the informer delivered it; never modify it
    requests: Resources         # what NodeResourcesFit checks (only non-zero entries)
    non_zero: Resources         # cpu and memory as scoring counts them (missing -> defaults)
    host_ports: tuple[tuple[str, str, int], ...]
    priority: int
    controller_uid: str         # the owning controller's uid, "" if none
    # Read from metadata once: spreading compares them for every pod on every node.
    namespace: str = ""
    name: str = ""
    uid: str = ""
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    terminating: bool = False

    @classmethod
    def of(cls, pod: Obj) -> PodInfo:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        owner = next((ref for ref in meta.get("ownerReferences") or [] if ref.get("controller")), None)
        priority = spec.get("priority")
        return cls(key=pod_key(pod), pod=pod, requests=resources.pod_requests(pod),
                   non_zero=resources.pod_requests(pod, non_zero=True), host_ports=resources.host_ports(pod),
                   priority=priority if isinstance(priority, int) else 0,
                   controller_uid=(owner or {}).get("uid") or "", namespace=meta.get("namespace") or "",
                   name=meta.get("name") or "", uid=meta.get("uid") or "", labels=meta.get("labels") or {},
                   terminating=bool(meta.get("deletionTimestamp")))

    @property
    def spec(self) -> Obj:
        return self.pod.get("spec") or {}


@dataclasses.dataclass(frozen=True)
class NodeInfo:
    name: str
    node: Obj | None            # None while pods name a node the informer has not delivered yet
    pods: tuple[PodInfo, ...] = ()
    allocatable: Resources = dataclasses.field(default_factory=dict)
    requested: Resources = dataclasses.field(default_factory=dict)
    non_zero_requested: Resources = dataclasses.field(default_factory=dict)
    used_ports: frozenset[tuple[str, str, int]] = frozenset()

    @classmethod
    def build(cls, name: str, node: Obj | None, pods: tuple[PodInfo, ...] = ()) -> NodeInfo:
        requested: Resources = {}
        non_zero: Resources = {}
        ports: set[tuple[str, str, int]] = set()
        for p in pods:
            resources.add(requested, p.requests)
            resources.add(non_zero, p.non_zero)
            ports.update(p.host_ports)
        allocatable = resources.resource_list(((node or {}).get("status") or {}).get("allocatable"))
        return cls(name, node, pods, allocatable, requested, non_zero, frozenset(ports))

    def with_node(self, node: Obj | None) -> NodeInfo:
        return NodeInfo.build(self.name, node, self.pods)

    def with_pod(self, pod: PodInfo) -> NodeInfo:
        return NodeInfo.build(self.name, self.node, tuple(p for p in self.pods if p.key != pod.key) + (pod,))

    def without_pods(self, keys: set[str]) -> NodeInfo:
        return NodeInfo.build(self.name, self.node, tuple(p for p in self.pods if p.key not in keys))

    @property
    def labels(self) -> dict[str, str]:
        return ((self.node or {}).get("metadata") or {}).get("labels") or {}

    @property
    def spec(self) -> Obj:
        return (self.node or {}).get("spec") or {}

    @property
    def allowed_pods(self) -> int:
        return self.allocatable.get(resources.PODS, 0)


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """The nodes as one scheduling cycle sees them, in a fixed order (by name)."""

    nodes: tuple[NodeInfo, ...]

    def __len__(self) -> int:
        return len(self.nodes)

    def get(self, name: str) -> NodeInfo | None:
        return next((n for n in self.nodes if n.name == name), None)
