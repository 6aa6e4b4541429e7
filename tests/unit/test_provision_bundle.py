"""The offline bundle, on small bundles made by hand: manifest round trip, verify/extract
catching a changed, missing or extra file, a truncated tar and unsafe member names, and the
slimmed kubernetes_validate wheel (its RECORD, pip installing it, the manifest saying so)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from provision.bundle import BundleError, Manifest, build, default_name, extract, verify
from provision.bundle import archive, debs, slim, wheels
from provision.bundle.manifest import MANIFEST, REFERENCE, SUMS, file_entry, parse_sums, render_sums

IMAGES_PY = '''
PROGRAMS: dict = {
    "kubeclass/hello": ("hello.py", {"1": ["--version", "1"], "latest": []}),
    "kubeclass/crashloop": ("crashloop.py", None),
}
'''
STATUS = """Package: base-files
Status: install ok installed
Priority: required
Architecture: amd64
Version: 12.4
Description: base system

"""
KUBECLASS_WHEEL = "wheels/kubeclass-0.1.0-py3-none-any.whl"
DEB = "debs/kc-a_1.0_all.deb"


def make_wheel(path: Path, name: str, version: str, requires: tuple[str, ...] = (),
               files: dict[str, str] | None = None) -> None:
    """A minimal real wheel: pip can read its metadata and resolve it."""
    dist = f"{name}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        for arcname, text in (files or {}).items():
            z.writestr(arcname, text)
        z.writestr(f"{dist}/METADATA", meta)
        z.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{dist}/RECORD", "")


def make_stage(root: Path, *, requires: tuple[str, ...] = ()) -> Manifest:
    """An unpacked bundle: the kubeclass wheel, one (fake) deb, the reference status."""
    make_wheel(root / KUBECLASS_WHEEL, "kubeclass", "0.1.0", requires,
               {"nodeagent/images.py": IMAGES_PY, "nodeagent/images/hello.py": "print('hi')\n",
                "nodeagent/images/crashloop.py": "raise SystemExit(1)\n"})
    (root / DEB).parent.mkdir(parents=True)
    (root / DEB).write_bytes(b"!<arch>\nnot really a deb\n")
    (root / REFERENCE).parent.mkdir(parents=True)
    (root / REFERENCE).write_text(STATUS)
    files = [file_entry(root, KUBECLASS_WHEEL, "wheel", name="kubeclass", version="0.1.0"),
             file_entry(root, DEB, "deb", name="kc-a", version="1.0", arch="all"),
             file_entry(root, REFERENCE, "reference")]
    manifest = Manifest(kubeclass_version="0.1.0", created="2026-01-01T00:00:00Z",
                        reference_status_sha256=files[-1].sha256,
                        requested={"python": ["kubeclass==0.1.0"], "debian": ["kc-a"]},
                        files=files, images=wheels.images(root / KUBECLASS_WHEEL, KUBECLASS_WHEEL))
    write_manifest(root, manifest)
    return manifest


def write_manifest(root: Path, manifest: Manifest) -> None:
    (root / MANIFEST).write_text(manifest.to_json())
    (root / SUMS).write_text(render_sums(manifest.files))


def pack(root: Path, out: Path, manifest: Manifest, *, extra: tuple[str, ...] = (),
         omit: tuple[str, ...] = (), compression: str = "") -> Path:
    names = [MANIFEST, SUMS, *(f.path for f in manifest.files), *extra]
    archive.write(out, root, [n for n in names if n not in omit], compression=compression,
                  mtime=1_700_000_000)
    return out


@pytest.fixture
def stage(tmp_path: Path) -> tuple[Path, Manifest]:
    root = tmp_path / "stage"
    return root, make_stage(root)


# ---- the manifest -------------------------------------------------------------------------

def test_manifest_round_trip(stage):
    _, manifest = stage
    again = Manifest.from_json(manifest.to_json())
    assert again == manifest
    assert again.of_kind("deb")[0].arch == "all" and again.of_kind("wheel")[0].name == "kubeclass"
    assert again.images["kubeclass/hello"] == {"from": KUBECLASS_WHEEL,
                                               "path": "nodeagent/images/hello.py",
                                               "tags": ["1", "latest"]}
    assert again.images["kubeclass/crashloop"]["tags"] is None
    assert again.target == {"python": "cp311", "platform": "manylinux_2_36_x86_64",
                            "debian": "bookworm", "arch": "amd64"}


def test_sha256sums_is_sha256sum_format(stage):
    root, manifest = stage
    assert parse_sums((root / SUMS).read_text()) == {f.path: f.sha256 for f in manifest.files}
    if shutil.which("sha256sum"):
        subprocess.run(["sha256sum", "--check", "--quiet", SUMS], cwd=root, check=True)


@pytest.mark.parametrize("text, says", [
    ("{not json", "not valid JSON"),
    ("[]", "not a JSON object"),
    ('{"format_version": 9}', "format version 9"),
    ('{"format_version": 1, "files": []}', "lacks the field"),
])
def test_unreadable_manifest_is_one_line(text, says):
    with pytest.raises(BundleError, match=says) as e:
        Manifest.from_json(text)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("path", ["/etc/passwd", "../x.whl", "wheels/../../x", "C:/x", "a\\b"])
def test_manifest_refuses_unsafe_paths(stage, path):
    _, manifest = stage
    data = json.loads(manifest.to_json())
    data["files"][0]["path"] = path
    with pytest.raises(BundleError, match="unsafe path"):
        Manifest.from_json(json.dumps(data))


def test_default_name():
    assert default_name("0.1.0") == "kubeclass-bundle-0.1.0-py311-bookworm-amd64.tar"
    assert default_name("0.1.0", "xz").endswith(".tar.xz")


# ---- verify and extract: is the bundle intact? --------------------------------------------

@pytest.mark.parametrize("compression", ["", "gz"])
def test_good_bundle_verifies_and_extracts(stage, tmp_path, compression):
    root, manifest = stage
    bundle = pack(root, tmp_path / "b.tar", manifest, compression=compression)
    with tarfile.open(bundle) as tar:
        assert tar.getnames()[:2] == [MANIFEST, SUMS]  # the manifest first
        assert {m.uid for m in tar.getmembers()} == {0}
    report = verify(bundle, dry_runs=False)
    assert report.ok, report.problems
    assert extract(bundle, tmp_path / "out") == manifest
    assert (tmp_path / "out" / DEB).read_bytes() == (root / DEB).read_bytes()


def test_changed_file_is_named(stage, tmp_path):
    root, manifest = stage
    (root / DEB).write_bytes((root / DEB).read_bytes().upper())  # same size, other bytes
    bundle = pack(root, tmp_path / "b.tar", manifest)
    assert verify(bundle, dry_runs=False).problems == [
        f"{DEB}: sha256 mismatch (file changed after the bundle was built)"]
    with pytest.raises(BundleError, match="sha256 mismatch"):
        extract(bundle, tmp_path / "out")


def test_changed_size_is_named(stage, tmp_path):
    root, manifest = stage
    (root / DEB).write_bytes(b"short")
    problems = verify(pack(root, tmp_path / "b.tar", manifest), dry_runs=False).problems
    assert problems == [f"{DEB}: size 5, the manifest says {manifest.files[1].size} "
                        "(file changed after the bundle was built)"]


def test_missing_file_is_named(stage, tmp_path):
    root, manifest = stage
    bundle = pack(root, tmp_path / "b.tar", manifest, omit=(DEB,))
    assert verify(bundle, dry_runs=False).problems == [f"{DEB}: missing from the bundle"]


def test_extra_file_is_named(stage, tmp_path):
    root, manifest = stage
    (root / "debs" / "evil_1.0_all.deb").write_bytes(b"x")
    bundle = pack(root, tmp_path / "b.tar", manifest, extra=("debs/evil_1.0_all.deb",))
    assert verify(bundle, dry_runs=False).problems == [
        "debs/evil_1.0_all.deb: not listed in manifest.json (added after the bundle was built?)"]


def test_edited_sums_file_is_caught(stage, tmp_path):
    root, manifest = stage
    (root / SUMS).write_text((root / SUMS).read_text().replace(manifest.files[0].sha256, "0" * 64))
    problems = verify(pack(root, tmp_path / "b.tar", manifest), dry_runs=False).problems
    assert problems == ["SHA256SUMS does not match manifest.json (one of them was edited): "
                        "rebuild the bundle"]


def test_image_missing_from_the_wheel_is_named(stage, tmp_path):
    root, manifest = stage
    manifest.images["kubeclass/echo"] = {"from": KUBECLASS_WHEEL, "path": "nodeagent/images/echo.py",
                                         "tags": None}
    write_manifest(root, manifest)
    problems = verify(pack(root, tmp_path / "b.tar", manifest), dry_runs=False).problems
    assert problems == [f"image kubeclass/echo: nodeagent/images/echo.py is not in {KUBECLASS_WHEEL}"]


@pytest.mark.parametrize("compression", ["", "gz"])
@pytest.mark.parametrize("keep", [0.0, 0.001, 0.3, 0.6, 0.95, 0.999])
def test_truncated_tar_is_one_line(stage, tmp_path, compression, keep):
    root, manifest = stage
    bundle = pack(root, tmp_path / "b.tar", manifest, compression=compression)
    data = bundle.read_bytes()
    cut = int(len(data) * keep)
    # What a cut copy leaves: for a plain tar, at least the end-of-archive marker goes.
    bundle.write_bytes(data[:min(cut, len(data) - 9000)] if not compression else data[:cut])
    report = verify(bundle, dry_runs=False)
    assert not report.ok and len(report.problems) == 1
    assert "\n" not in report.problems[0]
    with pytest.raises(BundleError):
        extract(bundle, tmp_path / "out")


def test_not_a_tar_and_no_file(tmp_path):
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"hello" * 1000)
    assert verify(junk).problems == [f"{junk}: not a tar archive: copy it again or rebuild it"]
    assert verify(tmp_path / "nope.tar").problems == [f"{tmp_path / 'nope.tar'}: no such bundle file"]


def _tar_with(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def _info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


@pytest.mark.parametrize("member, says", [
    (_info("../escape.txt"), "'..' in the path"),
    (_info("wheels/../../escape.txt"), "'..' in the path"),
    (_info("/tmp/escape.txt"), "absolute path"),
    (_info("wheels/link.whl", tarfile.SYMTYPE, "/etc/passwd"), "links and devices are refused"),
    (_info("debs/hard.deb", tarfile.LNKTYPE, "manifest.json"), "links and devices are refused"),
    (_info("debs/dev", tarfile.CHRTYPE), "links and devices are refused"),
    (_info("manifest.json"), "appears twice"),
])
def test_unsafe_members_are_refused_before_anything_is_written(stage, tmp_path, member, says):
    root, manifest = stage
    bundle = _tar_with(tmp_path / "b.tar", [(_info(MANIFEST), (root / MANIFEST).read_bytes()),
                                            (member, b"owned\n")])
    report = verify(bundle, dry_runs=False)
    assert len(report.problems) == 1 and says in report.problems[0], report.problems
    dest = tmp_path / "deep" / "dest"
    with pytest.raises(BundleError, match="refusing to extract"):
        extract(bundle, dest)
    assert not dest.exists() and not (tmp_path / "deep" / "escape.txt").exists()


# ---- verify: is the bundle enough? (offline pip and apt dry runs) -------------------------

def test_wheel_set_complete(stage, tmp_path):
    root, manifest = stage
    _, notes = wheels.check_installable(root / "wheels", "0.1.0", tmp_path)
    assert notes == ["wheel set complete: pip resolves kubeclass 0.1.0 from 1 bundled wheels"]


def test_wheel_set_missing_a_dependency(tmp_path):
    root = tmp_path / "stage"
    make_stage(root, requires=("flask>=3",))
    problems, _ = wheels.check_installable(root / "wheels", "0.1.0", tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith("wheel set incomplete: kubeclass needs flask>=3, "
                                  "which is not in the bundle"), problems


@pytest.mark.parametrize("output, line", [
    ("ERROR: Could not find a version that satisfies the requirement idna<4,>=2.5 (from requests) "
     "(from versions: none)\nERROR: No matching distribution found for idna<4,>=2.5",
     "wheel set incomplete: requests needs idna<4,>=2.5, which is not in the bundle"),
    ("ERROR: Cannot install a and b because these package versions have conflicting dependencies.\n"
     "ERROR: ResolutionImpossible: for help visit https://pip.pypa.io",
     "wheel set does not resolve: ResolutionImpossible: for help visit https://pip.pypa.io"),
])
def test_pip_failures_become_one_line(output, line):
    assert [p.split(" (or has no wheel")[0] for p in wheels._pip_problems(output)] == [line]


APT_UNMET = """Some packages could not be installed. ...
The following packages have unmet dependencies:
 keepalived : Depends: libnl-3-200 (>= 3.2.27) but it is not installable
              Depends: libsnmp40 (>= 5.9.3) but it is not installable
 libperl5.36 : Depends: perl-base (= 5.36.0-7+deb12u4) but 5.36.0-7+deb12u3 is to be installed
