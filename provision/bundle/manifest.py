"""The bundle's manifest: what is inside, for which hosts, and the hash of every file.

Data flow (B): ... ─▶ **bundle** (build on the controller, verify, extract on the host). `build`
writes ``manifest.json`` as the first member of the tar and ``SHA256SUMS`` next to it (so a
person can run ``sha256sum -c SHA256SUMS``); `verify` and `extract` read them back and compare
every file with its entry. A manifest that cannot be read raises `BundleError` with one line.

    {"format_version": 1, "kubeclass_version": "0.1.0", "created": "2026-...Z",
     "target": {"python": "cp311", "platform": "manylinux_2_36_x86_64", "debian": "bookworm",
                "arch": "amd64"},
     "reference_status_sha256": "...", "requested": {"python": [...], "debian": [...]},
     "files": [{"path": "wheels/...", "sha256": "...", "size": 1, "kind": "wheel",
                "name": "Flask", "version": "3.1.3"}, {..., "kind": "deb", "arch": "amd64"}],
     "images": {"kubeclass/hello": {"from": "wheels/kubeclass-...whl",
                                    "path": "nodeagent/images/hello.py", "tags": ["1", "2"]}},
     "trimmed": {"wheels/kubernetes_validate-1.37.0-py3-none-any.whl": {"why": "...",
                 "kept": [...], "removed": [...], "removed_files": 15526,
                 "original_sha256": "...", "original_size": 22560767}}}

``kind`` is ``wheel``, ``deb`` or ``reference`` (the hosts' dpkg status the debs were computed
against). An image's ``tags`` is null when the program runs under any tag. ``trimmed`` names
the wheels the bundle does not hold as their publisher built them (see `slim`): the entry in
``files`` is the slim wheel, ``original_sha256`` the one PyPI lists. A manifest without
``trimmed`` (nothing was trimmed) reads the same.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from provision.bundle import target
from provision.bundle.proc import BundleError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
KINDS = ("wheel", "deb", "reference")
REFERENCE = "reference/dpkg-status"  # the hosts' dpkg status the deb set was computed against
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class FileEntry:
    path: str
    sha256: str
    size: int
    kind: str  # wheel | deb | reference
    name: str = ""  # wheel: project name; deb: Package
    version: str = ""
    arch: str = ""  # debs only

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v != "" or k in ("path", "sha256", "kind")}


@dataclass
class Manifest:
    kubeclass_version: str
    created: str
    reference_status_sha256: str
    requested: dict[str, list[str]]
    files: list[FileEntry]
    images: dict[str, dict[str, Any]] = field(default_factory=dict)
    trimmed: dict[str, dict[str, Any]] = field(default_factory=dict)  # bundle path -> what went
    target: dict[str, str] = field(default_factory=target.as_dict)
    format_version: int = FORMAT_VERSION

    def of_kind(self, kind: str) -> list[FileEntry]:
        return [f for f in self.files if f.kind == kind]

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> str:
        data = {"format_version": self.format_version, "kubeclass_version": self.kubeclass_version,
                "created": self.created, "target": self.target,
                "reference_status_sha256": self.reference_status_sha256,
                "requested": self.requested, "images": self.images, "trimmed": self.trimmed,
                "files": [f.to_json() for f in self.files]}
        return json.dumps(data, indent=1, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as e:
            raise BundleError(f"{MANIFEST} is not valid JSON ({e}): rebuild the bundle") from None
        if not isinstance(data, dict):
            raise BundleError(f"{MANIFEST} is not a JSON object: rebuild the bundle")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise BundleError(f"{MANIFEST} has format version {version!r}, this kubeclass reads "
                              f"version {FORMAT_VERSION}: verify it with the kubeclass that built it")
        try:
            files = [_entry(raw) for raw in data["files"]]
            return cls(kubeclass_version=str(data["kubeclass_version"]), created=str(data["created"]),
                       reference_status_sha256=str(data["reference_status_sha256"]),
                       requested=dict(data["requested"]), files=files,
                       images={str(k): dict(v) for k, v in dict(data.get("images", {})).items()},
                       trimmed=_trimmed(data.get("trimmed", {}), files),
                       target=dict(data["target"]),
                       format_version=version)
        except KeyError as e:
            raise BundleError(f"{MANIFEST} lacks the field {e}: rebuild the bundle") from None
        except (TypeError, ValueError) as e:
            raise BundleError(f"{MANIFEST} has a malformed entry ({e}): rebuild the bundle") from None


def _entry(raw: dict[str, Any]) -> FileEntry:
    entry = FileEntry(path=str(raw["path"]), sha256=str(raw["sha256"]), size=int(raw["size"]),
                      kind=str(raw["kind"]), name=str(raw.get("name", "")),
                      version=str(raw.get("version", "")), arch=str(raw.get("arch", "")))
    if unsafe_name(entry.path):
        raise ValueError(f"unsafe path {entry.path!r}")
    if entry.kind not in KINDS:
        raise ValueError(f"{entry.path}: unknown kind {entry.kind!r}")
    if not _SHA256.match(entry.sha256) or entry.size < 0:
        raise ValueError(f"{entry.path}: bad sha256 or size")
    return entry


def _trimmed(raw: Any, files: list[FileEntry]) -> dict[str, dict[str, Any]]:
    trimmed = {str(k): dict(v) for k, v in dict(raw).items()}
    unlisted = sorted(set(trimmed) - {f.path for f in files})
    if unlisted:
        raise ValueError(f"trimmed names {unlisted[0]}, which is not in files")
    return trimmed


def unsafe_name(name: str) -> str | None:
    """Why a member name must not be written to disk, or None if it is safe."""
    if not name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if "\\" in name or "\0" in name:
        return "backslash or NUL in the name"
    if ".." in name.split("/"):
        return "'..' in the path"
    return None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_entry(root: Path, rel: str, kind: str, **meta: str) -> FileEntry:
    path = root / rel
    return FileEntry(path=rel, sha256=sha256_file(path), size=path.stat().st_size, kind=kind, **meta)


def render_sums(files: list[FileEntry]) -> str:
    """``sha256sum`` format: ``<hex>  <path>``, one file a line."""
    return "".join(f"{f.sha256}  {f.path}\n" for f in files)


def parse_sums(text: str) -> dict[str, str]:
    sums: dict[str, str] = {}
    for line in text.splitlines():
        digest, sep, path = line.partition("  ")
        if sep and _SHA256.match(digest):
            sums[path.lstrip("*")] = digest
    return sums


def check_tree(manifest: Manifest, root: Path, members: list[str]) -> list[str]:
    """Compare an unpacked bundle (``members`` = the regular files the tar held, unpacked under
    ``root``) with its manifest: every entry present with its size and sha256, nothing else."""
    problems: list[str] = []
    listed = {f.path for f in manifest.files}
    for extra in sorted(set(members) - listed - {MANIFEST, SUMS}):
        problems.append(f"{extra}: not listed in {MANIFEST} (added after the bundle was built?)")
    present = set(members)
    for entry in manifest.files:
        path = root / entry.path
        if entry.path not in present or not path.is_file():
            problems.append(f"{entry.path}: missing from the bundle")
        elif path.stat().st_size != entry.size:
            problems.append(f"{entry.path}: size {path.stat().st_size}, the manifest says "
                            f"{entry.size} (file changed after the bundle was built)")
        elif sha256_file(path) != entry.sha256:
            problems.append(f"{entry.path}: sha256 mismatch (file changed after the bundle was built)")
    return problems + _check_sums(manifest, root, present)


def _check_sums(manifest: Manifest, root: Path, present: set[str]) -> list[str]:
    if SUMS not in present:
        return [f"{SUMS}: missing from the bundle"]
    sums = parse_sums((root / SUMS).read_text(errors="replace"))
    expected = {f.path: f.sha256 for f in manifest.files}
    if sums != expected:
        return [f"{SUMS} does not match {MANIFEST} (one of them was edited): rebuild the bundle"]
    return []
