"""``python -m benchmarks.profiling PHASE``: where the API server's time goes during one benchmark phase.

Where it sits: beside ``benchmarks.apiserver``, for whoever optimises the server. It
runs the same phase (``get``, ``create``, ``list`` or ``watch``, see
``benchmarks.phases``) against the same two servers, but each started through
``benchmarks.profiled``, so every thread of every gunicorn worker runs under
cProfile. Around each measurement the workers write a snapshot of their profiles;
the difference of two snapshots is exactly the measured window (warm-ups, creating
the pods to list, and start-up are left out). For each window it prints:

* CPU by area (TLS, gunicorn, Flask/Werkzeug, each kubeclass package, SQLite, JSON...),
  in seconds and per unit of work (request, LIST, delivery);
* the functions with the most own time, and the kubeclass functions with the most
  cumulative time (pstats' own listing).

The figures the phase prints are slower than the benchmark's: profiling costs time.
Read the profile for proportions. ``--clock wall`` profiles elapsed time instead of
CPU time (waits for locks, the disk and the network included), for latency questions.
``--save DIR`` keeps the ``.prof`` files of each window for ``python -m pstats`` or
snakeviz.
"""

from __future__ import annotations

import argparse
import dataclasses
import marshal
import os
import pstats
import shutil
import signal
import sys
import tempfile
import time
from collections import defaultdict
from typing import Any

from controlplane.cli.local import Process

from . import load, phases, profiled
from .load import Target
from .servers import ROOT, BenchCluster, Servers

SNAPSHOT_TIMEOUT = 60.0


class ProfiledCluster(BenchCluster):
    """A local cluster whose API server runs through ``benchmarks.profiled``."""

    def _processes(self) -> list[Process]:
        procs = super()._processes()
        for proc in procs:
            if proc.name == "apiserver":
                module = proc.argv.index("controlplane.api.server")
                proc.argv[module - 1:module] = ["-m", "benchmarks.profiled"]
        return procs


@dataclasses.dataclass
class Window:
    server: str  # "kubeclass" | "trivial"
    what: str
    start: int  # snapshot numbers
    end: int
    workers: list[int]


class Snapshots:
    """Takes numbered profile snapshots of a server's workers at each mark of the phase."""

    def __init__(self, servers: Servers, directory: str) -> None:
        self.servers = servers
        self.dir = directory
        self.taken = {"kubeclass": 0, "trivial": 0}
        self.open: dict[tuple[str, str], int] = {}
        self.windows: list[Window] = []

    def _workers(self, server: str) -> list[int]:
        master = self.servers.process_groups()["apiserver" if server == "kubeclass" else "trivial server"]
        pids = []
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if entry.isdigit() and int(f.read().rsplit(")", 1)[1].split()[1]) == master:
                        pids.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
        return sorted(pids)

    def mark(self, target: Target, what: str, edge: str) -> None:
        server = "kubeclass" if target.port == self.servers.cluster.topology.api_ports()[0] else "trivial"
        workers = self._workers(server)
        self.taken[server] += 1
        n = self.taken[server]
        for pid in workers:
            os.kill(pid, signal.SIGUSR2)  # workers only: SIGUSR2 to gunicorn's master means "upgrade"
        deadline = time.monotonic() + SNAPSHOT_TIMEOUT
        while not all(os.path.exists(self.path(server, pid, n)) for pid in workers):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server} workers {workers} wrote no profile snapshot {n}")
            time.sleep(0.05)
        if edge == "start":
            self.open[(server, what)] = n
        else:
            self.windows.append(Window(server, what, self.open.pop((server, what)), n, workers))

    def path(self, server: str, pid: int, n: int | str) -> str:
        return os.path.join(self.dir, f"{server}-{pid}-{n}.prof")

    def stats_of(self, w: Window) -> dict[Any, Any]:
        """The window's statistics: end minus start snapshot, summed over the workers."""
        total: dict[Any, Any] = {}
        for pid in w.workers:
            with open(self.path(w.server, pid, w.start), "rb") as f:
                before = marshal.load(f)
            with open(self.path(w.server, pid, w.end), "rb") as f:
                after = marshal.load(f)
            for func, stat in after.items():
                diff = _subtract(stat, before.get(func))
                if diff[1] or diff[2]:
                    total[func] = pstats.add_func_stats(total[func], diff) if func in total else diff
        return total


