"""The provisioning benchmark: ``python -m benchmarks.provision [--quick] [--json] [--keep]``.

Where it sits: beside ``benchmarks.workloads`` and ``benchmarks.ha``, whose report and
summary it reuses; it drives only the command line a user types. It measures what issue 5
promises an instructor:

    bundle   ``kubeclass bundle build``: how long, and the size of the one file (<= 60 MB)
    fresh    ``kubeclass labhosts up`` (five fresh hosts), then ``kubeclass provision
             --bundle FILE``: the time from the fresh hosts to every node Ready (<= 90 s),
             the bundle built beforehand as an instructor does once for a class
    second   the same ``kubeclass provision`` again on the converged cluster: its time
             (<= 20 s) and how many tasks it changed on all hosts together (0)

Everything lives in a scratch directory with a lab of its own, which is taken down at the
end whatever happens. ``--quick`` makes one master and one worker (the figures are then
not comparable with the targets). Needs root and systemd-nspawn, as lab hosts do. A MISS
does not make the program fail: it exits 0 when every figure was measured, 1 when one
could not be.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .apiserver import Report
from .workloads import Figure, Measured, Targets, finish, header

PHASES = ["bundle", "fresh", "second"]
TARGETS: Targets = {
    "bundle_size": ("<= 60 MB", lambda v: v <= 60),
    "fresh_to_ready": ("<= 90 s", lambda v: v <= 90),
    "second_run": ("<= 20 s", lambda v: v <= 20),
    "second_changed": ("0", lambda v: v == 0),
}
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
KUBECTL = ("kubectl", "/usr/lib/google-cloud-sdk/bin/kubectl.1.33")


class Bench:
    def __init__(self, scratch: Path, report: Report, quick: bool) -> None:
        self.scratch, self.report, self.quick = scratch, report, quick
        self.env = {**os.environ, "KUBECLASS_LABHOSTS_HOME": str(scratch / "labs"),
                    "HOME": str(scratch / "home")}
        self.lab = scratch / "labs" / "bench"
        self.bundle = Path()

    def kubeclass(self, *args: str, timeout: float = 900) -> tuple[subprocess.CompletedProcess[str], float]:
        started = time.monotonic()
        res = subprocess.run([sys.executable, "-m", "controlplane.cli.main", *args], capture_output=True,
                             text=True, env=self.env, timeout=timeout)
        elapsed = time.monotonic() - started
        if res.returncode:
            raise RuntimeError(f"kubeclass {' '.join(args)} exited {res.returncode}: "
                               f"{(res.stdout + res.stderr).strip().splitlines()[-1:]}")
        return res, elapsed

    def provision(self) -> tuple[dict[str, int], float]:
        res, elapsed = self.kubeclass("provision", "-i", str(self.lab / "inventory.yaml"), "--bundle",
                                      str(self.bundle), "--no-kubeconfig")
        recap = {m[0]: int(m[2]) for m in RECAP.findall(res.stderr + res.stdout)}
        return recap, elapsed

    def ready_nodes(self) -> int:
        kubectl = next((k for k in KUBECTL if shutil.which(k)), None)
        if kubectl is None:
            raise RuntimeError("kubectl not found")
        res = subprocess.run([kubectl, "--kubeconfig", str(self.lab / "cluster" / "admin.kubeconfig"),
                              "get", "nodes", "-o", "json", "--request-timeout=5s"],
                             capture_output=True, text=True, timeout=30)
        if res.returncode:
            return 0
        return sum(any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])
                   for n in json.loads(res.stdout)["items"])

    # -- phases ------------------------------------------------------------------------

    def bundle_phase(self) -> Measured:
        self.report.progress("kubeclass bundle build")
        _, elapsed = self.kubeclass("bundle", "build", "-o", str(self.scratch))
        self.bundle = next(self.scratch.glob("kubeclass-bundle-*.tar*"))
        size = self.bundle.stat().st_size / 1e6
        return Measured([Figure("bundle_size", "bundle size", " MB", size),
                         Figure("bundle_build", "bundle build", "s", elapsed)],
                        [f"{self.bundle.name}: {size:.1f} MB, built in {elapsed:.1f} s"], {"file": self.bundle.name})

    def fresh_phase(self) -> Measured:
        masters, workers = ("1", "1") if self.quick else ("3", "2")
        self.report.progress(f"kubeclass labhosts up ({masters} masters, {workers} workers)")
        _, up = self.kubeclass("labhosts", "--lab", "bench", "up", "--masters", masters, "--workers", workers)
        hosts = int(masters) + int(workers)
        self.report.progress(f"kubeclass provision --bundle {self.bundle.name} onto {hosts} fresh hosts")
        started = time.monotonic()
        recap, run = self.provision()
        deadline = time.monotonic() + 120
        while self.ready_nodes() < hosts:
            if time.monotonic() > deadline:
                raise RuntimeError(f"not all {hosts} nodes Ready 120 s after provisioning")
            time.sleep(0.5)
        ready = time.monotonic() - started
        bridge = json.loads((self.lab / "lab.json").read_text())["bridge"]
        return Measured([Figure("labhosts_up", "labhosts up (fresh hosts answer SSH)", "s", up),
                         Figure("fresh_to_ready", "fresh hosts to every node Ready", "s", ready)],
                        [f"provision run {run:.1f} s, then Ready {ready - run:.1f} s later; "
                         f"changed per host: {recap}"], {"changed": recap, "provision": run, "bridge": bridge})

    def second_phase(self) -> Measured:
        self.report.progress("kubeclass provision again (a converged cluster)")
        recap, run = self.provision()
        changed = sum(recap.values())
        return Measured([Figure("second_run", "second run", "s", run),
                         Figure("second_changed", "second run, tasks changed", "", changed)],
                        [f"changed per host: {recap}"], {"changed": recap})


def run(args: argparse.Namespace, report: Report) -> tuple[dict[str, Measured], dict[str, str], dict[str, Any]]:
    info = header(report, "provision", args.quick)
    scratch = Path(tempfile.mkdtemp(prefix="kcbench-prov-"))
    (scratch / "home").mkdir()
    bench = Bench(scratch, report, args.quick)
    results: dict[str, Measured] = {}
    errors: dict[str, str] = {}
    try:
        for name, phase in (("bundle", bench.bundle_phase), ("fresh", bench.fresh_phase),
                            ("second", bench.second_phase)):
            report.line(f"\n== {name} ==")
            try:
                results[name] = phase()
            except (RuntimeError, subprocess.TimeoutExpired, StopIteration) as exc:
                errors[name] = f"{type(exc).__name__}: {exc}"
                report.line(f"  FAILED: {errors[name]}")
                break
            for note in results[name].notes:
                report.line(f"  {note}")
    finally:
        if bench.lab.exists():
            report.progress("kubeclass labhosts down")
            subprocess.run([sys.executable, "-m", "controlplane.cli.main", "labhosts", "--lab", "bench", "down"],
                           capture_output=True, env=bench.env, timeout=300)
        if args.keep:
            report.line(f"scratch directory kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return results, errors, {"machine": info}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.provision", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one master and one worker")
    p.add_argument("--json", action="store_true", help="the figures as JSON on stdout, the report on stderr")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory (the lab is taken down)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if os.geteuid() != 0:
        print("the provisioning benchmark makes lab hosts: run it as root", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind like Ctrl-C: the lab is taken down
    report = Report(sys.stderr if args.json else sys.stdout)
    results, errors, details = run(args, report)
    return finish(report, args, PHASES, results, errors, details, TARGETS)


if __name__ == "__main__":
    sys.exit(main())
