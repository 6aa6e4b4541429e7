"""Watch delivery latency: many open watch streams, writes at a steady rate, and when each event arrived.

Where it sits: the watch figure of ``benchmarks.apiserver``, run once against a
kubeclass watch and once against the trivial app's stream.

How a delivery is timed. The writer records, for each object it writes, the moment
it had read the write's response. Every stream records the moment each event's bytes
arrived. The delivery latency of one event to one stream is the second minus the
first; both are ``time.monotonic()``, one clock for every process on the machine.
An event may reach a stream before the writer has read its response: that delivery
counts as 0 ms (the figure is "how long after the write was acknowledged").

The streams are read without threads: each client process holds a share of them,
non-blocking, in one selector loop, and stamps each read as soon as the loop wakes.
Threads would each wait up to the interpreter's switch interval (5 ms) for the lock
when an event wakes them all at once, and that wait would show up as server latency.

Events are matched to writes by object name: measured writes are named ``w-<n>``;
before them the writer repeats ``warm-<n>`` writes until every stream has delivered
one, so the measurement starts with every stream open and flowing.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import selectors
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

from .load import Target
from .stats import percentile

STREAMS_PER_PROCESS = 25


class Stream:
    """One watch request over TLS, read incrementally: status line, headers, then chunks of lines."""

    def __init__(self, target: Target, path: str, headers: dict[str, str]) -> None:
        ctx = ssl.create_default_context(cafile=target.ca_file)
        raw = socket.create_connection((target.host, target.port), timeout=30)
        self.sock = ctx.wrap_socket(raw, server_hostname=target.host)
        lines = [f"GET {path} HTTP/1.1", f"Host: {target.host}:{target.port}", "Accept: application/json",
                 *(f"{k}: {v}" for k, v in headers.items()), "", ""]
        self.sock.sendall("\r\n".join(lines).encode())
        self.sock.setblocking(False)
        self._buf = b""
        self._body = b""
        self._headers_done = False
        self._chunked = False
        self.ended = False

    def read_lines(self) -> list[bytes]:
        """Whatever complete lines have arrived; sets ``ended`` when the server closed the stream."""
        while True:
            try:
                data = self.sock.recv(65536)
            except (ssl.SSLWantReadError, BlockingIOError):
                break
            except OSError:
                self.ended = True
                break
            if not data:
                self.ended = True
                break
            self._buf += data
        self._parse()
        *lines, self._body = self._body.split(b"\n")
        return [ln for ln in lines if ln.strip()]

    def _parse(self) -> None:
        if not self._headers_done:
            head, sep, rest = self._buf.partition(b"\r\n\r\n")
            if not sep:
                return
            status = head.split(b"\r\n", 1)[0]
            if b" 200 " not in status + b" ":
                raise RuntimeError(f"watch answered {status.decode(errors='replace')}: {rest[:300]!r}")
            self._chunked = b"transfer-encoding: chunked" in head.lower()
            self._headers_done = True
            self._buf = rest
        if not self._chunked:
            self._body, self._buf = self._body + self._buf, b""
            return
        while True:
            size_line, sep, rest = self._buf.partition(b"\r\n")
            if not sep:
                return
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                self.ended = True
                return
            if len(rest) < size + 2:
                return
            self._body += rest[:size]
            self._buf = rest[size + 2:]

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _read_streams(target: Target, paths: list[str], headers: dict[str, str], expected: int,
                  deadline: float, ready: Any, results: Any) -> None:
    """One client process: open the streams, then stamp every event until all expected ones came."""
    try:
        results.put(("ok", _stamp_events(target, paths, headers, expected, deadline, ready)))
    except Exception as e:  # noqa: BLE001 - reported by the parent, which would otherwise wait it out
        results.put(("error", f"{type(e).__name__}: {e}"))


def _stamp_events(target: Target, paths: list[str], headers: dict[str, str], expected: int,
                  deadline: float, ready: Any) -> list[tuple[int, str, float]]:
    streams = [Stream(target, path, headers) for path in paths]
    sel = selectors.DefaultSelector()
    for i, s in enumerate(streams):
        sel.register(s.sock, selectors.EVENT_READ, i)
    warmed: set[int] = set()
    arrivals: list[tuple[int, str, float]] = []  # (stream, name, when)
    counts = [0] * len(streams)
    open_streams = len(streams)
    while open_streams and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            i = key.data
            when = time.monotonic()
            for line in streams[i].read_lines():
                event = json.loads(line)
                name = event.get("object", {}).get("metadata", {}).get("name", "")
                if name.startswith("warm-") and i not in warmed:
                    warmed.add(i)
                    with ready.get_lock():
                        ready.value += 1
                elif name.startswith("w-"):
                    arrivals.append((i, name, when))
                    counts[i] += 1
            if streams[i].ended or counts[i] >= expected:
                sel.unregister(streams[i].sock)
                streams[i].close()
                open_streams -= 1
    for s in streams:
        s.close()
    return arrivals


@dataclasses.dataclass
class Deliveries:
    streams: int
    writes: int
    rate: float  # writes per second asked for
    latencies_ms: list[float]
    early: int  # deliveries that arrived before the write's response (counted as 0 ms)
    write_p50_ms: float

    @property
    def expected(self) -> int:
        return self.streams * self.writes

    @property
    def missing(self) -> int:
        return self.expected - len(self.latencies_ms)

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


def measure(target: Target, path: str, headers: dict[str, str], streams: int,
            write: Callable[[str], None], writes: int, rate: float, settle: float = 5.0) -> Deliveries:
    """Open ``streams`` watches on ``path``, then ``write(name)`` ``writes`` times at ``rate`` per second.

    ``write`` must return once the write's response has been read.
    """
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Value("i", 0)
    results = ctx.Queue()
    nproc = max(1, -(-streams // STREAMS_PER_PROCESS))
    deadline = time.monotonic() + 60 + writes / rate + settle
    shares = [len(range(i, streams, nproc)) for i in range(nproc)]  # streams per client process
    procs = [ctx.Process(target=_read_streams, args=(target, [path] * n, headers, writes, deadline, ready, results))
             for n in shares]
    for p in procs:
        p.start()
    try:
        _warm_up(write, ready, streams, procs, results)
        answered: dict[str, float] = {}
        write_times: list[float] = []
        start = time.monotonic()
        for n in range(writes):
            time.sleep(max(0.0, start + n / rate - time.monotonic()))
            name = f"w-{n:06d}"
            began = time.monotonic()
            write(name)
            answered[name] = time.monotonic()
            write_times.append(answered[name] - began)
        arrivals = []
        for _ in procs:
            status, got = results.get(timeout=max(1.0, deadline - time.monotonic()) + 5)
            if status != "ok":
                raise RuntimeError(f"a watch client failed: {got}")
            arrivals.extend(got)
    finally:
        for p in procs:
            p.join(timeout=settle + 5)
            if p.is_alive():
                p.kill()
    latencies, early = [], 0
    for _stream, name, when in arrivals:
        delay = when - answered[name]
        if delay < 0:
            early += 1
        latencies.append(max(0.0, delay) * 1000)
    return Deliveries(streams, writes, rate, latencies, early, percentile(write_times, 50) * 1000)


def _warm_up(write: Callable[[str], None], ready: Any, streams: int, procs: list[Any], results: Any,
             limit: float = 60.0) -> None:
    """Write until every stream has delivered a warm-up event (so every watch is open)."""
    deadline = time.monotonic() + limit
    n = 0
    while ready.value < streams:
        if not all(p.is_alive() for p in procs):
            _, got = results.get(timeout=5)
            raise RuntimeError(f"a watch client ended early: {got}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {ready.value} of {streams} watch streams delivered an event "
                               f"within {limit:.0f}s")
        write(f"warm-{n:06d}")
        n += 1
        time.sleep(0.2)


def writer(target: Target, method: str, path: str, headers: dict[str, str],
           body: Callable[[str], dict[str, Any]]) -> Callable[[str], None]:
    """A ``write(name)`` that sends ``body(name)`` on one keep-alive connection and checks the status."""
    conn = target.connect()
    hdrs = {**headers, "Content-Type": "application/json"}

    def write(name: str) -> None:
        conn.request(method, path, body=json.dumps(body(name)), headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        if resp.status >= 300:
            raise RuntimeError(f"{method} {path} ({name}) answered {resp.status}: {data[:300]!r}")

    return write
