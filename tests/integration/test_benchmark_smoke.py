"""The API server benchmark runs on this machine and prints every figure.

``python -m benchmarks.apiserver --quick`` starts its own cluster and trivial server,
measures each figure at small sizes and stops both. This checks what a reader of the
benchmark relies on: it exits 0, its summary has a line for every figure with a value
for kubeclass and for the trivial baseline, and ``--json`` gives the same figures as
numbers. How fast the figures are is for the benchmark's reader to judge, never for a
test: nothing here compares a figure with its target.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
VALUE = r"[\d,]+\.?\d*(?: ms| s|/s)"
# Every figure the summary prints, by the start of its label.
LABELS = {
    "get_p50": "GET one object: p50",
    "get_p99": "GET one object: p99",
    "get_rate": "GET one object: requests/s",
    "get_cpu": "GET one object: server CPU per request",
    "create_rate": "creates/s",
    "create_p50": "create: p50",
    "create_p99": "create: p99",
    "create_cpu": "create: server CPU per request",
    "list_json": "LIST 300 pods (JSON)",
    "list_table": "LIST 300 pods (Table, one page)",
    "list_kubectl": "kubectl get pods: 300 as Table in pages of 500",
    "watch_p50": "watch delivery to 10 watchers: p50",
    "watch_p99": "watch delivery to 10 watchers: p99",
}


def bench(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmarks.apiserver", "--quick", *args], check=False,
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=dict(os.environ))


def test_quick_run_prints_every_figure_beside_its_baseline():
    result = bench()
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    summary = result.stdout.split("== summary ==", 1)[1]
    for key, label in LABELS.items():
        row = re.search(rf"^\s+{re.escape(label)}\s+({VALUE})\s+({VALUE})\s+(\S+)", summary, re.MULTILINE)
        assert row, f"no summary line with both values for {key} ({label!r}):\n{summary}"
    assert "load generator: " in result.stdout
    assert "PASS" in summary or "MISS" in summary  # the targets column is there (its verdicts are not tested)


def test_json_output_has_every_figure_as_numbers():
    result = bench("--json", "--phases", "get")
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr[-4000:]}"
    doc = json.loads(result.stdout)
    figures = {f["key"]: f for f in doc["figures"]}
    assert set(figures) == {k for k in LABELS if k.startswith("get_")}
    for key, f in figures.items():
        for side in ("kubeclass", "trivial"):
            assert isinstance(f[side], (int, float)) and math.isfinite(f[side]) and f[side] >= 0, (key, f)
    assert doc["errors"] == {}
    assert "== summary ==" in result.stderr  # the human report moves to stderr
