"""deb: install Debian packages from .deb files already on the host, never from a repository.

Data flow (B): executor ─▶ **deb module** ─▶ `dpkg-deb`/`dpkg-query`, then `apt-get` ─▶
transport ─▶ host. The hosts of a closed network have no package repository; an earlier
task copied the offline bundle's .deb files there. This module compares first: it reads
each file's Package/Version (`dpkg-deb -f`, all files in one command) and what dpkg has installed (`dpkg-query -W`),
and only when a package is missing or at another version does it run `apt-get install`
on exactly those files. apt resolves their dependencies among the given files and what is
installed, and it cannot reach a repository: the source lists are /dev/null.
(`--no-download` would say the same, but apt 2.6 then refuses local files: "Pathname to
install is not absolute".) apt waits up to two minutes for the dpkg lock, which a fresh
VM's unattended-upgrades often holds, instead of failing at once.

Which files: `debs` (paths or globs) and/or every `*.deb` in `dir`. Without `names`, every
file's package ends up at exactly that file's version (upgrades and, with
`--allow-downgrades`, downgrades alike: the bundle decides).
With `names`, only those packages, plus the files that provide their missing dependencies:
a dependency (one of its `|` alternatives) that an installed package already satisfies
*by name* is left alone, unless the folder has a newer version of it (`dpkg
--compare-versions`): then that file comes too, as apt would upgrade it from a repository
(python3.11-venv needs exactly the python3.11 it was built with). Never a downgrade. A dependency that is
neither installed nor in the files fails the task before apt runs, naming it. `state:
absent` removes packages by name (`names`, or the packages of the given files).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from provision.modules.base import Arg, ArgumentError, Module, Result
from provision.remotefs import q

APT = ("DEBIAN_FRONTEND=noninteractive apt-get -y -o Dir::Etc::SourceList=/dev/null "
       "-o Dir::Etc::SourceParts=/dev/null -o DPkg::Lock::Timeout=120")
INSTALL = f"{APT} --allow-downgrades -o Dpkg::Options::=--force-confold install"
QUERY = "dpkg-query -W -f='${Package}\\t${Version}\\t${db:Status-Status}\\t${Provides}\\n'"
FIELDS = ("Package", "Version", "Architecture", "Depends", "Pre-Depends", "Provides")
MARK, FAILED = "==> kubeclass-deb ", "==> kubeclass-deb-failed"  # the batched read's separators
INSTALLED = ("installed", "triggers-awaiting", "triggers-pending")
GONE = ("not-installed", "config-files")
GLOB = re.compile(r"(\*|\?|\[!?[A-Za-z0-9._-]+\])")


class DebError(Exception):
    """Something about the files or the host that fails the task; one line."""


@dataclass(frozen=True)
class DebFile:
    path: str
    package: str
    version: str
    architecture: str
    depends: tuple[tuple[str, ...], ...]  # each group: alternatives, by package name
    provides: tuple[str, ...]


@dataclass(frozen=True)
class Installed:
    versions: dict[str, tuple[str, str]]  # package -> (version, dpkg status)
    provided: set[str]  # names satisfied now: installed packages and what they provide

    def version(self, package: str) -> str | None:
        version, status = self.versions.get(package, ("", "not-installed"))
        return version if status in INSTALLED else None


def glob_arg(pattern: str) -> str:
    """`pattern` for a shell command line: quoted, except the glob characters."""
    parts = GLOB.split(pattern)
    return "".join(p if i % 2 else shlex.quote(p) for i, p in enumerate(parts) if p)


def parse_control(text: str) -> dict[str, str]:
    """`Field: value` lines (continuation lines start with a space)."""
    fields: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if line[:1].isspace() and key:
            fields[key] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def relation_names(text: str) -> tuple[tuple[str, ...], ...]:
    """`a (>= 1), b | c:any` ─▶ (("a",), ("b", "c")): names only, no versions or archs."""
    groups = []
    for group in text.split(","):
        names = tuple(m.group(1) for alt in group.split("|")
                      if (m := re.match(r"\s*([a-z0-9][a-z0-9+.-]*)", alt)))
        if names:
            groups.append(names)
    return tuple(groups)


def parse_installed(text: str) -> Installed:
    versions: dict[str, tuple[str, str]] = {}
    provided: set[str] = set()
    for line in text.splitlines():
        package, version, status, provides = (line.split("\t") + ["", "", ""])[:4]
        if not package or versions.get(package, ("", ""))[1] in INSTALLED:
            continue  # another architecture's line must not hide the installed one
        versions[package] = (version, status)
        if status in INSTALLED:
            provided.add(package)
            provided.update(name for group in relation_names(provides) for name in group)
    return Installed(versions, provided)


def apt_error(stdout: str, stderr: str) -> str:
    """One line from apt's failure: its unmet-dependency lines (they name what is missing),
    then its last `E:` line; otherwise the last thing it said."""
    lines = [line.strip() for line in (stdout + "\n" + stderr).splitlines() if line.strip()]
    unmet = [line for line in lines
             if re.search(r"\b(Pre-)?Depends: |\bConflicts: |\bBreaks: ", line)]
    errors = [line for line in lines if line.startswith("E:")]
    picked = unmet + errors[-1:]
    return "; ".join(picked or lines[-1:]) or "apt-get failed"


def select(files: list[DebFile], names: list[str] | None, installed: Installed,
           newer: frozenset[str] = frozenset()) -> list[DebFile]:
    """The files whose packages must be installed at their versions (see the docstring).
    `newer`: packages installed at an older version than their file's; a chosen package that
    depends on one takes the file too (the bundle brought it for a reason: python3.11-venv
    needs exactly its python3.11, a security update the fresh host lacks)."""
    by_package: dict[str, DebFile] = {}
    for f in files:
        other = by_package.setdefault(f.package, f)
        if other is not f:
            raise DebError(f"two files for package {f.package}: {other.path} ({other.version}) "
                           f"and {f.path} ({f.version})")
    if names is None:
        return list(by_package.values())
    queue = []
    for name in names:
        if name in by_package:
            queue.append(by_package[name])
        elif installed.version(name) is None:
            raise DebError(f"package {name} is not among the {len(files)} .deb files "
                           "and is not installed")
    planned = {n for f in queue for n in (f.package, *f.provides)}
    chosen: dict[str, DebFile] = {}
    while queue:
        f = queue.pop(0)
        if f.package in chosen:
            continue
        chosen[f.package] = f
        for group in f.depends:
            upgrade = next((p for n in group for p in files if p.package == n and n in newer
                            and n not in planned), None)
            if upgrade is not None:
                queue.append(upgrade)
                planned.update((upgrade.package, *upgrade.provides))
                continue
            if any(n in installed.provided or n in planned for n in group):
                continue
            provider = next((p for n in group for p in files
                             if n == p.package or n in p.provides), None)
            if provider is not None:  # else missing_dependencies() names it
                queue.append(provider)
                planned.update((provider.package, *provider.provides))
    return list(chosen.values())


def missing_dependencies(todo: list[DebFile], files: list[DebFile],
                         installed: Installed) -> list[str]:
    offered = {f.package for f in files} | {n for f in files for n in f.provides}
    return [f"{f.package}: Depends: {' | '.join(group)}"
            for f in todo for group in f.depends
            if not any(n in installed.provided or n in offered for n in group)]


class Deb(Module):
    NAME = "deb"
    ARGS = {
        "debs": Arg("list"),
        "dir": Arg("path"),
        "names": Arg("list"),
        "state": Arg(default="present", choices=("present", "absent")),
        "purge": Arg("bool", default=False),
    }

    def run(self) -> Result:
        try:
            return self._absent() if self.args["state"] == "absent" else self._present()
        except DebError as exc:
            return Result(False, str(exc), failed=True)

    def _present(self) -> Result:
        files = self._read_files()
        installed = self._installed()
        chosen = select(files, self.args["names"], installed, self._newer(files, installed))
        todo = [f for f in chosen if installed.version(f.package) != f.version]
        data: dict[str, object] = {"packages": {f.package: f.version for f in chosen}}
        if not todo:
            what = ", ".join(self.args["names"] or []) or f"{len(files)} .deb files"
            return Result(False, f"{what}: installed at the files' versions",
                          data={**data, "installed": []})
        missing = missing_dependencies(todo, files, installed)
        if missing:
            raise DebError(f"{'; '.join(missing)}: neither installed nor among the .deb files")
        done = [f"{f.package} {f.version}" for f in todo]
        if not self.check_mode:
            res = self.t.run(f"{INSTALL} {' '.join(q(f.path) for f in todo)}")
            if not res.ok:
                return Result(False, apt_error(res.stdout, res.stderr), failed=True, data=data)
            after = self._installed()
            wrong = [f"{f.package} is at {after.version(f.package) or 'nothing'}"
                     for f in todo if after.version(f.package) != f.version]
            if wrong:
                raise DebError(f"apt-get succeeded but {', '.join(wrong)}")
        verb = "would install" if self.check_mode else "installed"
        diff = "".join(_diff_lines(f, installed.version(f.package)) for f in todo)
        return Result(True, f"{verb}: {', '.join(done)}", diff=diff,
                      data={**data, "installed": done})

    def _newer(self, files: list[DebFile], installed: Installed) -> frozenset[str]:
        """Packages whose file is newer than the installed version (dpkg compares)."""
        older = [f for f in files if installed.version(f.package) not in (None, f.version)]
        if not older:
            return frozenset()
        script = "; ".join(
            f"dpkg --compare-versions {q(f.version)} gt {q(installed.version(f.package) or '')}"
            f" && echo {q(f.package)}" for f in older)
        return frozenset(self.t.run(script + "; true").stdout.split())

    def _absent(self) -> Result:
        a = self.args
        names = a["names"]
        if names is None:
            if not a["debs"] and not a["dir"]:
                raise ArgumentError("deb: state=absent needs 'names' (or 'debs'/'dir' to read "
                                    "the package names from)")
            names = list(dict.fromkeys(f.package for f in self._read_files()))
        installed = self._installed()
        gone = GONE[:1] if a["purge"] else GONE  # purge also clears left-over config files
        present = [n for n in names
                   if installed.versions.get(n, ("", "not-installed"))[1] not in gone]
        if not present:
            return Result(False, f"{', '.join(names)}: not installed", data={"removed": []})
        verb = "purge" if a["purge"] else "remove"
        if not self.check_mode:
            res = self.t.run(f"{APT} {verb} {' '.join(q(n) for n in present)}")
            if not res.ok:
                return Result(False, apt_error(res.stdout, res.stderr), failed=True)
        diff = "".join(f"-{n} {installed.versions[n][0]}\n" for n in present)
        said = f"would {verb}" if self.check_mode else f"{verb}d"
        return Result(True, f"{said}: {', '.join(present)}", diff=diff,
                      data={"removed": present})

    def _read_files(self) -> list[DebFile]:
        a = self.args
        patterns = list(a["debs"] or []) + ([f"{a['dir'].rstrip('/')}/*.deb"] if a["dir"] else [])
        if not patterns:
            raise ArgumentError("deb: give 'debs' (paths or globs) or 'dir'")
        paths: list[str] = []
        for pattern in patterns:
            res = self.t.run(f"ls -1d -- {glob_arg(pattern)}")
            if not res.ok:
                raise DebError(f"no .deb file matches {pattern}")
            paths += [p for p in res.stdout.splitlines() if p and p not in paths]
        if not paths:
            return []
        # every file's control fields in one round trip: a bundle has dozens of .deb files
        res = self.t.run(f"for f in {' '.join(q(p) for p in paths)} ; do echo {q(MARK)}\"$f\"; "
                         f"dpkg-deb -f \"$f\" {' '.join(FIELDS)} 2>&1 || echo {q(FAILED)}; done")
        return [_deb_file(path, text, failed) for path, text, failed in split_marked(res.stdout)]

    def _installed(self) -> Installed:
        res = self.t.run(QUERY)
        if not res.ok:
            raise DebError(f"dpkg-query failed: {(res.stderr or res.stdout).strip()}")
        return parse_installed(res.stdout)


def split_marked(output: str) -> list[tuple[str, str, bool]]:
    """(path, dpkg-deb's output, whether it failed) per file of the batched read above."""
    paths: list[str] = []
    texts: list[list[str]] = []
    failed: list[bool] = []
    for line in output.splitlines():
        if line.startswith(MARK):
            paths.append(line[len(MARK):])
            texts.append([])
            failed.append(False)
        elif line == FAILED and paths:
            failed[-1] = True
        elif paths:
            texts[-1].append(line)
    return [(path, "\n".join(text) + "\n", bad) for path, text, bad in zip(paths, texts, failed)]


def _deb_file(path: str, text: str, failed: bool) -> DebFile:
    fields = parse_control(text)
    if failed or not fields.get("Package") or not fields.get("Version"):
        detail = text.strip().splitlines()
        raise DebError(f"{path}: not a readable .deb file"
                       + (f": {detail[-1]}" if detail else ""))
    depends = relation_names(fields.get("Pre-Depends", "")) + \
        relation_names(fields.get("Depends", ""))
    provides = tuple(n for group in relation_names(fields.get("Provides", "")) for n in group)
    return DebFile(path, fields["Package"], fields["Version"],
                   fields.get("Architecture", ""), depends, provides)


def _diff_lines(f: DebFile, before: str | None) -> str:
    old = f"-{f.package} {before}\n" if before else ""
    return f"{old}+{f.package} {f.version}\n"