E: Unable to correct problems, you have held broken packages.
"""


def test_apt_unmet_dependencies_become_one_line_each():
    assert debs._unmet(APT_UNMET) == [
        "deb set incomplete: keepalived depends on libnl-3-200 (>= 3.2.27), which is neither in "
        "the bundle nor on the reference system",
        "deb set incomplete: keepalived depends on libsnmp40 (>= 5.9.3), which is neither in the "
        "bundle nor on the reference system",
        "deb set incomplete: libperl5.36 depends on perl-base (= 5.36.0-7+deb12u4), but only "
        "5.36.0-7+deb12u3 is available (the bundle lacks the newer one)",
    ]
    assert debs._unmet("E: Unable to locate package foo\n") == [
        "deb set does not install on the reference system: Unable to locate package foo"]


def _real_deb(out: Path, name: str, depends: str = "") -> Path:
    pkg = out / f"src-{name}"
    (pkg / "DEBIAN").mkdir(parents=True)
    control = f"Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@t>\n"
    control += f"Depends: {depends}\n" if depends else ""
    (pkg / "DEBIAN" / "control").write_text(control + "Description: test\n")
    deb = out / f"{name}_1.0_all.deb"
    subprocess.run(["dpkg-deb", "-Zgzip", "--root-owner-group", "--build", str(pkg), str(deb)],
                   check=True, capture_output=True)
    return deb


@pytest.mark.skipif(not (shutil.which("apt-get") and shutil.which("dpkg-deb")),
                    reason="needs apt-get and dpkg-deb (Debian)")
def test_deb_set_checked_against_the_reference_with_no_sources(tmp_path):
    status = tmp_path / "status"
    status.write_text(STATUS)
    a = _real_deb(tmp_path, "kc-a", "kc-b, base-files")
    b = _real_deb(tmp_path, "kc-b")
    assert debs.fields(a) == ("kc-a", "1.0", "all")
    problems, notes = debs.check_installable([a, b], status, tmp_path)
    assert problems == [] and notes[-1].startswith("deb set complete: apt installs all 2")
    problems, _ = debs.check_installable([a], status, tmp_path)
    assert problems == ["deb set incomplete: kc-a depends on kc-b, which is neither in the "
                        "bundle nor on the reference system"]


# ---- build: what it refuses before touching the network -----------------------------------

def test_build_needs_a_reference_status(tmp_path):
    with pytest.raises(BundleError, match="pass reference_status"):
        build(tmp_path, reference_status=None)
    (tmp_path / "status").write_text("hello\n")
    with pytest.raises(BundleError, match="not a dpkg status file"):
        build(tmp_path, reference_status=tmp_path / "status")
    with pytest.raises(BundleError, match="no such file"):
        build(tmp_path, reference_status=tmp_path / "nope")
    assert list(tmp_path.iterdir()) == [tmp_path / "status"]  # nothing written


# ---- the slim kubernetes_validate wheel ---------------------------------------------------

KV = "kubernetes_validate-1.37.0-py3-none-any.whl"
KV_DIST = "kubernetes_validate-1.37.0.dist-info"
KV_CODE = {"kubernetes_validate/__init__.py": "from .utils import validate\n",
           "kubernetes_validate/utils.py": "def validate(*a):\n    return 'ok'\n",
           f"{KV_DIST}/METADATA":
               "Metadata-Version: 2.1\nName: kubernetes-validate\nVersion: 1.37.0\n",
           f"{KV_DIST}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
           f"{KV_DIST}/entry_points.txt":
               "[console_scripts]\nkubernetes-validate = kubernetes_validate.utils:validate\n"}
KV_FOLDERS = ("v1.32.0-local", "v1.32.0-local-strict", "v1.33.0-local", "v1.33.0-local-strict",
              "v1.34.0-local")
KEEP = ["v1.33.0-local", "v1.33.0-local-strict"]


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_kv_wheel(path: Path, date: tuple[int, ...] = (2026, 1, 2, 3, 4, 6)) -> dict[str, bytes]:
    """A small kubernetes_validate wheel as PyPI ships it: code, five schema folders of two
    files each, a directory entry, and a correct RECORD. Returns its files' contents."""
    files = {n: t.encode() for n, t in KV_CODE.items()}
    for folder in KV_FOLDERS:
        for kind in ("_definitions", "pod-v1"):
            files[f"{slim.SCHEMAS}{folder}/{kind}.json"] = json.dumps({folder: kind}).encode()
    record = "".join(f"{n},{record_hash(d)},{len(d)}\n" for n, d in files.items())
    record += f"{KV_DIST}/RECORD,,\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo(slim.SCHEMAS, date_time=date), "")
        for name, data in [*files.items(), (f"{KV_DIST}/RECORD", record.encode())]:
            z.writestr(zipfile.ZipInfo(name, date_time=date), data)
    return files


