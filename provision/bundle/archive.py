"""The bundle file itself: one tar, written atomically, read defensively, unpacked safely.

Data flow (B): ... ─▶ **bundle** (build on the controller, verify, extract on the host). The tar
holds ``manifest.json`` first, then ``SHA256SUMS``, ``wheels/``, ``debs/`` and ``reference/``.
Reading never trusts the file: a member with an absolute name, a ``..`` part, a link or a
device is refused before anything is written, and a damaged or truncated tar becomes one
`BundleError` line instead of a traceback. `extract` is what the playbooks call.
"""

from __future__ import annotations

import lzma
import os
import shutil
import tarfile
import zlib
from pathlib import Path

from provision.bundle.manifest import MANIFEST, Manifest, check_tree, unsafe_name
from provision.bundle.proc import BundleError

COMPRESSIONS = ("", "gz", "xz")
_READ_ERRORS = (tarfile.TarError, OSError, EOFError, lzma.LZMAError, zlib.error)


def write(output: Path, root: Path, names: list[str], *, compression: str, mtime: int) -> None:
    """Write ``names`` (paths under ``root``) into the tar ``output``, in this order, as plain
    root-owned 0644 files. The tar appears under its final name only once it is complete."""
    if compression not in COMPRESSIONS:
        raise BundleError(f"unknown compression {compression!r}: use one of '', 'gz', 'xz'")
    partial = output.with_name(output.name + ".partial")
    try:
        with tarfile.open(partial, f"w:{compression}" if compression else "w") as tar:
            for name in names:
                info = tar.gettarinfo(str(root / name), arcname=name)
                info.mode, info.mtime = 0o644, mtime
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                with (root / name).open("rb") as f:
                    tar.addfile(info, f)
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)


def open_members(bundle: Path) -> tuple[tarfile.TarFile, list[tarfile.TarInfo]]:
    """Open the bundle and read its whole member list (which reads through the file, so a
    truncated or damaged tar is caught here). Raises `BundleError`."""
    if not bundle.is_file():
        raise BundleError(f"{bundle}: no such bundle file")
    try:
        tar = tarfile.open(bundle, "r:*")
    except _READ_ERRORS:
        raise BundleError(f"{bundle}: not a tar archive: copy it again or rebuild it") from None
    try:
        members = tar.getmembers()
        _check_end(tar)
    except _READ_ERRORS as e:
        tar.close()
        raise BundleError(f"{bundle}: damaged or truncated ({_why(e)}): copy it again or rebuild it")
    return tar, members


def _check_end(tar: tarfile.TarFile) -> None:
    """tarfile takes a tar cut inside a header for a shorter, complete one; a complete tar
    ends with two zero blocks after its last member, a cut one does not. Reading on to the
    end also makes gzip and xz check their trailer (length and checksum)."""
    assert tar.fileobj is not None
    tar.fileobj.seek(tar.offset)
    end = tar.fileobj.read(2 * tarfile.BLOCKSIZE)
    if len(end) < 2 * tarfile.BLOCKSIZE or end.strip(b"\0"):
        raise tarfile.ReadError("the end-of-archive marker is missing")
    while tar.fileobj.read(1 << 16):
        pass


def _why(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def unsafe_members(members: list[tarfile.TarInfo]) -> list[str]:
    """One line per member that must not be unpacked (bad name, link, device, duplicate)."""
    problems, seen = [], set()
    for m in members:
        reason = unsafe_name(m.name)
        if reason is None and not (m.isfile() or m.isdir()):
            reason = "not a regular file or directory (links and devices are refused)"
        if reason is None and m.isfile() and m.name in seen:
            reason = "appears twice in the tar"
        if reason:
            problems.append(f"{m.name!r}: unsafe member, {reason}")
        seen.add(m.name)
    return problems


def unpack(tar: tarfile.TarFile, members: list[tarfile.TarInfo], dest: Path) -> list[str]:
    """Write the regular files of an already checked member list under ``dest``; return their
    names. Files are written by us, never by ``tar.extract``, so no mode, owner or link from
    the tar reaches the disk."""
    names = []
    dest = dest.resolve()
    for m in members:
        if not m.isfile():
            continue
        path = (dest / m.name).resolve()
        if not path.is_relative_to(dest):
            raise BundleError(f"{m.name!r}: unsafe member, it would land outside {dest}")
        path.parent.mkdir(parents=True, exist_ok=True)
        source = tar.extractfile(m)
        assert source is not None
        try:
            with source, path.open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
        except _READ_ERRORS as e:
            raise BundleError(f"{m.name}: cannot be read from the bundle ({_why(e)}): "
                              "copy it again or rebuild it") from None
        path.chmod(0o644)
        names.append(m.name)
    return names


def extract(bundle: Path, dest: Path) -> Manifest:
    """Unpack ``bundle`` into ``dest`` (``dest/manifest.json``, ``dest/wheels/``, ``dest/debs/``)
    and check every file against the manifest. Raises `BundleError` with one line if the tar is
    damaged, holds an unsafe member, or a file does not match."""
    tar, members = open_members(bundle)
    with tar:
        unsafe = unsafe_members(members)
        if unsafe:
            raise BundleError(one_line(unsafe, "refusing to extract"))
        if MANIFEST not in [m.name for m in members if m.isfile()]:
            raise BundleError(f"{bundle}: no {MANIFEST} inside: this is not a kubeclass bundle")
        dest.mkdir(parents=True, exist_ok=True)
        names = unpack(tar, members, dest)
    manifest = Manifest.from_json((dest / MANIFEST).read_bytes())
    problems = check_tree(manifest, dest, names)
    if problems:
        raise BundleError(one_line(problems, "extracted, but"))
    return manifest


def one_line(problems: list[str], prefix: str) -> str:
    """The first problem, and how many more there are."""
    more = f" (and {len(problems) - 1} more problems: run kubeclass bundle verify)" \
        if len(problems) > 1 else ""
    return f"{prefix}: {problems[0]}{more}"
