"""The scheduler's layering, checked: it reaches the cluster only through the client.

ARCHITECTURE.md: the scheduler never imports ``controlplane.api`` or
``controlplane.storage`` (its only write is a Binding, sent through the API server),
and each plugin file stands alone (what plugins share lives in ``matching`` and
``resources``). The same import-linter that checks pyproject.toml's contracts checks
these, from a config written for this test.
"""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGINS = ["default_binder", "node_affinity", "node_name", "node_ports", "node_resources_fit",
           "node_unschedulable", "pod_topology_spread", "taint_toleration"]

CONFIG = """
[importlinter]
root_packages =
    controlplane

[importlinter:contract:scheduler-through-the-api]
name = the scheduler reaches the cluster only through the client
type = forbidden
source_modules =
    controlplane.scheduler
forbidden_modules =
    controlplane.api
    controlplane.storage
    controlplane.controllers

[importlinter:contract:plugins-stand-alone]
name = each scheduler plugin is independent of the others
type = independence
modules =
{modules}
"""


def test_scheduler_import_contracts(tmp_path):
    config = tmp_path / "importlinter.ini"
    config.write_text(CONFIG.format(modules="\n".join(f"    controlplane.scheduler.plugins.{m}" for m in PLUGINS)))
    binary = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    result = subprocess.run([binary, "--config", str(config), "--no-cache"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_every_plugin_file_is_listed_above():
    folder = os.path.join(ROOT, "controlplane", "scheduler", "plugins")
    found = sorted(f[:-3] for f in os.listdir(folder) if f.endswith(".py") and f != "__init__.py")
    assert found == PLUGINS
