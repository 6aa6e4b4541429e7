"""`kubeclass up`, `status` and `down` as a user runs them, and Ctrl-C leaving nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import yaml

from tests.livecluster import free_port

pytestmark = pytest.mark.slow

KUBECLASS = [sys.executable, "-m", "controlplane.cli.main"]


def cluster_processes(home: str) -> list[int]:
    """Every process whose command line names this cluster's data directory."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if home.encode() in cmdline and state != "Z":
            found.append(int(entry))
    return found


def wait_until(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def env(tmp_path):
    home = str(tmp_path / "cluster")
    environ = {**os.environ, "KUBECONFIG": str(tmp_path / "kubeconfig"), "KUBECLASS_HOME": home}
    yield home, environ
    subprocess.run([*KUBECLASS, "down"], env=environ, capture_output=True, timeout=60)
    for pid in cluster_processes(home):  # whatever a failed test left behind
        os.kill(pid, signal.SIGKILL)


def test_up_status_down(env, tmp_path):
    home, environ = env
    port = free_port()
    up = subprocess.run([*KUBECLASS, "up", "--port", str(port)], env=environ, capture_output=True, text=True,
                        timeout=120)
    assert up.returncode == 0, up.stderr
    assert "kubeclass is up" in up.stderr and "kubectl get nodes" in up.stderr
    config = yaml.safe_load((tmp_path / "kubeconfig").read_text())
    assert config["current-context"] == "kubeclass"
    assert config["clusters"][0]["cluster"]["server"] == f"https://127.0.0.1:{port}"
    status = subprocess.run([*KUBECLASS, "status"], env=environ, capture_output=True, text=True, timeout=30)
    assert status.returncode == 0, status.stderr
    for line in ("apiserver-1", "apiserver-3", "controller-manager-2", "scheduler-3", "node-worker-2",
                 "kube-controller-manager  master-", "kube-scheduler           master-"):
        assert line in status.stderr, line
    nodes = [line.split()[:2] for line in status.stderr.split("nodes", 1)[1].splitlines() if line.strip()]
    assert nodes == [["master-1", "Ready"], ["master-2", "Ready"], ["master-3", "Ready"],
                     ["worker-1", "Ready"], ["worker-2", "Ready"]]
    again = subprocess.run([*KUBECLASS, "up", "--port", str(port)], env=environ, capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 0 and "already running" in again.stderr
    assert cluster_processes(home)
    down = subprocess.run([*KUBECLASS, "down"], env=environ, capture_output=True, text=True, timeout=60)
    assert down.returncode == 0 and "Stopped" in down.stderr
    assert wait_until(lambda: not cluster_processes(home), 15), "down leaves no process behind"
    status = subprocess.run([*KUBECLASS, "status"], env=environ, capture_output=True, text=True, timeout=30)
    assert status.returncode == 1 and "not running" in status.stderr


def test_ctrl_c_in_the_foreground_stops_everything(env):
    home, environ = env
    proc = subprocess.Popen([*KUBECLASS, "up", "--foreground", "--port", str(free_port())], env=environ,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
        assert wait_until(lambda: "Running in the foreground" in "".join(lines), 90), "".join(lines)
        assert len(cluster_processes(home)) >= 4, "the cluster runs"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert wait_until(lambda: not cluster_processes(home), 15), "Ctrl-C leaves no orphan process"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_ctrl_c_while_starting_stops_what_had_started(env):
    home, environ = env
    proc = subprocess.Popen([*KUBECLASS, "up", "--port", str(free_port())], env=environ,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_until(lambda: len(cluster_processes(home)) >= 1, 60), "the API server was starting"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 130 and "stopped what had started" in out
        assert wait_until(lambda: not cluster_processes(home), 15), "Ctrl-C leaves no orphan process"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_busy_port_is_a_one_line_error(env):
    import socket

    home, environ = env
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        up = subprocess.run([*KUBECLASS, "up", "--port", str(port)], env=environ, capture_output=True, text=True,
                            timeout=60)
    assert up.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in up.stderr and "--port N" in up.stderr
    assert "Traceback" not in up.stderr
    assert not cluster_processes(home)
