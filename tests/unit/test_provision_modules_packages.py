"""deb and pip: offline package installs, changed then ok; check mode installs nothing.

The fakes below play dpkg/apt and a virtualenv's pip against dicts, so the tests can
assert what the module decided and which commands it ran. Two tests at the end use this
machine's real dpkg/apt and python3 (through LocalTransport) so the fakes cannot drift.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from provision.fake import FakeTransport, fail, ok
from provision.modules import MODULES, Result, run_module
from provision.modules import deb
from provision.modules.deb import apt_error, glob_arg, relation_names
from provision.modules.pip import parse_requirement
from provision.transport import LocalTransport, RunResult, Transport

DEBS = "/opt/kubeclass/bundle/debs"


def run(t: Transport, module: str, check: bool = False, **args) -> Result:
    return run_module(MODULES[module], t, args, check, {})


# -- deb: a fake dpkg/apt ------------------------------------------------------------------

class Apt:
    """Plays dpkg-deb, dpkg-query and apt-get for a fake host: `debs` maps a file path to
    its control fields, `installed` maps a package to its version."""

    def __init__(self, fake: FakeTransport, debs: dict[str, dict[str, str]],
                 installed: dict[str, str] | None = None) -> None:
        self.debs, self.installed = debs, dict(installed or {})
        self.apt_reply: RunResult | None = None  # set to make apt-get fail this way
        fake.dirs.update({"/opt", "/opt/kubeclass", "/opt/kubeclass/bundle", DEBS})
        for path in debs:
            fake.files[path] = b"!<arch>\n"
        fake.on(re.compile(r"^for f in .*; do .*dpkg-deb -f "), self.dpkg_deb_each)
        fake.on(re.compile(r"^dpkg-query -W "), self.dpkg_query)
        fake.on(re.compile(r"apt-get .* (install|remove|purge) "), self.apt_get)

    def dpkg_deb_each(self, cmd: str) -> RunResult:
        """The module's one-command read of every file: a marker line, then each file's
        fields, or dpkg-deb's error and the failure marker (as the shell loop prints)."""
        argv = shlex.split(cmd)
        out = ""
        for path in argv[argv.index("in") + 1:argv.index(";")]:
            out += f"{deb.MARK}{path}\n"
            if path not in self.debs:
                out += f"dpkg-deb: error: '{path}' is not a Debian format archive\n{deb.FAILED}\n"
            else:
                out += "".join(f"{k}: {v}\n" for k, v in self.debs[path].items())
        return ok(out)

    def dpkg_query(self, cmd: str) -> RunResult:
        return ok("".join(f"{p}\t{v}\tinstalled\t\n" for p, v in self.installed.items())
                  + "oldpkg\t1.0\tconfig-files\t\n")

    def apt_get(self, cmd: str) -> RunResult:
        if self.apt_reply is not None:
            return self.apt_reply
        argv = shlex.split(cmd)
        verb = next(a for a in argv if a in ("install", "remove", "purge"))
        targets = argv[argv.index(verb) + 1:]
        for target in targets:
            if verb == "install":
                fields = self.debs[target]
                self.installed[fields["Package"]] = fields["Version"]
            else:
                self.installed.pop(target)
        return ok()


def control(package: str, version: str = "1.0", depends: str = "") -> dict[str, str]:
    fields = {"Package": package, "Version": version, "Architecture": "amd64"}
    return {**fields, "Depends": depends} if depends else fields


def bundle(**packages: tuple[str, str]) -> dict[str, dict[str, str]]:
    """bundle(etcd=("3.5", "libc6")) ─▶ {DEBS/etcd_3.5_amd64.deb: control fields}."""
    return {f"{DEBS}/{name.replace('_', '-')}_{version}_amd64.deb":
            control(name.replace("_", "-"), version, depends)
            for name, (version, depends) in packages.items()}


def installs(fake: FakeTransport) -> list[str]:
    return [c for c in fake.commands if re.search(r"apt-get .* install ", c)]


