"""Zones, and how fast nodes may be given NoExecute taints: the guard against mass eviction.

Where it sits: the node lifecycle controller (:mod:`.nodelifecycle`) asks
:class:`ZoneTainter` before it puts a ``not-ready`` or ``unreachable`` NoExecute taint
on a node, because that taint is what makes the taint eviction controller delete the
node's pods. If many nodes stop answering at once, the likelier story is that the
controller lost the network, not that every node died; evicting everything would
then do harm.

Upstream (``pkg/controller/nodelifecycle``) keeps, per zone (the
``topology.kubernetes.io/region`` + ``zone`` labels), a token-bucket queue of nodes to
taint: ``--node-eviction-rate`` 0.1/s (one node every 10 s, the first at once), and a
zone state computed from the Ready conditions of its nodes:

* ``FullDisruption``: no node of the zone is Ready;
* ``PartialDisruption``: more than 2 nodes and at least 55% of them are not Ready;
  the rate drops to ``--secondary-node-eviction-rate`` (0.01/s) in clusters above
  ``--large-cluster-size-threshold`` (50 nodes), and to zero below it;
* ``Normal`` otherwise.

When *every* zone is fully disrupted, upstream stops tainting altogether and lifts the
NoExecute taints it placed; when some node is Ready again, every node gets a fresh
grace period.

What kubeclass keeps, simplified:

* one node per zone every ``interval`` seconds, the first at once (a token bucket of
  size one, without the queue's order: the nodes waiting retry when the slot frees);
* a partially disrupted zone taints no node (the small-cluster rule: a classroom
  cluster is always below 50 nodes);
* every zone fully disrupted: no NoExecute taints anywhere, and those present go.

Nodes labelled ``node.kubernetes.io/exclude-disruption`` are left out of the counts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

NORMAL = "Normal"
PARTIAL_DISRUPTION = "PartialDisruption"
FULL_DISRUPTION = "FullDisruption"

UNHEALTHY_ZONE_THRESHOLD = 0.55  # upstream's --unhealthy-zone-threshold
EXCLUDE_LABEL = "node.kubernetes.io/exclude-disruption"
_REGION_LABELS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")
_ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")


def zone_of(node: dict[str, Any]) -> str:
    """"region/zone" from the node's topology labels; "" for a node without them (all of
    a local cluster's nodes: one zone)."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    region = next((labels[k] for k in _REGION_LABELS if labels.get(k)), "")
    zone = next((labels[k] for k in _ZONE_LABELS if labels.get(k)), "")
    return f"{region}/{zone}" if region or zone else ""


def excluded(node: dict[str, Any]) -> bool:
    return EXCLUDE_LABEL in ((node.get("metadata") or {}).get("labels") or {})


def zone_state(ready: list[bool]) -> str:
    """The state of a zone whose nodes are Ready (True) or not (upstream's ComputeZoneState)."""
    not_ready = ready.count(False)
    if ready and not_ready == len(ready):
        return FULL_DISRUPTION
    if not_ready > 2 and not_ready / len(ready) >= UNHEALTHY_ZONE_THRESHOLD:
        return PARTIAL_DISRUPTION
    return NORMAL


def zone_states(nodes: Iterable[tuple[str, bool]]) -> dict[str, str]:
    """Zone -> state, from (zone, ready) pairs, one per node."""
    by_zone: dict[str, list[bool]] = {}
    for zone, ready in nodes:
        by_zone.setdefault(zone, []).append(ready)
    return {zone: zone_state(ready) for zone, ready in by_zone.items()}


def all_fully_disrupted(states: dict[str, str]) -> bool:
    return bool(states) and all(s == FULL_DISRUPTION for s in states.values())


class ZoneTainter:
    """Hands out, per zone, one NoExecute tainting every ``interval`` seconds. Thread-safe."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}  # zone -> when its last node was tainted
        self._lock = threading.Lock()

    def admit(self, zone: str, state: str, everything_down: bool, now: float) -> float | None:
        """May a node of ``zone`` be tainted now?

        0: yes, and the slot is taken; a positive number: not yet, ask again after that
        many seconds; None: not while the zone (or the whole cluster) is in this state.
        """
        if everything_down or state == PARTIAL_DISRUPTION:
            return None
        with self._lock:
            last = self._last.get(zone)
            if last is not None and now - last < self.interval:
                return self.interval - (now - last)
            self._last[zone] = now
            return 0.0
