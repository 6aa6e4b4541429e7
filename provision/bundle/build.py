"""Building the offline bundle on the controller: one tar with everything a host installs.

Data flow (B): inventory ─▶ playbook ─▶ ... ─▶ **bundle** (build on the controller, verify,
extract on the host) ─▶ modules install ``wheels/`` with pip and ``debs/`` with apt. The
controller is the only machine with a route to PyPI and deb.debian.org; `build` gathers
there, into a staging directory, in this order:

1. the kubeclass wheel, built from this repository (`wheels.build_kubeclass`);
2. the wheels of everything kubeclass needs, for CPython 3.11 on manylinux x86_64 (`wheels`),
   with kubernetes_validate slimmed to the one schema version kubeclass reads (`slim`);
3. the Debian packages the reference image lacks for etcd, haproxy, keepalived and
   python3-venv, with their dependencies (`debs`), and a copy of that reference status;
4. ``manifest.json`` and ``SHA256SUMS`` (`manifest`), then the tar (`archive.write`).

Plain tar by default: wheels and debs are compressed already (gzip gains ~5 %), and a
plain tar needs no xz on the hosts and can be listed without unpacking it.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from provision.bundle import archive, debs, slim, target, wheels
from provision.bundle.manifest import (
    MANIFEST,
    REFERENCE,
    SUMS,
    FileEntry,
    Manifest,
    file_entry,
    render_sums,
    sha256_file,
)
from provision.bundle.proc import BundleError, Progress, quiet

REPO = Path(__file__).resolve().parents[2]  # provision/bundle/build.py -> the repository


def build(output: Path, *, reference_status: Path | None, progress: Progress = quiet,
          repo: Path = REPO, deb_packages: Sequence[str] = target.DEB_PACKAGES,
          compression: str = "", python: str = sys.executable) -> Manifest:
    """Build the bundle and write it to ``output`` (a file, or a directory to put
    `target.default_name` in). Needs the network to PyPI and deb.debian.org. Returns the
    manifest; raises `BundleError` with one line if a step fails, leaving no partial tar."""
    if reference_status is None:
        raise BundleError("building a bundle needs the hosts' dpkg status file (the lab image's "
                          "/var/lib/dpkg/status): pass reference_status")
    if compression not in archive.COMPRESSIONS:
        raise BundleError(f"unknown compression {compression!r}: use '', 'gz' or 'xz'")
    debs.check_status_file(reference_status)
    debs.require_tools()
    wheels.check_python(python)
    definitions = slim.definitions_version(repo)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kubeclass-bundle-") as tmp:
        stage, work = Path(tmp) / "stage", Path(tmp) / "work"
        work.mkdir()
        manifest = _gather(stage, work, reference_status=reference_status, repo=repo,
                           deb_packages=deb_packages, definitions=definitions, python=python,
                           progress=progress)
        path = _write(output, stage, manifest, compression)
    progress(f"wrote {path}: {path.stat().st_size / 1e6:.1f} MB, {len(manifest.files)} files, "
             f"in {time.monotonic() - started:.0f} s")
    if path.stat().st_size > target.SIZE_TARGET:
        biggest = sorted(manifest.files, key=lambda f: -f.size)[:3]
        progress(f"warning: the bundle is over the {target.SIZE_TARGET / 1e6:.0f} MB target; "
                 "biggest: " + ", ".join(f"{f.path} {f.size / 1e6:.1f} MB" for f in biggest))
    return manifest


def _gather(stage: Path, work: Path, *, reference_status: Path, repo: Path,
            deb_packages: Sequence[str], definitions: str, python: str,
            progress: Progress) -> Manifest:
    wheel_dir, deb_dir = stage / "wheels", stage / "debs"
    kubeclass = wheels.build_kubeclass(repo, wheel_dir, work, python=python, progress=progress)
    pins = wheels.resolve(kubeclass, work, python=python, progress=progress)
    wheels.download(pins, wheel_dir, work, python=python, progress=progress)
    trimmed = slim.trim(wheel_dir, definitions, progress)
    debs.download(deb_packages, deb_dir, work, reference_status=reference_status, progress=progress)
    (stage / REFERENCE).parent.mkdir(parents=True)
    shutil.copyfile(reference_status, stage / REFERENCE)
    progress("manifest: hashing every file")
    files = _wheel_entries(stage) + _deb_entries(stage) + [file_entry(stage, REFERENCE, "reference")]
    _, version = wheels.metadata(kubeclass)
    kubeclass_rel = f"wheels/{kubeclass.name}"
    return Manifest(
        kubeclass_version=version,
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        reference_status_sha256=sha256_file(reference_status),
        requested={"python": [f"kubeclass=={version}"], "debian": list(deb_packages)},
        files=files,
        images=wheels.images(kubeclass, kubeclass_rel),
        trimmed=trimmed,
    )


def _wheel_entries(stage: Path) -> list[FileEntry]:
    entries = []
    for wheel in sorted((stage / "wheels").glob("*.whl")):
        name, version = wheels.metadata(wheel)
        entries.append(file_entry(stage, f"wheels/{wheel.name}", "wheel", name=name, version=version))
    return entries


def _deb_entries(stage: Path) -> list[FileEntry]:
    entries = []
    for deb in sorted((stage / "debs").glob("*.deb")):
        name, version, arch = debs.fields(deb)
        entries.append(file_entry(stage, f"debs/{deb.name}", "deb", name=name, version=version,
                                  arch=arch))
    return entries


def _write(output: Path, stage: Path, manifest: Manifest, compression: str) -> Path:
    path = output / target.default_name(manifest.kubeclass_version, compression) \
        if output.is_dir() else output
    if not path.parent.is_dir():
        raise BundleError(f"{path.parent}: no such directory for the bundle")
    (stage / MANIFEST).write_text(manifest.to_json())
    (stage / SUMS).write_text(render_sums(manifest.files))
    names = [MANIFEST, SUMS, *(f.path for f in manifest.files)]
    created = datetime.strptime(manifest.created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    archive.write(path, stage, names, compression=compression, mtime=int(created.timestamp()))
    return path
