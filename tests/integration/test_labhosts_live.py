"""Lab hosts as a user meets them: `kubeclass labhosts up` makes machine-like hosts that the
provisioning engine reaches over real SSH (Fabric), that have no route beyond the lab,
that can lose power, and that `down` removes without a trace."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from provision import inventory, playbook
from provision.executor import Executor, Options

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("systemd-nspawn"),
                       reason="lab hosts need root and systemd-nspawn (./dev test installs it)"),
]

PLAYBOOK = """
- name: try the lab hosts
  hosts: all
  become: true
  tasks:
    - name: a file
      copy: {dest: /etc/kubeclass-hello, content: "hello {{ inventory_hostname }}\\n", mode: "0644"}
    - name: leave the lab
      command: python3 -c "import socket; socket.create_connection(('151.101.2.132', 80), timeout=3)"
"""


def kubeclass(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECLASS_LABHOSTS_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "controlplane.cli.main", "labhosts", "--lab", "t",
                           *args], capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture
def lab(tmp_path_factory):
    home = Path(f"/tmp/kclab-{uuid.uuid4().hex[:6]}")
    try:
        up = kubeclass(home, "up", "--masters", "1", "--workers", "1")
        assert up.returncode == 0, up.stdout + up.stderr
        yield home / "t"
    finally:
        down = kubeclass(home, "down")
        shutil.rmtree(home, ignore_errors=True)
        assert down.returncode == 0, down.stderr


def test_hosts_answer_over_ssh_and_cannot_leave_the_lab(lab, tmp_path):
    status = kubeclass(lab.parent, "status")
    assert "master-1" in status.stdout and "worker-1" in status.stdout and "running" in status.stdout
    book = tmp_path / "play.yml"
    book.write_text(PLAYBOOK)
    log = tmp_path / "log.json"
    out = tmp_path / "out.txt"
    with open(out, "w") as handle:
        recap = Executor(inventory.load(lab / "inventory.yaml"), Options(log_path=log),
                         out=handle).run(playbook.load(book))
    text = out.read_text()
    assert set(recap) == {"master-1", "worker-1"}
    assert all(c.changed >= 1 and c.failed == 1 for c in recap.values()), text
    # the hosts are real machines to SSH: the file is there, written as root
    assert "changed: [master-1]" in text.split("TASK [leave the lab]")[0]
    # the way out fails, and the failure names the task that tried
    left = text.split("TASK [leave the lab]")[1]
    assert "Network is unreachable" in left and "tried to reach beyond the hosts' network" in left, text


def test_a_power_cut_stops_the_host_and_up_brings_it_back(lab):
    cut = kubeclass(lab.parent, "stop", "--kill", "worker-1")
    assert cut.returncode == 0 and "power cut" in cut.stderr
    assert "stopped" in kubeclass(lab.parent, "status").stdout
    again = kubeclass(lab.parent, "up")
    assert again.returncode == 0 and "started worker-1" in again.stderr
