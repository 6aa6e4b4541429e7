"""The provisioning benchmark runs on this machine and measures every figure.

``python -m benchmarks.provision --quick --json`` builds a bundle, makes a lab of one master
and one worker, provisions it from the bundle, provisions it again and takes the lab down.
This checks what a reader relies on: it exits 0, every figure is a number, the second run's
changed count is the recap's, and no lab is left behind. How fast is for the reader to judge.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess

import pytest

from tests.integration.test_workloads_benchmark_smoke import quick_run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("systemd-nspawn"),
                       reason="lab hosts need root and systemd-nspawn (./dev test installs them)"),
]

FIGURES = {"bundle_size", "bundle_build", "labhosts_up", "fresh_to_ready", "second_run", "second_changed"}


def test_quick_run_measures_every_figure_and_leaves_no_lab():
    result, doc, figures = quick_run("benchmarks.provision", 900)
    assert set(figures) == FIGURES
    for key, f in figures.items():
        assert isinstance(f["value"], (int, float)) and math.isfinite(f["value"]), (key, f)
        assert f["value"] > 0 or key == "second_changed", (key, f)
    assert doc["details"]["second"]["changed"].keys() == {"master-1", "worker-1"}
    assert figures["second_changed"]["value"] == sum(doc["details"]["second"]["changed"].values())
    assert "== summary ==" in result.stderr and "labhosts down" in result.stderr
    bridge = doc["details"]["fresh"]["bridge"]
    assert bridge.startswith("kcl")
    assert subprocess.run(["ip", "link", "show", bridge], capture_output=True).returncode != 0, "the lab is left"
