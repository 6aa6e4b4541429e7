"""The workloads benchmark: ``python -m benchmarks.workloads [--quick] [--json]``.

Where it sits: outside the product and the tests, beside the API server benchmark
(``benchmarks.apiserver``, which ``./dev bench`` runs). It measures what a user of a
whole cluster waits for, through the API as ``kubectl get -w`` would see it
(``benchmarks.workloads_api`` times watch events as they arrive):

    scheduler    pods/s the scheduler binds with 100 and with 1,000 simulated nodes
                 (``controlplane.scheduler.bench`` against a throwaway API server)
    startup      100 bare hello pods created at once: each pod's time from its create
                 returning to the watch showing it Running and Ready; p50, p99, max
    failover     the controller manager's leader SIGKILLed: time until another master
                 holds its Lease, and until a Deployment scaled just after the kill
                 has its new pod; three rounds, the median
    worker       worker-2 SIGKILLed under a Deployment spread over both workers: time
                 until its Node is NotReady, and until every replica is Running and
                 Ready on the other worker

Every phase but ``scheduler`` runs on a local cluster this program starts as ``kubeclass
up`` does (three masters, two workers, the classroom profile) in a scratch directory,
on a free port, with KUBECONFIG pointed into the scratch directory; it stops it at the
end, whatever happens. The scheduler phase runs first, before that cluster exists, so
that the idle cluster takes no CPU from it.

Targets (issue 3): pod startup p99 <= 1 s; >= 300 pods/s with 100 nodes and >= 100 pods/s
with 1,000; controller failover <= 3 s; a dead worker's pods Running elsewhere <= 10 s.
A MISS does not make the program fail: it exits 0 when every figure was measured, 1
when one could not be. ``--quick`` uses small sizes (the smoke test's mode); ``--json``
writes the report to stderr and a JSON document with every figure to stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import json
import os
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from controlplane.cli.local import LocalCluster
from controlplane.scheduler.bench import run_benchmark

from . import stats
from .apiserver import Report, machine
from .servers import free_port
from .stats import percentile
from .workloads_api import (
    Api,
    Holders,
    Obj,
    Pods,
    Progress,
    Watch,
    cpu_line,
    cpu_sample,
    hello_deployment,
    hello_pod,
    node_ready,
    parallel,
    wait_until,
)
from .workloads_api import is_ready as ready_pod

PACED_RATE = 5.0  # pods/s: slow enough that two cores keep up, as upstream's latency pods are created
LEASE = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"


@dataclasses.dataclass(frozen=True)
class Sizes:
    pods: int                        # startup: pods created at once
    scheduler_pods: int
    scheduler_nodes: tuple[int, int]
    failover_rounds: int
    replicas: int                    # worker: the Deployment spread over both workers


FULL = Sizes(pods=100, scheduler_pods=1000, scheduler_nodes=(100, 1000), failover_rounds=3, replicas=6)
QUICK = Sizes(pods=10, scheduler_pods=50, scheduler_nodes=(10, 20), failover_rounds=1, replicas=4)


@dataclasses.dataclass
class Figure:
    key: str
    label: str
    unit: str  # "s", "/s", "x" (a ratio) or "" (a count)
    value: float


@dataclasses.dataclass
class Measured:
    figures: list[Figure]
    notes: list[str]
    details: dict[str, Any]


TARGETS: dict[str, tuple[str, Callable[[float], bool]]] = {
    "startup_p99": ("<= 1 s", lambda v: v <= 1.0),
    "startup_paced_p99": ("<= 1 s", lambda v: v <= 1.0),
    "scheduler_small": (">= 300/s", lambda v: v >= 300),
    "scheduler_large": (">= 100/s", lambda v: v >= 100),
    "failover_reconcile": ("<= 3 s", lambda v: v <= 3.0),
    "worker_replaced": ("<= 10 s", lambda v: v <= 10.0),
}


def fmt(value: float, unit: str) -> str:
    if unit == "/s":
        return f"{value:,.0f}/s"
    if unit == " MB":
        return f"{value:.1f} MB"
    return f"{value:.2f} s" if unit == "s" else f"{value:,.2f}{unit}" if unit == "x" else f"{value:,.0f}"


def ms(values: list[float]) -> str:
    return f"p50 {percentile(values, 50) * 1000:.0f} ms, p99 {percentile(values, 99) * 1000:.0f} ms"


class Bench:
    """What the cluster phases need: the cluster, its admin API, the sizes, a progress line."""

    def __init__(self, cluster: LocalCluster, sizes: Sizes, progress: Progress) -> None:
        self.cluster, self.sizes, self.progress = cluster, sizes, progress
        cred = cluster.credentials
        self.api = Api(cluster.server, (cred.path("pki", "admin.crt"), cred.path("pki", "admin.key")),
                       cluster.path("pki", "ca.crt"))

    @contextmanager
    def namespace(self, prefix: str) -> Iterator[str]:
        """A fresh namespace with its default ServiceAccount; deleted afterwards, and waited for."""
        name = f"bench-{prefix}-{secrets.token_hex(3)}"
        self.api.create("/api/v1/namespaces", {"metadata": {"name": name}})
        try:
            wait_until("the default ServiceAccount", lambda: bool(self.api.call(
                "GET", f"/api/v1/namespaces/{name}/serviceaccounts/default", ok_missing=True)), 30, self.progress)
            yield name
        finally:
            self.progress(f"deleting namespace {name}")
            self.api.call("DELETE", f"/api/v1/namespaces/{name}", ok_missing=True)
            try:
                wait_until(f"namespace {name} to be gone", lambda: not self.api.call(
                    "GET", f"/api/v1/namespaces/{name}", ok_missing=True), 120, self.progress)
            except TimeoutError as e:
                self.progress(f"warning: {e}")  # later phases use namespaces of their own

    def deploy(self, ns: str, name: str, replicas: int, pods: Pods) -> None:
        self.api.create(f"/apis/apps/v1/namespaces/{ns}/deployments", hello_deployment(name, replicas))
        wait_until(f"{replicas} ready replicas of {name}", lambda: len(pods.matching(ready_pod)) >= replicas,
                   120, self.progress, lambda: f"({len(pods.matching(ready_pod))} ready)")

    def restore(self) -> None:
        """``kubeclass up``: start again what was killed, wait for every node to be Ready."""
        self.cluster.up(quiet(self.progress))


def quiet(progress: Progress) -> Progress:
    """``up`` reports each wait every half second; pass on one such line in ten."""
    seen = {"n": 0}

    def say(message: str) -> None:
        if message.startswith("Waiting"):
            seen["n"] += 1
            if seen["n"] % 10 != 1:
                return
        progress(message)
    return say


# -- the phases ----------------------------------------------------------------------------


def scheduler_throughput(sizes: Sizes, progress: Progress) -> Measured:
    figures, details = [], {}
    for key, nodes in zip(("scheduler_small", "scheduler_large"), sizes.scheduler_nodes):
        result = run_benchmark(pods=sizes.scheduler_pods, nodes=nodes, progress=progress)
        progress(result.summary())
        figures.append(Figure(key, f"scheduler: {sizes.scheduler_pods:,} pods onto {nodes:,} nodes", "/s",
                              result.pods_per_second))
        details[key] = dataclasses.asdict(result)
    note = ("a throwaway API server (plain HTTP, SQLite), simulated Nodes, 4 bind workers; "
            "clock: caches full -> last binding seen by the scheduler's informer")
    return Measured(figures, [note], details)


def start_pods(b: Bench, n: int, rate: float | None) -> tuple[dict[str, list[float]], list[str]]:
    """Create ``n`` hello pods (all at once from 8 threads, or ``rate`` a second from one) in a
    namespace of their own; time each from its create returning until the watch shows it
    Running and Ready; delete them. Returns the times (create -> ready, -> bound, bound -> ready)."""
    pods, sent, created = Pods(), {}, {}
    how = "at once" if rate is None else f"at {rate:g}/s"
    with b.namespace("startup") as ns, b.api.watch(f"/api/v1/namespaces/{ns}/pods", pods.handle) as w:
        def create(name: str) -> None:
            sent[name] = time.monotonic()
            b.api.create(f"/api/v1/namespaces/{ns}/pods", hello_pod(name))
            created[name] = time.monotonic()
        names = [f"hello-{i:03d}" for i in range(n)]
        b.progress(f"creating {n} pods {how}")
        before = cpu_sample(b.cluster)
        if rate is None:
            parallel([functools.partial(create, name) for name in names])
        else:
            start = time.monotonic()
            for i, name in enumerate(names):
                time.sleep(max(0.0, start + i / rate - time.monotonic()))
                create(name)
        wait_until(f"{n} pods Running and Ready", lambda: len(pods.ready) >= n, 180, b.progress,
                   lambda: f"({len(pods.bound)} bound, {len(pods.ready)} ready)", (w,))
        cpu = cpu_line(before, cpu_sample(b.cluster))
        writes = (f"{pods.events / n:.1f} writes to each pod, "
                  f"{len(b.api.get(f'/api/v1/namespaces/{ns}/events')['items']) / n:.1f} Events about it so far")
        per_node = {node: len(pods.on_node(node)) for node in ("worker-1", "worker-2")}
    times = {"latency": [pods.ready[p] - created[p] for p in names],
             "to_bind": [pods.bound[p] - created[p] for p in names],
             "to_ready": [pods.ready[p] - pods.bound[p] for p in names],
             "create": [created[p] - sent[p] for p in names]}
    notes = [f"{n} pods {how}: create -> bound (scheduler) {ms(times['to_bind'])}; bound -> Running and Ready "
             f"(node agent) {ms(times['to_ready'])}; the creates {ms(times['create'])}; per node {per_node}",
             f"  {writes}; {cpu}"]
    return times, notes


def pod_startup(b: Bench) -> Measured:
    n = b.sizes.pods
    figures, notes, details = [], [], {}
    for key, rate in (("startup", None), ("startup_paced", PACED_RATE)):
        times, more = start_pods(b, n, rate)
        how = "at once" if rate is None else f"created at {rate:g}/s"
        latency = times["latency"]
        figures += [Figure(f"{key}_p50", f"pod startup, {n} pods {how}: p50", "s", percentile(latency, 50)),
                    Figure(f"{key}_p99", f"pod startup, {n} pods {how}: p99", "s", percentile(latency, 99)),
                    Figure(f"{key}_max", f"pod startup, {n} pods {how}: max", "s", max(latency))]
        notes += more
        details[key] = times
    return Measured(figures, notes, details)


def failover_round(b: Bench, ns: str, pods: Pods, holders: Holders, replicas: int,
                   watches: tuple[Watch, ...]) -> tuple[float, float, str]:
    """Kill the leader, scale ``web`` to ``replicas``; (Lease taken over, new pod seen, who) from the kill."""
    holder = b.api.get(f"{LEASE}/kube-controller-manager")["spec"]["holderIdentity"]
    master = holder.split("_", 1)[0]  # <hostname>_<uuid>, and a local cluster's hostnames are master-<i>
    component = f"controller-manager-{master.removeprefix('master-')}"
    before = set(pods.current)
    holders.seen.clear()  # from here on, any holder but the killed one is the new leader
    b.progress(f"the leader is {master}: killing {component}, then scaling to {replicas}")
    killed = time.monotonic()
    b.cluster.stop([component], b.progress, kill=True)
    b.api.call("PATCH", f"/apis/apps/v1/namespaces/{ns}/deployments/web", {"spec": {"replicas": replicas}},
               patch=True)

    def new_pod() -> float | None:
        return next((pods.added[p] for p in set(pods.current) - before), None)

    wait_until("a new leader and the new replica", lambda: bool(holders.other_than(holder) and new_pod()), 60,
               b.progress, watches=watches)
    leader, took_over = holders.other_than(holder) or ("", 0.0)
    created = new_pod() or 0.0
    return took_over - killed, created - killed, f"{master} -> {leader.split('_', 1)[0]}"


def controller_failover(b: Bench) -> Measured:
    lease_times, reconcile_times, who = [], [], []
    pods, holders = Pods(), Holders()
    with b.namespace("failover") as ns, b.api.watch(f"/api/v1/namespaces/{ns}/pods", pods.handle) as pw, \
            b.api.watch(LEASE, holders.handle, fieldSelector="metadata.name=kube-controller-manager") as lw:
        b.deploy(ns, "web", 1, pods)
        for round_ in range(1, b.sizes.failover_rounds + 1):
            try:
                lease, reconcile, leaders = failover_round(b, ns, pods, holders, round_ + 1, (pw, lw))
            finally:
                b.restore()  # the killed manager, whatever happened
            lease_times.append(lease)
            reconcile_times.append(reconcile)
            who.append(leaders)
            b.progress(f"round {round_}: new leader after {lease:.2f} s, new pod after {reconcile:.2f} s "
                       f"({leaders}); the killed manager restarted")
            time.sleep(3)  # the restarted manager's start-up (imports, informers) would otherwise share the CPU
    figures = [Figure("failover_lease", "controller failover: Lease taken over (median)", "s",
                      statistics.median(lease_times)),
               Figure("failover_reconcile", "controller failover: scaled Deployment's new pod (median)", "s",
                      statistics.median(reconcile_times))]
    rounds = ", ".join(f"{a:.2f} / {c:.2f} s ({h})" for a, c, h in zip(lease_times, reconcile_times, who))
    notes = [f"each round, Lease / new pod after the SIGKILL: {rounds}"]
    return Measured(figures, notes, {"lease": lease_times, "reconcile": reconcile_times, "leaders": who})


def worker_death(b: Bench, before_kill: Callable[[], None] = lambda: None) -> Measured:
    r = b.sizes.replicas
    pods, stamps = Pods(), {}

    def on_node(kind: str, node: Obj, when: float) -> None:
        if node["metadata"]["name"] == "worker-2" and not node_ready(node):
            stamps.setdefault("notready", when)

    with b.namespace("worker") as ns, b.api.watch(f"/api/v1/namespaces/{ns}/pods", pods.handle) as pw, \
            b.api.watch("/api/v1/nodes", on_node) as nw:
        b.deploy(ns, "web", r, pods)
        doomed = pods.on_node("worker-2")
        if not doomed:
            raise RuntimeError(f"the scheduler put no replica on worker-2 ({pods.on_node('worker-1')}): "
                               "nothing to reschedule")
        b.progress(f"{len(doomed)} of {r} replicas on worker-2; killing it")

        def elsewhere() -> list[Obj]:
            return [p for p in pods.matching(ready_pod) if p["spec"].get("nodeName") != "worker-2"]

        before_kill()
        killed = time.monotonic()
        try:
            b.cluster.stop(["worker-2"], b.progress, kill=True)
            wait_until(f"{r} replicas ready off worker-2", lambda: len(elsewhere()) >= r, 90, b.progress,
                       lambda: f"({len(elsewhere())} ready elsewhere)", (pw, nw))
            replaced = max(pods.ready[p["metadata"]["name"]] for p in elsewhere())
            evicted = [pods.deleting[p] - killed for p in doomed if p in pods.deleting]
            where = sorted({p["spec"]["nodeName"] for p in elsewhere()})
        finally:
            b.progress("restarting worker-2")
            b.restore()
    if "notready" not in stamps:
        raise RuntimeError("the watch never showed worker-2 NotReady")
    figures = [Figure("worker_notready", "worker killed: its Node NotReady", "s", stamps["notready"] - killed),
               Figure("worker_replaced", f"worker killed: all {r} replicas Running elsewhere", "s", replaced - killed)]
    notes = [(f"{len(doomed)} of {r} replicas were on worker-2; marked for deletion (taint eviction) after "
              f"{', '.join(f'{e:.2f}' for e in sorted(evicted)) or '-'} s; replacements ran on {', '.join(where)}")]
    return Measured(figures, notes, {"doomed": doomed, "evicted": evicted, "on": where})


CLUSTER_PHASES: dict[str, Callable[[Bench], Measured]] = {
    "startup": pod_startup, "failover": controller_failover, "worker": worker_death}
PHASES = ["scheduler", *CLUSTER_PHASES]


# -- running them --------------------------------------------------------------------------


def phase_parser(prog: str, description: str, phases: list[str]) -> argparse.ArgumentParser:
    """The options every cluster benchmark takes: --quick, --json, --phases."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    p.add_argument("--json", action="store_true", help="report to stderr, a JSON document to stdout")
    p.add_argument("--phases", default=",".join(phases), help="comma-separated subset of: " + ", ".join(phases))
    return p


