"""Slimming the kubernetes_validate wheel to the one Kubernetes version kubeclass reads.

Data flow (B): ... ─▶ **bundle** (build on the controller, verify, extract on the host).
`build` calls `trim` after downloading the wheels and before hashing them for the manifest;
`verify` calls `check_record` on every wheel the manifest says was trimmed.

Why: the bundle has to fit a slow classroom copy (`target.SIZE_TARGET`, 60 MB), and the
kubernetes_validate wheel alone is 22.6 MB of a 79 MB bundle. It carries the JSON schemas of
every Kubernetes version since 1.25, each twice (``-local`` and ``-local-strict``), yet
kubeclass reads exactly one file of it at run time:
``kubernetes-json-schema/{DEFINITIONS_VERSION}-local/_definitions.json`` (see
``controlplane/api/schema.py``, read here as text: provision never imports the cluster code).
The slim wheel keeps both folders of that one version, so the package's own
``kubernetes-validate --kubernetes-version 1.33.0`` still works on the hosts, drops the
other versions' folders, and keeps every other file byte for byte. (On a host, that command
without ``--kubernetes-version`` validates against 1.33, the newest left; asking for a newer
version fails with "does not support kubernetes version".)

The slim wheel keeps its file name and version, so ``kubernetes-validate==1.37.0`` still
resolves; its RECORD is written anew (every file with its sha256 and size, RECORD itself
with neither), as pip and installer expect. The manifest says what was done under
``trimmed``: why, what was kept and removed, and the sha256 and size of the wheel as PyPI
published it. Two builds give the same bytes: entries sorted (``.dist-info`` last, RECORD
at the very end, as PEP 427 suggests), one fixed timestamp, one compression level.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from provision.bundle import target
from provision.bundle.manifest import sha256_file
from provision.bundle.proc import BundleError, Progress, quiet

PROJECT = "kubernetes_validate"  # as the wheel's file name spells it
SCHEMAS = "kubernetes_validate/kubernetes-json-schema/"
SCHEMA_SOURCE = "controlplane/api/schema.py"  # where DEFINITIONS_VERSION is set
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can hold
_DEFINITIONS = re.compile(r"""^DEFINITIONS_VERSION\s*(?::\s*\w+\s*)?=\s*["'](v[0-9][\w.\-]*)["']""",
                          re.MULTILINE)
_SIGNATURES = ("RECORD.jws", "RECORD.p7s")  # they sign the old RECORD: they cannot stay


def definitions_version(repo: Path) -> str:
    """``DEFINITIONS_VERSION`` from ``controlplane/api/schema.py`` in ``repo`` (``"v1.33.0"``)."""
    path = repo / SCHEMA_SOURCE
    try:
        found = _DEFINITIONS.search(path.read_text())
    except OSError as e:
        raise BundleError(f"{path}: cannot read it ({e.strerror}), so the bundle cannot tell "
                          "which kubernetes_validate schemas kubeclass reads") from None
    if not found:
        raise BundleError(f'{path}: no line DEFINITIONS_VERSION = "vX.Y.Z", so the bundle cannot '
                          "tell which kubernetes_validate schemas kubeclass reads")
    return found.group(1)


def trim(wheel_dir: Path, version: str, progress: Progress = quiet) -> dict[str, dict[str, Any]]:
    """Slim every kubernetes_validate wheel in ``wheel_dir`` in place to the schemas of
    ``version``; returns the manifest's ``trimmed`` block, keyed by bundle path."""
    trimmed = {}
    for wheel in sorted(wheel_dir.glob(f"{PROJECT}-*.whl")):
        before = wheel.stat().st_size
        why = (f"kubeclass reads only {SCHEMAS}{version}-local/_definitions.json "
               f"(DEFINITIONS_VERSION in {SCHEMA_SOURCE}); the other Kubernetes versions' "
               f"schemas are left out to keep the bundle under {target.SIZE_TARGET / 1e6:.0f} MB")
        entry = slim_wheel(wheel, [f"{version}-local", f"{version}-local-strict"])
        problems = check_record(wheel)
        if problems:
            raise BundleError(f"slimming {wheel.name} gave a broken wheel: {problems[0]}")
        trimmed[f"wheels/{wheel.name}"] = {"why": why, **entry}
        after = wheel.stat().st_size
        progress(f"slim: {wheel.name}: {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB, kept the "
                 f"{version} schemas, removed {entry['removed_files']} files")
    return trimmed


