"""The scheduler: pending pods in, one decision per cycle, Bindings out.

Where it sits: box [4] of data flow (A) in ARCHITECTURE.md. Two informers feed it:

    pods (not Succeeded/Failed) ──▶ pending & ours ──▶ queue (active / backoff / unschedulable)
                                └─▶ bound to a node ──▶ cache (what each node holds)
    nodes ─────────────────────────────────────────▶ cache, and "something changed" to the queue

and :meth:`Scheduler.schedule_one` is the whole algorithm, one pod at a time:

1. **Filter** - every node against every filter plugin; the nodes that pass are feasible.
2. **Score** - every feasible node by every score plugin, weighted and added up.
3. **Bind** - the best node: assume the pod there in the cache (so the next cycle
   counts it), then POST the Binding on a binder thread. The next cycle need not
   wait for the API server: that is what assuming is for.

A pod that fits nowhere gets a ``FailedScheduling`` event with upstream's message
("0/3 nodes are available: ...") and its ``PodScheduled`` condition set to False
with reason ``Unschedulable``, then waits in the queue until the cluster changes.
A pod that was bound gets a ``Scheduled`` event that names the winning node's score.

The scheduler writes nothing else: no pod, no node, only Bindings, Events and the
pod's PodScheduled condition, as kube-scheduler.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from ..client import resources as r
from ..client.errors import ApiError, ServerUnavailable, is_not_found
from ..client.events import Recorder
from ..client.informer import InformerFactory
from ..client.rest import Client
from . import preemption
from .cache import Cache
from .framework import Framework, NodeScore, fit_error
from .nodeinfo import PodInfo, Snapshot, pod_key
from .queue import QueuedPod, SchedulingQueue

log = logging.getLogger(__name__)

Obj = dict[str, Any]
COMPONENT = "default-scheduler"
NO_NODES = "no nodes available to schedule pods"
MESSAGE_LIMIT = 1024   # an event's note may not be longer


@dataclasses.dataclass(frozen=True)
class Timings:
    initial_backoff: float = 1.0       # first retry of a failed pod after this long ...
    max_backoff: float = 10.0          # ... doubling up to this
    max_unschedulable: float = 300.0   # an unschedulable pod is retried at least this often


# The classroom retries parked pods every minute instead of every five.
TIMINGS = {"classroom": Timings(max_unschedulable=60.0), "kubernetes": Timings()}


@dataclasses.dataclass(frozen=True)
class Decision:
    """What one cycle decided (the scheduler logs it; tests read it)."""

    pod: str                             # "namespace/name"
    node: str | None                     # None: it fits nowhere
    message: str                         # the event's message
    scores: tuple[NodeScore, ...] = ()   # every feasible node, best first


class Scheduler:
    def __init__(self, client: Client, framework: Framework, recorder: Recorder, *,
                 scheduler_name: str = COMPONENT, timings: Timings = Timings(), bind_workers: int = 4,
                 rng: random.Random | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.framework = framework
        self.recorder = recorder
        self.scheduler_name = scheduler_name
        self.cache = Cache()
        self.queue = SchedulingQueue(initial_backoff=timings.initial_backoff, max_backoff=timings.max_backoff,
                                     max_unschedulable=timings.max_unschedulable, clock=clock)
        self.rng = rng or random.Random()
        self._interested = framework.plugins_for_event()
        self._events = frozenset().union(*self._interested.values())
        # bind_workers=0 binds inside the cycle (tests); otherwise on a small pool of threads.
        self._binder = (concurrent.futures.ThreadPoolExecutor(bind_workers, thread_name_prefix="bind")
                        if bind_workers else None)
        self._binding: set[concurrent.futures.Future[None]] = set()
        self._binding_lock = threading.Lock()
        self._informers: tuple[Any, ...] = ()

    # -- the scheduling cycle ------------------------------------------------------------

    def schedule_one(self, timeout: float | None = 0.5) -> Decision | None:
        """Take the next pending pod and decide where it goes; None if nothing was pending."""
        queued = self.queue.pop(timeout)
        if queued is None:
            return None
        pod = queued.info
        if self.cache.has_pod(pod.key):
            self.queue.done(pod.key)   # bound meanwhile (by us, or someone else): nothing to decide
            return None
        try:
            snapshot = self.cache.snapshot()

            # 1. Filter: which nodes could run this pod at all?
            feasible, rejected = self.framework.filter(pod, snapshot)
            if not feasible:
                return self._unschedulable(queued, snapshot, rejected)

            # 2. Score: how good is each of them? (best first)
            ranked = self.framework.score(pod, feasible, snapshot)
            chosen = self._select_host(ranked)

            # 3. Bind: count the pod on that node now, then tell the API server.
            self.cache.assume(pod, chosen.node)
        except Exception as e:
            log.exception("scheduling %s failed", pod.key)
            self.queue.backoff(queued)
            self._report_failure(pod, "SchedulerError", str(e))
            return Decision(pod.key, None, str(e))
        message = scheduled_message(pod, chosen, ranked)
        log.info("%s -> %s (score %d of 100; %d of %d nodes fit)", pod.key, chosen.node, chosen.out_of_100,
                 len(feasible), len(snapshot))
        if self._binder is None:
            self._bind(queued, chosen.node, message)
        else:
            future = self._binder.submit(self._bind, queued, chosen.node, message)
            with self._binding_lock:
                self._binding.add(future)
            future.add_done_callback(self._bound)
        return Decision(pod.key, chosen.node, message, tuple(ranked))

    def _select_host(self, ranked: list[NodeScore]) -> NodeScore:
        """The highest total; among equals, one at random (so equal nodes share the load)."""
        best = [s for s in ranked if s.total == ranked[0].total]
        return best[0] if len(best) == 1 else self.rng.choice(best)

    def _unschedulable(self, queued: QueuedPod, snapshot: Snapshot, rejected: dict[str, Any]) -> Decision:
        pod = queued.info
        if not snapshot.nodes:
            message = NO_NODES
        else:
            why_not_preempt = preemption.explain(pod, snapshot, rejected, self.framework.run_filters)
            message = fit_error(len(snapshot), rejected, why_not_preempt)
        # Back to the queue before the condition is written: the informer will deliver our own
        # status change, and the queue must already know the pod is parked, not in flight.
        self.queue.unschedulable(queued, frozenset(status.plugin for status in rejected.values()))
        log.info("%s fits nowhere: %s", pod.key, message)
        self._report_failure(pod, "Unschedulable", message)
        return Decision(pod.key, None, message)

    # -- the binding cycle (on a binder thread) ---------------------------------------------

    def _bind(self, queued: QueuedPod, node: str, message: str) -> None:
        pod = queued.info
        status = self.framework.binder.bind(pod, node)
        if status.success:
            self.queue.done(pod.key)
            self.recorder.event(pod.pod, "Normal", "Scheduled", message)
            return
        # The assumption was wrong: take the pod off the node again, and tell waiting pods
        # that room has appeared (as if a bound pod had been deleted).
        self.cache.forget(pod.key)
        self.queue.move_all("AssignedPodDelete", self._interested)
        current = self._read(pod)
        if current is None or (current.get("spec") or {}).get("nodeName"):
            # Deleted meanwhile, or bound by someone else: nothing left to do for it.
            log.info("binding %s to %s failed (%s); the pod is gone or bound elsewhere", pod.key, node,
                     status.message)
            self.queue.done(pod.key)
            return
        log.warning("binding %s to %s failed: %s", pod.key, node, status.message)
        self.queue.backoff(queued)
        self._report_failure(pod, "SchedulerError", status.message)

    def _bound(self, future: concurrent.futures.Future[None]) -> None:
        with self._binding_lock:
            self._binding.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error("binding thread failed", exc_info=future.exception())

    def _read(self, pod: PodInfo) -> Obj | None:
        try:
            return self.client.get(r.PODS, pod.name, pod.namespace)
        except ApiError as e:
            if is_not_found(e):
                return None
            return pod.pod
        except ServerUnavailable:
            return pod.pod

    # -- telling the user ------------------------------------------------------------------

    def _report_failure(self, pod: PodInfo, reason: str, message: str) -> None:
        """A FailedScheduling event, and the PodScheduled=False condition (upstream's
        handleSchedulingFailure); the condition is written only when it changes."""
        message = truncate(message)
        self.recorder.event(pod.pod, "Warning", "FailedScheduling", message)
        conditions = (pod.pod.get("status") or {}).get("conditions") or []
        current = next((c for c in conditions if c.get("type") == "PodScheduled"), None) or {}
        if (current.get("status"), current.get("reason"), current.get("message")) == ("False", reason, message):
            return
        transition = current.get("lastTransitionTime") if current.get("status") == "False" else None
        condition = {"type": "PodScheduled", "status": "False", "reason": reason, "message": message,
                     "lastProbeTime": None, "lastTransitionTime": transition or _now()}
        try:
            self.client.patch(r.PODS, pod.name, {"status": {"conditions": [condition]}}, pod.namespace,
                              patch_type="strategic", subresource="status")
        except (ApiError, ServerUnavailable) as e:
            # Best effort, as upstream: the event already says it, and the next attempt writes again.
            log.warning("could not set PodScheduled=False on %s: %s", pod.key, e)

    # -- informer handlers: they only update the cache and the queue ------------------------

    def responsible_for(self, pod: Obj) -> bool:
        return ((pod.get("spec") or {}).get("schedulerName") or COMPONENT) == self.scheduler_name

    def add_pod(self, pod: Obj) -> None:
        if _terminal(pod):
            return
        if _assigned(pod):
            self.cache.add_pod(pod)
            self._changed("AssignedPodAdd")
        elif self._waiting_for_us(pod):
            self.queue.add(pod)

    def update_pod(self, old: Obj, new: Obj) -> None:
        if _terminal(new):
            self.delete_pod(new)   # a finished pod no longer holds its node's resources
            return
        key = pod_key(new)
        if _assigned(new):
            if not _assigned(old):
                self.queue.delete(key)
            self.cache.update_pod(new)   # confirms an assumed pod
        elif self.cache.is_assumed(key):
            return   # we are binding it; this is an older state of the pod
        elif self._waiting_for_us(new):
            self.queue.update(new)
        else:
            self.queue.delete(key)   # being deleted, gated again, or handed to another scheduler

    def delete_pod(self, pod: Obj) -> None:
        key = pod_key(pod)
        self.queue.delete(key)
        if self.cache.has_pod(key):
            self.cache.remove_pod(pod)
            self._changed("AssignedPodDelete")

    def add_node(self, node: Obj) -> None:
        self.cache.add_node(node)
        self._changed("NodeAdd")

    def update_node(self, old: Obj, new: Obj) -> None:
        self.cache.update_node(new)
        for event in node_changes(old, new):
            self._changed(event)

    def delete_node(self, node: Obj) -> None:
        self.cache.remove_node(node)

    def _waiting_for_us(self, pod: Obj) -> bool:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        return (self.responsible_for(pod) and not meta.get("deletionTimestamp")
                and not spec.get("schedulingGates"))

    def _changed(self, event: str) -> None:
        if event in self._events:   # only events some filter plugin said could help
            self.queue.move_all(event, self._interested)

    # -- running ----------------------------------------------------------------------------

    def watch(self, informers: InformerFactory) -> None:
        """Register the pod and node informers' handlers (start the factory afterwards)."""
        pods = informers.informer(r.PODS, field_selector="status.phase!=Succeeded,status.phase!=Failed")
        pods.add_event_handler(on_add=self.add_pod, on_update=self.update_pod, on_delete=self.delete_pod)
        nodes = informers.informer(r.NODES)
        nodes.add_event_handler(on_add=self.add_node, on_update=self.update_node, on_delete=self.delete_node)
        self._informers = (pods, nodes)

    def wait_for_sync(self, timeout: float, stop: threading.Event) -> bool:
        """Until both informers have listed: scheduling on a half-filled cache overcommits nodes."""
        deadline = time.monotonic() + timeout
        return all(inf.wait_for_sync(max(0.0, deadline - time.monotonic()), stop) for inf in self._informers)

    def run(self, stop: threading.Event) -> None:
        """Schedule until ``stop`` is set."""
        while not stop.is_set():
            self.schedule_one(timeout=0.5)

    def shutdown(self, timeout: float = 3.0) -> None:
        """Stop taking pods; give bindings in flight up to ``timeout`` seconds to finish."""
        self.queue.close()
        if self._binder is not None:
            with self._binding_lock:
                pending = list(self._binding)
            concurrent.futures.wait(pending, timeout=timeout)
            self._binder.shutdown(wait=False, cancel_futures=True)


