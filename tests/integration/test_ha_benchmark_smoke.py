"""The HA benchmark runs on this machine and measures every figure.

``python -m benchmarks.ha --quick --json`` starts its own clusters (two of one API server
for the create figures; then three masters on etcd and two workers), kills an etcd leader,
masters, the controller manager's leader and a worker, and stops everything. This checks
what a reader relies on: it exits 0, every figure is a number, the acknowledged-writes
checker found nothing lost, the worker's timeline was printed, nothing is left running.
How fast the figures are is for the reader to judge, never for a test.
"""

from __future__ import annotations

import math

import pytest

from tests.integration.test_workloads_benchmark_smoke import quick_run

pytestmark = pytest.mark.slow

FIGURES = {"creates_sqlite", "creates_etcd", "creates_ratio", "writes_rate", "writes_pause", "writes_lost",
           "master_leader", "master_other", "failover_lease", "failover_reconcile", "worker_notready",
           "worker_replaced"}


def test_quick_run_measures_every_figure():
    result, doc, figures = quick_run("benchmarks.ha", 1200)
    assert set(figures) == FIGURES
    for key, f in figures.items():
        assert isinstance(f["value"], (int, float)) and math.isfinite(f["value"]), (key, f)
        assert f["value"] > 0 or key == "writes_lost", (key, f)
    assert figures["writes_lost"]["value"] == 0, doc["notes"]["writes"]
    assert doc["details"]["writes"]["verdict"]["lost"] == [] and "checker verdict: OK" in doc["notes"]["writes"]
    timeline = doc["details"]["worker"]["timeline"]
    assert any("worker-2 NotReady" in line for line in timeline), timeline
    assert any("evicted (node.kubernetes.io/unreachable)" in line for line in timeline), timeline
    assert "== summary ==" in result.stderr and "Stopping apiserver-1" in result.stderr
