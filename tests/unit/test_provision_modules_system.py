"""command, sysctl, systemd, user and wait_for: changed, then ok; check mode acts on nothing."""

from __future__ import annotations

import http.server
import re
import shlex
import socket
import threading

import pytest

from provision.fake import FakeTransport, fail, ok
from provision.modules import MODULES, Result, run_module
from provision.modules.systemd import UNITS_CHANGED
from provision.transport import LocalTransport, RunResult, Transport


def run(t: Transport, module: str, check: bool = False, facts: dict | None = None,
        **args) -> Result:
    return run_module(MODULES[module], t, args, check, facts if facts is not None else {})


# -- command ------------------------------------------------------------------------------

def test_command_runs_and_reports_output_and_failure(tmp_path):
    t = LocalTransport()
    res = run(t, "command", cmd="echo hi")
    assert (res.changed, res.failed, res.msg, res.data["rc"]) == (True, False, "hi", 0)
    bad = run(t, "command", cmd="echo boom >&2; exit 2")
    assert bad.failed and bad.msg == "non-zero return code 2: boom"


def test_command_creates_and_removes_make_it_idempotent(tmp_path):
    t, marker = LocalTransport(), tmp_path / "done"
    args = {"cmd": f"touch {marker}", "creates": str(marker)}
    assert run(t, "command", check=True, **args).changed and not marker.exists()
    assert run(t, "command", **args).changed and marker.exists()
    second = run(t, "command", **args)
    assert not second.changed and "exists" in second.msg
    assert not run(t, "command", cmd="rm x", removes=str(tmp_path / "absent")).changed
    assert run(t, "command", cmd="pwd", chdir=str(tmp_path)).data["stdout"].strip() == \
        str(tmp_path)


# -- sysctl -------------------------------------------------------------------------------

def kernel(values: dict[str, str]) -> FakeTransport:
    """A fake host whose `sysctl -n/-w` read and write `values`."""
    fake = FakeTransport(dirs={"/", "/etc", "/etc/sysctl.d"})

    def read(cmd: str) -> RunResult:
        key = shlex.split(cmd)[-1]
        return ok(values[key] + "\n") if key in values else fail(f"sysctl: cannot stat {key}")

    def write(cmd: str) -> RunResult:
        key, _, value = shlex.split(cmd)[-1].partition("=")
        values[key] = value.replace(" ", "\t")  # the kernel prints tabs
        return ok()

    return fake.on(re.compile(r"^sysctl -n "), read).on(re.compile(r"^sysctl -w "), write)


def test_sysctl_writes_drop_in_and_applies_then_is_ok():
    values = {"net.ipv4.ip_forward": "0", "net.ipv4.ip_local_port_range": "32768\t60999"}
    t = kernel(values)
    args = {"name": "net.ipv4.ip_forward", "value": "1"}
    dry = run(t, "sysctl", check=True, **args)
    assert dry.changed and values["net.ipv4.ip_forward"] == "0"
    assert "/etc/sysctl.d/99-kubeclass.conf" not in t.files
    res = run(t, "sysctl", **args)
    assert res.changed and "+net.ipv4.ip_forward = 1" in res.diff
    assert t.text("/etc/sysctl.d/99-kubeclass.conf") == "net.ipv4.ip_forward = 1\n"
    assert values["net.ipv4.ip_forward"] == "1"
    assert not run(t, "sysctl", **args).changed
    # Whitespace in multi-value keys is not a difference.
    same = run(t, "sysctl", name="net.ipv4.ip_local_port_range", value="32768 60999")
    assert same.changed and not any(c.startswith("sysctl -w") and "port_range" in c
                                    for c in t.commands)


def test_sysctl_unknown_key_and_bad_file_name():
    t = kernel({})
    res = run(t, "sysctl", name="net.bogus", value="1")
    assert res.failed and "unknown sysctl key net.bogus" in res.msg
    assert run(t, "sysctl", name="a.b", value="1", file="../x.conf").failed


# -- systemd ------------------------------------------------------------------------------

class Systemctl:
    """Plays `systemctl` for a fake host with a table of units."""

    def __init__(self, fake: FakeTransport, units: dict[str, dict[str, str]]) -> None:
        self.units, self.reloads = units, 0
        fake.on(re.compile(r"^systemctl "), self)

    def __call__(self, cmd: str) -> RunResult:
        argv = shlex.split(cmd)[1:]
        verb, name = argv[0], argv[1] if len(argv) > 1 else ""
        if verb == "daemon-reload":
            self.reloads += 1
            return ok()
        unit = self.units.get(name)
        if verb == "show":
            if unit is None:
                return ok("LoadState=not-found\nActiveState=inactive\nUnitFileState=\n")
            return ok(f"LoadState=loaded\nActiveState={unit['active']}\n"
                      f"UnitFileState={unit['enabled']}\n")
        states = {"start": ("active", None), "stop": ("inactive", None),
                  "restart": ("active", None), "enable": (None, "enabled"),
                  "disable": (None, "disabled")}
        active, enabled = states[verb]
        unit["active"] = active or unit["active"]
        unit["enabled"] = enabled or unit["enabled"]
        return ok()