def _subtract(after: tuple[Any, ...], before: tuple[Any, ...] | None) -> tuple[Any, ...]:
    if before is None:
        return after
    callers = {k: tuple(a - b for a, b in zip(v, before[4].get(k, (0, 0, 0, 0)))) for k, v in after[4].items()}
    return (after[0] - before[0], after[1] - before[1], after[2] - before[2], after[3] - before[3],
            {k: v for k, v in callers.items() if v[1]})


# -- reading a profile -----------------------------------------------------------------

LIBRARIES = ("gunicorn", "werkzeug", "flask", "jinja2", "yaml", "jsonschema", "jsonpatch", "cryptography")


def area(func: tuple[str, int, str]) -> str:
    """Which part of the stack a function belongs to, for the by-area table."""
    path, _, name = func
    if path == "~":  # built in (C)
        for needle, what in (("_ssl.", "TLS (C)"), ("sqlite3", "SQLite (C)"), ("json", "JSON (C)"),
                             ("select", "sockets and polling (C)"), ("socket", "sockets and polling (C)"),
                             ("lock", "locks (C)"), ("acquire", "locks (C)")):
            if needle in name:
                return what
        return "other built-ins (C)"
    if "/controlplane/" in path:
        parts = path.split("/controlplane/", 1)[1].split("/")
        return "kubeclass " + ".".join(parts[:2] if len(parts) > 2 else parts[:1]).removesuffix(".py")
    if "/benchmarks/" in path:
        return "trivial app"
    for lib in LIBRARIES:
        if f"/{lib}/" in path:
            return lib
    base = os.path.basename(path)
    if "/json/" in path:
        return "JSON (Python)"
    if base == "ssl.py":
        return "TLS (ssl.py)"
    if base in ("socket.py", "selectors.py"):
        return "sockets and polling (Python)"
    if base in ("threading.py", "queue.py") or "/concurrent/" in path:
        return "threads and queues (Python)"
    if "/lib/python3" in path and "/site-packages/" not in path:
        return f"other stdlib ({base})"
    return "other Python"


def _short(func: tuple[str, int, str]) -> tuple[str, int, str]:
    path = func[0]
    for cut in ("/site-packages/", ROOT + "/"):
        path = path.split(cut, 1)[-1]
    return (path, func[1], func[2])


def _shorten(stats: dict[Any, Any]) -> dict[Any, Any]:
    """Paths from the package on (``gunicorn/http/wsgi.py``): the listing stays readable."""
    out: dict[Any, Any] = {}
    for func, (cc, nc, tt, ct, callers) in stats.items():
        entry = (cc, nc, tt, ct, {_short(k): v for k, v in callers.items()})
        key = _short(func)
        out[key] = pstats.add_func_stats(out[key], entry) if key in out else entry
    return out


