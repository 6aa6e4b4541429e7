"""The Python half of the bundle: the kubeclass wheel and every wheel it needs on the hosts.

Data flow (B): ... ─▶ **bundle** (build on the controller, verify, extract on the host). On the
controller: build the kubeclass wheel from a copy of the repository (so the build leaves no
``build/`` or ``*.egg-info`` behind in the working tree), let pip resolve its dependencies
(``pip install --dry-run --report``), then fetch each pinned project as a wheel for the hosts'
CPython 3.11 / manylinux (``pip download --only-binary``), or build it from source when the
project publishes no wheel. On verify: prove with ``pip install --dry-run --no-index`` that the
wheels alone install kubeclass. The hosts then run
``pip install --no-index --find-links wheels kubeclass``.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import sys
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

from provision.bundle import target
from provision.bundle.proc import BundleError, Progress, quiet, run, telling_line

# Parts of the working tree that are not in the kubeclass wheel and may be large or stale:
# at the top of the repository, and anywhere.
_NOT_SOURCE_TOP = {".git", ".venv", "venv", "build", "dist", "tests", ".hypothesis", "node_modules"}
_NOT_SOURCE = ("*.egg-info", "__pycache__", ".*_cache")
_PIP_SHOWN = ("Collecting", "Downloading", "Saved", "File was already downloaded",
              "Building wheel", "Created wheel")


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    has_wheel: bool  # False: the project publishes only a source archive for this version

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


def _show_pip(line: str) -> str | None:
    text = line.strip()
    return f"wheels: {text}" if text.startswith(_PIP_SHOWN) else None


def check_python(python: str) -> None:
    """The resolving Python must be the hosts' Python: pip evaluates environment markers
    (``python_version < "3.12"``, ``sys_platform``) with the interpreter that runs it."""
    code = ("import platform, sys; print(sys.implementation.name, "
            "'%d.%d' % sys.version_info[:2], sys.platform, platform.machine())")
    _, out = run([python, "-c", code], what=f"asking {python} for its version")
    want = f"cpython {target.PYTHON_VERSION} linux {target.MACHINE}"
    if out.strip() != want:
        raise BundleError(f"{python} is {out.strip()!r}, but the hosts run {want!r}: build the "
                          f"bundle with a CPython {target.PYTHON_VERSION} on Linux {target.MACHINE}")


def build_kubeclass(repo: Path, out: Path, work: Path, *, python: str,
                    progress: Progress = quiet) -> Path:
    """``pip wheel --no-deps`` of a copy of ``repo``; returns the wheel's path in ``out``."""
    if not (repo / "pyproject.toml").is_file():
        raise BundleError(f"{repo}: no pyproject.toml, not the kubeclass repository")
    repo, source = repo.resolve(), work / "source"
    anywhere = shutil.ignore_patterns(*_NOT_SOURCE)

    def ignore(folder: str, names: list[str]) -> set[str]:
        top = _NOT_SOURCE_TOP.intersection(names) if Path(folder) == repo else set()
        return top | anywhere(folder, names)

    shutil.copytree(repo, source, ignore=ignore)
    built = work / "kubeclass-wheel"
    progress(f"wheels: building the kubeclass wheel from {repo}")
    # An absolute path: a bare directory name would make pip look it up on PyPI.
    run([python, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(built), str(source.resolve())],
        what="building the kubeclass wheel", progress=progress, show=_show_pip)
    wheels = sorted(built.glob("kubeclass-*.whl"))
    if len(wheels) != 1:
        raise BundleError(f"building the kubeclass wheel gave {len(wheels)} wheels, expected one")
    out.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(wheels[0], out / wheels[0].name))


def resolve(kubeclass_wheel: Path, work: Path, *, python: str, progress: Progress = quiet) -> list[Pin]:
    """Every project kubeclass needs at run time, pinned, as pip would install it on a host
    with nothing installed. Prefers versions that have wheels."""
    report = work / "resolve.json"
    progress("wheels: resolving the dependencies of kubeclass")
    run([python, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--prefer-binary",
         "--quiet", "--report", str(report), str(kubeclass_wheel.resolve())],
        what="resolving kubeclass's dependencies", progress=progress, show=_show_pip)
    items = json.loads(report.read_text())["install"]
    pins = [Pin(i["metadata"]["name"], i["metadata"]["version"],
                i["download_info"]["url"].endswith(".whl"))
            for i in items if _norm(i["metadata"]["name"]) != "kubeclass"]
    progress(f"wheels: kubeclass needs {len(pins)} projects")
    return pins


