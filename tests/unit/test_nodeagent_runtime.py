"""The process runtime on this machine: a container's own root with volumes at their mount
paths, exec inside it, cgroup limits and the /proc fallback, pod network namespaces.

Parts need root (namespaces, mounts, cgroups); they are skipped otherwise. Everything a
test creates (namespaces, bridges, cgroups, processes) carries a random name and is removed.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.request

import pytest

from nodeagent.cgroups import Cgroups
from nodeagent.network import LoopbackNetwork, NetnsNetwork, run_ip
from nodeagent.process import ContainerConfig
from nodeagent.runtime import ProcessRuntime
from nodeagent.volumes import Mount

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, mounts, cgroups)")


def config(tmp_path, name="c", argv=("true",), **kw) -> ContainerConfig:
    d = tmp_path / "pod" / name
    return ContainerConfig(id=secrets.token_hex(32), pod_uid="uid-" + secrets.token_hex(4), name=name, attempt=0,
                           image="busybox", image_id="x", argv=list(argv), env={"PATH": os.environ["PATH"]},
                           log_path=str(d / "0.log"), attempt_dir=str(d / "0"), **kw)


def wait_exit(cp, timeout=20.0):
    assert cp.exited.wait(timeout), "the container did not exit"
    return cp


def log_text(cp) -> str:
    with open(cp.config.log_path) as f:
        return "".join(line.split(" ", 3)[3] for line in f)


@pytest.fixture
def loopback_runtime(tmp_path):
    return ProcessRuntime(str(tmp_path), LoopbackNetwork(149), None, use_rootfs=False, node_name="n")


def test_exit_codes_reasons_and_sigterm(tmp_path, loopback_runtime):
    ok = wait_exit(loopback_runtime.start_container(config(tmp_path, "ok", ["sh", "-c", "echo out; echo err >&2"])))
    assert (ok.exit_code, ok.reason) == (0, "Completed")
    assert "out\n" in log_text(ok) and "err\n" in log_text(ok)
    bad = wait_exit(loopback_runtime.start_container(config(tmp_path, "bad", ["sh", "-c", "exit 4"])))
    assert (bad.exit_code, bad.reason) == (4, "Error")
    sleeper = loopback_runtime.start_container(config(tmp_path, "sleep", ["sleep", "60"]))
    assert sleeper.running
    sleeper.stop(5)
    assert (sleeper.exit_code, sleeper.signal) == (143, 15)


def test_stop_kills_with_sigkill_after_the_grace_period(tmp_path, loopback_runtime):
    stubborn = loopback_runtime.start_container(
        config(tmp_path, "stubborn", [sys.executable, "-c", "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"]))
    deadline = time.monotonic() + 5
    while "ready" not in log_text(stubborn) and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    stubborn.stop(0.5)
    assert 0.4 < time.monotonic() - started < 5
    assert (stubborn.exit_code, stubborn.signal) == (137, 9)


def test_leftover_children_go_when_the_main_process_exits(tmp_path, loopback_runtime):
    cp = wait_exit(loopback_runtime.start_container(config(tmp_path, "bg", ["sh", "-c", "sleep 60 & echo $!; exit 0"])))
    child = int(log_text(cp).split()[0])
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{child}") and time.monotonic() < deadline:
        time.sleep(0.05)
    state = open(f"/proc/{child}/stat").read().split()[2] if os.path.exists(f"/proc/{child}") else "gone"
    assert state in ("gone", "Z")


def test_memory_limit_without_cgroups_is_enforced_from_proc(tmp_path, loopback_runtime):
    hog = loopback_runtime.start_container(config(
        tmp_path, "hog", [sys.executable, "-c", "import time; x = bytearray(300 * 2**20); time.sleep(60)"],
        memory_limit=100 * 2**20))
    deadline = time.monotonic() + 20
    while hog.running and time.monotonic() < deadline:
        loopback_runtime.sample()
        time.sleep(0.1)
    wait_exit(hog)
    assert (hog.reason, hog.exit_code) == ("OOMKilled", 137)


def test_cpu_usage_is_sampled_as_a_rate(tmp_path, loopback_runtime):
    burner = loopback_runtime.start_container(config(tmp_path, "burn", [sys.executable, "-c", "while True: pass"]))
    try:
        loopback_runtime.sample()
        time.sleep(0.5)
        loopback_runtime.sample()
        assert burner.nano_cores > 300_000_000  # most of a CPU
        cpu, working_set, _ = loopback_runtime.usage(burner)
        assert cpu > 0 and working_set > 1_000_000
    finally:
        burner.stop(1)


@root_only
def test_own_root_shows_volumes_at_their_mount_paths_and_leaves_the_host_alone(tmp_path):
    runtime = ProcessRuntime(str(tmp_path), LoopbackNetwork(149), None, use_rootfs=True, node_name="n")
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "greeting").write_text("hello from a volume")
    hosts = tmp_path / "hosts"
    hosts.write_text("10.244.0.9\tmypod\n")
    missing = f"/kc-test-{secrets.token_hex(4)}/config"
    cp = runtime.start_container(config(
        tmp_path, "c", ["sh", "-c", f"cat {missing}/greeting; echo; cat /etc/hosts; hostname; pwd; "
                                    f"echo x > {missing}/ro 2>/dev/null || echo read-only; sleep 30"],
        mounts=[Mount(str(vol), missing, True), Mount(str(hosts), "/etc/hosts")], use_rootfs=True,
        hostname="mypod", cwd="/work-dir-kc"))
    try:
        deadline = time.monotonic() + 10
        while "read-only" not in log_text(cp) and time.monotonic() < deadline:
            time.sleep(0.05)
        out = log_text(cp)
        assert "hello from a volume" in out and "10.244.0.9\tmypod" in out
        assert "\nmypod\n" in out and "/work-dir-kc\n" in out and "read-only" in out
        assert not os.path.exists(missing.rsplit("/", 1)[0]) and not os.path.exists("/work-dir-kc")
        code, output = runtime.exec_sync(cp, ["sh", "-c", f"hostname; cat {missing}/greeting; echo; pwd"], 10)
        assert code == 0 and output.split("\n")[:3] == ["mypod", "hello from a volume", "/work-dir-kc"]
        code, output = runtime.exec_sync(cp, ["sh", "-c", "exit 5"], 10)
        assert code == 5
        with pytest.raises(TimeoutError):
            runtime.exec_sync(cp, ["sleep", "10"], 0.3)
    finally:
        cp.stop(2)


@root_only
def test_cgroup_memory_limit_oom_kills(tmp_path):
    cgroups = Cgroups.create(f"kctest-{secrets.token_hex(3)}")
    if cgroups is None:
        pytest.skip("no cgroup v1 memory/cpu hierarchy here")
    try:
        runtime = ProcessRuntime(str(tmp_path), LoopbackNetwork(149), cgroups, use_rootfs=False, node_name="n")
        cg = runtime.container_cgroup("uid1", "hog", 0, memory_limit=64 * 2**20, cpu_limit_millis=500,
                                      cpu_request_millis=250)
        assert cg is not None
        with open(os.path.join(cg.paths["cpu"], "cpu.cfs_quota_us")) as f:
            assert f.read().strip() == "50000"
        hog = wait_exit(runtime.start_container(config(
            tmp_path, "hog", [sys.executable, "-c", "x = bytearray(300 * 2**20)"], cgroup=cg)))
        assert (hog.reason, hog.exit_code) == ("OOMKilled", 137)
        assert not os.path.exists(cg.paths["memory"])  # removed once the container is gone
    finally:
        cgroups.remove_all()
    assert not any(os.path.exists(p) for p in cgroups.parents.values())


@root_only
def test_pods_get_namespaces_on_the_bridge_and_can_share_a_port(tmp_path):
    cid = secrets.token_hex(2)
    index = 200 + secrets.randbelow(50)
    netw = NetnsNetwork(cid, index, f"10.244.{index}.0/24", "10.244.0.0/16", "10.96.0.0/16", str(tmp_path / "net.json"))
    netw.setup()
    runtime = ProcessRuntime(str(tmp_path), netw, None, use_rootfs=False, node_name="n")
    containers = []
    try:
        addresses = []
        for name in ("a", "b"):
            uid = f"{name}-{secrets.token_hex(8)}"
            att = netw.add_pod(uid)
            addresses.append(att.ip)
            containers.append(runtime.start_container(config(
                tmp_path, name, [sys.executable, "-m", "http.server", "8080", "--bind", "0.0.0.0"], netns=att.netns)))
        assert addresses == [f"10.244.{index}.2", f"10.244.{index}.3"]
        for ip in addresses:
            deadline, body = time.monotonic() + 10, None
            while body is None and time.monotonic() < deadline:
                try:
                    body = urllib.request.urlopen(f"http://{ip}:8080/", timeout=1).status
                except OSError:
                    time.sleep(0.1)
            assert body == 200
        routes = subprocess.run(["ip", "-n", netw.netns_name(uid), "route"], capture_output=True, text=True, check=False).stdout
        assert "default" not in routes and "10.96.0.0/16" in routes and "10.244.0.0/16" in routes
    finally:
        for cp in containers:
            cp.stop(2)
        netw.teardown()
    assert run_ip("link", "show", netw.bridge, check=False).returncode != 0
    assert not any(ns.startswith(f"kc{cid}-") for ns in os.listdir("/run/netns"))
