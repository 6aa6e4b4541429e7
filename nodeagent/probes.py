"""Liveness, readiness and startup probes: one worker per (container attempt, probe type).

Where it sits: the pod sync starts workers for every running container that declares
probes (:meth:`PodProbes.ensure`) and reads their results when it builds the pod's status
(readiness) or decides to restart a container (liveness, startup). A result change wakes
the pod's worker. Shaped after kubelet's ``pkg/kubelet/prober/worker.go``:

* the loop is ``while do_probe(): wait(period)``; :meth:`ProbeWorker.do_probe` probes
  once, records the result, and says whether the worker should go on;
* before ``initialDelaySeconds`` have passed since the container started, nothing is
  probed; liveness and readiness wait until the startup probe has succeeded;
* thresholds: a result counts only after ``failureThreshold`` failures (or
  ``successThreshold`` successes) in a row - below that the state stays as it is;
* initial results: readiness *failure* (not ready until proven), liveness *success*,
  startup *unknown*;
* after a liveness or startup failure the worker holds (stops probing) until the
  container is replaced: the pod sync restarts it, and a new worker probes the new attempt;
* every failed probe is reported as an ``Unhealthy`` event, threshold or not.

Handlers (:func:`run_probe`): ``exec`` (exit code 0), ``httpGet`` (status 200-399),
``tcpSocket`` (the connection opens); ``grpc`` is reported as unsupported.
"""

from __future__ import annotations

import enum
import http.client
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]
ExecFn = Callable[[list[str], float], tuple[int, str]]


class Result(enum.Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    UNKNOWN = "unknown"


INITIAL = {"readiness": Result.FAILURE, "liveness": Result.SUCCESS, "startup": Result.UNKNOWN}
FIELDS = {"liveness": "livenessProbe", "readiness": "readinessProbe", "startup": "startupProbe"}
TITLES = {"liveness": "Liveness", "readiness": "Readiness", "startup": "Startup"}


def resolve_port(port: Any, container: Obj) -> int:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"unable to find port {port!r} in container {container.get('name')!r}")


