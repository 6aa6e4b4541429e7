"""Writing a volume's files so that a reader never sees half of an update.

Where it sits: ``configMap``, ``secret``, ``downwardAPI`` and ``projected`` volumes
(:mod:`nodeagent.volumes`) hand their whole content to :func:`write_payload` each time
the pod is synced; it changes the directory only when the content changed. This is
kubelet's ``AtomicWriter`` (``pkg/volume/util/atomic_writer.go``). A volume directory
looks like this::

    ..2025_01_31_12_00_00.123456789/    the current content, a real directory
    ..data -> ..2025_01_31_12_00_00.123456789
    game.properties -> ..data/game.properties
    ui.properties -> ..data/ui.properties

An update writes a new timestamped directory, points a new symlink ``..data_tmp`` at it
and renames that over ``..data``: ``rename(2)`` replaces the link in one step, so a
program that opens ``game.properties`` gets either all the old files or all the new
ones. Then new top-level links are added, vanished ones removed, and the old
directory deleted. (A ``subPath`` mount binds one file directly and so never sees
updates: the same is true in Kubernetes.)
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import shutil
import tempfile

DATA = "..data"
DATA_TMP = "..data_tmp"


@dataclasses.dataclass(frozen=True)
class FileProjection:
    data: bytes
    mode: int = 0o644


class PayloadError(ValueError):
    """A path in the payload is not allowed (absolute, ``..``, or starting with ``..``)."""


def validate_path(path: str) -> None:
    if not path:
        raise PayloadError("invalid path: must not be empty")
    if os.path.isabs(path):
        raise PayloadError(f"invalid path: must be relative path: {path}")
    if len(path) > 4096:
        raise PayloadError("invalid path: must be less than or equal to 4096 characters")
    parts = path.split("/")
    if ".." in parts:
        raise PayloadError(f"invalid path: must not contain '..': {path}")
    if path.startswith(".."):
        raise PayloadError(f"invalid path: must not start with '..': {path}")


def _read_dir(root: str) -> dict[str, FileProjection]:
    found: dict[str, FileProjection] = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            full = os.path.join(dirpath, name)
            with open(full, "rb") as f:
                found[os.path.relpath(full, root)] = FileProjection(f.read(), os.stat(full).st_mode & 0o7777)
    return found


def current_dir(target: str) -> str | None:
    """The timestamped directory ``..data`` points at, or None before the first write."""
    link = os.path.join(target, DATA)
    if not os.path.islink(link):
        return None
    return os.path.join(target, os.readlink(link))


def write_payload(target: str, payload: dict[str, FileProjection]) -> bool:
    """Make ``target`` hold exactly ``payload``; returns whether anything changed."""
    for path in payload:
        validate_path(path)
    os.makedirs(target, exist_ok=True)
    old_dir = current_dir(target)
    if old_dir is not None and os.path.isdir(old_dir) and _read_dir(old_dir) == payload \
            and _user_links_match(target, payload):
        return False

    stamp = datetime.datetime.now(datetime.UTC).strftime("..%Y_%m_%d_%H_%M_%S.")
    new_dir = tempfile.mkdtemp(prefix=stamp, dir=target)
    os.chmod(new_dir, 0o755)
    for path, projection in payload.items():
        full = os.path.join(new_dir, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(projection.data)
        os.chmod(full, projection.mode)

    tmp_link = os.path.join(target, DATA_TMP)
    if os.path.lexists(tmp_link):
        os.unlink(tmp_link)
    os.symlink(os.path.basename(new_dir), tmp_link)
    os.rename(tmp_link, os.path.join(target, DATA))  # the atomic step

    wanted = {path.split("/", 1)[0] for path in payload}
    for top in sorted(wanted):
        link = os.path.join(target, top)
        if not os.path.lexists(link):
            os.symlink(os.path.join(DATA, top), link)
    for entry in os.listdir(target):
        if entry.startswith("..") or entry in wanted:
            continue
        full = os.path.join(target, entry)
        if os.path.islink(full):
            os.unlink(full)
    if old_dir is not None and os.path.isdir(old_dir):
        shutil.rmtree(old_dir, ignore_errors=True)
    return True


def _user_links_match(target: str, payload: dict[str, FileProjection]) -> bool:
    wanted = {path.split("/", 1)[0] for path in payload}
    present = {e for e in os.listdir(target) if not e.startswith("..") and os.path.islink(os.path.join(target, e))}
    return wanted == present
