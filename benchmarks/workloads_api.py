"""What the workloads benchmark needs: admin requests, timed watches, bounded waits, CPU shares.

Where it sits: under ``benchmarks.workloads``, which measures how fast a local cluster
runs pods. It talks to the cluster's first API server as the cluster admin (client
certificate), with ``requests`` for ordinary calls and a raw HTTPS stream for watches.

How an event is timed: a :class:`Watch` reads its stream on a thread of its own and
stamps every chunk with ``time.monotonic()`` as soon as it arrives, before parsing it;
the measurements compare these stamps with the moments their own requests returned.
A watch is what a controller or ``kubectl get -w`` sees, and it is more precise than
polling, whose interval would add up to a whole period to every figure.

Where the CPU went while pods started (:func:`cpu_line`) is read from ``/proc``, by
process group as ``benchmarks.stats`` does, plus the containers: processes a node agent
started in sessions of their own.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import requests

from controlplane.cli.local import LocalCluster

from . import stats

Obj = dict[str, Any]
Progress = Callable[[str], None]
Handler = Callable[[str, Obj, float], None]  # (event type, object, when its bytes arrived)


class ApiFailure(Exception):
    """The API server answered with an error."""


class Api:
    """The cluster admin, over HTTPS; each thread gets its own keep-alive session."""

    def __init__(self, server: str, cert: tuple[str, str], ca: str) -> None:
        self.server, self.cert, self.ca = server, cert, ca
        self._local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def call(self, method: str, path: str, body: Obj | None = None, *, patch: bool = False,
             ok_missing: bool = False, **params: str) -> Obj:
        headers = {"Content-Type": "application/merge-patch+json"} if patch else {}
        r = self._session().request(method, self.server + path, json=body, params=params or None,
                                    headers=headers, timeout=30,
                                    cert=self.cert, verify=self.ca)  # per request: REQUESTS_CA_BUNDLE wins over a session's
        if r.status_code == 404 and ok_missing:
            return {}
        if r.status_code >= 400:
            raise ApiFailure(f"{method} {path}: {r.status_code} {r.text[:300]}")
        return r.json()

    def get(self, path: str, **params: str) -> Obj:
        return self.call("GET", path, **params)

    def create(self, path: str, body: Obj) -> Obj:
        return self.call("POST", path, body)

    def list_version(self, path: str) -> str:
        """The resourceVersion a watch of ``path`` starts from (nothing before it is replayed)."""
        return self.get(path, limit="1")["metadata"]["resourceVersion"]

    @contextmanager
    def watch(self, path: str, handle: Handler, **params: str) -> Iterator[Watch]:
        w = Watch(self, path, self.list_version(path), handle, params)
        try:
            yield w
        finally:
            w.stop()


class Watch:
    """``GET path?watch=1`` from a resourceVersion, each event handed to ``handle`` on a thread.

    A stream the server closes is reopened from the last resourceVersion seen; an ERROR
    event (the version is gone) is kept in ``error`` for the waiting side to raise."""

    def __init__(self, api: Api, path: str, rv: str, handle: Handler, params: dict[str, str]) -> None:
        self.api, self.path, self.rv, self.handle, self.params = api, path, rv, handle, params
        self.error: str | None = None
        self._stop = threading.Event()
        self._conn: http.client.HTTPSConnection | None = None
        self._thread = threading.Thread(target=self._run, name=f"watch {path}", daemon=True)
        self._opened = threading.Event()
        self._thread.start()
        if not self._opened.wait(30):
            raise ApiFailure(f"the watch of {path} did not open within 30 s")
        self.check()

    def _run(self) -> None:
        url = urllib.parse.urlsplit(self.api.server)
        ctx = ssl.create_default_context(cafile=self.api.ca)
        ctx.load_cert_chain(*self.api.cert)
        while not self._stop.is_set() and self.error is None:
            try:
                self._stream(url, ctx)
            except (OSError, http.client.HTTPException, ValueError) as e:
                if not self._stop.is_set():
                    self.error = f"{type(e).__name__}: {e}"
            self._opened.set()  # a failed open wakes the constructor too; ``error`` says why

    def _stream(self, url: urllib.parse.SplitResult, ctx: ssl.SSLContext) -> None:
        self._conn = http.client.HTTPSConnection(url.hostname or "", url.port, context=ctx, timeout=300)
        query = urllib.parse.urlencode({**self.params, "watch": "1", "resourceVersion": self.rv})
        self._conn.request("GET", f"{self.path}?{query}", headers={"Accept": "application/json"})
        resp = self._conn.getresponse()
        if resp.status != 200:
            raise ValueError(f"watch {self.path}: {resp.status} {resp.read(300)!r}")
        self._opened.set()
        buffer = b""
        while not self._stop.is_set():
            data = resp.read1(65536)
            when = time.monotonic()
            if not data:
                return  # the server ended the stream: reopen from self.rv
            *lines, buffer = (buffer + data).split(b"\n")
            for line in filter(bytes.strip, lines):
                event = json.loads(line)
                if event["type"] == "ERROR":
                    self.error = f"watch {self.path}: {event['object'].get('message')}"
                    return
                self.rv = event["object"]["metadata"].get("resourceVersion") or self.rv
                if event["type"] != "BOOKMARK":
                    self.handle(event["type"], event["object"], when)

    def check(self) -> None:
        if self.error:
            raise ApiFailure(self.error)

    def stop(self) -> None:
        self._stop.set()
        conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)  # wakes the reading thread at once
            except OSError:
                pass
        self._thread.join(5)


def wait_until(what: str, done: Callable[[], bool], timeout: float, progress: Progress,
               status: Callable[[], str] = lambda: "", watches: tuple[Watch, ...] = ()) -> None:
    """Poll ``done`` (cheap: it reads what watches recorded) until true; a progress line every 5 s."""
    started = time.monotonic()
    shown = started
    while not done():
        for w in watches:
            w.check()
        now = time.monotonic()
        if now - started > timeout:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s {status()}".rstrip())
        if now - shown >= 5:
            progress(f"waiting for {what} ({now - started:.0f} s) {status()}".rstrip())
            shown = now
        time.sleep(0.01)


def parallel(calls: list[Callable[[], object]], workers: int = 8) -> None:
    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(call) for call in calls]:
            future.result()


# -- what the objects say ----------------------------------------------------------------


def is_ready(pod: Obj) -> bool:
    """Running, Ready, and not being deleted: a replica that serves."""
    status = pod.get("status") or {}
    return (status.get("phase") == "Running" and not pod["metadata"].get("deletionTimestamp")
            and any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []))


def node_ready(node: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def hello_pod(name: str, labels: dict[str, str] | None = None) -> Obj:
    """The demo web server, no requests (it fits anywhere), a short grace period for a fast cleanup."""
    return {"metadata": {"name": name, "labels": labels or {"app": "hello"}},
            "spec": {"terminationGracePeriodSeconds": 2,
                     "containers": [{"name": "web", "image": "kubeclass/hello:1",
                                     "ports": [{"containerPort": 8080}]}]}}


def hello_deployment(name: str, replicas: int) -> Obj:
    template = hello_pod(name, {"app": name})
    del template["metadata"]["name"]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": template}}


class Pods:
    """A namespace's pods as a watch reports them: the newest copy of each, and when each
    was first seen, bound to a node, ready, and marked for deletion (``handle`` is the watch handler)."""

    def __init__(self) -> None:
        self.current: dict[str, Obj] = {}
        self.added: dict[str, float] = {}
        self.bound: dict[str, float] = {}
        self.ready: dict[str, float] = {}
        self.deleting: dict[str, float] = {}
        self.events = 0  # watch events: every write to a pod, its create included
        self._lock = threading.Lock()

    def handle(self, kind: str, pod: Obj, when: float) -> None:
        name = pod["metadata"]["name"]
        with self._lock:
            self.events += 1
            if kind == "DELETED":
                self.current.pop(name, None)
                return
            self.current[name] = pod
            self.added.setdefault(name, when)
            if (pod.get("spec") or {}).get("nodeName"):
                self.bound.setdefault(name, when)
            if is_ready(pod):
                self.ready.setdefault(name, when)
            if pod["metadata"].get("deletionTimestamp"):
                self.deleting.setdefault(name, when)

    def matching(self, predicate: Callable[[Obj], bool]) -> list[Obj]:
        with self._lock:
            return [p for p in self.current.values() if predicate(p)]

    def on_node(self, node: str) -> list[str]:
        return sorted(p["metadata"]["name"] for p in self.matching(lambda p: p["spec"].get("nodeName") == node))


class Holders:
    """The controller manager's Lease as a watch reports it: when each holder was first seen."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}

    def handle(self, kind: str, lease: Obj, when: float) -> None:
        if lease["metadata"]["name"] == "kube-controller-manager":
            self.seen.setdefault((lease.get("spec") or {}).get("holderIdentity") or "", when)

    def other_than(self, holder: str) -> tuple[str, float] | None:
        return next(((h, t) for h, t in list(self.seen.items()) if h and h != holder), None)