def download(pins: list[Pin], out: Path, work: Path, *, python: str,
             progress: Progress = quiet) -> None:
    """Fetch the hosts' wheel of every pin into ``out``; build the source-only ones."""
    binary = [p.requirement for p in pins if p.has_wheel]
    source = [p.requirement for p in pins if not p.has_wheel]
    if binary:
        reqs = work / "binary.txt"
        reqs.write_text("\n".join(binary) + "\n")
        run([python, "-m", "pip", "download", "--no-deps", "--dest", str(out),
             *target.pip_target_args(), "--requirement", str(reqs)],
            what="downloading wheels for the hosts", progress=progress, show=_show_pip)
    if source:
        # Built by the controller's Python, which check_python made sure is the hosts' kind.
        progress(f"wheels: building from source: {', '.join(source)}")
        reqs = work / "source.txt"
        reqs.write_text("\n".join(source) + "\n")
        run([python, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(out),
             "--requirement", str(reqs)],
            what="building wheels of source-only projects", progress=progress, show=_show_pip)


def metadata(wheel: Path) -> tuple[str, str]:
    """(Name, Version) from the wheel's ``*.dist-info/METADATA``."""
    try:
        with zipfile.ZipFile(wheel) as z:
            name = next(n for n in z.namelist()
                        if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
            headers = HeaderParser().parsestr(z.read(name).decode("utf-8", "replace"))
    except (zipfile.BadZipFile, StopIteration, OSError) as e:
        raise BundleError(f"{wheel.name}: not a readable wheel ({e or 'no METADATA'})") from None
    return headers["Name"] or "", headers["Version"] or ""


def images(kubeclass_wheel: Path, wheel_path: str) -> dict[str, dict[str, Any]]:
    """The demo images kubeclass runs, read from ``nodeagent/images.py`` in the wheel (as text:
    provision never imports the cluster code). Every image is a program inside the wheel."""
    with zipfile.ZipFile(kubeclass_wheel) as z:
        names = set(z.namelist())
        source = z.read("nodeagent/images.py").decode() if "nodeagent/images.py" in names else ""
    programs = _programs(source)
    result = {}
    for name, (script, tags) in sorted(programs.items()):
        path = f"nodeagent/images/{script}"
        if path not in names:
            raise BundleError(f"image {name}: {path} is not in the kubeclass wheel")
        result[name] = {"from": wheel_path, "path": path,
                        "tags": sorted(tags) if tags is not None else None}
    return result


def _programs(source: str) -> dict[str, tuple[str, dict[str, Any] | None]]:
    for node in ast.walk(ast.parse(source)) if source else ():
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "PROGRAMS" for t in targets) and node.value:
            try:
                return ast.literal_eval(node.value)
            except ValueError:
                break
    raise BundleError("cannot read PROGRAMS from nodeagent/images.py in the kubeclass wheel: "
                      "keep it a literal dict of image name -> (script, tags)")


def check_installable(wheels: Path, version: str, work: Path) -> tuple[list[str], list[str]]:
    """Prove, with no network and no pip configuration, that the wheels in ``wheels`` install
    ``kubeclass==version`` on the hosts. Returns (problems, notes)."""
    report = work / "verify-wheels.json"
    env = {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INPUT": "1"}  # no index, mirror or find-links
    code, out = run([sys.executable, "-m", "pip", "--isolated", "install", "--dry-run", "--no-index",
                     "--find-links", str(wheels), "--ignore-installed", "--no-cache-dir", "--quiet",
                     *target.pip_target_args(), "--report", str(report), f"kubeclass=={version}"],
                    what="checking the wheel set", env=env, check=False)
    if code != 0:
        return _pip_problems(out), []
    used = {Path(i["download_info"]["url"].removeprefix("file://")).name
            for i in json.loads(report.read_text())["install"]}
    notes = [f"wheels/{w.name}: not needed by kubeclass {version}"
             for w in sorted(wheels.glob("*.whl")) if w.name not in used]
    complete = f"wheel set complete: pip resolves kubeclass {version} from {len(used)} bundled wheels"
    return [], [*notes, complete]


def _pip_problems(output: str) -> list[str]:
    missing = re.findall(r"satisfies the requirement (\S+)(?: \(from ([^)]+)\))?", output)
    if missing:
        return [f"wheel set incomplete: {parent or 'the install'} needs {req}, which is not in "
                f"the bundle (or has no wheel for {target.PYTHON} {target.PLATFORM})"
                for req, parent in dict.fromkeys(missing)]
    if "No module named pip" in output:
        return [f"cannot check the wheel set: {sys.executable} has no pip"]
    return [f"wheel set does not resolve: {telling_line(output)}"]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