def parse_phases(p: argparse.ArgumentParser, argv: list[str], phases: list[str]) -> argparse.Namespace:
    """Parse ``argv``; ``args.phases`` becomes the list of phase names, each one checked."""
    args = p.parse_args(argv)
    args.phases = [name.strip() for name in args.phases.split(",") if name.strip()]
    unknown = [name for name in args.phases if name not in phases]
    if unknown:
        p.error(f"unknown phase(s): {', '.join(unknown)}; choose from {', '.join(phases)}")
    return args


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = phase_parser("python -m benchmarks.workloads", __doc__.split("\n\n")[0], PHASES)
    p.add_argument("--keep", action="store_true", help="keep the scratch directory (the cluster's logs)")
    return parse_phases(p, argv, PHASES)


def attempt(name: str, measure: Callable[[], Measured], report: Report, results: dict[str, Measured],
            errors: dict[str, str]) -> None:
    report.line()
    report.line(f"== {name} ==")
    try:
        measured = measure()
    except Exception as e:  # noqa: BLE001 - one failing phase must not hide the others
        errors[name] = f"{type(e).__name__}: {e}"
        report.line(f"  FAILED: {errors[name]}")
        report.line("  " + traceback.format_exc().replace("\n", "\n  "))
        return
    results[name] = measured
    report.table(["", "value"], [[f.label, fmt(f.value, f.unit)] for f in measured.figures])
    for note in measured.notes:
        report.line(f"    {note}")