def run_probe(probe: Obj, *, pod_ip: str, container: Obj, exec_fn: ExecFn | None) -> tuple[bool, str]:
    """Probe once: (succeeded, message). Never raises for a failing target."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    try:
        if "exec" in probe:
            if exec_fn is None:
                return False, "exec probes need a running container"
            try:
                code, output = exec_fn(list((probe["exec"] or {}).get("command") or []), timeout)
            except TimeoutError:
                return False, f"command timed out after {timeout:g}s"
            return code == 0, output.strip() or (f"command exited with {code}" if code else "")
        if "httpGet" in probe:
            return _http(probe["httpGet"], pod_ip, container, timeout)
        if "tcpSocket" in probe:
            spec = probe["tcpSocket"]
            host, port = spec.get("host") or pod_ip, resolve_port(spec.get("port"), container)
            try:
                socket.create_connection((host, port), timeout=timeout).close()
            except OSError as e:
                return False, f"dial tcp {host}:{port}: {_describe(e)}"
            return True, ""
        if "grpc" in probe:
            return False, "gRPC probes are not supported by the kubeclass node agent; use httpGet or exec"
    except ValueError as e:
        return False, str(e)
    return False, "the probe names no handler (exec, httpGet, tcpSocket)"


def _http(spec: Obj, pod_ip: str, container: Obj, timeout: float) -> tuple[bool, str]:
    host, port = spec.get("host") or pod_ip, resolve_port(spec.get("port"), container)
    scheme = (spec.get("scheme") or "HTTP").lower()
    path = spec.get("path") or "/"
    if not path.startswith("/"):
        path = "/" + path
    url = f"{scheme}://{host}:{port}{path}"
    headers = {"User-Agent": "kube-probe/1.33", "Accept": "*/*"}
    headers.update({h["name"]: h.get("value", "") for h in spec.get("httpHeaders") or [] if h.get("name")})
    if scheme == "https":
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # kubelet does not verify either
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read(10 * 1024)
    except OSError as e:
        return False, f'Get "{url}": {_describe(e)}'
    finally:
        conn.close()
    if 200 <= resp.status < 400:
        return True, ""
    del body  # kubelet reads the body (up to 10 KiB) but does not report it
    return False, f"HTTP probe failed with statuscode: {resp.status}"


def run_hook(handler: Obj, *, pod_ip: str, container: Obj, exec_fn: ExecFn | None, timeout: float) -> str:
    """Run a ``postStart`` or ``preStop`` handler (exec, httpGet or sleep) within
    ``timeout``; returns "" on success, else what went wrong."""
    if "sleep" in handler:
        time.sleep(min(float((handler["sleep"] or {}).get("seconds") or 0), max(0.0, timeout)))
        return ""
    if "exec" in handler or "httpGet" in handler:
        ok, message = run_probe({**handler, "timeoutSeconds": max(1.0, timeout)}, pod_ip=pod_ip,
                                container=container, exec_fn=exec_fn)
        return "" if ok else (message or "the hook failed")
    return ""


def _describe(e: OSError) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "connect: connection refused"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
    return str(e.strerror or e)


class ProbeWorker:
    """Probes one container attempt with one probe, periodically, on its own thread."""

    def __init__(self, kind: str, probe: Obj, *, container: Obj, started: float, pod_ip: str,
                 exec_fn: ExecFn | None, alive: Callable[[], bool], startup_done: Callable[[], bool],
                 on_change: Callable[[], None], on_failure: Callable[[str, str], None]) -> None:
        self.kind = kind
        self.probe = probe
        self.container = container
        self.started = started  # monotonic time the container started
        self.pod_ip = pod_ip
        self.exec_fn = exec_fn
        self.alive = alive
        self.startup_done = startup_done
        self.on_change = on_change
        self.on_failure = on_failure
        self.result = INITIAL[kind]
        self.message = ""
        self._last: Result | None = None
        self._run = 0
        self._on_hold = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"probe-{kind}-{container.get('name')}", daemon=True)

    @property
    def period(self) -> float:
        return float(self.probe.get("periodSeconds") or 10)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the worker; safe to call more than once."""
        self._stop.set()

    def _loop(self) -> None:
        # A little jitter, so the probes of many containers started together do not fire together.
        if self._stop.wait(random.uniform(0, min(self.period, 1.0))):
            return
        while self.do_probe():
            if self._stop.wait(self.period):
                break

    def do_probe(self) -> bool:
        """Probe the container once and record the result. Returns whether to continue."""
        if self._stop.is_set() or not self.alive():
            return False
        if self._on_hold:
            return True
        if time.monotonic() - self.started < float(self.probe.get("initialDelaySeconds") or 0):
            return True
        if self.kind == "startup" and self.result == Result.SUCCESS:
            return True  # a startup probe has done its job once it succeeded
        if self.kind != "startup" and not self.startup_done():
            return True
        ok, message = run_probe(self.probe, pod_ip=self.pod_ip, container=self.container, exec_fn=self.exec_fn)
        if self._stop.is_set():
            return False
        result = Result.SUCCESS if ok else Result.FAILURE
        if not ok:
            self.on_failure(self.kind, message)
        self._run = self._run + 1 if result == self._last else 1
        self._last = result
        threshold = int(self.probe.get("failureThreshold") or 3) if not ok else \
            int(self.probe.get("successThreshold") or 1)
        if self._run < threshold:
            return True  # below threshold: leave the state unchanged
        if result != self.result:
            self.result, self.message = result, message
            self.on_change()
        if not ok and self.kind in ("liveness", "startup"):
            self._on_hold = True  # the container will be restarted; probe the next attempt afresh
            self._run = 0
        return True


class PodProbes:
    """The probe workers of one pod, keyed by (container name, probe type)."""

    def __init__(self) -> None:
        self._workers: dict[tuple[str, str], tuple[str, ProbeWorker]] = {}  # -> (container id, worker)
        self._lock = threading.Lock()

    def ensure(self, container: Obj, container_id: str, make: Callable[[str, Obj], ProbeWorker]) -> None:
        """Start workers for the current attempt of ``container`` (stopping older ones)."""
        with self._lock:
            for kind, field in FIELDS.items():
                probe = container.get(field)
                key = (container["name"], kind)
                current = self._workers.get(key)
                if current is not None and current[0] == container_id:
                    continue
                if current is not None:
                    current[1].stop()
                    del self._workers[key]
                if probe:
                    worker = make(kind, probe)
                    self._workers[key] = (container_id, worker)
                    worker.start()

    def result(self, container_name: str, container_id: str, kind: str) -> Result | None:
        """The worker's result for this attempt; None when the container has no such probe."""
        with self._lock:
            entry = self._workers.get((container_name, kind))
        if entry is None or entry[0] != container_id:
            return None
        return entry[1].result

    def message(self, container_name: str, kind: str) -> str:
        with self._lock:
            entry = self._workers.get((container_name, kind))
        return entry[1].message if entry else ""

    def forget(self, container_name: str) -> None:
        with self._lock:
            for key in [k for k in self._workers if k[0] == container_name]:
                self._workers.pop(key)[1].stop()

    def stop_all(self) -> None:
        with self._lock:
            for _, worker in self._workers.values():
                worker.stop()
            self._workers.clear()