def test_slim_wheel_keeps_one_version_and_a_true_record(tmp_path):
    wheel = tmp_path / KV
    files = make_kv_wheel(wheel)
    trimmed = slim.slim_wheel(wheel, KEEP)
    assert trimmed["kept"] == [f"{slim.SCHEMAS}v1.33.0-local/",
                               f"{slim.SCHEMAS}v1.33.0-local-strict/"]
    assert trimmed["removed"] == ["v1.32.0-local", "v1.32.0-local-strict", "v1.34.0-local"]
    assert trimmed["removed_files"] == 6
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        contents = {n: z.read(n) for n in names}
    kept = {n: d for n, d in files.items() if "v1.32" not in n and "v1.34" not in n}
    assert sorted(n for n in names if not n.endswith("RECORD")) == sorted(kept)
    assert all(contents[n] == d for n, d in kept.items())  # byte for byte
    assert names[-1] == f"{KV_DIST}/RECORD" and names[-2].startswith(KV_DIST)  # metadata last
    rows = [line.split(",") for line in contents[f"{KV_DIST}/RECORD"].decode().splitlines()]
    assert rows[-1] == [f"{KV_DIST}/RECORD", "", ""]
    assert sorted(rows[:-1]) == sorted([n, record_hash(d), str(len(d))] for n, d in kept.items())
    assert wheels.metadata(wheel) == ("kubernetes-validate", "1.37.0")
    assert slim.check_record(wheel) == []