def test_deb_installs_a_folder_then_is_ok_and_check_mode_installs_nothing():
    fake = FakeTransport()
    apt = Apt(fake, bundle(conntrack=("1.4.7", "libc6"), socat=("1.7.4", "")),
              installed={"libc6": "2.36"})
    dry = run(fake, "deb", check=True, dir=DEBS)
    assert dry.changed and dry.msg == "would install: conntrack 1.4.7, socat 1.7.4"
    assert installs(fake) == [] and "conntrack" not in apt.installed

    res = run(fake, "deb", dir=DEBS)
    assert (res.changed, res.failed) == (True, False)
    assert res.msg == "installed: conntrack 1.4.7, socat 1.7.4"
    assert res.diff == "+conntrack 1.4.7\n+socat 1.7.4\n"
    assert apt.installed == {"libc6": "2.36", "conntrack": "1.4.7", "socat": "1.7.4"}
    [command] = installs(fake)
    for option in ("DEBIAN_FRONTEND=noninteractive", "-o Dir::Etc::SourceList=/dev/null",
                   "-o Dir::Etc::SourceParts=/dev/null", "-o Dpkg::Options::=--force-confold",
                   f"{DEBS}/conntrack_1.4.7_amd64.deb {DEBS}/socat_1.7.4_amd64.deb"):
        assert option in command

    again = run(fake, "deb", debs=[f"{DEBS}/*.deb"])
    assert not again.changed and not again.failed and len(installs(fake)) == 1
    assert again.data["packages"] == {"conntrack": "1.4.7", "socat": "1.7.4"}


def test_deb_installs_again_only_a_package_at_another_version():
    fake = FakeTransport()
    apt = Apt(fake, bundle(etcd=("3.5.15", ""), socat=("1.7.4", "")),
              installed={"etcd": "3.5.9", "socat": "1.7.4"})
    res = run(fake, "deb", dir=DEBS)
    assert res.changed and res.diff == "-etcd 3.5.9\n+etcd 3.5.15\n"
    assert installs(fake)[0].endswith(f"{DEBS}/etcd_3.5.15_amd64.deb")  # not socat's file
    assert apt.installed["etcd"] == "3.5.15"
    assert not run(fake, "deb", dir=DEBS).changed


# The folder: a needs (b | c) and d; b needs e, which is installed; x is unrelated.
FOLDER = bundle(a=("1", "b | c, d (>= 1)"), b=("1", "e"), c=("1", ""), d=("1", ""),
                x=("1", ""), e=("2", ""))


@pytest.mark.parametrize("names, installed, chosen", [
    (["a"], {"e": "1"}, ["a 1", "b 1", "d 1"]),  # first alternative; e installed: left alone
    (["a"], {"c": "1", "e": "1"}, ["a 1", "d 1"]),  # c satisfies b | c already
    (["a", "c"], {"e": "1"}, ["a 1", "c 1", "d 1"]),  # so does c when it is named too
    (["d"], {}, ["d 1"]),
    (["e"], {"e": "1"}, ["e 2"]),  # a named package converges to the file's version
    (["a"], {"a": "1", "b": "1", "d": "1", "e": "1"}, []),
])
def test_deb_names_install_only_their_missing_dependencies(names, installed, chosen):
    fake = FakeTransport()
    apt = Apt(fake, FOLDER, installed)
    res = run(fake, "deb", dir=DEBS, names=names)
    assert (res.changed, res.failed, res.data["installed"]) == (bool(chosen), False, chosen)
    assert "x" not in apt.installed
    assert not run(fake, "deb", dir=DEBS, names=names).changed