def report(snaps: Snapshots, w: Window, units: dict[str, tuple[int, str]], top: int, save: str | None) -> None:
    stats = snaps.stats_of(w)
    total = sum(s[2] for s in stats.values())
    count, unit = units.get(f"{w.server}/{w.what}", (0, ""))
    print(f"\n== profile: {w.server}, {w.what}: {total:.2f} s of "
          f"{os.environ.get(profiled.CLOCK_ENV, 'cpu')} time in {len(w.workers)} workers"
          + (f", {count:,} {unit[:-1] + 'ies' if unit.endswith('y') else unit + 's'}" if count else "") + " ==")
    by_area: dict[str, float] = defaultdict(float)
    for func, s in stats.items():
        by_area[area(func)] += s[2]
    print(f"  {'area (own time)':40} {'seconds':>8} {'share':>6}" + (f" {'us per ' + unit:>16}" if count else ""))
    for name, secs in sorted(by_area.items(), key=lambda kv: -kv[1]):
        if secs / total < 0.005:
            continue
        per = f" {1e6 * secs / count:16,.0f}" if count else ""
        print(f"  {name:40} {secs:8.2f} {100 * secs / total:5.1f}%{per}")
    fd, path = tempfile.mkstemp(suffix=".prof")
    with os.fdopen(fd, "wb") as f:
        marshal.dump(_shorten(stats), f)
    if save:
        shutil.copy(path, os.path.join(save, f"{w.server}-{w.what}.prof"))
    ps = pstats.Stats(path, stream=sys.stdout)
    os.unlink(path)
    print(f"\n  top {top} functions by own time:")
    ps.sort_stats("tottime").print_stats(top)
    if w.server == "kubeclass":
        print(f"  top {top} kubeclass functions by cumulative time:")
        ps.sort_stats("cumulative").print_stats("controlplane", top)


def units_of(name: str, measured: phases.Measured) -> dict[str, tuple[int, str]]:
    d = measured.details
    if name in ("get", "create"):
        return {f"{who}/{name}": (d[who]["requests"], "request") for who in ("kubeclass", "trivial")}
    if name == "list":
        runs = len(d["json_seconds"])
        return {"kubeclass/list-json": (runs, "LIST"), "kubeclass/list-table": (runs, "LIST"),
                "kubeclass/list-kubectl": (runs, "kubectl get")}
    return {f"{who}/watch": (d[who]["delivered"], "delivery") for who in ("kubeclass", "trivial")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profiling", description=__doc__.split("\n\n")[0])
    p.add_argument("phase", choices=list(phases.PHASES))
    p.add_argument("--quick", action="store_true", help="the benchmark's --quick sizes")
    p.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    p.add_argument("--top", type=int, default=25, help="functions listed per table")
    p.add_argument("--save", metavar="DIR", help="keep each window's .prof file here")
    p.add_argument("--load-generator", choices=("auto", "wrk", "python"), default="auto")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    use_wrk = args.load_generator == "wrk" or (args.load_generator == "auto" and load.wrk_path() is not None)
    scratch = tempfile.mkdtemp(prefix="kubeclass-profile-")
    directory = os.path.join(scratch, "profiles")
    os.makedirs(directory)
    if args.save:
        os.makedirs(args.save, exist_ok=True)
    # Inherited by the API server `kubeclass up` spawns; the trivial server gets its own label.
    os.environ.update({profiled.DIR_ENV: directory, profiled.CLOCK_ENV: args.clock,
                       profiled.LABEL_ENV: "kubeclass",
                       "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")})
    try:
        with Servers(scratch, lambda msg: print(f"  . {msg}", flush=True), cluster_class=ProfiledCluster,
                     trivial_launch=("-m", "benchmarks.profiled", "benchmarks.trivial"),
                     trivial_env={profiled.LABEL_ENV: "trivial"}) as servers:
            bench = phases.Bench(servers, phases.QUICK if args.quick else phases.FULL, use_wrk)
            snaps = Snapshots(servers, directory)
            bench.mark = snaps.mark
            print(f"== {args.phase} (profiled: slower than the benchmark; read the profiles for proportions) ==")
            measured = phases.PHASES[args.phase](bench)
            for f in measured.figures:
                print(f"  {f.label}: kubeclass {f.kubeclass:,.3f} {f.unit}, trivial {f.trivial:,.3f} {f.unit}")
            for note in measured.notes:
                print(f"    {note}")
            units = units_of(args.phase, measured)
            for w in snaps.windows:
                report(snaps, w, units, args.top, args.save)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
