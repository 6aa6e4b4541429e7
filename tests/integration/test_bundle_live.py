"""The offline bundle for real: build it from PyPI and deb.debian.org, verify it offline,
prove that verify notices a bundle that lacks a deb or a wheel, and that the slimmed
kubernetes_validate wheel installs and still holds the schemas kubeclass reads.

The reference system is the lab image's dpkg status (built once by debootstrap and cached,
as `kubeclass bundle build` does), or ``$KUBECLASS_REFERENCE_STATUS``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from provision.bundle import Manifest, build, extract, verify
from provision.bundle import archive, slim, target
from provision.bundle.manifest import MANIFEST, SUMS, render_sums

pytestmark = pytest.mark.slow

def _reference() -> Path:
    given = os.environ.get("KUBECLASS_REFERENCE_STATUS")
    if given:
        return Path(given)
    from provision import labhosts

    return labhosts.reference_status()


REFERENCE = _reference() if os.geteuid() == 0 else Path(os.environ.get(
    "KUBECLASS_REFERENCE_STATUS", "/nonexistent"))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Manifest, float]:
    if not REFERENCE.is_file():
        pytest.skip(f"no reference dpkg status at {REFERENCE}: set KUBECLASS_REFERENCE_STATUS")
    out = tmp_path_factory.mktemp("bundle")
    steps: list[str] = []
    started = time.monotonic()
    manifest = build(out, reference_status=REFERENCE, progress=steps.append)
    elapsed = time.monotonic() - started
    bundle = out / target.default_name(manifest.kubeclass_version)
    assert any(s.startswith("debs: Get:") for s in steps) and steps[-1].startswith(("wrote", "warning"))
    return bundle, manifest, elapsed


def without(bundle: Path, manifest: Manifest, drop: str, work: Path) -> Path:
    """The same bundle minus one file, consistently: the manifest and SHA256SUMS no longer
    list it, so only the pip or apt dry run can tell that something is missing."""
    root = work / "unpacked"
    extract(bundle, root)
    kept = Manifest.from_json(manifest.to_json())
    kept.files = [f for f in kept.files if f.path != drop]
    assert len(kept.files) == len(manifest.files) - 1, drop
    (root / MANIFEST).write_text(kept.to_json())
    (root / SUMS).write_text(render_sums(kept.files))
    smaller = work / f"without-{Path(drop).name}.tar"
    archive.write(smaller, root, [MANIFEST, SUMS, *(f.path for f in kept.files)], compression="",
                  mtime=0)
    return smaller


def test_build_gives_a_bundle_that_verifies(built, capsys):
    bundle, manifest, elapsed = built
    report = verify(bundle)
    assert report.ok, report.problems
    assert any(n.startswith("wheel set complete") for n in report.notes)
    assert any(n.startswith("deb set complete") for n in report.notes)
    size = bundle.stat().st_size
    biggest = sorted(manifest.files, key=lambda f: -f.size)[:10]
    with capsys.disabled():
        print(f"\n{bundle.name}: {size / 1e6:.1f} MB ({size / 2**20:.1f} MiB, target "
              f"{target.SIZE_TARGET / 1e6:.0f} MB), {len(manifest.files)} files, built in "
              f"{elapsed:.0f} s; the 10 biggest:")
        for f in biggest:
            print(f"  {f.size / 1e6:7.2f} MB  {f.path}")


def test_bundle_holds_what_the_hosts_need(built, tmp_path):
    bundle, manifest, _ = built
    wheels = {f.name.lower().replace("_", "-") for f in manifest.of_kind("wheel")}
    assert {"kubeclass", "flask", "kubernetes-validate", "fabric", "cryptography"} <= wheels
    assert not wheels & {"pip", "setuptools", "wheel"}  # python3-venv brings pip
    names = {f.name for f in manifest.of_kind("deb")}
    assert set(target.DEB_PACKAGES) <= names
    assert all(f.arch in ("amd64", "all") and f.version for f in manifest.of_kind("deb"))
    assert set(manifest.images) >= {"kubeclass/hello", "kubeclass/echo"}
    root = tmp_path / "x"
    extract(bundle, root)
    subprocess.run(["sha256sum", "--check", "--quiet", SUMS], cwd=root, check=True)


def test_verify_notices_a_missing_deb(built, tmp_path):
    bundle, manifest, _ = built
    debs = {f.name: f.path for f in manifest.of_kind("deb")}
    # A dependency, not a requested package: only apt's resolver can tell it is needed.
    drop = debs.get("libnl-3-200") or next(p for n, p in debs.items() if n not in target.DEB_PACKAGES)
    name = next(n for n, p in debs.items() if p == drop)
    report = verify(without(bundle, manifest, drop, tmp_path))
    assert not report.ok
    assert report.problems and all(p.startswith("deb set incomplete:") for p in report.problems)
    assert any(name in p for p in report.problems), report.problems


def test_verify_notices_a_missing_wheel(built, tmp_path):
    bundle, manifest, _ = built
    drop = next(f.path for f in manifest.of_kind("wheel") if f.name.lower() == "idna")
    report = verify(without(bundle, manifest, drop, tmp_path))
    assert len(report.problems) == 1, report.problems
    assert report.problems[0].startswith("wheel set incomplete: requests needs idna")


def test_verify_against_the_reference_passed_in(built, tmp_path):
    bundle, _, _ = built
    report = verify(bundle, reference_status=REFERENCE)
    assert report.ok, report.problems
    # The same system without libc6: the bundle does not bring it, so the debs cannot install.
    no_libc = tmp_path / "status"
    stanzas = REFERENCE.read_text().split("\n\n")
    no_libc.write_text("\n\n".join(s for s in stanzas if not s.startswith("Package: libc6\n")))
    report = verify(bundle, reference_status=no_libc)
    assert not report.ok and any("libc6" in p for p in report.problems), report.problems
    assert any("differs from the system the bundle was built for" in n for n in report.notes)


POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
       "spec": {"containers": [{"name": "web", "image": "kubeclass/hello:1"}]}}

# Run by the test venv's python: what controlplane/api/schema.py does, plus the folder list.
READ_SCHEMAS = """
import importlib.resources, json, sys
schemas = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
definitions = schemas / f"{sys.argv[1]}-local" / "_definitions.json"
print(json.dumps([sorted(p.name for p in schemas.iterdir()),
                  len(json.loads(definitions.read_text())["$defs"])]))
