"""The API server benchmark: ``python -m benchmarks.apiserver [--quick] [--json]`` (``./dev bench``).

Where it sits: outside the product and the tests. It starts its own local cluster
(``kubeclass up`` in a scratch directory, on a free port) and, beside it, a trivial
Flask app served by the same gunicorn settings (``benchmarks.trivial``); measures
both in the same run; prints each kubeclass figure beside the trivial one and their
ratio, then a table of the figures against the project's targets; and stops both
servers, whatever happens.

What it measures (``benchmarks.phases`` has the details):

    GET of one object at 16 concurrent keep-alive clients: p50, p99, requests/s
    creates/s at 16 clients
    LIST of 10,000 pods: JSON, Table, and Table in kubectl's pages of 500
    watch delivery latency with 100 watchers: p50, p99

Targets (from the issue): GET p99 <= 20 ms and >= 50 % of the trivial endpoint's
rate; >= 1,000 creates/s; LIST of 10,000 pods <= 1 s; watch delivery p99 <= 50 ms.
A MISS does not make the program fail: it exits 0 when every figure was measured,
1 when a measurement could not be taken.

Load comes from ``wrk`` when it is installed (``apt-get install wrk``), otherwise
from a Python generator; the report says which. ``--quick`` uses small sizes and
runs for a few seconds (the smoke test's mode): its figures show that everything
works, not how fast. ``--json`` writes the report to stderr and a JSON document with
every figure to stdout.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from typing import Any, TextIO

from . import load, phases
from .phases import Figure
from .servers import Servers, filesystem_of

TARGETS: dict[str, tuple[str, Callable[[Figure], bool]]] = {
    "get_p99": ("<= 20 ms", lambda f: f.kubeclass <= 20),
    "get_rate": (">= 50 % of trivial", lambda f: f.ratio >= 0.5),
    "create_rate": (">= 1,000/s", lambda f: f.kubeclass >= 1000),
    "list_json": ("<= 1 s", lambda f: f.kubeclass <= 1.0),
    "list_table": ("<= 1 s (as LIST)", lambda f: f.kubeclass <= 1.0),
    "list_kubectl": ("<= 1 s (as LIST)", lambda f: f.kubeclass <= 1.0),
    "watch_p99": ("<= 50 ms", lambda f: f.kubeclass <= 50),
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.apiserver", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, a few seconds per figure (smoke test)")
    p.add_argument("--json", action="store_true", help="report to stderr, a JSON document to stdout")
    p.add_argument("--phases", default=",".join(phases.PHASES), help="comma-separated subset of: "
                   + ", ".join(phases.PHASES))
    p.add_argument("--load-generator", choices=("auto", "wrk", "python"), default="auto",
                   help="auto: wrk when installed, else Python")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory (logs, store)")
    return p.parse_args(argv)


def fmt(value: float, unit: str) -> str:
    if value is None or math.isnan(value):
        return "-"
    if unit == "/s":
        return f"{value:,.0f}/s"
    if unit == "s":
        return f"{value:.3f} s"
    return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"


def fmt_ratio(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}x"


class Report:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def line(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def progress(self, text: str) -> None:
        self.line(f"  . {text}")

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for r in [header, [("-" * w) for w in widths], *rows]:
            self.line("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                                       enumerate(zip(r, widths))).rstrip())

    def measured(self, m: phases.Measured) -> None:
        self.table(["", "kubeclass", "trivial", "kubeclass/trivial"],
                   [[f.label, fmt(f.kubeclass, f.unit), fmt(f.trivial, f.unit), fmt_ratio(f.ratio)]
                    for f in m.figures])
        for note in m.notes:
            self.line(f"    {note}")


def verdict(f: Figure) -> tuple[str, bool | None]:
    if f.key not in TARGETS:
        return "", None
    target, check = TARGETS[f.key]
    return target, check(f)


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "loadavg": os.getloadavg()}


def run(args: argparse.Namespace, report: Report) -> tuple[list[Figure], dict[str, Any], dict[str, str]]:
    sizes = phases.QUICK if args.quick else phases.FULL
    use_wrk = args.load_generator == "wrk" or (args.load_generator == "auto" and load.wrk_path() is not None)
    if use_wrk and load.wrk_path() is None:
        raise SystemExit("--load-generator wrk: wrk is not installed (apt-get install wrk)")
    scratch = tempfile.mkdtemp(prefix="kubeclass-bench-")
    info = machine()
    report.line(f"kubeclass API server benchmark, {datetime.datetime.now():%Y-%m-%d %H:%M}"
                + ("  (--quick: small sizes, figures not comparable with the targets)" if args.quick else ""))
    report.line(f"machine: {info['cores']} cores, {info['cpu']}, Python {info['python']}, "
                f"load average {info['loadavg'][0]:.2f} at start")
    report.line(f"load generator: {load.generator_name(use_wrk)}"
                + ("" if use_wrk else "  (wrk not installed or not chosen; `apt-get install wrk` leaves more "
                   "CPU to the servers)"))
    report.line(f"scratch directory: {scratch} ({filesystem_of(scratch)}; the store fsyncs every write)")
    figures: list[Figure] = []
    details: dict[str, Any] = {"sizes": sizes.__dict__, "machine": info, "load_generator": load.generator_name(use_wrk)}
    errors: dict[str, str] = {}
    try:
        with Servers(scratch, report.progress) as servers:
            bench = phases.Bench(servers, sizes, use_wrk)
            for name in [p.strip() for p in args.phases.split(",") if p.strip()]:
                report.line()
                report.line(f"== {name} ==")
                try:
                    measured = phases.PHASES[name](bench)
                except Exception as e:  # noqa: BLE001 - one failing phase must not hide the others
                    errors[name] = f"{type(e).__name__}: {e}"
                    report.line(f"  FAILED: {errors[name]}")
                    report.line("  " + traceback.format_exc().replace("\n", "\n  "))
                    continue
                report.measured(measured)
                figures.extend(measured.figures)
                details[name] = measured.details
            report.line()
    finally:
        if args.keep:
            report.line(f"scratch directory kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    details["loadavg_end"] = os.getloadavg()
    return figures, details, errors


def summary(report: Report, figures: list[Figure], errors: dict[str, str], quick: bool) -> None:
    report.line("== summary ==" + ("  (--quick: PASS/MISS only shows the check works)" if quick else ""))
    rows = []
    for f in figures:
        target, ok = verdict(f)
        rows.append([f.label, fmt(f.kubeclass, f.unit), fmt(f.trivial, f.unit), fmt_ratio(f.ratio), target,
                     "" if ok is None else ("PASS" if ok else "MISS")])
    rows.extend([[f"{name} (phase failed)", "ERROR", "", "", "", ""] for name in errors])
    report.table(["figure", "kubeclass", "trivial", "ratio", "target", "result"], rows)


def _num(value: float) -> float | None:
    return None if math.isnan(value) else value  # JSON has no NaN


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    unknown = [p for p in args.phases.split(",") if p.strip() and p.strip() not in phases.PHASES]
    if unknown:
        raise SystemExit(f"unknown phase(s): {', '.join(unknown)}; choose from {', '.join(phases.PHASES)}")
    # SIGTERM must unwind like Ctrl-C, so the servers are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report = Report(sys.stderr if args.json else sys.stdout)
    figures, details, errors = run(args, report)
    summary(report, figures, errors, args.quick)
    if args.json:
        doc = {"quick": args.quick, "figures": [], "errors": errors, "details": details}
        for f in figures:
            target, ok = verdict(f)
            doc["figures"].append({"key": f.key, "label": f.label, "unit": f.unit, "kubeclass": _num(f.kubeclass),
                                   "trivial": _num(f.trivial), "ratio": _num(f.ratio), "target": target or None,
                                   "pass": ok})
        json.dump(doc, sys.stdout, indent=2, default=str)
        print()
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
