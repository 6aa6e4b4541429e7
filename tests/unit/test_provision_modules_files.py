"""File modules run twice (changed, then ok), in check mode, and with diffs.

Each scenario runs on FakeTransport and on LocalTransport in a temp directory, so the
fake cannot drift from what coreutils really do.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from provision import remotefs
from provision.fake import FakeTransport
from provision.modules import MODULES, Result, run_module
from provision.transport import LocalTransport, Transport


@pytest.fixture(params=["fake", "local"])
def host(request, tmp_path) -> tuple[Transport, str]:
    if request.param == "fake":
        return FakeTransport(dirs={"/", "/srv"}), "/srv"
    return LocalTransport(), str(tmp_path)


def run(t: Transport, module: str, check: bool = False, **args) -> Result:
    return run_module(MODULES[module], t, args, check, {}, base_dir=Path(__file__).parent)


def read(t: Transport, path: str) -> bytes | None:
    return remotefs.read(t, path)


def test_copy_changed_then_ok_with_diff_and_mode(host):
    t, root = host
    dest = f"{root}/app.conf"
    first = run(t, "copy", dest=dest, content="port: 1\n", mode="0600")
    assert (first.changed, first.failed) == (True, False)
    assert "+port: 1" in first.diff
    assert read(t, dest) == b"port: 1\n" and remotefs.stat(t, dest).mode == 0o600
    assert run(t, "copy", dest=dest, content="port: 1\n", mode="0600").changed is False

    second = run(t, "copy", dest=dest, content="port: 2\n")
    assert second.changed and "-port: 1\n+port: 2" in second.diff
    assert remotefs.stat(t, dest).mode == 0o600  # the rewrite kept the mode
    assert run(t, "copy", dest=dest, content="port: 2\n", mode=0o644).msg.endswith(
        "mode 0600 -> 0644")


def test_copy_check_mode_reports_but_changes_nothing(host):
    t, root = host
    dest = f"{root}/x"
    res = run(t, "copy", check=True, dest=dest, content="a\n")
    assert res.changed and "+a" in res.diff
    assert read(t, dest) is None
    run(t, "copy", dest=dest, content="a\n")
    assert run(t, "copy", check=True, dest=dest, content="b\n").changed
    assert read(t, dest) == b"a\n"


def test_copy_from_src_and_argument_errors(host, tmp_path):
    t, root = host
    src = tmp_path / "src.bin"
    src.write_bytes(b"\x00\xffbinary")
    res = run(t, "copy", dest=f"{root}/b", src=str(src))
    assert res.changed and res.diff == f"Binary file {root}/b differs\n"
    assert read(t, f"{root}/b") == b"\x00\xffbinary"
    assert run(t, "copy", dest=f"{root}/b", src=str(src)).changed is False
    both = run(t, "copy", dest=f"{root}/b", src=str(src), content="x")
    assert both.failed and "exactly one of content, src" in both.msg
    assert "unknown argument 'destination'" in run(t, "copy", destination="/x", content="").msg
    assert "missing required argument 'dest'" in run(t, "copy", content="").msg
    assert "absolute path" in run(t, "copy", dest="rel/x", content="").msg


def test_file_directory_touch_absent_and_attributes(host):
    t, root = host
    d = f"{root}/data/sub"
    assert run(t, "file", path=d, state="directory", mode="0750").changed
    st = remotefs.stat(t, d)
    assert (st.kind, st.mode) == ("directory", 0o750)
    assert not run(t, "file", path=d, state="directory", mode="0750").changed
    assert run(t, "file", path=d, state="directory", mode="0755").msg.endswith("0750 -> 0755")

    f = f"{root}/data/flag"
    assert run(t, "file", path=f, state="file").failed  # state=file never creates
    assert run(t, "file", path=f, state="touch").changed
    assert not run(t, "file", path=f, state="touch").changed
    assert run(t, "file", path=f, state="directory").failed  # it is a file

    assert run(t, "file", check=True, path=f"{root}/data", state="absent").changed
    assert remotefs.stat(t, f) is not None  # check mode removed nothing
    assert run(t, "file", path=f"{root}/data", state="absent").changed
    assert remotefs.stat(t, f"{root}/data") is None
    assert not run(t, "file", path=f"{root}/data", state="absent").changed


def test_file_check_mode_creates_nothing(host):
    t, root = host
    res = run(t, "file", check=True, path=f"{root}/new", state="directory", mode="0700")
    assert res.changed and remotefs.stat(t, f"{root}/new") is None


def test_template_renders_with_variables_strictly(host, tmp_path):
    t, root = host
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "etcd.conf.j2").write_text(
        "name: {{ inventory_hostname }}\npeers: {{ peers | join(',') }}\n")
    mod = MODULES["template"]
    args = {"src": "etcd.conf.j2", "dest": f"{root}/etcd.conf"}
    ctx = {"variables": {"inventory_hostname": "m1", "peers": ["a", "b"]}, "base_dir": tmp_path}
    res = run_module(mod, t, args, False, {}, **ctx)
    assert res.changed and read(t, f"{root}/etcd.conf") == b"name: m1\npeers: a,b\n"
    assert not run_module(mod, t, args, False, {}, **ctx).changed
    broken = run_module(mod, t, args, False, {}, variables={"inventory_hostname": "m1"},
                        base_dir=tmp_path)
    assert broken.failed and "'peers' is undefined" in broken.msg
    assert read(t, f"{root}/etcd.conf") == b"name: m1\npeers: a,b\n"  # untouched on error
    missing = run_module(mod, t, {**args, "src": "nope.j2"}, False, {}, base_dir=tmp_path)
    assert missing.failed and "nope.j2" in missing.msg


def test_lineinfile_replace_insert_absent(host):
    t, root = host
    path = f"{root}/sshd_config"
    remotefs.write_atomic(t, path, b"Port 22\n#PermitRootLogin yes\nUsePAM yes", mode=0o600)
    res = run(t, "lineinfile", path=path, regexp=r"^#?PermitRootLogin", line="PermitRootLogin no")
    assert res.changed and "-#PermitRootLogin yes\n" in res.diff
    assert "+PermitRootLogin no\n" in res.diff and "\\ No newline at end of file" in res.diff
    assert read(t, path) == b"Port 22\nPermitRootLogin no\nUsePAM yes\n"
    assert remotefs.stat(t, path).mode == 0o600
    assert not run(t, "lineinfile", path=path, regexp=r"^#?PermitRootLogin",
                   line="PermitRootLogin no").changed

    assert run(t, "lineinfile", path=path, line="X11Forwarding no").changed
    assert read(t, path).decode().endswith("UsePAM yes\nX11Forwarding no\n")
    assert run(t, "lineinfile", path=path, line="Banner none", insertafter="^Port").changed
    assert read(t, path).decode().startswith("Port 22\nBanner none\n")

    assert run(t, "lineinfile", check=True, path=path, regexp="^X11", state="absent").changed
    assert b"X11Forwarding" in read(t, path)
    assert run(t, "lineinfile", path=path, regexp="^X11", state="absent").changed
    assert b"X11Forwarding" not in read(t, path)
    assert not run(t, "lineinfile", path=path, regexp="^X11", state="absent").changed


def test_lineinfile_missing_file_and_bad_arguments(host):
    t, root = host
    path = f"{root}/hosts"
    assert run(t, "lineinfile", path=path, line="10.0.0.11 m1").failed
    assert run(t, "lineinfile", path=path, line="10.0.0.11 m1", create=True).changed
    assert read(t, path) == b"10.0.0.11 m1\n"
    assert "needs 'line'" in run(t, "lineinfile", path=path, regexp="x").msg
    assert "bad regular expression" in run(t, "lineinfile", path=path, regexp="(",
                                            line="x").msg


# -- symbolic modes -------------------------------------------------------------------------

def test_symbolic_modes_converge_and_then_are_ok(host):
    t, root = host
    conf = f"{root}/app.conf"
    assert run(t, "copy", dest=conf, content="x\n", mode="u=rw,g=r,o=").changed
    assert remotefs.stat(t, conf).mode == 0o640
    assert not run(t, "copy", dest=conf, content="x\n", mode="u=rw,g=r,o=").changed
    res = run(t, "file", path=conf, mode="u+x,g-r")
    assert res.changed and res.msg.endswith("mode 0640 -> 0700")
    assert remotefs.stat(t, conf).mode == 0o700
    assert not run(t, "file", path=conf, mode="u+x,g-r").changed  # relative, yet idempotent

    script = f"{root}/run.sh"  # a new file starts from 0644, what umask 022 gives
    assert run(t, "copy", dest=script, content="#!/bin/sh\n", mode="u+x").changed
    assert remotefs.stat(t, script).mode == 0o744
    d = f"{root}/dir"
    assert run(t, "file", path=d, state="directory", mode="a=rX,u+w").changed
    assert remotefs.stat(t, d).mode == 0o755


SPECS = ["u=rw,g=r,o=r", "u+x", "go-w", "a+X", "u=rwx,go=rx", "+x", "o=", "g+s", "+t",
         "u-w,g+w", "a=r,u+w", "ug=rw,o-rwx", "u+s,g-s", "a-x,a+X", "u=rws", "a=rX"]


@pytest.mark.parametrize("kind", ["file", "directory"])
@pytest.mark.parametrize("start", [0o644, 0o755, 0o600, 0o4751, 0o2750, 0o1777])
def test_symbolic_modes_agree_with_chmod(tmp_path, kind, start):
    path = tmp_path / "x"
    path.mkdir() if kind == "directory" else path.touch()
    for spec in SPECS:
        path.chmod(start)
        # umask 0: a clause without u/g/o/a means `a` in kubeclass, whatever the umask.
        subprocess.run(["sh", "-c", f"umask 0; chmod {spec} {path}"], check=True)
        expected = path.stat().st_mode & 0o7777
        got = remotefs.resolve_mode(remotefs.parse_mode(spec), start, kind == "directory")
        assert (spec, oct(got)) == (spec, oct(expected))


@pytest.mark.parametrize("mode", ["u+q", "0999", "rw-r--r--", "u=rw;g=r", ""])
def test_bad_modes_are_rejected_in_one_line(mode):
    res = run(FakeTransport(), "file", path="/tmp/x", state="touch", mode=mode)
    assert res.failed and "is neither octal" in res.msg and "\n" not in res.msg


def test_fetch_brings_a_host_file_here_once_and_honours_check_mode(host, tmp_path):
    t, root = host
    run(t, "copy", dest=f"{root}/admin.conf", content="server: a\n")
    local = tmp_path / "back"
    would = run(t, "fetch", check=True, src=f"{root}/admin.conf", dest=str(local), flat=True)
    assert would.changed and not local.exists()
    first = run(t, "fetch", src=f"{root}/admin.conf", dest=str(local), flat=True)
    assert first.changed and local.read_text() == "server: a\n"
    assert local.stat().st_mode & 0o777 == 0o600  # a fetched kubeconfig is private by default
    assert run(t, "fetch", src=f"{root}/admin.conf", dest=str(local), flat=True).changed is False
    run(t, "copy", dest=f"{root}/admin.conf", content="server: b\n")
    again = run(t, "fetch", src=f"{root}/admin.conf", dest=str(local), flat=True)
    assert again.changed and "-server: a\n+server: b" in again.diff


def test_fetch_without_flat_files_by_host_and_path_and_says_when_the_source_is_missing(host, tmp_path):
    t, root = host
    run(t, "copy", dest=f"{root}/x.txt", content="x\n")
    result = run_module(MODULES["fetch"], t, {"src": f"{root}/x.txt", "dest": str(tmp_path)}, False, {},
                        variables={"inventory_hostname": "master-1"})
    assert (tmp_path / "master-1" / root.lstrip("/") / "x.txt").read_text() == "x\n", result
    missing = run(t, "fetch", src=f"{root}/nothing", dest=str(tmp_path))
    assert missing.failed and "does not exist" in missing.msg
    assert run(t, "fetch", src=f"{root}/nothing", dest=str(tmp_path), fail_on_missing=False).failed is False


def test_copy_onto_a_directory_fails_and_says_so(host):
    t, root = host
    run(t, "file", path=f"{root}/conf.d", state="directory")
    result = run(t, "copy", dest=f"{root}/conf.d", content="x\n")
    assert result.failed and result.msg == f"{root}/conf.d is a directory, not a file"


def test_stat_and_sha256_take_one_round_trip(host):
    t, root = host
    run(t, "copy", dest=f"{root}/a.txt", content="a\n")
    current, digest = remotefs.stat_and_sha256(t, f"{root}/a.txt")
    assert current.kind == "file" and digest == remotefs.sha256(t, f"{root}/a.txt")
    assert remotefs.stat_and_sha256(t, f"{root}/missing") == (None, None)
