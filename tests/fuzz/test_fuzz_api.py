"""Fuzzing the real API server: no request a user can send gets a 5xx or a body that is not a Status.

Over HTTPS, through one keep-alive ``requests.Session``, against the session's real
cluster (``kubeclass up``: gunicorn, TLS, SQLite), hypothesis generates at least
10,000 requests (``KUBECLASS_FUZZ_REQUESTS``; ``KUBECLASS_FUZZ_SEED`` picks the run):

* paths from discovery, namespaced and cluster-scoped, collections, objects and
  subresources (status, scale, binding, eviction, log, finalize), and mangled ones;
* every method, odd ones included; query strings with valid and broken selectors,
  limits, continue tokens, resource versions, watch (one second long), dry run, field
  managers, validation, propagation and grace periods;
* Content-Type and Accept of every kind the server speaks, and some it does not;
* bodies: valid objects of every kind with a few things broken, the four patch types
  with bad operations and directives, random JSON, malformed bytes, a few huge bodies.

Watches run in a small thread pool beside the main loop (each lasts a second). Every
500 requests the seeded objects are put back, and a dozen huge bodies are spread over
the run. The test then asserts that no answer was a 5xx, that every error was a
``metav1.Status`` with its code, and prints the summary in pytest's terminal report.

To replay one failure: the report gives a curl command (``TOKEN`` is the first field of
``tokens.csv`` in the cluster's directory) and the full request in ``failures.jsonl``.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st

from .bodies import huge_bodies
from .client import (
    SUMMARY,
    Failure,
    FuzzRequest,
    ServerLog,
    Tally,
    curl,
    problem,
    raised_at,
    send,
    show_body,
    watch_problem,
)
from .generator import fuzz_requests
from .world import build_world, cleanup

pytestmark = pytest.mark.slow

REQUESTS = int(os.environ.get("KUBECLASS_FUZZ_REQUESTS", "10000"))
SEED = int(os.environ.get("KUBECLASS_FUZZ_SEED", "20240501"))
# KUBECLASS_FUZZ_TRACE=<file> appends every request and answer there, one JSON line each;
# KUBECLASS_FUZZ_REPORT_DIR=<dir> keeps failures.jsonl somewhere pytest will not clean up.
REPORT_DIR = os.environ.get("KUBECLASS_FUZZ_REPORT_DIR", "")
RESEED_EVERY = 500
WATCH_WORKERS = 4


class Runner:
    """Sends each request, judges it, and runs the periodic lanes (re-seeding, huge bodies)."""

    def __init__(self, server: str, http: requests.Session, new_session: Callable[[], requests.Session],
                 tally: Tally, log: ServerLog, reseed: list[FuzzRequest], huge: list[FuzzRequest]) -> None:
        self.server, self.http, self.tally, self.log = server, http, tally, log
        self.reseed, self.huge = reseed, huge
        self.generated = 0
        self.huge_every = max(REQUESTS // (len(huge) + 1), 1)
        self.pool = concurrent.futures.ThreadPoolExecutor(WATCH_WORKERS, thread_name_prefix="fuzz-watch")
        self.slots = threading.BoundedSemaphore(WATCH_WORKERS * 3)  # the main loop waits beyond this
        self.local = threading.local()
        self.new_session = new_session

    def submit(self, req: FuzzRequest) -> None:
        self.generated += 1
        if req.is_watch:
            self.slots.acquire()
            self.pool.submit(self._watch, req)
        else:
            self.judge(self.http, req)
        if self.generated % RESEED_EVERY == 0:
            for r in self.reseed:
                self.judge(self.http, r)
        if self.generated % self.huge_every == 0 and self.huge:
            self.judge(self.http, self.huge.pop())

    def judge(self, http: requests.Session, req: FuzzRequest, stream: bool = False) -> None:
        out = send(http, self.server, req, stream)
        what = problem(req, out)
        if not what and stream and out.status == 200 and out.content_type.startswith("application/json"):
            what = watch_problem(out.body)  # (not /healthz?watch=true, which answers "ok")
        traceback = self.log.new_tracebacks() if what else ""
        self.tally.record(req, out, what, traceback)

    def _watch(self, req: FuzzRequest) -> None:
        try:
            if not hasattr(self.local, "http"):
                self.local.http = self.new_session()
            self.judge(self.local.http, req, stream=True)
        finally:
            self.slots.release()

    def finish(self) -> None:
        for req in reversed(self.huge):
            self.judge(self.http, req)
        self.huge = []
        self.pool.shutdown(wait=True)


def generate(runner: Runner, strategy: st.SearchStrategy[FuzzRequest], count: int, run_seed: int) -> None:
    @seed(run_seed)
    @settings(max_examples=count, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet)
    @given(strategy)
    def fuzz(req: FuzzRequest) -> None:
        runner.submit(req)  # never raises: failures are collected, so one run reports them all

    fuzz()


def report(failures: list[Failure], server: str, ca: str, out_dir: Path) -> list[str]:
    """One paragraph per distinct failure, with an exact reproduction; all of them in failures.jsonl."""
    lines = []
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "failures.jsonl", "w") as jsonl:
        for i, f in enumerate(sorted(failures, key=lambda f: -f.count), 1):
            body_file = ""
            if f.req.body is not None and (len(f.req.body) > 300 or not f.req.body.isascii()):
                body_file = str(out_dir / f"body-{i}.bin")
                Path(body_file).write_bytes(f.req.body)
            body = {"body_file": body_file} if body_file else {
                "body_base64": base64.b64encode(f.req.body or b"").decode()}
            repro = curl(f.req, server, ca, body_file)
            jsonl.write(json.dumps({
                "what": f.what, "count": f.count, "method": f.req.method, "target": f.req.target,
                "headers": f.req.headers, **body, "status": f.out.status,
                "response": f.out.body[:4000].decode("utf-8", "replace"), "traceback": f.traceback,
                "curl": repro}) + "\n")
            lines += [f"[{i}] {f.what} (x{f.count}) -- {f.req.note}",
                      f"    {f.req.method} {f.req.target[:400]}",
                      f"    headers: {f.req.headers}", f"    body: {show_body(f.req.body, 400)}",
                      f"    response: {f.out.status} "
                      + (show_body(f.out.body, 300) if f.out.status else f.out.error)]
            if f.traceback:
                lines += ["    server log: " + raised_at(f.traceback)]
            lines.append("    repro: " + (repro if len(repro) < 1500 else repro[:1500] + " ... (in the file)"))
    return lines + [f"all failures, in full: {out_dir / 'failures.jsonl'}"]


def test_no_request_gets_a_5xx_or_a_body_that_is_not_a_status(cluster, request, tmp_path) -> None:
    def new_session() -> requests.Session:
        s = requests.Session()
        s.trust_env = False  # REQUESTS_CA_BUNDLE would override the cluster's CA
        s.verify = cluster.ca
        s.headers["Authorization"] = f"Bearer {cluster.token}"
        return s

    http = new_session()
    world, reseed = build_world(http, cluster.server)
    huge = [FuzzRequest(m, p, [], {"Content-Type": ct}, body, f"{m} {what}")
            for m, p, ct, body, what in huge_bodies(world)]
    tally = Tally(os.environ.get("KUBECLASS_FUZZ_TRACE", ""))
    runner = Runner(cluster.server, http, new_session, tally,
                    ServerLog(cluster.local.path("logs", "apiserver-1.log")), reseed, huge)
    strategy = fuzz_requests(world, cluster.token)
    try:
        run_seed = SEED
        while runner.generated < REQUESTS:
            generate(runner, strategy, REQUESTS - runner.generated, run_seed)
            run_seed += 1  # hypothesis stopped early (it rarely does): carry on with a new seed
        runner.finish()
    finally:
        cleanup(http, cluster.server, world)

    lines = tally.summary(SEED)
    out_dir = Path(REPORT_DIR) if REPORT_DIR else tmp_path / "fuzz"
    details = report(tally.failures, cluster.server, cluster.ca, out_dir) if tally.failures else []
    request.config.stash[SUMMARY] = lines + details[-1:]
    assert tally.sent >= REQUESTS, f"only {tally.sent} requests were sent"
    assert not tally.failures, "\n".join(lines + ["", *details])