@contextmanager
def local_cluster(scratch: str, progress: Progress, cluster_class: type[LocalCluster] = LocalCluster,
                  **options: Any) -> Iterator[LocalCluster]:
    """``kubeclass up`` in ``scratch`` (``options`` as LocalCluster takes them), the user's
    kubeconfig untouched; ``down`` however it ends."""
    old = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = os.path.join(scratch, "user-kubeconfig")
    cluster = cluster_class(os.path.join(scratch, "cluster"), port=free_port(), **options)
    try:
        t = cluster.topology
        progress(f"starting a local cluster ({t.masters} masters, {t.workers} workers, {t.profile} profile, "
                 f"store {t.store})")
        cluster.up(quiet(progress))
        yield cluster
    finally:
        progress("stopping the cluster")
        cluster.down(progress)
        if old is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = old


def header(report: Report, benchmark: str, quick: bool) -> dict[str, Any]:
    """The report's first lines: which benchmark, when, on what machine; the machine's facts."""
    info = machine()
    report.line(f"kubeclass {benchmark} benchmark, {datetime.datetime.now():%Y-%m-%d %H:%M}"
                + ("  (--quick: small sizes, figures not comparable with the targets)" if quick else ""))
    report.line(f"machine: {info['cores']} cores, {info['cpu']}, Python {info['python']}, "
                f"load average {info['loadavg'][0]:.2f} at start")
    return info