def scheduled_message(pod: PodInfo, chosen: NodeScore, ranked: list[NodeScore]) -> str:
    """"Successfully assigned default/web-1 to worker-1 (score 87 of 100, next best worker-2: 72)"."""
    message = f"Successfully assigned {pod.namespace}/{pod.name} to {chosen.node}"
    others = [s for s in ranked if s.node != chosen.node]
    if not others:
        return f"{message} (score {chosen.out_of_100} of 100, no other node fits)"
    return f"{message} (score {chosen.out_of_100} of 100, next best {others[0].node}: {others[0].out_of_100})"


def node_changes(old: Obj, new: Obj) -> list[str]:
    """The cluster events a node update amounts to. Status heartbeats change none of these,
    so they wake no parked pod."""
    def part(obj: Obj, *path: str) -> Any:
        for p in path:
            obj = (obj or {}).get(p) or {}
        return obj

    events = []
    if part(old, "metadata", "labels") != part(new, "metadata", "labels"):
        events.append("NodeLabelChange")
    if (part(old, "spec", "taints") != part(new, "spec", "taints")
            or bool(part(old, "spec").get("unschedulable")) != bool(part(new, "spec").get("unschedulable"))):
        events.append("NodeTaintChange")
    if part(old, "status", "allocatable") != part(new, "status", "allocatable"):
        events.append("NodeAllocatableChange")
    return events


def truncate(message: str, limit: int = MESSAGE_LIMIT) -> str:
    """Upstream's truncateMessage: keep the start, mark the cut with " ..."."""
    return message if len(message) <= limit else message[:limit - 4] + " ..."


def _assigned(pod: Obj) -> bool:
    return bool((pod.get("spec") or {}).get("nodeName"))


def _terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
