"""Syncing one pod: make what runs match the pod's spec, one level-triggered step at a time.

Where it sits: each pod bound to this node has a worker thread (:mod:`nodeagent.podworkers`)
that calls :meth:`PodSync.sync` whenever something about the pod may have changed (the
API object, a process exit, a probe result, a back-off expiring) and at least every few
seconds. ``sync`` reads the current state, takes the next steps, writes status, and says
when to look again. It is kubelet's ``SyncPod`` / ``computePodActions``:

* **running pod**: create the sandbox (network) once; set up or refresh volumes; run
  init containers one at a time, each to a successful exit; then start every container
  that is not running and should be: not started yet, or exited and allowed to restart
  by ``restartPolicy`` (Always; OnFailure after a failure) once its CrashLoopBackOff
  has passed; kill containers whose liveness or startup probe failed;
* **terminal pod** (nothing will run again: Succeeded or Failed): release the sandbox,
  keep the logs, report the final status;
* **deleted pod** (``deletionTimestamp`` set, or gone from the API): stop every
  container gracefully (preStop hook, SIGTERM, the deletion's grace period, SIGKILL),
  release the sandbox, write the final status and - as kubelet does - finish the
  deletion with ``DELETE gracePeriodSeconds=0`` and the pod's uid as precondition.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from controlplane.client import ApiError, Client, ServerUnavailable, is_conflict, is_not_found
from controlplane.client import resources as r

from . import podstatus
from .backoff import Backoff
from .containers import NotRunnable, container_config
from .envvars import ConfigError, ObjectSource
from .events import EventRecorder
from .network import NetworkError
from .probes import TITLES, PodProbes, ProbeWorker, Result, run_hook
from .runtime import ContainerProcess, ProcessRuntime, Sandbox
from .volumes import MountError, PodVolumes

log = logging.getLogger(__name__)
Obj = dict[str, Any]
MIN_GRACE = 2.0  # kubelet's minimumGracePeriodInSeconds


@dataclasses.dataclass
class NodeContext:
    """What every pod sync of a node shares (kubelet's fields, in short)."""

    node_name: str
    host_ip: str
    client: Client
    runtime: ProcessRuntime
    source: ObjectSource
    events: EventRecorder
    backoff: Backoff
    resync: float
    allocatable: dict[str, str]
    wake: Callable[[str], None] = lambda uid: None


@dataclasses.dataclass
class ContainerRecord:
    """The agent's memory of one container of the pod: its current and previous attempts."""

    name: str
    init: bool
    next_attempt: int = 0
    current: ContainerProcess | None = None
    previous: ContainerProcess | None = None
    image_id: str = ""
    waiting_reason: str = ""
    waiting_message: str = ""


def should_restart(policy: str, exit_code: int | None) -> bool:
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


def format_duration(seconds: float) -> str:
    """Go's time.Duration formatting, as in "back-off 1m20s restarting failed container"."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes}m{seconds}s"


class PodSync:
    def __init__(self, ctx: NodeContext, pod: Obj) -> None:
        self.ctx = ctx
        self.pod = pod
        meta = pod["metadata"]
        self.uid, self.name, self.namespace = meta["uid"], meta["name"], meta.get("namespace", "default")
        self.sandbox: Sandbox | None = None
        self.volumes = PodVolumes("", ctx.source, allocatable=ctx.allocatable, warn=self._warn)
        self.probes = PodProbes()
        self.records: dict[str, ContainerRecord] = {}
        self.start_time = time.time()
        self.initialized = False
        self.init_failed = False
        self.terminal = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        self.stopped = self.terminal  # a pod that ended before this agent started never runs here
        self.status: Obj = dict(pod.get("status") or {})
        self._written: Obj | None = None
        self._mount_error = ""
        self._lock = threading.RLock()
        self._carry_restart_counts()

    # -- bookkeeping ---------------------------------------------------------------

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def spec(self) -> Obj:
        return self.pod.get("spec") or {}

    def record(self, container: Obj, init: bool = False) -> ContainerRecord:
        rec = self.records.get(container["name"])
        if rec is None:
            rec = self.records[container["name"]] = ContainerRecord(container["name"], init)
        return rec

    def _carry_restart_counts(self) -> None:
        """After an agent restart, attempts continue from what the API last showed."""
        for field, init in (("initContainerStatuses", True), ("containerStatuses", False)):
            for s in (self.pod.get("status") or {}).get(field) or []:
                rec = self.record({"name": s["name"]}, init)
                rec.next_attempt = int(s.get("restartCount") or 0) + (1 if s.get("containerID") else 0)

    def _warn(self, message: str) -> None:
        self.ctx.events.pod_event(self.pod, "Warning", "Failed", message)

    def _backoff_key(self, name: str) -> str:
        return f"{self.uid}/{name}"

    def containers(self) -> list[ContainerProcess]:
        """The current attempt of every container (read without the sync lock: a sync may be
        waiting out a grace period, and stats must not wait with it)."""
        return [rec.current for rec in list(self.records.values()) if rec.current is not None]

    # -- the entry point -----------------------------------------------------------

    def sync(self, pod: Obj | None) -> float | None:
        """One step. ``pod`` None means it is gone from the API. Returns seconds until the
        next look, or None when the pod is finished with on this node."""
        with self._lock:
            if pod is not None:
                self.pod = pod
            if pod is None or self.pod["metadata"].get("deletionTimestamp"):
                return self._sync_deleted(gone=pod is None)
            if self.terminal:
                self._write_status()
                return self.ctx.resync * 5
            return self._sync_running()

    def _sync_running(self) -> float:
        if self.sandbox is None:
            try:
                self.sandbox = self.ctx.runtime.run_pod_sandbox(self.pod)
            except (NetworkError, OSError) as e:
                self.ctx.events.pod_event(self.pod, "Warning", "FailedCreatePodSandBox",
                                          f"Failed to create pod sandbox: {e}")
                self._write_status()
                return 2.0
            self.volumes.pod_dir = self.sandbox.pod_dir
        try:
            self.volumes.setup(self.pod, pod_ip=self.sandbox.ip, host_ip=self.ctx.host_ip)
            self._mount_error = ""
        except MountError as e:
            if str(e) != self._mount_error:
                self.ctx.events.pod_event(self.pod, "Warning", "FailedMount", str(e))
            self._mount_error = str(e)
        delay = self.ctx.resync
        if not self._mount_error:
            if not self.initialized:
                delay = min(delay, self._sync_init_containers())
            if self.initialized:
                delay = min(delay, self._sync_containers())
        if self._all_done():
            self._become_terminal()
        self._write_status()
        return delay

    # -- init containers and containers ----------------------------------------------

    def _sync_init_containers(self) -> float:
        for c in self.spec.get("initContainers") or []:
            rec = self.record(c, init=True)
            cp = rec.current
            if cp is None:
                self._start(rec, c)
                return self.ctx.resync
            if cp.running:
                return self.ctx.resync
            if cp.exit_code == 0:
                continue
            if (self.spec.get("restartPolicy") or "Always") == "Never":
                self.init_failed = True  # the pod has failed: nothing more will run
                return self.ctx.resync
            return self._restart_with_backoff(rec, c)
        self.initialized = True
        return self.ctx.resync

    def _sync_containers(self) -> float:
        policy = self.spec.get("restartPolicy") or "Always"
        delay = self.ctx.resync
        for c in self.spec.get("containers") or []:
            rec = self.record(c)
            cp = rec.current
            if cp is not None and cp.running:
                failed = self._failed_probe(c, cp)
                if failed is None and cp.config.image == (c.get("image") or ""):
                    self._ensure_probes(c, cp)
                    continue
                grace = self.spec.get("terminationGracePeriodSeconds", 30)
                if failed is None:  # the image was changed (the one mutable part of a container)
                    why = f"Container {c['name']} definition changed, will be restarted"
                else:
                    why = f"Container {c['name']} failed {failed} probe, will be restarted"
                    grace = (c.get(f"{failed}Probe") or {}).get("terminationGracePeriodSeconds", grace)
                self.ctx.events.pod_event(self.pod, "Normal", "Killing", why, c["name"])
                self._kill(rec, c, float(grace))
            if cp is None:
                self._start(rec, c)
            elif should_restart(policy, cp.exit_code):
                delay = min(delay, self._restart_with_backoff(rec, c))
            else:
                rec.waiting_reason = rec.waiting_message = ""
        return delay

    def _failed_probe(self, c: Obj, cp: ContainerProcess) -> str | None:
        for kind in ("startup", "liveness"):
            if self.probes.result(c["name"], cp.id, kind) == Result.FAILURE:
                return kind
        return None

    def _restart_with_backoff(self, rec: ContainerRecord, c: Obj) -> float:
        assert rec.current is not None and rec.current.finished_mono is not None
        key, finished = self._backoff_key(rec.name), rec.current.finished_mono
        backoff = self.ctx.backoff
        if backoff.in_backoff_since(key, finished):
            if rec.waiting_reason != "CrashLoopBackOff":
                self.ctx.events.pod_event(self.pod, "Warning", "BackOff",
                                          f"Back-off restarting failed container {rec.name} in pod "
                                          f"{self.name}_{self.namespace}({self.uid})", rec.name, rec.init)
            rec.waiting_reason = "CrashLoopBackOff"
            rec.waiting_message = (f"back-off {format_duration(backoff.get(key))} restarting failed "
                                   f"container={rec.name} pod={self.name}_{self.namespace}({self.uid})")
            return max(0.05, backoff.remaining(key, finished))
        backoff.next(key, finished)
        self._start(rec, c)
        return self.ctx.resync

    def _start(self, rec: ContainerRecord, c: Obj) -> None:
        assert self.sandbox is not None
        try:
            config, image = container_config(self.ctx.runtime, self.sandbox, self.pod, c, rec.next_attempt,
                                             volumes=self.volumes, source=self.ctx.source,
                                             host_ip=self.ctx.host_ip, allocatable=self.ctx.allocatable,
                                             warn=self._warn)
        except NotRunnable as e:
            self._waiting(rec, e.image.reason, str(e), "Failed", f"Error: {e}")
            return
        except (ConfigError, MountError, ValueError) as e:
            self._waiting(rec, "CreateContainerConfigError", str(e), "Failed", f"Error: {e}")
            return
        events = self.ctx.events
        events.pod_event(self.pod, "Normal", "Pulled", f'Container image "{c.get("image")}" already present on machine',
                         rec.name, rec.init)
        uid = self.uid
        cp = self.ctx.runtime.start_container(config, on_exit=lambda _: self.ctx.wake(uid))
        if rec.previous is not None:
            self.ctx.runtime.remove_attempt(rec.previous.config)  # like kubelet's container GC: keep one dead attempt
        rec.previous, rec.current = rec.current, cp
        rec.next_attempt += 1
        rec.image_id = image.image_id
        rec.waiting_reason = rec.waiting_message = ""
        if cp.reason == "StartError":
            events.pod_event(self.pod, "Warning", "Failed", f"Error: failed to start container: {cp.message}",
                             rec.name, rec.init)
            return
        events.pod_event(self.pod, "Normal", "Created", f"Created container: {rec.name}", rec.name, rec.init)
        events.pod_event(self.pod, "Normal", "Started", f"Started container {rec.name}", rec.name, rec.init)
        hook = (c.get("lifecycle") or {}).get("postStart")
        if hook:
            error = run_hook(hook, pod_ip=self.sandbox.ip, container=c, timeout=30,
                             exec_fn=lambda argv, t: self.ctx.runtime.exec_sync(cp, argv, t))
            if error:
                events.pod_event(self.pod, "Warning", "FailedPostStartHook", error, rec.name, rec.init)
                self._kill(rec, c, MIN_GRACE)

    def _waiting(self, rec: ContainerRecord, reason: str, message: str, event_reason: str, event: str) -> None:
        if (rec.waiting_reason, rec.waiting_message) != (reason, message):
            self.ctx.events.pod_event(self.pod, "Warning", event_reason, event, rec.name, rec.init)
        rec.waiting_reason, rec.waiting_message = reason, message

    def _ensure_probes(self, c: Obj, cp: ContainerProcess) -> None:
        assert self.sandbox is not None
        name, ip, uid = c["name"], self.sandbox.ip, self.uid

        def make(kind: str, probe: Obj) -> ProbeWorker:
            return ProbeWorker(
                kind, probe, container=c, started=cp.started_mono or time.monotonic(), pod_ip=ip,
                exec_fn=lambda argv, t: self.ctx.runtime.exec_sync(cp, argv, t), alive=lambda: cp.running,
                startup_done=lambda: self.probes.result(name, cp.id, "startup") in (None, Result.SUCCESS),
                on_change=lambda: self.ctx.wake(uid),
                on_failure=lambda k, msg: self.ctx.events.pod_event(
                    self.pod, "Warning", "Unhealthy", f"{TITLES[k]} probe failed: {msg}", name))

        self.probes.ensure(c, cp.id, make)

    # -- stopping ------------------------------------------------------------------

    def _kill(self, rec: ContainerRecord, c: Obj, grace: float) -> None:
        """preStop hook, then SIGTERM, the rest of the grace period (at least 2 s), SIGKILL."""
        cp = rec.current
        if cp is None or not cp.running:
            return
        started = time.monotonic()
        hook = (c.get("lifecycle") or {}).get("preStop")
        if hook and self.sandbox is not None:
            error = run_hook(hook, pod_ip=self.sandbox.ip, container=c, timeout=grace,
                             exec_fn=lambda argv, t: self.ctx.runtime.exec_sync(cp, argv, t))
            if error:
                self.ctx.events.pod_event(self.pod, "Warning", "FailedPreStopHook",
                                          f"PreStopHook failed: {error}", rec.name, rec.init)
        cp.stop(max(MIN_GRACE, grace - (time.monotonic() - started)))

    def _stop_all(self, grace: float) -> None:
        """Stop every running container in parallel, as kubelet's killPodWithSyncResult does."""
        spec_by_name = {c["name"]: c for c in (self.spec.get("initContainers") or []) + (self.spec.get("containers") or [])}
        self.probes.stop_all()  # a container on its way out is not probed any more
        threads = []
        for rec in self.records.values():
            if rec.current is not None and rec.current.running:
                self.ctx.events.pod_event(self.pod, "Normal", "Killing", f"Stopping container {rec.name}",
                                          rec.name, rec.init)
                c = spec_by_name.get(rec.name, {"name": rec.name})
                t = threading.Thread(target=self._kill, args=(rec, c, grace), daemon=True)
                t.start()
                threads.append(t)
        for t in threads:
            t.join()
        for rec in self.records.values():
            rec.waiting_reason = rec.waiting_message = ""
        self.probes.stop_all()
        if self.sandbox is not None:
            self.ctx.runtime.stop_pod_sandbox(self.uid)
        self.stopped = True

    def _all_done(self) -> bool:
        if self.init_failed:
            return True
        if not self.initialized:
            return False
        policy = self.spec.get("restartPolicy") or "Always"
        for c in self.spec.get("containers") or []:
            rec = self.records.get(c["name"])
            cp = rec.current if rec else None
            if cp is None or cp.running or should_restart(policy, cp.exit_code):
                return False
        return True

    def _become_terminal(self) -> None:
        self.terminal = True
        self._stop_all(MIN_GRACE)

    def _sync_deleted(self, gone: bool) -> float | None:
        meta = self.pod["metadata"]
        if not self.stopped:
            grace = meta.get("deletionGracePeriodSeconds")
            if grace is None:
                grace = self.spec.get("terminationGracePeriodSeconds", 30)
            self._stop_all(float(grace))
        if not gone:
            self._write_status(terminal=True)
            try:
                self.ctx.client.delete(r.PODS, self.name, self.namespace, grace_period_seconds=0,
                                       preconditions={"uid": self.uid})
            except ApiError as e:
                if not (is_not_found(e) or is_conflict(e)):
                    log.warning("cannot finish deleting pod %s: %s", self.key, e)
                    return 2.0
            except ServerUnavailable as e:
                log.warning("cannot finish deleting pod %s: %s", self.key, e)
                return 2.0
        self.cleanup()
        return None

    def cleanup(self) -> None:
        """Forget the pod: volumes, directories, logs, back-off."""
        self.volumes.teardown()
        self.ctx.runtime.remove_pod(self.uid, self.namespace, self.name)
        self.ctx.backoff.forget_prefix(self.uid + "/")

    def shutdown(self, grace_cap: float) -> None:
        """The agent is stopping: stop the containers, keep the pod in the API as it is."""
        if grace_cap <= 0:  # a cold stop: no hooks, no grace, no waiting for a sync in progress
            for cp in self.containers():
                cp.signal_all(signal.SIGKILL)
        with self._lock:
            if not self.stopped:
                grace = float(self.spec.get("terminationGracePeriodSeconds", 30))
                self._stop_all(min(grace, grace_cap))

    # -- status --------------------------------------------------------------------

    def snapshot(self, c: Obj, init: bool) -> podstatus.ContainerSnapshot:
        rec = self.records.get(c["name"]) or ContainerRecord(c["name"], init)
        cp = rec.current
        running = cp is not None and cp.running
        ready = started = False
        if running and cp is not None:
            startup = self.probes.result(rec.name, cp.id, "startup")
            started = startup in (None, Result.SUCCESS)
            readiness = self.probes.result(rec.name, cp.id, "readiness")
            ready = started and (readiness == Result.SUCCESS if readiness is not None else True) and not init
        elif init and cp is not None and cp.exit_code == 0:
            ready = True
        waiting = rec.waiting_reason
        if cp is None and not waiting:
            has_init = bool(self.spec.get("initContainers"))
            waiting = "PodInitializing" if (init or has_init) and not self.initialized else "ContainerCreating"
        return podstatus.ContainerSnapshot(
            name=rec.name, image=c.get("image") or "", image_id=rec.image_id, current=_attempt(cp),
            previous=_attempt(rec.previous), restart_count=cp.config.attempt if cp else rec.next_attempt,
            waiting_reason=waiting, waiting_message=rec.waiting_message, ready=ready, started=started)

    def _write_status(self, terminal: bool = False) -> None:
        if self.terminal and not self.records and (self.pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return  # ended before this agent knew it: the API's status stands
        status = podstatus.generate(
            self.pod, init=[self.snapshot(c, True) for c in self.spec.get("initContainers") or []],
            containers=[self.snapshot(c, False) for c in self.spec.get("containers") or []],
            sandbox_ready=self.sandbox is not None and not self.stopped,
            pod_ip=self.sandbox.ip if self.sandbox else (self.pod.get("status") or {}).get("podIP", ""),
            host_ip=self.ctx.host_ip, start_time=self.start_time, terminal=terminal or self.terminal, now=time.time())
        comparable = podstatus.comparable(status)
        if comparable == self._written:
            return
        try:
            self.ctx.client.patch(r.PODS, self.name, {"metadata": {"uid": self.uid}, "status": status}, self.namespace,
                                  subresource="status")
        except (ApiError, ServerUnavailable) as e:
            log.info("cannot update the status of pod %s: %s", self.key, e)
            return
        self._written = comparable
        self.status = status


def _attempt(cp: ContainerProcess | None) -> podstatus.Attempt | None:
    if cp is None:
        return None
    return podstatus.Attempt(container_id=cp.id, started_at=cp.started_at or time.time(),
                             finished_at=cp.finished_at if cp.exited.is_set() else None,
                             exit_code=cp.exit_code, reason=cp.reason, message=cp.message, signal=cp.signal)
