"""The high-availability benchmark: ``python -m benchmarks.ha [--quick] [--json]``.

Where it sits: beside ``benchmarks.workloads``, whose report, phases and cluster handling
it reuses. It measures what issue 4 promises a class on a cluster with ``--store etcd``:

    creates     creates/s through one API server on SQLite and on a three-member etcd,
                measured in the same run with the same load (16 clients, wrk if installed)
    writes      the acknowledged-writes checker (``benchmarks.ackcheck``): writers through
                haproxy while the etcd leader is SIGKILLed; how many writes were told
                "stored" and are not (must be 0), and how long writes paused
    master      a whole master SIGKILLed while real kubectl writes through the unchanged
                kubeconfig back to back: the time from the kill until a kubectl started
                after it succeeds; the master holding the etcd leader, and another one
    controller  the controller manager's leader SIGKILLed (``benchmarks.workloads``' phase)
    worker      a worker SIGKILLed: the figures of ``benchmarks.workloads``' phase, and the
                whole timeline as ``kubeclass status --watch`` printed it meanwhile

``creates`` starts two throwaway clusters of one API server each (and the three etcd
members); the other phases share one cluster as ``kubeclass up --store etcd`` starts it
(three masters, two workers, the classroom profile). Everything runs in a scratch
directory, on free ports; every cluster is stopped at the end, whatever happens.

Targets (issue 4): creates on etcd >= 500/s; kubectl working again after a master dies
<= 2 s; controller failover <= 3 s; no acknowledged write lost. A MISS does not make the
program fail: it exits 0 when every figure was measured, 1 when one could not be.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from controlplane.cli import timeline_sources
from controlplane.cli.local import LocalCluster, Process
from controlplane.cli.timeline import Timeline

from . import ackcheck, load, phases
from .apiserver import Report
from .workloads import FULL as WORKLOAD_FULL
from .workloads import QUICK as WORKLOAD_QUICK
from .workloads import (
    Bench,
    Figure,
    Measured,
    Targets,
    attempt,
    controller_failover,
    finish,
    header,
    local_cluster,
    parse_phases,
    phase_parser,
    worker_death,
)

TARGETS: Targets = {
    "creates_etcd": (">= 500/s", lambda v: v >= 500),
    "writes_lost": ("0", lambda v: v == 0),
    "master_leader": ("<= 2 s", lambda v: v <= 2.0),
    "master_other": ("<= 2 s", lambda v: v <= 2.0),
    "failover_reconcile": ("<= 3 s", lambda v: v <= 3.0),
    "worker_replaced": ("<= 10 s", lambda v: v <= 10.0),
}
CLIENTS = 16


@dataclasses.dataclass(frozen=True)
class Sizes:
    load_seconds: int  # each create measurement (after a warm-up of a third of it)
    write_seconds: float  # the writers' run; the etcd leader dies a third of the way in
    writers: int
    master_rounds: int  # rounds of each of the two kinds of master
    workloads: Any  # benchmarks.workloads.Sizes for the reused phases


FULL = Sizes(load_seconds=10, write_seconds=15, writers=4, master_rounds=2, workloads=WORKLOAD_FULL)
QUICK = Sizes(load_seconds=3, write_seconds=8, writers=3, master_rounds=1, workloads=WORKLOAD_QUICK)


def etcd_leader(cluster: LocalCluster) -> str | None:
    return timeline_sources.etcd_leader([(n, url) for n, url, _ in cluster.topology.etcd_members()])


# -- creates: SQLite beside etcd ------------------------------------------------------------


class ApiOnly(LocalCluster):
    """apiserver-1, and with ``store="etcd"`` the three etcd members: nothing else takes CPU."""

    def _processes(self) -> list[Process]:
        return [p for p in super()._processes() if p.name == "apiserver-1" or p.name.startswith("etcd-")]

    def _wait_nodes(self, progress: Callable[[str], None]) -> None:
        return None  # no node agents run


def creates_on(store: str, sizes: Sizes, use_wrk: bool, progress: Callable[[str], None]) -> load.Result:
    scratch = tempfile.mkdtemp(prefix=f"kubeclass-ha-{store}-")
    try:
        with local_cluster(scratch, progress, ApiOnly, workers=0, store=store) as cluster:
            with open(cluster.path("tokens.csv")) as f:
                auth = {"Authorization": f"Bearer {f.readline().split(',', 1)[0]}"}
            target = load.Target("127.0.0.1", cluster.topology.api_ports()[0], cluster.path("pki", "ca.crt"))
            requests.post(f"{target.url()}/api/v1/namespaces", json={"metadata": {"name": "bench"}}, headers=auth,
                          verify=target.ca_file, timeout=30).raise_for_status()
            req = load.Request("POST", "/api/v1/namespaces/bench/configmaps",
                               {**auth, "Accept": "application/json", "Content-Type": "application/json"},
                               json.dumps(phases.configmap(f"cm-{load.NAME}")))
            progress(f"{store}: warming up, then {sizes.load_seconds} s of creates from {CLIENTS} clients")
            load.run(target, req, CLIENTS, max(1, sizes.load_seconds // 3), use_wrk)
            return load.run(target, req, CLIENTS, sizes.load_seconds, use_wrk)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def creates(sizes: Sizes, progress: Callable[[str], None]) -> Measured:
    use_wrk = load.wrk_path() is not None
    got = {store: creates_on(store, sizes, use_wrk, progress) for store in ("sqlite", "etcd")}
    s, e = got["sqlite"], got["etcd"]
    figures = [Figure("creates_sqlite", "creates/s, one API server on SQLite", "/s", s.rate),
               Figure("creates_etcd", "creates/s, one API server on three-member etcd", "/s", e.rate),
               Figure("creates_ratio", "etcd / SQLite", "x", e.rate / s.rate if s.rate else 0.0)]
    notes = [f"{CLIENTS} keep-alive clients, {sizes.load_seconds} s each, {load.generator_name(use_wrk)}; "
             "ConfigMaps POSTed to apiserver-1 itself (no load balancer in between)",
             f"SQLite: p50 {s.p50_ms:.1f} ms, p99 {s.p99_ms:.1f} ms, {s.failed} failed; "
             f"etcd: p50 {e.p50_ms:.1f} ms, p99 {e.p99_ms:.1f} ms, {e.failed} failed"]
    return Measured(figures, notes, {"sqlite": dataclasses.asdict(s), "etcd": dataclasses.asdict(e)})


# -- on one cluster with --store etcd ---------------------------------------------------------


class HaBench(Bench):
    def __init__(self, cluster: LocalCluster, sizes: Sizes, progress: Callable[[str], None], scratch: str) -> None:
        super().__init__(cluster, sizes.workloads, progress)
        self.ha = sizes
        self.scratch = scratch
        self.cert = (cluster.credentials.path("pki", "admin.crt"), cluster.credentials.path("pki", "admin.key"))
        self.ca = cluster.path("pki", "ca.crt")

    def leader(self) -> str:
        leader = etcd_leader(self.cluster)
        if leader is None:
            raise RuntimeError("etcd has no leader to kill")
        return leader


def acknowledged_writes(b: HaBench) -> Measured:
    with b.namespace("writes") as ns:
        doomed = b.leader()
        member = f"etcd-{doomed.removeprefix('master-')}"
        b.progress(f"{b.ha.writers} writers for {b.ha.write_seconds:g} s through {b.cluster.server}; "
                   f"the etcd leader ({member}) dies a third of the way in")
        try:
            ledger, killed = ackcheck.run(b.cluster.server, b.cert, b.ca, ns, writers=b.ha.writers,
                                          seconds=b.ha.write_seconds, disrupt_after=b.ha.write_seconds / 3,
                                          disrupt=lambda: b.cluster.stop([member], b.progress, kill=True))
            verdict_ = ackcheck.check(ledger, b.cluster.server, b.cert, b.ca, ns)
        finally:
            b.restore()
    started = min(w.sent for w in ledger.writes)
    before = sum(w.outcome == "acknowledged" and w.answered < killed for w in ledger.writes) / (killed - started)
    figures = [Figure("writes_rate", "acknowledged writes/s before the etcd leader died", "/s", before),
               Figure("writes_pause", "longest pause in acknowledged writes after it died", "s",
                      ledger.longest_gap(killed)),
               Figure("writes_lost", "acknowledged writes lost (the checker)", "", len(verdict_.lost))]
    notes = [verdict_.summary(), "checker verdict: " + ("OK" if verdict_.ok else f"FAILED {verdict_}")]
    reasons = collections.Counter(f"{w.outcome}, {w.kind}: {w.why.split(' (', 1)[0][:110]}"
                                  for w in ledger.writes if w.outcome != "acknowledged")
    notes += [f"  {n} x {why}" for why, n in reasons.most_common(6)]
    return Measured(figures, notes, {"verdict": dataclasses.asdict(verdict_), "killed": member})


def kubectl_binary() -> str:
    found = shutil.which("kubectl.1.33") or shutil.which("kubectl") or "/usr/lib/google-cloud-sdk/bin/kubectl.1.33"
    if not os.access(found, os.X_OK):
        raise RuntimeError("kubectl is not installed: the master phase times the real kubectl")
    return found


class KubectlProbe:
    """Real kubectl writing back to back (``annotate --overwrite``, a PATCH) through the
    user's kubeconfig; each run's (start, end, succeeded, stderr)."""

    def __init__(self, b: HaBench, ns: str) -> None:
        home = os.path.join(b.scratch, "kubectl-home")
        os.makedirs(home, exist_ok=True)
        self.argv = [kubectl_binary(), "--kubeconfig", b.cluster.admin_kubeconfig, "-n", ns, "annotate",
                     "configmap", "probe", "--overwrite"]
        self.env = {**os.environ, "HOME": home}
        self.runs: list[tuple[float, float, bool, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            start = time.monotonic()
            try:
                r = subprocess.run([*self.argv, f"n={n}"], capture_output=True, text=True, env=self.env, timeout=60)
                self.runs.append((start, time.monotonic(), r.returncode == 0, r.stderr.strip()[-200:]))
            except subprocess.TimeoutExpired:
                self.runs.append((start, time.monotonic(), False, "kubectl did not finish within 60 s"))

    def __enter__(self) -> KubectlProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=90)

    def after(self, killed: float) -> tuple[float, int]:
        """(seconds from the kill until a kubectl started after it succeeded, failed runs that ended after it)."""
        back = min((end for start, end, ok, _ in self.runs if ok and start >= killed), default=float("nan"))
        return back - killed, sum(1 for _, end, ok, _ in self.runs if not ok and end >= killed)


def master_death(b: HaBench) -> Measured:
    times: dict[str, list[float]] = {"leader": [], "other": []}
    rounds = []
    with b.namespace("master") as ns:
        b.api.create(f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "probe"}})
        for _ in range(b.ha.master_rounds):
            for kind in ("leader", "other"):
                leader = b.leader()
                doomed = leader if kind == "leader" else next(
                    f"master-{i}" for i in range(1, b.cluster.topology.masters + 1) if f"master-{i}" != leader)
                try:
                    with KubectlProbe(b, ns) as probe:
                        time.sleep(2)
                        b.progress(f"kubectl annotating back to back; killing {doomed} "
                                   f"({'the etcd leader' if kind == 'leader' else 'an etcd follower'})")
                        killed = time.monotonic()
                        b.cluster.stop([doomed], b.progress, kill=True)
                        time.sleep(6)
                finally:
                    b.restore()
                back, failed = probe.after(killed)
                times[kind].append(back)
                errors = sorted({err.splitlines()[-1][:120] for _, end, ok, err in probe.runs if not ok and end >= killed})
                rounds.append(f"{doomed} ({kind}): kubectl worked again after {back:.2f} s, {failed} failed "
                              f"run(s){': ' + '; '.join(errors) if errors else ''}")
                b.progress(rounds[-1])
                time.sleep(3)  # the restarted master's start-up would otherwise share the CPU
    figures = [Figure("master_leader", "kubectl works again, etcd leader's master killed (median)", "s",
                      statistics.median(times["leader"])),
               Figure("master_other", "kubectl works again, another master killed (median)", "s",
                      statistics.median(times["other"]))]
    notes = ["clock: SIGKILL of every process of the master -> the first `kubectl annotate` started after "
             "it returns success (kubectl runs back to back, through haproxy)", *rounds]
    return Measured(figures, notes, times)


def worker_timeline(b: HaBench) -> Measured:
    """workloads' worker phase, with ``kubeclass status --watch``'s timeline recorded meanwhile."""
    timeline, lines, done = Timeline(b.cluster), [], threading.Event()
    timeline.summary()
    timeline.start()
    watcher = threading.Thread(target=timeline.run, args=(lines.append,), kwargs={"until": done}, daemon=True)
    watcher.start()

    def before_kill() -> None:
        timeline.new_incident()  # the kill is +0.00 s
        lines.append("-- the kill --")
    try:
        measured = worker_death(b, before_kill)
    finally:
        done.set()
        watcher.join(timeout=10)
        timeline.stop()
    kill = lines.index("-- the kill --") if "-- the kill --" in lines else 0
    end = next((i for i, line in enumerate(lines) if "worker-2 started" in line), len(lines))
    shown = [line for line in lines[kill + 1:end] if "kube-system/" not in line]
    measured.notes += ["timeline, as `kubeclass status --watch` printed it:", *(f"  {line}" for line in shown)]
    measured.details["timeline"] = shown
    return measured


CLUSTER_PHASES: dict[str, Callable[[HaBench], Measured]] = {
    "writes": acknowledged_writes, "master": master_death, "controller": controller_failover,
    "worker": worker_timeline}
PHASES = ["creates", *CLUSTER_PHASES]


# -- running them ---------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    return parse_phases(phase_parser("python -m benchmarks.ha", __doc__.split("\n\n")[0], PHASES), argv, PHASES)


def run(args: argparse.Namespace, report: Report) -> tuple[dict[str, Measured], dict[str, str]]:
    sizes = QUICK if args.quick else FULL
    header(report, "HA", args.quick)
    results: dict[str, Measured] = {}
    errors: dict[str, str] = {}
    if "creates" in args.phases:
        attempt("creates", lambda: creates(sizes, report.progress), report, results, errors)
    wanted = [name for name in CLUSTER_PHASES if name in args.phases]
    if not wanted:
        return results, errors
    scratch = tempfile.mkdtemp(prefix="kubeclass-ha-")
    try:
        report.line()
        report.line(f"== cluster == (scratch directory {scratch})")
        with local_cluster(scratch, report.progress, store="etcd") as cluster:
            bench = HaBench(cluster, sizes, report.progress, scratch)
            for name in wanted:
                attempt(name, lambda name=name: CLUSTER_PHASES[name](bench), report, results, errors)
    except Exception as e:  # noqa: BLE001 - the cluster did not start or stop: the figures so far still count
        errors["cluster"] = f"{type(e).__name__}: {e}"
        report.line(f"  FAILED: {errors['cluster']}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return results, errors


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind like Ctrl-C: the clusters are stopped
    report = Report(sys.stderr if args.json else sys.stdout)
    results, errors = run(args, report)
    return finish(report, args, PHASES, results, errors, {}, TARGETS)


if __name__ == "__main__":
    sys.exit(main())
