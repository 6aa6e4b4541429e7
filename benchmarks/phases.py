"""The four measurements of the API server benchmark, each against kubeclass and the trivial app.

Where it sits: ``benchmarks.apiserver`` runs them in order and prints their figures;
``benchmarks.profiling`` runs one of them against a profiled API server. Each phase
returns a :class:`Measured`: the figures (kubeclass beside trivial) and the lines
that explain them (CPU use of every process while the figure was taken).

    get      GET of one ConfigMap vs GET /ping: p50, p99, requests/s at 16 clients
    create   POST of ConfigMaps vs POST /objects (same body): creates/s at 16 clients
    list     LIST of N pods (JSON; Table; Table in kubectl's pages of 500) vs a static
             JSON body of the same size
    watch    delivery latency to W watch streams, writes at a steady rate
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from . import load, stats, watchers
from .load import Request, Target
from .servers import Servers

CLIENTS = 16
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
KUBECTL_PAGE = 500  # kubectl get lists with ?limit=500 and follows `continue`


@dataclasses.dataclass(frozen=True)
class Sizes:
    seconds: int  # each closed-loop load run
    warmup: int
    pods: int
    list_runs: int
    watchers: int
    watch_writes: int
    watch_rate: float  # writes per second


FULL = Sizes(seconds=10, warmup=2, pods=10_000, list_runs=5, watchers=100, watch_writes=200, watch_rate=20)
QUICK = Sizes(seconds=2, warmup=1, pods=300, list_runs=2, watchers=10, watch_writes=20, watch_rate=10)


@dataclasses.dataclass
class Figure:
    key: str
    label: str
    unit: str  # "ms", "s", "/s"
    kubeclass: float
    trivial: float

    @property
    def ratio(self) -> float:
        return self.kubeclass / self.trivial if self.trivial else float("nan")


@dataclasses.dataclass
class Measured:
    figures: list[Figure]
    notes: list[str]
    details: dict[str, Any]


class Bench:
    """What every phase needs: the servers, sizes, the load generator and a CPU meter."""

    def __init__(self, servers: Servers, sizes: Sizes, use_wrk: bool) -> None:
        self.servers = servers
        self.sizes = sizes
        self.use_wrk = use_wrk
        self.auth = {"Authorization": f"Bearer {servers.token()}"}
        # Called as mark(target, what, "start"|"end") around each measurement (benchmarks.profiling
        # snapshots the server's profile there); nothing by default.
        self.mark: Callable[[Target, str, str], None] = lambda target, what, edge: None

    @contextlib.contextmanager
    def measuring(self, target: Target, what: str) -> Iterator[None]:
        self.mark(target, what, "start")
        yield
        self.mark(target, what, "end")

    def cpu(self) -> stats.CpuSample:
        return stats.sample(self.servers.process_groups())

    def load(self, target: Target, req: Request, what: str) -> tuple[load.Result, stats.CpuUse]:
        load.run(target, req, CLIENTS, self.sizes.warmup, self.use_wrk)  # fill pools, caches, connections
        with self.measuring(target, what):
            result = load.run(target, req, CLIENTS, self.sizes.seconds, self.use_wrk, sampler=self.cpu)
        assert result.cpu is not None
        return result, result.cpu

    def call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201)) -> Any:
        conn = self.servers.kubeclass.connect()
        try:
            headers = {**self.auth, "Accept": "application/json", "Content-Type": "application/json"}
            conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        if resp.status not in ok:
            raise RuntimeError(f"{method} {path} answered {resp.status}: {data[:300]!r}")
        return json.loads(data)

    def namespace(self, name: str) -> None:
        self.call("POST", "/api/v1/namespaces",
                  {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}, ok=(201, 409))


def configmap(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app": "bench"}},
            "data": {"greeting": "hello", "color": "blue", "size": "10"}}


def pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "bench", "tier": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}],
                                     "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}


def _cpu_per_request(cpu: stats.CpuUse, group: str, requests: int) -> float:
    return 1000 * cpu.seconds.get(group, 0.0) / requests if requests else float("nan")


def _closed_loop(bench: Bench, key: str, what: str, kube: Request, trivial: Request,
                 figures: list[tuple[str, str, str]]) -> Measured:
    rk, ck = bench.load(bench.servers.kubeclass, kube, key)
    rt, ct = bench.load(bench.servers.trivial, trivial, key)
    values = {"p50": (rk.p50_ms, rt.p50_ms), "p99": (rk.p99_ms, rt.p99_ms), "rate": (rk.rate, rt.rate),
              "cpu": (_cpu_per_request(ck, "apiserver", rk.requests),
                      _cpu_per_request(ct, "trivial server", rt.requests))}
    out = [Figure(f"{key}_{name}", label, unit, *values[name]) for name, label, unit in figures]
    notes = [f"{what}: {CLIENTS} keep-alive clients, {bench.sizes.seconds}s each, {rk.generator}",
             (f"requests answered: kubeclass {rk.requests:,} ({rk.failed} failed), "
              f"trivial {rt.requests:,} ({rt.failed} failed)"),
             f"kubeclass run  {ck.line()}", f"trivial run    {ct.line()}"]
    details = {"kubeclass": {**dataclasses.asdict(rk), "cpu": ck.seconds},
               "trivial": {**dataclasses.asdict(rt), "cpu": ct.seconds}}
    if rk.failed or rt.failed:
        notes.append("WARNING: some requests failed; the figures count only the answered ones")
    return Measured(out, notes, details)


def get(bench: Bench) -> Measured:
    bench.namespace("bench")
    bench.call("POST", "/api/v1/namespaces/bench/configmaps", configmap("bench-get"), ok=(201, 409))
    headers = {**bench.auth, "Accept": "application/json"}
    return _closed_loop(bench, "get", "GET /api/v1/namespaces/bench/configmaps/bench-get vs GET /ping",
                        Request("GET", "/api/v1/namespaces/bench/configmaps/bench-get", headers),
                        Request("GET", "/ping", headers),
                        [("p50", "GET one object: p50", "ms"), ("p99", "GET one object: p99", "ms"),
                         ("rate", "GET one object: requests/s", "/s"),
                         ("cpu", "GET one object: server CPU per request", "ms")])


def create(bench: Bench) -> Measured:
    bench.namespace("bench-create")
    body = json.dumps(configmap(f"cm-{load.NAME}"))
    headers = {**bench.auth, "Accept": "application/json", "Content-Type": "application/json"}
    return _closed_loop(bench, "create", "POST ConfigMaps vs POST /objects (same body)",
                        Request("POST", "/api/v1/namespaces/bench-create/configmaps", headers, body),
                        Request("POST", "/objects", headers, body),
                        [("rate", "creates/s", "/s"), ("p50", "create: p50", "ms"), ("p99", "create: p99", "ms"),
                         ("cpu", "create: server CPU per request", "ms")])


def _fetch(conn: http.client.HTTPSConnection, path: str, headers: dict[str, str]) -> tuple[float, bytes]:
    """Seconds from sending the request to having read the whole body, and the body."""
    began = time.monotonic()
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    took = time.monotonic() - began
    if resp.status != 200:
        raise RuntimeError(f"GET {path} answered {resp.status}: {data[:300]!r}")
    return took, data


def _fetch_pages(conn: http.client.HTTPSConnection, path: str,
                 headers: dict[str, str]) -> tuple[float, int, list[int]]:
    """A list read the way kubectl reads it: pages of 500, following ``continue``; (seconds, rows, page sizes)."""
    took, rows, sizes, token = 0.0, 0, [], ""
    while True:
        query = f"?limit={KUBECTL_PAGE}" + (f"&continue={token}" if token else "")
        t, data = _fetch(conn, path + query, headers)
        page = json.loads(data)
        took += t
        rows += len(page["rows"])
        sizes.append(len(data))
        token = page.get("metadata", {}).get("continue", "")
        if not token:
            return took, rows, sizes


def _median(values: list[float]) -> float:
    return stats.percentile(values, 50)


def list_(bench: Bench) -> Measured:
    n, runs = bench.sizes.pods, bench.sizes.list_runs
    kube, trivial = bench.servers.kubeclass, bench.servers.trivial
    path = "/api/v1/namespaces/bench-list/pods"
    bench.namespace("bench-list")
    headers = {**bench.auth, "Accept": "application/json", "Content-Type": "application/json"}
    seeded = load.create_many(kube, Request("POST", path, headers, json.dumps(pod(load.NAME))),
                              [f"pod-{i:05d}" for i in range(n)], CLIENTS)
    as_json = {**bench.auth, "Accept": "application/json"}
    as_table = {**bench.auth, "Accept": TABLE}
    kconn, tconn = kube.connect(timeout=300), trivial.connect(timeout=300)
    try:
        _fetch(kconn, path, as_json)  # warm: the first list of a worker pays for imports and caches
        before = bench.cpu()
        with bench.measuring(kube, "list-json"):
            timed = [_fetch(kconn, path, as_json) for _ in range(runs)]
        cpu_json = stats.between(before, bench.cpu())
        json_times, json_body = [t for t, _ in timed], timed[-1][1]
        if len(json.loads(json_body)["items"]) != n:
            raise RuntimeError(f"the LIST returned {len(json.loads(json_body)['items'])} pods, not {n}")
        before = bench.cpu()
        with bench.measuring(kube, "list-table"):
            timed = [_fetch(kconn, path, as_table) for _ in range(runs)]
        cpu_table = stats.between(before, bench.cpu())
        table_times, table_body = [t for t, _ in timed], timed[-1][1]
        if len(json.loads(table_body)["rows"]) != n:
            raise RuntimeError(f"the Table LIST returned {len(json.loads(table_body)['rows'])} rows, not {n}")
        with bench.measuring(kube, "list-kubectl"):
            paged = [_fetch_pages(kconn, path, as_table) for _ in range(runs)]
        page_sizes = paged[-1][2]
        if paged[-1][1] != n:
            raise RuntimeError(f"the paged Table LIST returned {paged[-1][1]} rows, not {n}")
        _fetch(tconn, f"/blob?bytes={len(json_body)}", as_json)
        t_json = [_fetch(tconn, f"/blob?bytes={len(json_body)}", as_json)[0] for _ in range(runs)]
        t_table = [_fetch(tconn, f"/blob?bytes={len(table_body)}", as_json)[0] for _ in range(runs)]
        t_paged = [sum(_fetch(tconn, f"/blob?bytes={size}", as_json)[0] for size in page_sizes) for _ in range(runs)]
    finally:
        kconn.close()
        tconn.close()
    figures = [
        Figure("list_json", f"LIST {n:,} pods (JSON)", "s", _median(json_times), _median(t_json)),
        Figure("list_table", f"LIST {n:,} pods (Table, one page)", "s", _median(table_times), _median(t_table)),
        Figure("list_kubectl", f"kubectl get pods: {n:,} as Table in pages of {KUBECTL_PAGE}", "s",
               _median([p[0] for p in paged]), _median(t_paged)),
    ]
    api_json = cpu_json.seconds.get("apiserver", 0.0) / runs
    api_table = cpu_table.seconds.get("apiserver", 0.0) / runs
    notes = [
        f"{n:,} pods created first in {seeded:.1f}s ({n / seeded:,.0f} pods/s, {CLIENTS} Python clients)",
        (f"each LIST {runs} times, one after another on one keep-alive connection; figure = median; "
         f"trivial = GET /blob of the same number of bytes"),
        f"JSON body {len(json_body) / 1e6:.1f} MB: " + ", ".join(f"{t:.3f}" for t in json_times)
        + f" s; server CPU {api_json:.2f} s per LIST",
        f"Table body {len(table_body) / 1e6:.1f} MB: " + ", ".join(f"{t:.3f}" for t in table_times)
        + f" s; server CPU {api_table:.2f} s per LIST",
        f"kubectl-style: {len(page_sizes)} pages: " + ", ".join(f"{p[0]:.3f}" for p in paged) + " s",
        f"JSON runs   {cpu_json.line()}",
        f"Table runs  {cpu_table.line()}",
    ]
    details = {"pods": n, "seed_seconds": seeded, "json_seconds": json_times, "json_bytes": len(json_body),
               "table_seconds": table_times, "table_bytes": len(table_body),
               "kubectl_seconds": [p[0] for p in paged], "kubectl_pages": len(page_sizes),
               "trivial_json_seconds": t_json, "trivial_table_seconds": t_table, "trivial_kubectl_seconds": t_paged,
               "server_cpu_seconds_per_list": {"json": api_json, "table": api_table}}
    return Measured(figures, notes, details)


def watch(bench: Bench) -> Measured:
    s = bench.sizes
    kube, trivial = bench.servers.kubeclass, bench.servers.trivial
    bench.namespace("bench-watch")
    path = "/api/v1/namespaces/bench-watch/configmaps"
    rv = bench.call("GET", path)["metadata"]["resourceVersion"]
    timeout = int(120 + s.watch_writes / s.watch_rate)  # the server ends a stream after this

    before = bench.cpu()
    with bench.measuring(kube, "watch"):
        dk = watchers.measure(kube, f"{path}?watch=true&resourceVersion={rv}&timeoutSeconds={timeout}",
                              bench.auth, s.watchers, watchers.writer(kube, "POST", path, bench.auth, configmap),
                              s.watch_writes, s.watch_rate)
    ck = stats.between(before, bench.cpu())
    before = bench.cpu()
    with bench.measuring(trivial, "watch"):
        dt = watchers.measure(trivial, f"/watch?timeoutSeconds={timeout}", bench.auth, s.watchers,
                              watchers.writer(trivial, "POST", "/events", bench.auth, configmap),
                              s.watch_writes, s.watch_rate)
    ct = stats.between(before, bench.cpu())
    figures = [Figure("watch_p50", f"watch delivery to {s.watchers} watchers: p50", "ms", dk.p(50), dt.p(50)),
               Figure("watch_p99", f"watch delivery to {s.watchers} watchers: p99", "ms", dk.p(99), dt.p(99))]
    notes = [(f"{s.watchers} watch streams on ConfigMaps in one namespace; {s.watch_writes} creates at "
              f"{s.watch_rate:g}/s; latency = event received - create's response read"),
             *(f"{who}: {d.expected - d.missing:,} of {d.expected:,} deliveries, max {d.p(100):.1f} ms, "
               f"{d.early:,} before the write's response (counted as 0), write p50 {d.write_p50_ms:.1f} ms"
               for who, d in (("kubeclass", dk), ("trivial  ", dt))),
             f"kubeclass run  {ck.line()}", f"trivial run    {ct.line()}"]
    if dk.missing or dt.missing:
        notes.append("WARNING: some deliveries never arrived; the percentiles are over those that did")
    details = {who: {"streams": d.streams, "writes": d.writes, "rate": d.rate, "delivered": len(d.latencies_ms),
                     "expected": d.expected, "early": d.early, "p50_ms": d.p(50), "p99_ms": d.p(99),
                     "max_ms": d.p(100), "write_p50_ms": d.write_p50_ms}
               for who, d in (("kubeclass", dk), ("trivial", dt))}
    details["cpu_kubeclass"], details["cpu_trivial"] = ck.seconds, ct.seconds
    return Measured(figures, notes, details)


PHASES = {"get": get, "create": create, "list": list_, "watch": watch}