def test_slim_wheel_is_the_same_bytes_from_every_build(tmp_path):
    a, b = tmp_path / "a" / KV, tmp_path / "b" / KV
    make_kv_wheel(a)
    make_kv_wheel(b, date=(2030, 6, 7, 8, 9, 10))  # downloaded another day, say
    original = a.read_bytes()
    trimmed = slim.slim_wheel(a, KEEP)
    assert trimmed["original_sha256"] == hashlib.sha256(original).hexdigest()
    assert trimmed["original_size"] == len(original) > a.stat().st_size
    slim.slim_wheel(b, KEEP)
    assert a.read_bytes() == b.read_bytes()


def test_pip_installs_the_slim_wheel(tmp_path):
    wheel = tmp_path / KV
    make_kv_wheel(wheel)
    slim.slim_wheel(wheel, KEEP)
    into = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
                    "--disable-pip-version-check", "--target", str(into), str(wheel)],
                   check=True, capture_output=True)
    schemas = into / slim.SCHEMAS
    assert sorted(p.name for p in schemas.iterdir()) == KEEP
    assert json.loads((schemas / "v1.33.0-local" / "_definitions.json").read_text()) == {
        "v1.33.0-local": "_definitions"}
    assert (into / "bin" / "kubernetes-validate").is_file()


def edit_record(wheel: Path, edit) -> None:
    """Rewrite the wheel with ``edit(RECORD)`` as its RECORD."""
    with zipfile.ZipFile(wheel) as z:
        entries = {i.filename: z.read(i) for i in z.infolist()}
    name = f"{KV_DIST}/RECORD"
    entries[name] = edit(entries[name])
    with zipfile.ZipFile(wheel, "w") as z:
        for n, d in entries.items():
            z.writestr(n, d)


@pytest.mark.parametrize("edit, problem", [
    (lambda r: r.replace(b"pod-v1.json,sha256=", b"pod-v1.json,sha256=AAAA", 1),
     f"{slim.SCHEMAS}v1.32.0-local/pod-v1.json: RECORD says sha256=AAAA"),
    (lambda r: b"\n".join(line for line in r.split(b"\n") if b"utils.py" not in line),
     "kubernetes_validate/utils.py is not in RECORD"),
    (lambda r: r + b"kubernetes_validate/gone.py,sha256=x,1\n",
     "RECORD lists kubernetes_validate/gone.py, which is not in the wheel"),
    (lambda r: r.replace(b"RECORD,,", b"RECORD,sha256=x,3"),
     "RECORD does not list itself with an empty hash and size"),
])
def test_check_record_names_what_an_installer_would_refuse(tmp_path, edit, problem):
    wheel = tmp_path / KV
    make_kv_wheel(wheel)
    edit_record(wheel, edit)
    problems = slim.check_record(wheel)
    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_slim_refuses_a_wheel_without_the_version_kubeclass_reads(tmp_path):
    wheel = tmp_path / KV
    make_kv_wheel(wheel)
    with pytest.raises(BundleError, match="has no kubernetes_validate/kubernetes-json-schema/"
                                          "v1.40.0-local/, which kubeclass reads"):
        slim.trim(tmp_path, "v1.40.0")
    assert slim.check_record(wheel) == [] and len(zipfile.ZipFile(wheel).namelist()) == 17


