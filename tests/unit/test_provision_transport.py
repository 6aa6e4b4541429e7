"""Transports: LocalTransport on a temp dir, FakeTransport's in-memory host, Become."""

from __future__ import annotations

import pytest

from provision import remotefs
from provision.fake import FakeTransport, fail, ok
from provision.transport import Become, CommandError, LocalTransport, Transport, Unreachable


def test_local_run_captures_output_exit_code_and_stdin(tmp_path):
    t = LocalTransport()
    res = t.run("cat; echo err >&2; exit 3", input="hello")
    assert (res.stdout, res.stderr.strip(), res.exit_code) == ("hello", "err", 3)
    with pytest.raises(CommandError, match="exited 3: err"):
        t.run("echo err >&2; exit 3", check=True)


def test_local_put_get_and_mode(tmp_path):
    t = LocalTransport()
    target = str(tmp_path / "f")
    t.put(b"data", target, mode=0o600)
    assert t.get(target) == b"data"
    assert remotefs.stat(t, target) == remotefs.Stat("file", 0o600, *_me(t))
    with pytest.raises(FileNotFoundError):
        t.get(str(tmp_path / "missing"))


def _me(t: Transport) -> tuple[str, str]:
    return t.run("id -un").stdout.strip(), t.run("id -gn").stdout.strip()


def test_all_transports_satisfy_the_protocol():
    assert isinstance(LocalTransport(), Transport)
    assert isinstance(FakeTransport(), Transport)
    assert isinstance(Become(FakeTransport()), Transport)


def test_fake_scripted_commands_and_call_record():
    fake = FakeTransport().on("uname -r", ok("6.8.0\n")).on(
        __import__("re").compile(r"^systemctl is-active "), fail("inactive", 3))
    assert fake.run("uname -r").stdout == "6.8.0\n"
    assert fake.run("systemctl is-active etcd").exit_code == 3
    assert fake.run("frobnicate").exit_code == 127
    assert fake.commands == ["uname -r", "systemctl is-active etcd", "frobnicate"]


def test_fake_filesystem_commands_match_coreutils_on_a_real_directory(tmp_path):
    """The fake must answer remotefs exactly as a real host does, or module tests lie."""
    for t, root in ((FakeTransport(dirs={"/", "/r"}), "/r"), (LocalTransport(), str(tmp_path))):
        assert remotefs.stat(t, f"{root}/a") is None
        remotefs.write_atomic(t, f"{root}/a", b"one\n", mode=0o640)
        assert remotefs.read(t, f"{root}/a") == b"one\n"
        st = remotefs.stat(t, f"{root}/a")
        assert (st.kind, st.mode) == ("file", 0o640)
        remotefs.write_atomic(t, f"{root}/a", b"two\n")  # keeps the old mode
        assert remotefs.stat(t, f"{root}/a").mode == 0o640
        t.run(f"mkdir -p -- {root}/d/e", check=True)
        assert remotefs.stat(t, f"{root}/d/e").kind == "directory"
        t.run(f"rm -rf -- {root}/d", check=True)
        assert remotefs.stat(t, f"{root}/d/e") is None
        assert remotefs.sha256(t, f"{root}/a") == \
            "27dd8ed44a83ff94d557f9fd0412ed5a8cbca69ea04922d88c01184a07300a5a"
        leftovers = t.run(f"ls -A {root}").stdout.split() if isinstance(t, LocalTransport) \
            else [p for p in t.files if p.startswith(f"{root}/.")]
        assert leftovers == (["a"] if isinstance(t, LocalTransport) else [])  # no temp file


def test_fake_unreachable_raises_on_every_verb():
    fake = FakeTransport(unreachable=True)
    for call in (lambda: fake.run("true"), lambda: fake.get("/x"), lambda: fake.put(b"", "/x")):
        with pytest.raises(Unreachable):
            call()


def test_become_runs_with_sudo_and_uploads_through_a_root_copy():
    fake = FakeTransport(user="vagrant", root_only=("/etc/",))
    with pytest.raises(PermissionError):
        fake.put(b"x", "/etc/motd")
    t = Become(fake)
    t.put(b"hello", "/etc/motd", mode=0o644)
    assert fake.files["/etc/motd"] == b"hello"
    assert fake.meta["/etc/motd"].owner == "root"
    assert not [p for p in fake.files if p.startswith("/tmp/")]  # staging file removed
    assert all(c.sudo for c in fake.calls if c.verb == "run")
    assert t.get("/etc/motd") == b"hello"
    with pytest.raises(FileNotFoundError):
        t.get("/etc/nothing")


def test_fabric_transport_reports_a_refused_connection_as_unreachable():
    import socket

    from provision.transport import FabricTransport

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = FabricTransport("m1", "127.0.0.1", port=port, connect_timeout=2)
    with pytest.raises(Unreachable, match="m1: NoValidConnectionsError"):
        t.run("true")
    t.close()
