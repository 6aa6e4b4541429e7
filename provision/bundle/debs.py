"""The Debian half of the bundle: the packages the hosts lack, computed against their image.

Data flow (B): ... ─▶ **bundle** (build on the controller, verify, extract on the host). apt on
the controller is pointed at the hosts' dpkg status file (the *reference*: what a fresh lab host
has installed) and asked to ``install --download-only`` etcd, haproxy, keepalived and
python3-venv. apt then downloads exactly what a host would need: the packages, their missing
dependencies, and newer versions of installed packages where a dependency asks for one.

apt runs in a private root (`AptRoot`): its own sources (deb.debian.org bookworm with updates
and security), lists, cache and config, chosen through ``APT_CONFIG``, so the controller's
installed packages, package lists, pinning and apt.conf.d hooks are neither used nor touched.
Verify uses a root with *no* sources at all: ``apt-get install --simulate`` of the bundled
.deb files can then only succeed if they and the reference system are enough.
Recommends are not installed; the hosts must install with ``--no-install-recommends`` too.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from provision.bundle import target
from provision.bundle.proc import BundleError, Progress, quiet, run, telling_line


class AptRoot:
    """A throwaway apt configuration under ``root`` reading the hosts' dpkg ``status``."""

    def __init__(self, root: Path, status: Path, sources: Sequence[str] = ()) -> None:
        self.root = root
        self.archives = root / "archives"
        for sub in ("etc.d", "lists/partial", "cache", "archives/partial", "log"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "sources.list").write_text("".join(f"{line}\n" for line in sources))
        settings = {
            "Dir::Etc::Main": "/dev/null", "Dir::Etc::Parts": root / "etc.d",
            "Dir::Etc::SourceList": root / "sources.list", "Dir::Etc::SourceParts": root / "etc.d",
            "Dir::Etc::Preferences": "/dev/null", "Dir::Etc::PreferencesParts": root / "etc.d",
            "Dir::State": root, "Dir::State::Lists": root / "lists",
            "Dir::State::status": status.resolve(), "Dir::State::extended_states": root / "ext",
            "Dir::Cache": root / "cache", "Dir::Cache::archives": self.archives,
            "Dir::Cache::pkgcache": "", "Dir::Cache::srcpkgcache": "", "Dir::Log": root / "log",
            # Nothing here is shared with another apt, so there is nothing to lock.
            "Debug::NoLocking": "true", "APT::Sandbox::User": "root",
            "APT::Architecture": target.ARCH, "APT::Install-Recommends": "false",
            "APT::Install-Suggests": "false", "Acquire::Languages": "none",
        }
        lines = [f'{key} "{value}";' for key, value in settings.items()]
        lines.append(f'APT::Architectures {{ "{target.ARCH}"; }};')
        (root / "apt.conf").write_text("\n".join(lines) + "\n")

    def apt_get(self, *args: str, what: str, progress: Progress = quiet,
                check: bool = True) -> tuple[int, str]:
        env = {"APT_CONFIG": str(self.root / "apt.conf"), "DEBIAN_FRONTEND": "noninteractive"}
        return run(["apt-get", "-q", *args], what=what, env=env, progress=progress,
                   show=_show_apt, check=check)


def _show_apt(line: str) -> str | None:
    return f"debs: {line.strip()}" if line.startswith(("Get:", "Hit:")) else None


def require_tools() -> None:
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise BundleError(f"{tool} not found: build the bundle on a Debian controller")


def check_status_file(status: Path) -> None:
    """A dpkg status file starts with ``Package:`` stanzas; anything else is a wrong path."""
    if not status.is_file():
        raise BundleError(f"reference status {status}: no such file (give the lab image's "
                          "/var/lib/dpkg/status)")
    head = status.read_text(errors="replace")[:4096]
    if "Package:" not in head or "Status:" not in head:
        raise BundleError(f"reference status {status}: not a dpkg status file")


def download(packages: Sequence[str], out: Path, work: Path, *, reference_status: Path,
             progress: Progress = quiet) -> list[Path]:
    """Download ``packages`` and whatever they need beyond ``reference_status`` into ``out``."""
    apt = AptRoot(work / "apt", reference_status, target.APT_SOURCES)
    progress(f"debs: reading the {target.DEBIAN} package lists from deb.debian.org")
    apt.apt_get("update", what="apt-get update (of a private package list)", progress=progress)
    progress(f"debs: downloading {', '.join(packages)} and what the reference system lacks for them")
    apt.apt_get("install", "--download-only", "--yes", *packages,
                what="downloading Debian packages", progress=progress)
    out.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.move(deb, out / deb.name)) for deb in sorted(apt.archives.glob("*.deb"))]


def fields(deb: Path) -> tuple[str, str, str]:
    """(Package, Version, Architecture) from the .deb's control file."""
    _, out = run(["dpkg-deb", "--field", str(deb), "Package", "Version", "Architecture"],
                 what=f"reading {deb.name}")
    values = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    return values.get("Package", ""), values.get("Version", ""), values.get("Architecture", "")


def check_installable(debs: list[Path], reference_status: Path, work: Path) -> tuple[list[str], list[str]]:
    """Prove, with no network and no package source, that ``debs`` install on a system whose
    dpkg status is ``reference_status``. Returns (problems, notes)."""
    if shutil.which("apt-get") is None:
        return [], ["deb set not checked: apt-get not found on this machine"]
    if not debs:
        return [], ["deb set empty: nothing to check"]
    apt = AptRoot(work / "apt-verify", reference_status)  # no sources: only these files exist
    code, out = apt.apt_get("install", "--simulate", "--yes", *(str(d.resolve()) for d in debs),
                            what="checking the deb set", check=False)
    if code != 0:
        return _unmet(out), []
    installed = set(re.findall(r"^Inst (\S+)", out, re.MULTILINE))
    notes = [f"debs/{d.name}: already on the reference system, not needed"
             for d in debs if d.name.split("_", 1)[0] not in installed]
    complete = (f"deb set complete: apt installs all {len(debs)} packages on the reference "
                "system with no other package source")
    return [], [*notes, complete]


def _unmet(output: str) -> list[str]:
    """apt's "unmet dependencies" block as one line per missing dependency."""
    problems, package = [], ""
    block = output.split("unmet dependencies:", 1)
    for line in block[1].splitlines() if len(block) == 2 else ():
        m = re.match(r"^ (\S+) : (.*)$", line)
        if m:
            package, text = m.groups()
        elif line.startswith("   ") and package:
            text = line.strip()
        else:
            continue
        problems.append(_explain(package, text))
    if problems:
        return problems
    return [f"deb set does not install on the reference system: {telling_line(output)}"]


def _explain(package: str, text: str) -> str:
    m = re.match(r"^(\w+): (.+?) but it is not (?:installable|going to be installed)$", text)
    if m:
        return (f"deb set incomplete: {package} {m.group(1).lower()} on {m.group(2)}, which is "
                "neither in the bundle nor on the reference system")
    m = re.match(r"^(\w+): (.+?) but (\S+) is (?:to be )?installed$", text)
    if m:
        return (f"deb set incomplete: {package} {m.group(1).lower()} on {m.group(2)}, but only "
                f"{m.group(3)} is available (the bundle lacks the newer one)")
    return f"deb set incomplete: {package}: {text}"
