"""The layers of ARCHITECTURE.md are a contract: checked, not just written down.

Only the API server touches storage: controllers, the scheduler, node agents and the
client reach the cluster through the API, as in Kubernetes. Provisioning never imports
the cluster code. The contracts live in pyproject.toml ([tool.importlinter]).
"""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(tool: str, *args: str) -> subprocess.CompletedProcess:
    binary = os.path.join(os.path.dirname(sys.executable), tool)
    return subprocess.run([binary, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_import_contracts_hold():
    result = run("lint-imports")
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_undefined_names_or_unused_imports():
    result = run("ruff", "check", "--select", "F,E9", "controlplane", "nodeagent", "provision", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr
