"""Verifying a bundle without any network: is it intact, and is it enough?

Data flow (B): ... ─▶ **bundle** (build on the controller, **verify**, extract on the host).
`verify` answers two questions, each as one line per problem in a `VerifyReport`:

* *intact*: the tar reads to its end, holds no unsafe member, its manifest parses, every
  listed file is there with its size and sha256, nothing unlisted is there, SHA256SUMS
  agrees with the manifest, and every wheel the build slimmed has a RECORD that matches
  its files (the one place where the bundle wrote a wheel itself);
* *enough*: pip installs kubeclass from the bundled wheels alone (``--no-index``, no pip
  configuration), and apt installs the bundled debs on the reference system with no package
  source at all. Both are dry runs; nothing is installed.

By default the debs are checked against the reference status stored in the bundle; pass
``reference_status`` to check them against another system (on a host: its own
``/var/lib/dpkg/status``).
"""

from __future__ import annotations

import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from provision.bundle import archive, debs, slim, target, wheels
from provision.bundle.manifest import MANIFEST, REFERENCE, Manifest, check_tree, sha256_file
from provision.bundle.proc import BundleError


@dataclass
class VerifyReport:
    bundle: Path
    manifest: Manifest | None = None
    problems: list[str] = field(default_factory=list)  # each one line; empty = the bundle is good
    notes: list[str] = field(default_factory=list)  # what was checked or skipped, for -v

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.ok:
            return f"{self.bundle.name}: ok ({len(self.manifest.files) if self.manifest else 0} files)"
        return f"{self.bundle.name}: {len(self.problems)} problem(s)"


def verify(bundle: Path, *, reference_status: Path | None = None, dry_runs: bool = True) -> VerifyReport:
    """Check ``bundle`` (see the module docstring). ``dry_runs=False`` skips the pip and apt
    dry runs and checks only that the bundle is intact. Never raises for a bad bundle."""
    report = VerifyReport(bundle)
    with tempfile.TemporaryDirectory(prefix="kubeclass-verify-") as tmp:
        root = Path(tmp) / "bundle"
        try:
            manifest, names = _unpack(bundle, root)
        except BundleError as e:
            report.problems.append(str(e))
            return report
        except OSError as e:  # e.g. no space left for the unpacked copy
            report.problems.append(f"cannot unpack {bundle} into {tmp}: {e.strerror or e}")
            return report
        report.manifest = manifest
        if manifest.target != target.as_dict():
            report.problems.append(f"the bundle is for {manifest.target}, this kubeclass installs "
                                   f"on {target.as_dict()}: build a bundle for these hosts")
        report.problems += check_tree(manifest, root, names)
        report.problems += _check_images(manifest, root)
        _check_trimmed(report, manifest, root)
        if dry_runs:
            try:
                _dry_runs(report, manifest, root, Path(tmp), reference_status)
            except (BundleError, OSError, ValueError) as e:  # a tool that would not run
                report.problems.append(f"dry run failed: {' '.join(str(e).split())}")
    return report


def _unpack(bundle: Path, root: Path) -> tuple[Manifest, list[str]]:
    tar, members = archive.open_members(bundle)
    with tar:
        unsafe = archive.unsafe_members(members)
        if unsafe:
            raise BundleError(archive.one_line(unsafe, "refusing to extract"))
        if MANIFEST not in [m.name for m in members if m.isfile()]:
            raise BundleError(f"no {MANIFEST} inside: this is not a kubeclass bundle")
        names = archive.unpack(tar, members, root)
    return Manifest.from_json((root / MANIFEST).read_bytes()), names


def _check_images(manifest: Manifest, root: Path) -> list[str]:
    problems = []
    for name, image in manifest.images.items():
        wheel = root / str(image.get("from", ""))
        try:
            with zipfile.ZipFile(wheel) as z:
                found = str(image.get("path")) in z.namelist()
        except (OSError, zipfile.BadZipFile):
            found = False
        if not found:
            problems.append(f"image {name}: {image.get('path')} is not in {image.get('from')}")
    return problems


def _check_trimmed(report: VerifyReport, manifest: Manifest, root: Path) -> None:
    for path, trimmed in manifest.trimmed.items():
        if not (root / path).is_file():
            continue  # check_tree has named it missing
        try:
            report.problems += [f"{path}: {p}" for p in slim.check_record(root / path)]
        except (OSError, zipfile.BadZipFile, BundleError, UnicodeDecodeError) as e:
            report.problems.append(f"{path}: cannot read its RECORD ({e})")
            continue
        kept = ", ".join(trimmed.get("kept", []))
        report.notes.append(f"{path}: slimmed by the build, kept {kept}; the published wheel "
                            f"was sha256 {trimmed.get('original_sha256')}")


def _dry_runs(report: VerifyReport, manifest: Manifest, root: Path, work: Path,
              reference_status: Path | None) -> None:
    problems, notes = wheels.check_installable(root / "wheels", manifest.kubeclass_version, work)
    report.problems += problems
    report.notes += notes
    status = reference_status or root / REFERENCE
    if not status.is_file():
        report.problems.append(f"deb set not checked: {status} does not exist")
        return
    if reference_status is not None and sha256_file(status) != manifest.reference_status_sha256:
        report.notes.append(f"checking the debs against {status}, which differs from the system "
                            "the bundle was built for")
    deb_files = [root / f.path for f in manifest.of_kind("deb") if (root / f.path).is_file()]
    problems, notes = debs.check_installable(deb_files, status, work)
    report.problems += problems
    report.notes += notes