def run(args: argparse.Namespace, report: Report) -> tuple[dict[str, Measured], dict[str, str], dict[str, Any]]:
    sizes = QUICK if args.quick else FULL
    info = header(report, "workloads", args.quick)
    info["busy_before"] = busy_before()
    report.line(f"other work on this machine before the benchmark: {info['busy_before']:.0f}% of one core "
                "(it shares the cores with every figure below)")
    results: dict[str, Measured] = {}
    errors: dict[str, str] = {}
    if "scheduler" in args.phases:
        attempt("scheduler", lambda: scheduler_throughput(sizes, report.progress), report, results, errors)
    wanted = [name for name in CLUSTER_PHASES if name in args.phases]
    scratch = tempfile.mkdtemp(prefix="kubeclass-workloads-")
    try:
        if wanted:
            report.line()
            report.line(f"== cluster == (scratch directory {scratch})")
            with local_cluster(scratch, report.progress) as cluster:
                bench = Bench(cluster, sizes, report.progress)
                for name in wanted:
                    attempt(name, functools.partial(CLUSTER_PHASES[name], bench), report, results, errors)
    except Exception as e:  # noqa: BLE001 - the cluster did not start or stop: the figures so far still count
        errors["cluster"] = f"{type(e).__name__}: {e}"
        report.line(f"  FAILED: {errors['cluster']}")
    finally:
        if args.keep:
            report.line(f"scratch directory kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    details = {"sizes": dataclasses.asdict(sizes), "machine": info, "loadavg_end": os.getloadavg()}
    return results, errors, details


def busy_before(seconds: float = 3.0) -> float:
    """How busy the machine is without us, in % of one core."""
    a = stats.sample({})
    time.sleep(seconds)
    b = stats.sample({})
    return 100 * (b.machine - a.machine) / (b.wall - a.wall)


Targets = dict[str, tuple[str, Callable[[float], bool]]]


def verdict(f: Figure, targets: Targets = TARGETS) -> tuple[str, bool | None]:
    if f.key not in targets:
        return "", None
    target, check = targets[f.key]
    return target, check(f.value)


def summary(report: Report, figures: list[Figure], errors: dict[str, str], quick: bool,
            targets: Targets = TARGETS) -> None:
    report.line()
    report.line("== summary ==" + ("  (--quick: OK/MISS only shows the check works)" if quick else ""))
    rows = []
    for f in figures:
        target, ok = verdict(f, targets)
        rows.append([f.label, fmt(f.value, f.unit), target, "" if ok is None else ("OK" if ok else "MISS")])
    rows.extend([[f"{name} (failed)", "ERROR", "", ""] for name in errors])
    report.table(["figure", "value", "target", "result"], rows)


def finish(report: Report, args: argparse.Namespace, phases: list[str], results: dict[str, Measured],
           errors: dict[str, str], details: dict[str, Any], targets: Targets = TARGETS) -> int:
    """The summary table; with --json the document on stdout. The exit status: 1 if a phase failed."""
    figures = [f for name in phases if name in results for f in results[name].figures]
    summary(report, figures, errors, args.quick, targets)
    if args.json:
        doc: dict[str, Any] = {"quick": args.quick, "figures": [], "errors": errors, "notes": {}, "details": details}
        for name, measured in results.items():
            doc["notes"][name] = measured.notes
            details[name] = measured.details
        for f in figures:
            target, ok = verdict(f, targets)
            doc["figures"].append({"key": f.key, "label": f.label, "unit": f.unit, "value": f.value,
                                   "target": target or None, "pass": ok})
        json.dump(doc, sys.stdout, indent=2, default=str)
        print()
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # SIGTERM must unwind like Ctrl-C, so the cluster is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report = Report(sys.stderr if args.json else sys.stdout)
    results, errors, details = run(args, report)
    return finish(report, args, PHASES, results, errors, details)


if __name__ == "__main__":
    sys.exit(main())