def test_definitions_version_is_read_as_text_from_the_repository(tmp_path):
    from controlplane.api.schema import DEFINITIONS_VERSION  # a test may; provision may not
    assert slim.definitions_version(Path(__file__).resolve().parents[2]) == DEFINITIONS_VERSION
    (tmp_path / "controlplane" / "api").mkdir(parents=True)
    source = tmp_path / slim.SCHEMA_SOURCE
    source.write_text('"""schemas"""\nDEFINITIONS_VERSION: str = "v1.30.2"\n')
    assert slim.definitions_version(tmp_path) == "v1.30.2"
    source.write_text("VERSION = 'v1.30.2'\n")
    with pytest.raises(BundleError, match=r"no line DEFINITIONS_VERSION = \"vX.Y.Z\""):
        slim.definitions_version(tmp_path)
    with pytest.raises(BundleError, match="cannot read it"):
        slim.definitions_version(tmp_path / "nope")


def test_trimmed_wheel_in_the_manifest_and_verify(stage, tmp_path):
    root, manifest = stage
    assert slim.trim(root / "wheels", "v1.33.0") == {}  # no kubernetes_validate wheel
    make_kv_wheel(root / "wheels" / KV)
    path = f"wheels/{KV}"
    manifest.trimmed = slim.trim(root / "wheels", "v1.33.0")
    assert list(manifest.trimmed) == [path]
    why = manifest.trimmed[path]["why"]
    assert f"reads only {slim.SCHEMAS}v1.33.0-local/_definitions.json" in why
    manifest.files.insert(1, file_entry(root, path, "wheel", name="kubernetes-validate",
                                        version="1.37.0"))
    write_manifest(root, manifest)
    assert Manifest.from_json(manifest.to_json()) == manifest
    report = verify(pack(root, tmp_path / "b.tar", manifest), dry_runs=False)
    assert report.ok, report.problems
    assert any(n.startswith(f"{path}: slimmed by the build, kept {slim.SCHEMAS}v1.33.0-local/")
               for n in report.notes), report.notes
    # A slim wheel whose RECORD is wrong, listed consistently: only the RECORD check sees it.
    edit_record(root / path,
                lambda r: b"\n".join(x for x in r.split(b"\n") if b"utils.py" not in x))
    manifest.files[1] = file_entry(root, path, "wheel", name="kubernetes-validate",
                                   version="1.37.0")
    write_manifest(root, manifest)
    report = verify(pack(root, tmp_path / "c.tar", manifest), dry_runs=False)
    assert report.problems == [f"{path}: kubernetes_validate/utils.py is not in RECORD"]


def test_manifest_trimmed_must_name_a_listed_file(stage):
    _, manifest = stage
    data = json.loads(manifest.to_json())
    data["trimmed"] = {"wheels/gone.whl": {"kept": []}}
    with pytest.raises(BundleError, match="trimmed names wheels/gone.whl, which is not in files"):
        Manifest.from_json(json.dumps(data))
    del data["trimmed"]  # a manifest from before slimming reads as nothing trimmed
    assert Manifest.from_json(json.dumps(data)).trimmed == {}