def test_deb_a_dependency_missing_from_the_folder_is_named_and_apt_never_runs():
    fake = FakeTransport()
    Apt(fake, bundle(kubelet_ish=("1.0", "conntrack (>= 1.4), socat | netcat")))
    res = run(fake, "deb", dir=DEBS)
    assert res.failed and not res.changed
    assert res.msg == ("kubelet-ish: Depends: conntrack; kubelet-ish: Depends: socat | netcat: "
                       "neither installed nor among the .deb files")
    assert installs(fake) == []
    assert "among the" in run(fake, "deb", check=True, dir=DEBS).msg  # check mode says so too


def test_deb_surfaces_apts_unmet_dependency_line():
    fake = FakeTransport()
    apt = Apt(fake, bundle(etcd=("3.5.15", "libc6")), installed={"libc6": "2.31"})
    apt.apt_reply = RunResult(
        "The following packages have unmet dependencies:\n"
        " etcd : Depends: libc6 (>= 2.34) but 2.31 is to be installed\n",
        "E: Unable to correct problems, you have held broken packages.\n", 100)
    res = run(fake, "deb", dir=DEBS)
    assert res.failed and res.msg == ("etcd : Depends: libc6 (>= 2.34) but 2.31 is to be "
                                      "installed; E: Unable to correct problems, you have "
                                      "held broken packages.")


@pytest.mark.parametrize("args, message", [
    ({"dir": "/opt/empty"}, "no .deb file matches /opt/empty/*.deb"),
    ({"debs": [f"{DEBS}/nope_*.deb"]}, f"no .deb file matches {DEBS}/nope_*.deb"),
    ({"dir": DEBS, "names": ["kubectl"]},
     "package kubectl is not among the 2 .deb files and is not installed"),
    ({}, "deb: give 'debs' (paths or globs) or 'dir'"),
    ({"state": "absent"}, "state=absent needs 'names'"),
])
def test_deb_errors_are_one_clear_line(args, message):
    fake = FakeTransport()
    Apt(fake, bundle(a=("1", ""), b=("1", "")))
    res = run(fake, "deb", **args)
    assert res.failed and message in res.msg and "\n" not in res.msg


def test_deb_two_versions_of_one_package_and_a_broken_file():
    fake = FakeTransport()
    apt = Apt(fake, {**bundle(a=("1", "")), f"{DEBS}/a_2_amd64.deb": control("a", "2")})
    res = run(fake, "deb", dir=DEBS)
    assert res.failed and res.msg.startswith("two files for package a:")
    fake.files[f"{DEBS}/junk.deb"] = b"junk"
    del apt.debs[f"{DEBS}/a_2_amd64.deb"], fake.files[f"{DEBS}/a_2_amd64.deb"]
    res = run(fake, "deb", dir=DEBS)
    assert res.failed and res.msg == (f"{DEBS}/junk.deb: not a readable .deb file: dpkg-deb: "
                                      f"error: '{DEBS}/junk.deb' is not a Debian format archive")


def test_deb_absent_removes_by_name_then_is_ok():
    fake = FakeTransport()
    apt = Apt(fake, bundle(a=("1", ""), b=("1", "")), installed={"a": "1", "b": "1", "z": "9"})
    dry = run(fake, "deb", check=True, state="absent", names=["a", "oldpkg"])
    assert dry.changed and dry.msg == "would remove: a" and "a" in apt.installed
    res = run(fake, "deb", state="absent", dir=DEBS)  # names read from the files
    assert res.changed and res.msg == "removed: a, b" and res.diff == "-a 1\n-b 1\n"
    assert apt.installed == {"z": "9"}
    assert not run(fake, "deb", state="absent", dir=DEBS).changed
    purge = run(fake, "deb", check=True, state="absent", names=["oldpkg"], purge=True)
    assert purge.msg == "would purge: oldpkg"  # config files left behind count for purge


@pytest.mark.parametrize("pattern, quoted", [
    ("/opt/debs/*.deb", "/opt/debs/*.deb"),
    ("/opt/my debs/etcd_[0-9]*.deb", "'/opt/my debs/etcd_'[0-9]*.deb"),
    ("/opt/$(reboot)/*.deb", "'/opt/$(reboot)/'*.deb"),
    ("/opt/a;b[$(x)].deb", "'/opt/a;b[$(x)].deb'"),
])
def test_deb_globs_reach_the_shell_and_nothing_else_does(pattern, quoted):
    assert glob_arg(pattern) == quoted