def slim_wheel(wheel: Path, keep: Sequence[str]) -> dict[str, Any]:
    """Rewrite ``wheel`` without the folders under ``kubernetes-json-schema/`` other than
    ``keep``; returns what was kept and removed, and the original wheel's sha256 and size."""
    original = {"original_sha256": sha256_file(wheel), "original_size": wheel.stat().st_size}
    with zipfile.ZipFile(wheel) as z:
        infos = [i for i in z.infolist() if not i.is_dir()]
        record = _record_name(wheel, [i.filename for i in infos])
        folders = sorted({i.filename[len(SCHEMAS):].split("/")[0] for i in infos
                          if i.filename.startswith(SCHEMAS) and "/" in i.filename[len(SCHEMAS):]})
        missing = [k for k in keep if k not in folders]
        if missing:
            raise BundleError(f"{wheel.name} has no {SCHEMAS}{missing[0]}/, which kubeclass "
                              "reads: pin a kubernetes-validate that has it, or change "
                              "DEFINITIONS_VERSION")
        removed = {f for f in folders if f not in keep}
        kept = [i for i in infos if i.filename != record and not _dropped(i.filename, removed)]
        contents = [(i, z.read(i)) for i in sorted(kept, key=_order)]
    removed_files = len(infos) - len(kept) - 1  # RECORD is rewritten, not removed
    rows = [(i.filename, f"sha256={_digest(data)}", str(len(data))) for i, data in contents]
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([*rows, (record, "", "")])
    partial = wheel.with_name(wheel.name + ".partial")
    with zipfile.ZipFile(partial, "w") as out:
        for info, data in contents:
            out.writestr(_entry(info.filename, info.external_attr), data)
        out.writestr(_entry(record, 0), text.getvalue())
    os.replace(partial, wheel)
    return {"kept": [f"{SCHEMAS}{k}/" for k in keep], "removed": sorted(removed),
            "removed_files": removed_files, **original}


def check_record(wheel: Path) -> list[str]:
    """What an installer would find wrong with the wheel's RECORD, one line each: a file
    missing from it, a row for a file that is not there, a wrong hash or size."""
    with zipfile.ZipFile(wheel) as z:
        names = [i.filename for i in z.infolist() if not i.is_dir()]
        record = _record_name(wheel, names)
        rows = list(csv.reader(io.StringIO(z.read(record).decode("utf-8"))))
        problems = [f"RECORD row {row!r} does not have 3 fields" for row in rows if len(row) != 3]
        listed = {row[0]: row[1:] for row in rows if len(row) == 3}
        for name in names:
            row = listed.pop(name, None)
            if name == record:
                if row != ["", ""]:
                    problems.append("RECORD does not list itself with an empty hash and size")
            elif name.rsplit("/", 1)[-1] in _SIGNATURES:
                continue
            elif row is None:
                problems.append(f"{name} is not in RECORD")
            else:
                data = z.read(name)
                if row != [f"sha256={_digest(data)}", str(len(data))]:
                    problems.append(f"{name}: RECORD says {','.join(row)}, the file is "
                                    f"sha256={_digest(data)},{len(data)}")
    return problems + [f"RECORD lists {name}, which is not in the wheel" for name in sorted(listed)]


def _record_name(wheel: Path, names: list[str]) -> str:
    records = [n for n in names if n.count("/") == 1 and n.endswith(".dist-info/RECORD")]
    if len(records) != 1:
        raise BundleError(f"{wheel.name}: not a wheel ({len(records)} .dist-info/RECORD files)")
    return records[0]


def _dropped(name: str, removed: set[str]) -> bool:
    if name.rsplit("/", 1)[-1] in _SIGNATURES:
        return True
    return name.startswith(SCHEMAS) and name[len(SCHEMAS):].split("/")[0] in removed


def _order(info: zipfile.ZipInfo) -> tuple[bool, str]:
    return info.filename.split("/")[0].endswith(".dist-info"), info.filename


def _entry(name: str, external_attr: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, whatever machine builds the bundle
    info.external_attr = external_attr or 0o644 << 16  # keep the publisher's file modes
    return info


def _digest(data: bytes) -> str:
    """A RECORD hash: urlsafe base64 of the sha256, without ``=`` padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