def cpu_sample(cluster: LocalCluster) -> tuple[stats.CpuSample, float]:
    """CPU used so far by each of the cluster's processes, and by the containers its node agents run."""
    groups = cluster.running()
    return stats.sample(groups), _containers_seconds({g for name, g in groups.items() if name.startswith("node-")})


def _containers_seconds(agent_groups: set[int]) -> float:
    """Live processes whose parent is a node agent but which run in a session of their own: the
    containers (each ``execve``s its program in place of the sandbox helper, keeping the pid)."""
    procs: dict[int, tuple[int, int, float]] = {}  # pid -> (parent, group, CPU seconds)
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        procs[int(entry)] = (int(fields[1]), int(fields[2]), (int(fields[11]) + int(fields[12])) / stats.TICK)
    agents = {pid for pid, (_, group, _) in procs.items() if group in agent_groups}
    return sum(cpu for parent, group, cpu in procs.values() if parent in agents and group not in agent_groups)


def cpu_line(a: tuple[stats.CpuSample, float], b: tuple[stats.CpuSample, float]) -> str:
    """Where the CPU went between two samples, by kind of process; "other" is everything else
    on the machine (exited helpers such as ``ip``, other clusters, the kernel's threads)."""
    use = stats.between(a[0], b[0])
    kinds: dict[str, float] = {"containers": b[1] - a[1]}
    use.seconds["other processes"] = max(0.0, use.seconds["other processes"] - kinds["containers"])
    for name, seconds in use.seconds.items():
        kind = name if name.startswith("node-worker") else name.rstrip("0123456789").rstrip("-")
        kinds[kind] = kinds.get(kind, 0.0) + seconds
    busy = sum(kinds.values())
    parts = ", ".join(f"{k} {100 * v / use.wall:.0f}%" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]))
    return (f"CPU over {use.wall:.1f} s, % of one core ({os.cpu_count()} cores, machine busy "
            f"{100 * busy / use.wall:.0f}%): {parts}")