def test_deb_relation_and_apt_message_parsing():
    assert relation_names("libc6 (>= 2.34), debconf (>= 0.5) | debconf-2.0, python3:any") == (
        ("libc6",), ("debconf", "debconf-2.0"), ("python3",))
    assert apt_error("Reading package lists...\n", "E: Unable to locate package x\n") == \
        "E: Unable to locate package x"
    assert apt_error("dpkg: error processing archive x\n", "") == \
        "dpkg: error processing archive x"


# -- pip: a fake virtualenv ----------------------------------------------------------------

VENV, WHEELS = "/opt/kubeclass/venv", "/opt/kubeclass/bundle/wheels"


class Venv:
    """Plays `python3 -m venv` and a virtualenv's pip: `wheels` maps a project to the
    versions in the wheel folder, `packages` what is installed."""

    def __init__(self, fake: FakeTransport, wheels: dict[str, list[str]]) -> None:
        self.fake, self.wheels, self.packages = fake, wheels, {}
        fake.dirs.update({"/opt", "/opt/kubeclass", "/opt/kubeclass/bundle", WHEELS})
        fake.on(re.compile(r"^python3 -m venv "), self.create)
        fake.on(re.compile(r"bin/python -m pip "), self.pip)

    def create(self, cmd: str) -> RunResult:
        self.fake.dirs.update({VENV, f"{VENV}/bin"})
        self.fake.files[f"{VENV}/bin/python"] = b"#!python"
        self.packages = {"pip": "24.0"}
        return ok()

    def pip(self, cmd: str) -> RunResult:
        argv = shlex.split(cmd)
        verb = argv[argv.index("pip") + 1]
        if verb == "list":
            return ok(json.dumps([{"name": n, "version": v} for n, v in self.packages.items()]))
        reqs = [a for a in argv[argv.index(verb) + 1:] if not a.startswith("-")
                and a != WHEELS]
        for req in reqs:
            name, _, version = req.partition("==")
            if verb == "uninstall":
                del self.packages[name]
            elif version not in self.wheels.get(name, []) and (version or name not in self.wheels):
                return fail("ERROR: Could not find a version that satisfies the requirement "
                            f"{req} (from versions: none)\n"
                            f"ERROR: No matching distribution found for {req}\n")
            else:
                self.packages[name] = version or max(self.wheels[name])
        return ok()


def pip_installs(fake: FakeTransport) -> list[str]:
    return [c for c in fake.commands if " -m pip install " in c]


def test_pip_creates_the_venv_installs_then_is_ok():
    fake = FakeTransport()
    venv = Venv(fake, {"kubeclass": ["0.1.0"], "flask": ["3.0.3"]})
    args = {"name": ["kubeclass", "flask==3.0.3"], "virtualenv": VENV, "find_links": WHEELS}
    dry = run(fake, "pip", check=True, **args)
    assert dry.changed and dry.msg == f"would create {VENV}, install kubeclass, flask==3.0.3"
    assert fake.commands == [f"stat -c '%F|%a|%U|%G' -- {VENV}/bin/python"]

    res = run(fake, "pip", **args)
    assert (res.changed, res.failed) == (True, False), res.msg
    assert res.msg == f"created {VENV}, installed kubeclass 0.1.0, installed flask 3.0.3"
    assert res.data["versions"] == {"kubeclass": "0.1.0", "flask": "3.0.3"}
    [command] = pip_installs(fake)
    assert command.startswith("PIP_NO_INDEX=1 ") and f"--no-index --find-links {WHEELS}" in command
    assert venv.packages == {"pip": "24.0", "kubeclass": "0.1.0", "flask": "3.0.3"}

    again = run(fake, "pip", **args)
    assert not again.changed and again.data["versions"]["kubeclass"] == "0.1.0"
    assert len(pip_installs(fake)) == 1