"""


def test_slim_kubernetes_validate_installs_with_the_schemas_kubeclass_reads(built, tmp_path):
    from controlplane.api.schema import DEFINITIONS_VERSION  # what kubeclass reads at run time
    bundle, manifest, _ = built
    entry = next(f for f in manifest.of_kind("wheel") if f.name.lower() == "kubernetes-validate")
    trimmed = manifest.trimmed[entry.path]
    assert trimmed["kept"] == [f"{slim.SCHEMAS}{DEFINITIONS_VERSION}-local/",
                               f"{slim.SCHEMAS}{DEFINITIONS_VERSION}-local-strict/"]
    assert trimmed["original_size"] > entry.size and trimmed["removed_files"] > 0
    root, venv = tmp_path / "bundle", tmp_path / "venv"
    extract(bundle, root)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # As on a host: no index, no pip configuration, the bundle's wheels only (with the deps).
    subprocess.run([str(venv / "bin" / "pip"), "--isolated", "install", "--quiet", "--no-index",
                    "--disable-pip-version-check", "--find-links", str(root / "wheels"),
                    f"kubernetes-validate=={entry.version}"], check=True)
    out = subprocess.run([str(venv / "bin" / "python"), "-c", READ_SCHEMAS, DEFINITIONS_VERSION],
                         check=True, capture_output=True, text=True).stdout
    folders, definitions = json.loads(out)
    assert folders == [f"{DEFINITIONS_VERSION}-local", f"{DEFINITIONS_VERSION}-local-strict"]
    assert definitions > 500  # every kind of that Kubernetes version
    pod = tmp_path / "pod.json"
    pod.write_text(json.dumps(POD))
    cli = subprocess.run([str(venv / "bin" / "kubernetes-validate"), "--strict",
                          "--kubernetes-version", DEFINITIONS_VERSION.lstrip("v"), str(pod)],
                         capture_output=True, text=True)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "pod.json passed for resource pod/web" in cli.stdout + cli.stderr
