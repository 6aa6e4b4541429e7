"""The node lifecycle controller: notices nodes that stopped answering, and taints them.

Where it sits: in the controller manager, following Nodes, the node Leases in
``kube-node-lease`` and Pods through informers. Every node agent renews its Lease each
``node_renew_seconds`` and posts its conditions (Ready, MemoryPressure, ...); this
controller is the other end of that heartbeat (upstream's
``pkg/controller/nodelifecycle``). For each node, ``reconcile(name)``:

1. **judges** it. The controller remembers *when it saw* the node's Lease
   ``renewTime`` or its Ready ``lastHeartbeatTime`` last change (by its own clock,
   so clocks that disagree between machines do not matter). After
   ``node_monitor_grace_period`` without either, the node's conditions become
   ``Unknown`` (reason ``NodeStatusUnknown``, "Kubelet stopped posting node
   status."); its pods' Ready condition turns False ("MarkPodsNotReady", a
   ``NodeNotReady`` event on each) and the node gets a ``NodeNotReady`` event;
2. **keeps its NoSchedule taints in line with its conditions** (TaintNodesByCondition):
   Ready False -> ``node.kubernetes.io/not-ready:NoSchedule``, Unknown ->
   ``unreachable:NoSchedule``, MemoryPressure -> ``memory-pressure``, ...,
   ``spec.unschedulable`` -> ``unschedulable``; the scheduler then sends new pods
   elsewhere. They go as soon as the conditions clear;
3. **gives it a NoExecute taint** when it was not Ready at the last look:
   ``not-ready:NoExecute`` when its agent reports Ready=False, ``unreachable:NoExecute``
   when it is Unknown (never both), paced per zone (:mod:`.nodelifecycle_zones`); a
   Ready node loses both. The taint eviction controller (:mod:`.nodelifecycle_eviction`)
   then removes the pods that do not tolerate them.

A ticker enqueues every node each ``node_monitor_period`` (upstream's
``wait.Until(monitorNodeHealth, nodeMonitorPeriod)``: silence raises no event, so
someone has to look); node events enqueue the node at once.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ..client import errors
from ..client import informer as informers
from ..client import resources as r
from ..client.events import NORMAL, WARNING, EventRecorder, Recorder
from ..client.rest import Client
from ..profiles import Profile
from .base import Controller, RequeueAfter, meta
from .context import Context
from .nodelifecycle_taints import (
    NO_EXECUTE,
    TAINT_NOT_READY,
    TAINT_UNREACHABLE,
    condition,
    format_time,
    has_taint,
    mark_silent,
    no_schedule_diff,
    parse_time,
    swapped_taints,
    taint,
)
from .nodelifecycle_zones import ZoneTainter, all_fully_disrupted, excluded, zone_of, zone_states

log = logging.getLogger(__name__)

Obj = dict[str, Any]

COMPONENT = "node-controller"  # the event source upstream uses
NODE_LEASE_NAMESPACE = "kube-node-lease"
NODE_NAME_INDEX = "spec.nodeName"
# A node that never posted a Ready condition gets longer (upstream: 60 s against 40 s).
STARTUP_GRACE_FACTOR = 1.5
# One NoExecute tainting per zone every so many monitor periods (upstream: 0.1/s,
# i.e. every 10 s, which is two of its 5 s periods).
TAINT_INTERVAL_PERIODS = 2.0

UNREACHABLE = taint(TAINT_UNREACHABLE, NO_EXECUTE)
NOT_READY = taint(TAINT_NOT_READY, NO_EXECUTE)


def index_pods_by_node(pods: informers.Informer) -> None:
    """File pods under ``spec.nodeName`` (the informer may be shared and indexed already)."""
    try:
        pods.cache.add_indexers({NODE_NAME_INDEX: lambda p: [n] if (n := (p.get("spec") or {}).get("nodeName")) else []})
    except ValueError:
        pass  # another controller sharing this informer added it


@dataclasses.dataclass
class NodeHealth:
    """What the controller last saw of a node, and when (by its own clock)."""

    probe: float  # the last sign of life: a renewed Lease or a new Ready heartbeat
    ready_transition: float  # when Ready last changed
    ready: Obj | None  # the Ready condition as last seen
    lease_renewed: float | None  # the Lease's renewTime as last seen


class NodeLifecycleController(Controller):
    name = "nodelifecycle"

    def __init__(self, client: Client, factory: informers.InformerFactory, profile: Profile, *,
                 recorder: Recorder | None = None, clock: Callable[[], float] = time.time, workers: int = 1,
                 startup_grace_period: float | None = None, taint_interval: float | None = None) -> None:
        super().__init__(workers=workers)
        self.client = client
        self.recorder: Recorder = recorder or EventRecorder(client, COMPONENT)
        self.clock = clock  # wall-clock seconds: the times written into conditions and taints
        self.period = profile.node_monitor_period
        self.grace = profile.node_monitor_grace_period
        self.startup_grace = startup_grace_period if startup_grace_period is not None else \
            self.grace * STARTUP_GRACE_FACTOR
        self.zones = ZoneTainter(taint_interval if taint_interval is not None else
                                 self.period * TAINT_INTERVAL_PERIODS)
        self.nodes = factory.informer(r.NODES)
        self.leases = factory.informer(r.LEASES, namespace=NODE_LEASE_NAMESPACE)
        self.pods = factory.informer(r.PODS)
        index_pods_by_node(self.pods)
        self.informers = [self.nodes, self.leases, self.pods]
        self._lock = threading.Lock()  # guards the four fields below; workers share them
        self._health: dict[str, NodeHealth] = {}
        self._known: set[str] = set()  # nodes announced with a RegisteredNode event
        self._retry: set[str] = set()  # nodes whose pods still have to be marked not ready
        self._everything_down = False
        self.nodes.add_event_handler(on_add=self._node_changed, on_update=lambda old, new: self._node_changed(new),
                                     on_delete=self._node_changed)

    def _node_changed(self, node: Obj) -> None:
        self.enqueue(meta(node).get("name", ""))

    # -- the monitor ticker -------------------------------------------------------------

    def start(self) -> None:
        super().start()
        ticker = threading.Thread(target=self._monitor, name=f"{self.name}-monitor", daemon=True)
        ticker.start()
        self._threads.append(ticker)

    def stop(self) -> None:
        super().stop()
        self.recorder.stop()

    def _monitor(self) -> None:
        if not self.wait_for_sync():
            return
        while not self._stop.wait(self.period):
            names = self.nodes.cache.keys()  # a copy: the informer may add nodes meanwhile
            for name in names:
                self.enqueue(name)

    # -- reconcile ----------------------------------------------------------------------

    def reconcile(self, key: str) -> None:
        cached = self.nodes.cache.get(key)
        if cached is None:
            with self._lock:
                self._health.pop(key, None)
                self._known.discard(key)
                self._retry.discard(key)
            return
        node = copy.deepcopy(cached)
        self._announce(node)
        now = self.clock()
        observed, node = self.update_health(node, now)
        current = condition(node, "Ready")
        node = self.taint_by_conditions(node, now)
        delay = self.taint_no_execute(node, observed, now)
        self.mark_pods_not_ready(node, observed, current, now)
        if delay:
            raise RequeueAfter(delay, f"node {key} waits for its zone's next NoExecute slot")

    def _announce(self, node: Obj) -> None:
        name = meta(node)["name"]
        with self._lock:
            if name in self._known:
                return
            self._known.add(name)
        self.recorder.event(node, NORMAL, "RegisteredNode", f"Node {name} event: Registered Node {name} in Controller")

    # -- 1. judge -----------------------------------------------------------------------

    def update_health(self, node: Obj, now: float) -> tuple[Obj, Obj]:
        """Record any sign of life; if none came for the grace period, write the node's
        conditions as Unknown. Returns the Ready condition as observed before this look,
        and the node (as written, if it was)."""
        name = meta(node)["name"]
        with self._lock:
            health = self._health.get(name)
        ready = condition(node, "Ready")
        if ready is None:
            # Never posted: judge it from its creation, with the longer startup grace.
            created = meta(node).get("creationTimestamp")
            observed: Obj = {"type": "Ready", "status": "Unknown", "lastHeartbeatTime": created,
                             "lastTransitionTime": created}
            grace = self.startup_grace
            if health is None:
                born = parse_time(created) or now
                health = NodeHealth(probe=born, ready_transition=born, ready=None, lease_renewed=None)
        else:
            observed = copy.deepcopy(ready)
            grace = self.grace
        health = self._saw_heartbeat(health, ready, now)
        lease = self.leases.cache.get(f"{NODE_LEASE_NAMESPACE}/{name}")
        renewed = parse_time(((lease or {}).get("spec") or {}).get("renewTime"))
        if renewed is not None and (health.lease_renewed is None or health.lease_renewed < renewed):
            health.lease_renewed = renewed
            health.probe = now
        with self._lock:
            self._health[name] = health
        if now <= health.probe + grace:
            return observed, node
        silent = copy.deepcopy(node)
        mark_silent(silent, format_time(now))
        if condition(silent, "Ready") == observed:
            return observed, node  # already Unknown: nothing new to say
        written = self.client.update(r.NODES, silent, subresource="status")
        log.info("node %s: no Lease renewal or status for %.0fs; its conditions are now Unknown",
                 name, now - health.probe)
        health.ready = copy.deepcopy(condition(written, "Ready"))
        health.ready_transition = now
        return observed, written

    @staticmethod
    def _saw_heartbeat(health: NodeHealth | None, ready: Obj | None, now: float) -> NodeHealth:
        """The health record after comparing the Ready condition with the one last seen."""
        saved = health.ready if health is not None else None
        lease = health.lease_renewed if health is not None else None
        if health is None or (saved is None) != (ready is None):
            # First look at this node (or its Ready condition appeared or vanished): start the clock now.
            return NodeHealth(probe=now, ready_transition=now, ready=copy.deepcopy(ready), lease_renewed=lease)
        if saved is not None and ready is not None and saved.get("lastHeartbeatTime") != ready.get("lastHeartbeatTime"):
            moved = saved.get("lastTransitionTime") != ready.get("lastTransitionTime")
            return NodeHealth(probe=now, ready_transition=now if moved else health.ready_transition,
                              ready=copy.deepcopy(ready), lease_renewed=lease)
        return health

    def looks_ready(self, node: Obj, now: float) -> bool:
        """Ready by its condition and not silent past the grace period: the view zone states use,
        so that nodes that went quiet together count as down together."""
        ready = condition(node, "Ready")
        if ready is None or ready.get("status") != "True":
            return False
        with self._lock:
            health = self._health.get(meta(node).get("name", ""))
        return health is None or now <= health.probe + self.grace

    # -- 2. NoSchedule taints -----------------------------------------------------------

    def taint_by_conditions(self, node: Obj, now: float) -> Obj:
        add, remove = no_schedule_diff(node)
        return self._swap_taints(node, add, remove, now)

    # -- 3. NoExecute taints ------------------------------------------------------------

    def taint_no_execute(self, node: Obj, observed: Obj, now: float) -> float | None:
        """Put on (or lift) the NoExecute taint the observed Ready status calls for; returns
        how long to wait for the zone's next slot, or None."""
        status = observed.get("status")
        if status == "True":
            self._swap_taints(node, [], [UNREACHABLE, NOT_READY], now)  # upstream's markNodeAsReachable
            return None
        wanted, opposite = (NOT_READY, UNREACHABLE) if status == "False" else (UNREACHABLE, NOT_READY)
        states, everything_down = self._zone_states(now)
        if everything_down:
            self._swap_taints(node, [], [UNREACHABLE, NOT_READY], now)
            return None
        if has_taint(node, wanted["key"], NO_EXECUTE):
            return None
        if has_taint(node, opposite["key"], NO_EXECUTE):
            # Already paced once: the pods' fate is decided, only the reason changes.
            self._swap_taints(node, [wanted], [opposite], now)
            return None
        zone = zone_of(node)
        wait = self.zones.admit(zone, states.get(zone, ""), everything_down, now)
        if wait is None:
            log.info("node %s is not Ready, but zone %r is disrupted: no NoExecute taint for now",
                     meta(node)["name"], zone)
            return None
        if wait > 0:
            return wait
        self._swap_taints(node, [wanted], [opposite], now)
        return None

    def _zone_states(self, now: float) -> tuple[dict[str, str], bool]:
        states = zone_states((zone_of(n), self.looks_ready(n, now))
                             for n in self.nodes.cache.list() if not excluded(n))
        down = all_fully_disrupted(states)
        with self._lock:
            if down and not self._everything_down:
                log.warning("no node is Ready: entering disruption mode (no NoExecute taints, and those "
                            "present are lifted): the controller is likelier cut off than every node dead")
            elif self._everything_down and not down:
                log.warning("some node is Ready again: leaving disruption mode; every node gets a fresh grace period")
                for health in self._health.values():
                    health.probe = health.ready_transition = now
            self._everything_down = down
        return states, down

    def _swap_taints(self, node: Obj, add: list[Obj], remove: list[Obj], now: float) -> Obj:
        """Patch the node's taints (guarded by its resourceVersion, so a concurrent
        ``kubectl taint`` is never overwritten); returns the node as it now is."""
        taints = swapped_taints(node, add, remove, format_time(now))
        if taints is None:
            return node
        name = meta(node)["name"]
        patch = {"metadata": {"resourceVersion": meta(node).get("resourceVersion")},
                 "spec": {"taints": taints or None}}
        updated = self.client.patch(r.NODES, name, patch)
        gone = [t for t in remove if has_taint(node, t["key"], t["effect"])]
        log.info("node %s: %s", name, "; ".join(
            [f"tainted {t['key']}:{t['effect']}" for t in add if not has_taint(node, t["key"], t["effect"])]
            + [f"untainted {t['key']}:{t['effect']}" for t in gone]))
        return updated

    # -- pods of a node that stopped answering ------------------------------------------

    def mark_pods_not_ready(self, node: Obj, observed: Obj, current: Obj | None, now: float) -> None:
        """On the look where a node stops being Ready, set its pods' Ready condition False
        (and retry on later looks until that worked)."""
        name = meta(node)["name"]
        with self._lock:
            retry = name in self._retry
        if current is None:
            return
        became_unready = current.get("status") != "True" and observed.get("status") == "True"
        if became_unready:
            self.recorder.event(node, NORMAL, "NodeNotReady", f"Node {name} status is now: NodeNotReady")
        if became_unready or (retry and observed.get("status") != "True"):
            try:
                self._mark_pods(name, now)
            except errors.ApiError:
                with self._lock:
                    self._retry.add(name)
                raise
        with self._lock:
            self._retry.discard(name)

    def _mark_pods(self, node_name: str, now: float) -> None:
        failed: list[errors.ApiError] = []
        for pod in self.pods.cache.by_index(NODE_NAME_INDEX, node_name):
            ready = condition(pod, "Ready")
            if ready is None or ready.get("status") == "False":
                continue
            new = copy.deepcopy(pod)
            cond = condition(new, "Ready")
            assert cond is not None
            cond.update(status="False", lastTransitionTime=format_time(now))
            try:
                self.client.update(r.PODS, new, subresource="status")
            except errors.ApiError as e:
                if not errors.is_not_found(e):  # gone already: nothing left to mark
                    failed.append(e)
                continue
            self.recorder.event(pod, WARNING, "NodeNotReady", "Node is not ready")
        if failed:
            raise failed[0]


def make(ctx: Context) -> NodeLifecycleController:
    return NodeLifecycleController(ctx.client, ctx.informers, ctx.profile, workers=ctx.workers)