@pytest.mark.parametrize("installed, requirement, changed, diff", [
    ("0.1.0", "kubeclass", False, None),  # a newer wheel in the folder is not a reason
    ("0.1.0", "kubeclass==0.1", False, None),  # the same version, spelt shorter
    ("0.1.0", "Kubeclass==0.1.0", False, None),  # names compare like pip's
    ("0.1.0", "kubeclass==0.2.0", True, "-kubeclass 0.1.0\n+kubeclass==0.2.0\n"),
    ("0.2.0", "kubeclass==0.1.0", True, "-kubeclass 0.2.0\n+kubeclass==0.1.0\n"),
])
def test_pip_a_pin_to_another_version_reinstalls(installed, requirement, changed, diff):
    fake = FakeTransport()
    venv = Venv(fake, {"kubeclass": ["0.1.0", "0.2.0"]})
    venv.create("")
    venv.packages["kubeclass"] = installed
    res = run(fake, "pip", name=requirement, virtualenv=VENV, find_links=WHEELS)
    assert (res.changed, res.failed, res.diff) == (changed, False, diff)
    assert bool(pip_installs(fake)) == changed
    pinned = requirement.partition("==")[2]
    if changed:
        assert venv.packages["kubeclass"] == pinned


def test_pip_missing_wheel_and_bad_requirements_fail_in_one_line():
    fake = FakeTransport()
    Venv(fake, {}).create("")
    res = run(fake, "pip", name="nope", virtualenv=VENV, find_links=WHEELS)
    assert res.failed and res.msg == "ERROR: No matching distribution found for nope"
    for spec in ("kubeclass>=0.1", "kubeclass[etcd]", "git+https://x/y.git"):
        bad = run(fake, "pip", name=spec, virtualenv=VENV, find_links=WHEELS)
        assert bad.failed and "offline installs take NAME or NAME==VERSION" in bad.msg
    assert "needs 'find_links'" in run(fake, "pip", name="a", virtualenv=VENV).msg


def test_pip_absent_uninstalls_then_is_ok():
    fake = FakeTransport()
    venv = Venv(fake, {})
    assert not run(fake, "pip", name="kubeclass", virtualenv=VENV, state="absent").changed
    venv.create("")
    venv.packages["kubeclass"] = "0.1.0"
    dry = run(fake, "pip", check=True, name="kubeclass", virtualenv=VENV, state="absent")
    assert dry.msg == "would remove: kubeclass" and "kubeclass" in venv.packages
    res = run(fake, "pip", name="kubeclass", virtualenv=VENV, state="absent")
    assert res.changed and res.diff == "-kubeclass 0.1.0\n" and "kubeclass" not in venv.packages
    assert not run(fake, "pip", name="kubeclass", virtualenv=VENV, state="absent").changed


def test_pip_parse_requirement():
    assert parse_requirement("kubeclass") == parse_requirement(" kubeclass ")
    assert parse_requirement("PyYAML == 6.0.1").version == "6.0.1"
    assert parse_requirement("zope.interface==6.0").key == "zope-interface"


# -- the real thing, on this machine -------------------------------------------------------

DUMMY = "kubeclass-test-dummy"


def build_deb(root: Path, package: str, version: str, depends: str = "") -> Path:
    tree = root / f"{package}_{version}"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "opt" / package).mkdir(parents=True)
    (tree / "opt" / package / "hello.txt").write_text(f"{package} {version}\n")
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: {version}\nArchitecture: all\n"
        + (f"Depends: {depends}\n" if depends else "")
        + "Maintainer: kubeclass tests <tests@kubeclass.invalid>\n"
        "Description: a package the kubeclass unit tests install and remove\n")
    out = root / "debs" / f"{package}_{version}_all.deb"
    out.parent.mkdir(exist_ok=True)
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(tree), str(out)],
                   check=True, capture_output=True)
    return out


