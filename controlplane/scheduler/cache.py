"""The scheduler's cache: every node and the pods on it, including pods it has just placed.

Where it sits: the informers' handlers write into it (nodes; pods that have a
``spec.nodeName``); every scheduling cycle starts with :meth:`Cache.snapshot`.

The one idea to take from here is **assuming** (upstream's ``internal/cache``).
Binding takes a round trip to the API server, and the informer sees the bound pod
a little later still. If the next cycle ran on what the informer has seen, it would
place the next pod on the same "free" core. So as soon as a node is chosen the
cycle calls :meth:`Cache.assume`: the pod counts on that node from then on. Then:

* the informer delivers the pod with its ``spec.nodeName``: the assumption is
  confirmed, the pod is now simply bound (:meth:`Cache.add_pod`);
* the binding fails: :meth:`Cache.forget` takes the pod off the node again;
* the pod is deleted: it goes, assumed or not.

Thread safety: one lock around every method. A snapshot is a tuple of immutable
:class:`~controlplane.scheduler.nodeinfo.NodeInfo` values, so a cycle can read it
while informer threads go on changing the cache.
"""

from __future__ import annotations

import threading
from typing import Any

from .nodeinfo import NodeInfo, PodInfo, Snapshot, pod_key

Obj = dict[str, Any]


class Cache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._nodes: dict[str, NodeInfo] = {}     # includes "placeholders" for nodes not seen yet
        self._pod_node: dict[str, str] = {}       # pod key -> node it is on (bound or assumed)
        self._assumed: set[str] = set()

    # -- nodes -------------------------------------------------------------------------

    def add_node(self, node: Obj) -> None:
        name = (node.get("metadata") or {}).get("name") or ""
        with self._lock:
            current = self._nodes.get(name) or NodeInfo.build(name, None)
            self._nodes[name] = current.with_node(node)

    update_node = add_node

    def remove_node(self, node: Obj) -> None:
        name = (node.get("metadata") or {}).get("name") or ""
        with self._lock:
            current = self._nodes.get(name)
            if current is None:
                return
            if current.pods:
                # Pods still name this node; keep their accounting until they go (upstream
                # keeps such a node as a placeholder too), but no pod can be placed there.
                self._nodes[name] = current.with_node(None)
            else:
                del self._nodes[name]

    # -- pods that are bound ------------------------------------------------------------

    def add_pod(self, pod: Obj) -> None:
        """A pod with ``spec.nodeName`` as the informer delivered it (confirms an assumption)."""
        node_name = (pod.get("spec") or {}).get("nodeName") or ""
        info = PodInfo.of(pod)
        with self._lock:
            self._assumed.discard(info.key)
            previous = self._pod_node.get(info.key)
            if previous is not None and previous != node_name:
                self._remove_locked(info.key, previous)   # assumed elsewhere, bound by someone else here
            self._pod_node[info.key] = node_name
            self._nodes[node_name] = (self._nodes.get(node_name) or NodeInfo.build(node_name, None)).with_pod(info)

    update_pod = add_pod

    def remove_pod(self, pod: Obj) -> None:
        key = pod_key(pod)
        with self._lock:
            self._assumed.discard(key)
            node_name = self._pod_node.pop(key, None)
            if node_name is not None:
                self._remove_locked(key, node_name)

    # -- pods we placed -------------------------------------------------------------------

    def assume(self, pod: PodInfo, node_name: str) -> None:
        """Count ``pod`` on ``node_name`` before the API server has confirmed it."""
        with self._lock:
            if pod.key in self._pod_node:
                raise ValueError(f"pod {pod.key} is already in the cache")
            self._assumed.add(pod.key)
            self._pod_node[pod.key] = node_name
            self._nodes[node_name] = (self._nodes.get(node_name) or NodeInfo.build(node_name, None)).with_pod(pod)

    def forget(self, key: str) -> None:
        """Undo :meth:`assume` (the binding failed); a pod already confirmed is left alone."""
        with self._lock:
            if key not in self._assumed:
                return
            self._assumed.discard(key)
            node_name = self._pod_node.pop(key, None)
            if node_name is not None:
                self._remove_locked(key, node_name)

    def is_assumed(self, key: str) -> bool:
        with self._lock:
            return key in self._assumed

    def has_pod(self, key: str) -> bool:
        with self._lock:
            return key in self._pod_node

    # -- reading ------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The nodes that exist, by name, as they are now."""
        with self._lock:
            return Snapshot(tuple(info for _, info in sorted(self._nodes.items()) if info.node is not None))

    def node_names(self) -> list[str]:
        with self._lock:
            return sorted(name for name, info in self._nodes.items() if info.node is not None)

    def assumed_count(self) -> int:
        with self._lock:
            return len(self._assumed)

    def _remove_locked(self, key: str, node_name: str) -> None:
        info = self._nodes.get(node_name)
        if info is None:
            return
        info = info.without_pods({key})
        if info.node is None and not info.pods:
            del self._nodes[node_name]
        else:
            self._nodes[node_name] = info
