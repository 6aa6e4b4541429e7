"""Closed-loop HTTP load: N keep-alive clients, each sending its next request when the last is answered.

Where it sits: ``benchmarks.apiserver`` calls :func:`run` for its GET and create
figures (same request, same clients, once against kubeclass and once against the
trivial app) and :func:`create_many` to fill the store before a LIST.

Two generators give the same :class:`Result`:

* ``wrk`` (Debian package ``wrk``) when it is installed: written in C, it leaves
  the machine's cores to the server;
* a Python one otherwise: ``http.client`` in a few processes (so the clients are not
  serialised by one interpreter lock), each running some of the clients as threads.
  It needs a core of its own to keep up, so it understates what the server manages;
  the trivial baseline is measured with it too, which keeps the ratios fair.

A request body may contain :data:`NAME` once; every request replaces it with a name
no other request of the run uses (for creates).
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import multiprocessing
import os
import secrets
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from . import stats
from .stats import percentile

NAME = "@NAME@"
PROCESSES = 4  # the Python generator's processes; clients are spread over them


@dataclasses.dataclass(frozen=True)
class Target:
    host: str
    port: int
    ca_file: str

    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def connect(self, timeout: float = 30.0) -> http.client.HTTPSConnection:
        ctx = ssl.create_default_context(cafile=self.ca_file)
        conn = http.client.HTTPSConnection(self.host, self.port, context=ctx, timeout=timeout)
        conn.connect()
        return conn


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: str = ""

    def render(self, unique: str) -> bytes | None:
        if not self.body:
            return None
        return self.body.replace(NAME, unique).encode()


@dataclasses.dataclass
class Result:
    generator: str
    clients: int
    duration: float  # seconds
    requests: int  # answered within the duration
    failed: int  # transport errors, timeouts and statuses >= 400
    p50_ms: float
    p99_ms: float
    cpu: stats.CpuUse | None = None  # who used the CPU during the run, when a sampler was given

    @property
    def rate(self) -> float:
        return self.requests / self.duration if self.duration else 0.0


def wrk_path() -> str | None:
    return shutil.which("wrk")


def generator_name(use_wrk: bool) -> str:
    return "wrk" if use_wrk else f"python (http.client, {PROCESSES} processes)"


Sampler = Callable[[], stats.CpuSample]


def run(target: Target, req: Request, clients: int, seconds: int, use_wrk: bool,
        sampler: Sampler | None = None) -> Result:
    """``clients`` connections sending ``req`` back to back for ``seconds`` seconds.

    With a ``sampler``, the result's ``cpu`` tells who used the CPU during the run.
    """
    prefix = "r" + secrets.token_hex(3)  # names unique across runs too (a warm-up, then the run)
    if use_wrk:
        return _run_wrk(target, req, clients, seconds, prefix, sampler)
    return _run_python(target, req, clients, seconds, prefix, sampler)


# -- wrk -------------------------------------------------------------------------------

def _lua_string(text: str) -> str:
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def _wrk_script(req: Request, prefix: str) -> str:
    before, marker, after = req.body.partition(NAME)
    headers = "".join(f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}\n" for k, v in req.headers.items())
    if marker:
        request = (f"function request()\n  n = n + 1\n"
                   f"  return wrk.format(nil, nil, nil, {_lua_string(before + prefix + '-w')} .. id .. '-' .. n .. "
                   f"{_lua_string(after)})\nend\n")
    else:
        request = f"wrk.body = {_lua_string(req.body)}\n" if req.body else ""
    return (
        f"wrk.method = {_lua_string(req.method)}\nwrk.path = {_lua_string(req.path)}\n{headers}"
        "local threads = 0\n"
        "function setup(thread)\n  threads = threads + 1\n  thread:set('id', threads)\nend\n"
        "function init(args)\n  n = 0\nend\n"
        f"{request}"
        "function done(summary, latency, requests)\n"
        "  local e = summary.errors\n"
        "  io.write(string.format('WRKRESULT {\"requests\":%d,\"duration_us\":%d,\"failed\":%d,"
        "\"p50_us\":%d,\"p99_us\":%d}\\n', summary.requests, summary.duration,"
        " e.connect + e.read + e.write + e.status + e.timeout,"
        " latency:percentile(50), latency:percentile(99)))\n"
        "end\n"
    )


def _run_wrk(target: Target, req: Request, clients: int, seconds: int, prefix: str,
             sampler: Sampler | None) -> Result:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_wrk_script(req, prefix))
        script = f.name
    try:
        threads = min(2, clients)
        before = sampler() if sampler else None  # wrk starts in milliseconds: its run is the window
        out = subprocess.run(
            [wrk_path() or "wrk", f"-t{threads}", f"-c{clients}", f"-d{seconds}s", "--timeout", "30s",
             "-s", script, target.url()],
            check=False, capture_output=True, text=True, timeout=seconds + 60)
        cpu = stats.between(before, sampler()) if sampler and before else None
    finally:
        os.unlink(script)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRKRESULT ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    data = json.loads(line.split(" ", 1)[1])
    return Result("wrk", clients, data["duration_us"] / 1e6, data["requests"], data["failed"],
                  data["p50_us"] / 1000, data["p99_us"] / 1000, cpu)


# -- Python ----------------------------------------------------------------------------

def _client(target: Target, req: Request, label: str, start_at: float, end_at: float,
            out: list[Any]) -> None:
    latencies: list[float] = []
    failed = 0
    conn = target.connect()
    n = 0
    time.sleep(max(0.0, start_at - time.monotonic()))
    while True:
        began = time.monotonic()
        if began >= end_at:
            break
        n += 1
        try:
            conn.request(req.method, req.path, body=req.render(f"{label}-{n}"), headers=req.headers)
            resp = conn.getresponse()
            resp.read()
            ok = resp.status < 400
        except (OSError, http.client.HTTPException):
            ok = False
            conn.close()
            conn = target.connect()
        done = time.monotonic()
        if done > end_at:
            break  # answered after the window closed: not counted, as wrk does
        if ok:
            latencies.append(done - began)
        else:
            failed += 1
    conn.close()
    out.append((latencies, failed))


def _process(target: Target, req: Request, labels: list[str], start_at: float, end_at: float,
             results: Any) -> None:
    out: list[Any] = []
    threads = [threading.Thread(target=_client, args=(target, req, label, start_at, end_at, out))
               for label in labels]
    for t in threads:
        t.start()
    time.sleep(max(0.0, start_at - time.monotonic()))
    cpu = time.process_time()  # this process's CPU from the window's start: start-up is not load
    for t in threads:
        t.join()
    results.put((out, time.process_time() - cpu))


def _run_python(target: Target, req: Request, clients: int, seconds: int, prefix: str,
                sampler: Sampler | None) -> Result:
    ctx = multiprocessing.get_context("spawn")
    results = ctx.SimpleQueue()
    labels = [f"{prefix}-p{i}" for i in range(clients)]
    nproc = min(PROCESSES, clients)
    start_at = time.monotonic() + 2.0  # time for the processes to start and connect
    end_at = start_at + seconds
    procs = [ctx.Process(target=_process, args=(target, req, labels[i::nproc], start_at, end_at, results))
             for i in range(nproc)]
    for p in procs:
        p.start()
    cpu = None
    if sampler:
        time.sleep(max(0.0, start_at - time.monotonic()))
        before = sampler()
        time.sleep(max(0.0, end_at - time.monotonic()))
        cpu = stats.between(before, sampler())
    latencies: list[float] = []
    failed = 0
    client_cpu = 0.0
    for _ in procs:
        out, used = results.get()
        client_cpu += used
        for lat, bad in out:
            latencies.extend(lat)
            failed += bad
    for p in procs:
        p.join()
    if cpu:
        # The client processes have not been waited for when the window closes: take their own count.
        cpu.seconds["other processes"] = max(0.0, cpu.seconds["other processes"] - client_cpu)
        cpu.seconds["benchmark clients"] += client_cpu
    return Result(generator_name(False), clients, float(seconds), len(latencies), failed,
                  percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000, cpu)


# -- filling the store -----------------------------------------------------------------

def _create_slice(target: Target, req: Request, names: list[str], start_at: float, results: Any) -> None:
    failures: list[str] = []
    lock = threading.Lock()

    def worker(mine: list[str]) -> None:
        try:
            conn = target.connect()
            time.sleep(max(0.0, start_at - time.monotonic()))
            for name in mine:
                conn.request(req.method, req.path, body=req.render(name), headers=req.headers)
                resp = conn.getresponse()
                body = resp.read()
                if resp.status >= 400:
                    with lock:
                        failures.append(f"{name}: {resp.status} {body[:200]!r}")
            conn.close()
        except (OSError, http.client.HTTPException) as e:
            with lock:
                failures.append(f"{mine[0] if mine else '-'}...: {e!r}")

    per_process = 4
    threads = [threading.Thread(target=worker, args=(names[i::per_process],)) for i in range(per_process)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put((failures, time.monotonic()))


def create_many(target: Target, req: Request, names: list[str], clients: int) -> float:
    """Send ``req`` once per name from ``clients`` connections; the seconds it took.

    Raises RuntimeError if any request failed: what follows needs every object.
    """
    ctx = multiprocessing.get_context("spawn")
    results = ctx.SimpleQueue()
    nproc = max(1, clients // 4)  # four clients (threads) in each process
    start_at = time.monotonic() + 2.0  # time for the processes to start and connect
    procs = [ctx.Process(target=_create_slice, args=(target, req, names[i::nproc], start_at, results))
             for i in range(nproc)]
    for p in procs:
        p.start()
    failures: list[str] = []
    finished = start_at
    for _ in procs:
        failed, at = results.get()
        failures.extend(failed)
        finished = max(finished, at)
    for p in procs:
        p.join()
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(names)} creates failed, e.g. {failures[0]}")
    return finished - start_at