@pytest.mark.skipif(not (shutil.which("dpkg-deb") and shutil.which("apt-get")
                         and hasattr(os, "geteuid") and os.geteuid() == 0),
                    reason="needs dpkg-deb, apt-get and root")
def test_deb_really_installs_a_local_package_and_removes_it(tmp_path):
    build_deb(tmp_path, DUMMY, "1.0")
    t, folder = LocalTransport(), str(tmp_path / "debs")
    try:
        res = run(t, "deb", dir=folder)
        assert (res.changed, res.failed) == (True, False), res.msg
        assert res.msg == f"installed: {DUMMY} 1.0"
        assert Path(f"/opt/{DUMMY}/hello.txt").read_text() == f"{DUMMY} 1.0\n"
        again = run(t, "deb", dir=folder)
        assert (again.changed, again.failed) == (False, False), again.msg

        # A version constraint only apt can judge: its own line says what is wrong.
        needy = build_deb(tmp_path / "needy", "kubeclass-test-needy", "1.0", f"{DUMMY} (>= 2)")
        res = run(t, "deb", debs=[str(needy)])
        assert res.failed and (f"kubeclass-test-needy : Depends: {DUMMY} (>= 2) but 1.0 is "
                               "to be installed") in res.msg, res.msg
    finally:
        gone = run(t, "deb", state="absent", names=[DUMMY, "kubeclass-test-needy"])
        if gone.failed:
            subprocess.run(["dpkg", "--purge", DUMMY, "kubeclass-test-needy"],
                           capture_output=True, check=False)
    assert gone.changed and not gone.failed, gone.msg
    assert not Path(f"/opt/{DUMMY}").exists()
    assert not run(t, "deb", state="absent", names=[DUMMY]).changed


def build_wheel(folder: Path, version: str) -> Path:
    """A minimal pure-Python wheel, zipped by hand: nothing to build, nothing to download."""
    dist = f"kubeclass_test_wheel-{version}.dist-info"
    files = {
        "kubeclass_test_wheel.py": f"VERSION = {version!r}\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: kubeclass-test-wheel\n"
                            f"Version: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: kubeclass-tests\n"
                         "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [f"{name},sha256={_digest(text)},{len(text.encode())}"
              for name, text in files.items()]
    files[f"{dist}/RECORD"] = "\n".join([*record, f"{dist}/RECORD,,"]) + "\n"
    path = folder / f"kubeclass_test_wheel-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as whl:
        for name, text in files.items():
            whl.writestr(name, text)
    return path


def _digest(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).decode().rstrip("=")


@pytest.mark.slow
def test_pip_really_installs_a_wheel_into_a_new_venv(tmp_path):
    wheels, venv = tmp_path / "wheels", tmp_path / "venv"
    wheels.mkdir()
    build_wheel(wheels, "0.1.0")
    t = LocalTransport()
    args = {"name": ["kubeclass-test-wheel"], "virtualenv": str(venv), "find_links": str(wheels),
            "virtualenv_command": f"{shlex.quote(sys.executable)} -m venv"}
    res = run(t, "pip", **args)
    assert (res.changed, res.failed) == (True, False), res.msg
    assert res.data["versions"] == {"kubeclass-test-wheel": "0.1.0"}
    said = t.run(f"{venv}/bin/python -c 'import kubeclass_test_wheel as m; print(m.VERSION)'")
    assert said.stdout == "0.1.0\n"

    build_wheel(wheels, "0.2.0")
    assert not run(t, "pip", **args).changed  # unpinned: what is installed is enough
    pinned = run(t, "pip", **{**args, "name": ["kubeclass-test-wheel==0.2.0"]})
    assert pinned.changed and pinned.msg == "kubeclass-test-wheel 0.1.0 -> 0.2.0", pinned.msg
    assert not run(t, "pip", **{**args, "name": ["kubeclass_test_wheel==0.2.0"]}).changed
