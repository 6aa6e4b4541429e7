"""The workloads benchmark runs on this machine and measures every figure.

``python -m benchmarks.workloads --quick --json`` runs the scheduler at small sizes,
starts its own local cluster (three masters, two workers), starts pods, kills the
controller manager's leader and a worker, and stops the cluster. This checks what a
reader of the benchmark relies on: it exits 0, the JSON document has every figure as a
number, the human report went to stderr with its summary, and the cluster it started is
gone. How fast the figures are is for the benchmark's reader to judge, never for a test:
nothing here compares a figure with its target.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
FIGURES = {
    "scheduler_small", "scheduler_large",
    "startup_p50", "startup_p99", "startup_max",
    "startup_paced_p50", "startup_paced_p99", "startup_paced_max",
    "failover_lease", "failover_reconcile",
    "worker_notready", "worker_replaced",
}
WITH_TARGET = {"scheduler_small", "scheduler_large", "startup_p99", "startup_paced_p99", "failover_reconcile",
               "worker_replaced"}


def quick_run(module: str, timeout: float) -> tuple[subprocess.CompletedProcess[str], dict, dict[str, dict]]:
    """``python -m MODULE --quick --json``, which must exit 0 with no phase failed: the run,
    its JSON document, and its figures by key."""
    result = subprocess.run([sys.executable, "-m", module, "--quick", "--json"], check=False,
                            cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=dict(os.environ))
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    doc = json.loads(result.stdout)
    assert doc["errors"] == {}
    return result, doc, {f["key"]: f for f in doc["figures"]}


def test_quick_run_measures_every_figure():
    result, doc, figures = quick_run("benchmarks.workloads", 900)
    assert set(figures) == FIGURES
    for key, f in figures.items():
        assert isinstance(f["value"], (int, float)) and math.isfinite(f["value"]) and f["value"] > 0, (key, f)
        assert (f["target"] is not None) == (key in WITH_TARGET), (key, f)
        assert f["pass"] in ((True, False) if key in WITH_TARGET else (None,)), (key, f)
    assert "== summary ==" in result.stderr  # the human report moves to stderr
    for f in figures.values():
        assert f["label"] in result.stderr.split("== summary ==", 1)[1]
    assert "Stopping apiserver-1" in result.stderr  # the cluster it started was stopped