def test_systemd_start_enable_then_ok_and_check_mode():
    fake = FakeTransport()
    sd = Systemctl(fake, {"etcd.service": {"active": "inactive", "enabled": "disabled"}})
    args = {"name": "etcd.service", "state": "started", "enabled": True}
    dry = run(fake, "systemd", check=True, **args)
    assert dry.changed and sd.units["etcd.service"] == {"active": "inactive",
                                                         "enabled": "disabled"}
    res = run(fake, "systemd", **args)
    assert res.changed and res.msg == "etcd.service: enabled, started"
    assert sd.units["etcd.service"] == {"active": "active", "enabled": "enabled"}
    assert not run(fake, "systemd", **args).changed
    assert run(fake, "systemd", name="etcd.service", state="restarted").changed  # always
    assert run(fake, "systemd", name="etcd.service", state="stopped").changed
    assert not run(fake, "systemd", name="etcd.service", state="stopped").changed
    missing = run(fake, "systemd", name="nope.service", state="started")
    assert missing.failed and "could not find the unit nope.service" in missing.msg


def test_systemd_daemon_reload_only_when_a_unit_file_changed():
    fake = FakeTransport()
    sd = Systemctl(fake, {"a.service": {"active": "active", "enabled": "enabled"}})
    args = {"name": "a.service", "state": "started", "daemon_reload": True}
    assert not run(fake, "systemd", facts={UNITS_CHANGED: False}, **args).changed
    assert sd.reloads == 0
    res = run(fake, "systemd", facts={UNITS_CHANGED: True}, **args)
    assert res.changed and sd.reloads == 1 and res.data["daemon_reloaded"]
    assert run(fake, "systemd", check=True, facts={UNITS_CHANGED: True}, **args).changed
    assert sd.reloads == 1


# -- user ---------------------------------------------------------------------------------

class Accounts:
    """Plays getent/id/useradd/usermod/userdel against a dict of users."""

    def __init__(self, fake: FakeTransport) -> None:
        self.users: dict[str, dict] = {}
        for prog in ("getent passwd", "id -gn", "id -nG", "useradd", "usermod", "userdel"):
            fake.on(re.compile(rf"^{prog} "), self)

    def __call__(self, cmd: str) -> RunResult:
        argv = shlex.split(cmd)
        name = argv[-1]
        u = self.users.get(name)
        if argv[0] in ("getent", "id") and u is None:
            return fail("", 2)
        if argv[0] == "getent":
            return ok(f"{name}:x:1001:1001::{u['home']}:{u['shell']}\n")
        if argv[:2] == ["id", "-gn"]:
            return ok(f"{name}\n")
        if argv[:2] == ["id", "-nG"]:
            return ok(" ".join([name, *u["groups"]]) + "\n")
        if argv[0] == "userdel":
            del self.users[name]
            return ok()
        u = self.users.setdefault(name, {"home": f"/home/{name}", "shell": "/bin/sh",
                                         "groups": []})
        opts = argv[1:-1]
        for flag, value in zip(opts, opts[1:] + [""]):
            if flag == "-s":
                u["shell"] = value
            elif flag == "-G":
                new = value.split(",")
                u["groups"] = sorted(set(u["groups"]) | set(new)) if "-a" in opts else new
        return ok()


def test_user_create_modify_append_and_remove():
    fake = FakeTransport()
    acc = Accounts(fake)
    args = {"name": "kube", "shell": "/bin/bash", "groups": ["adm", "docker"]}
    assert run(fake, "user", check=True, **args).changed and acc.users == {}
    assert run(fake, "user", **args).changed
    assert acc.users["kube"]["groups"] == ["adm", "docker"]
    assert "useradd -m -s /bin/bash -G adm,docker kube" in fake.commands
    assert not run(fake, "user", **args).changed

    res = run(fake, "user", name="kube", groups=["systemd-journal"], append=True)
    assert res.changed and res.msg == "user kube: groups +systemd-journal"
    assert acc.users["kube"]["groups"] == ["adm", "docker", "systemd-journal"]
    assert not run(fake, "user", name="kube", groups="adm", append=True).changed
    assert run(fake, "user", name="kube", groups="adm").changed  # replace the list
    assert acc.users["kube"]["groups"] == ["adm"]

    assert run(fake, "user", name="kube", state="absent").changed and "kube" not in acc.users
    assert not run(fake, "user", name="kube", state="absent").changed


# -- wait_for (runs on the host: here, this machine through LocalTransport) ---------------

def test_wait_for_port_ready_and_timeout():
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        res = run(LocalTransport(), "wait_for", port=port, timeout=5)
        assert not res.changed and not res.failed and res.msg.endswith("is ready")
    res = run(LocalTransport(), "wait_for", port=port, timeout=0.3, sleep=0.1)
    assert res.failed and "timed out after 0.3s" in res.msg
    dry = run(LocalTransport(), "wait_for", check=True, port=port, timeout=0.3)
    assert not dry.failed and "check mode" in dry.msg
    assert "exactly one of 'port' or 'url'" in run(LocalTransport(), "wait_for").msg


@pytest.fixture
def http_server():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_wait_for_url(http_server):
    t = LocalTransport()
    assert not run(t, "wait_for", url=f"{http_server}/healthz", timeout=5).failed
    res = run(t, "wait_for", url=f"{http_server}/missing", timeout=0.3, sleep=0.1)
    assert res.failed and "HTTP 404" in res.msg
    assert not run(t, "wait_for", url=f"{http_server}/missing", status_code=[404],
                   timeout=2).failed
