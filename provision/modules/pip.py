"""pip: install Python packages into a virtualenv from a folder of wheels, never from an index.

Data flow (B): executor ─▶ **pip module** ─▶ `VENV/bin/python -m pip` ─▶ transport ─▶ host.
The hosts of a closed network have no package index: an earlier task copied the bundle's
wheels to a folder (`find_links`). The module compares first: `pip list --format=json`
against the requirements. A requirement is `NAME` (satisfied by any installed version) or
`NAME==VERSION` (satisfied only by that version: another one is replaced). So a second
run is `ok` even if the folder holds a newer build of the same version, and an unpinned
package is never upgraded behind the instructor's back. Only what is missing runs through
`pip install --no-index --find-links DIR`, with PIP_NO_INDEX set as well, so no index is
ever asked, whatever pip.conf says. Only the named packages are compared: their
dependencies are pip's to resolve, from the same folder, when it installs them. A missing
virtualenv is created first (`virtualenv_command`, default `python3 -m venv`), except in
check mode, which reports what it would create and install.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from provision import remotefs
from provision.modules.base import Arg, ArgumentError, Module, Result
from provision.remotefs import q

PIP_ENV = "PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1"
PIP_FLAGS = "--disable-pip-version-check --no-input"
REQUIREMENT = re.compile(r"([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:==\s*(\S+))?")


def canonical(name: str) -> str:
    """The name pip and PyPI compare by (PEP 503): `PyYAML`, `pyyaml` and `py_yaml` agree."""
    return re.sub(r"[-_.]+", "-", name).lower()


def version_key(version: str) -> tuple[tuple[int, ...], str]:
    """Enough of PEP 440 to compare pins: `1.0` == `1.0.0`, `v1.2` == `1.2`."""
    text = version.strip().lower().removeprefix("v")
    release, rest = re.match(r"([0-9.]*)(.*)", text).groups()  # type: ignore[union-attr]
    parts = [int(p) for p in release.split(".") if p]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts), rest


@dataclass(frozen=True)
class Requirement:
    name: str
    version: str | None = None

    @property
    def key(self) -> str:
        return canonical(self.name)

    def satisfied_by(self, installed: str | None) -> bool:
        if installed is None:
            return False
        return self.version is None or version_key(installed) == version_key(self.version)

    def __str__(self) -> str:
        return f"{self.name}=={self.version}" if self.version else self.name


def parse_requirement(spec: str) -> Requirement:
    match = REQUIREMENT.fullmatch(spec.strip())
    if match is None:
        raise ArgumentError(f"pip: requirement {spec!r}: offline installs take NAME or "
                            "NAME==VERSION (the wheel folder decides what exists)")
    return Requirement(match.group(1), match.group(2))


class PipError(Exception):
    """The virtualenv cannot be read; one line."""


def pip_error(stdout: str, stderr: str) -> str:
    lines = [line.strip() for line in (stdout + "\n" + stderr).splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    return (errors or lines or ["pip failed"])[-1]


class Pip(Module):
    NAME = "pip"
    ARGS = {
        "name": Arg("list", required=True),
        "virtualenv": Arg("path", required=True),
        "find_links": Arg("path"),
        "state": Arg(default="present", choices=("present", "absent")),
        "virtualenv_command": Arg(default="python3 -m venv"),
    }

    @property
    def python(self) -> str:
        return f"{self.args['virtualenv'].rstrip('/')}/bin/python"

    def run(self) -> Result:
        try:
            return self._run()
        except PipError as exc:
            return Result(False, str(exc), failed=True)

    def _run(self) -> Result:
        a = self.args
        reqs = [parse_requirement(n) for n in a["name"]]
        exists = remotefs.stat(self.t, self.python) is not None
        if a["state"] == "absent":
            return self._absent(reqs, exists)
        if not a["find_links"]:
            raise ArgumentError("pip: state=present needs 'find_links' (the folder of wheels)")
        before = self._installed() if exists else {}
        todo = [r for r in reqs if not r.satisfied_by(before.get(r.key))]
        if not todo:
            return Result(False, f"{', '.join(map(str, reqs))}: installed",
                          data=self._data(reqs, before))
        created = [] if exists else [f"create {a['virtualenv']}"]
        diff = "".join(_diff_lines(r, before.get(r.key)) for r in todo)
        if self.check_mode:
            steps = created + [f"install {', '.join(map(str, todo))}"]
            return Result(True, "would " + ", ".join(steps), diff=diff,
                          data=self._data(reqs, before))
        if not exists:
            res = self.t.run(f"{a['virtualenv_command']} {q(a['virtualenv'])}")
            if not res.ok:
                return Result(False, f"cannot create the virtualenv {a['virtualenv']}: "
                              f"{pip_error(res.stdout, res.stderr)}", failed=True)
        res = self.t.run(f"{PIP_ENV} {q(self.python)} -m pip install --no-index --find-links "
                         f"{q(a['find_links'])} {PIP_FLAGS} "
                         + " ".join(q(str(r)) for r in todo))
        if not res.ok:
            return Result(not exists, pip_error(res.stdout, res.stderr), failed=True)
        after = self._installed()
        wrong = [str(r) for r in todo if not r.satisfied_by(after.get(r.key))]
        if wrong:
            return Result(True, f"pip succeeded but {', '.join(wrong)} is not installed",
                          failed=True, data=self._data(reqs, after))
        steps = ([] if exists else [f"created {a['virtualenv']}"]) + \
            [_change(r.name, before.get(r.key), after[r.key]) for r in todo]
        return Result(True, ", ".join(steps), diff=diff, data=self._data(reqs, after))

    def _absent(self, reqs: list[Requirement], exists: bool) -> Result:
        installed = self._installed() if exists else {}
        present = [r for r in reqs if r.key in installed]
        if not present:
            return Result(False, f"{', '.join(r.name for r in reqs)}: not installed",
                          data={"versions": {}})
        names = " ".join(q(r.name) for r in present)
        if not self.check_mode:
            res = self.t.run(f"{PIP_ENV} {q(self.python)} -m pip uninstall -y {PIP_FLAGS} "
                             f"{names}")
            if not res.ok:
                return Result(False, pip_error(res.stdout, res.stderr), failed=True)
        verb = "would remove" if self.check_mode else "removed"
        return Result(True, f"{verb}: {', '.join(r.name for r in present)}",
                      diff="".join(f"-{r.name} {installed[r.key]}\n" for r in present),
                      data={"versions": {r.name: installed[r.key] for r in present}})

    def _installed(self) -> dict[str, str]:
        """Canonical name -> version of everything in the virtualenv."""
        res = self.t.run(f"{PIP_ENV} {q(self.python)} -m pip list --format=json {PIP_FLAGS}")
        if not res.ok:
            raise PipError(f"cannot list the packages of {self.args['virtualenv']}: "
                           f"{pip_error(res.stdout, res.stderr)}")
        try:
            rows = json.loads(res.stdout)
        except ValueError:
            raise PipError("`pip list --format=json` did not print JSON") from None
        return {canonical(r["name"]): str(r["version"]) for r in rows}

    @staticmethod
    def _data(reqs: list[Requirement], installed: dict[str, str]) -> dict[str, object]:
        return {"versions": {r.name: installed.get(r.key) for r in reqs}}


def _change(name: str, before: str | None, after: str) -> str:
    return f"{name} {before} -> {after}" if before else f"installed {name} {after}"


def _diff_lines(r: Requirement, before: str | None) -> str:
    old = f"-{r.name} {before}\n" if before else ""
    return f"{old}+{r}\n"
