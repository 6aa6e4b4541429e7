"""File operations on a host, built only from the transport's `run`/`put`/`get`.

Data flow (B): modules ─▶ **remotefs** ─▶ transport ─▶ host. File modules (file, copy,
template, lineinfile, sysctl) read the current state through these helpers, compare, and
only then change anything. Every command is a plain coreutils command with shell-quoted
paths, so it works the same over SSH, locally, and on `FakeTransport`.

The one promise worth remembering: `write_atomic` never leaves a half-written file at the
target. It uploads to a temporary file in the target's own directory (same filesystem, so
`mv` is an atomic rename), sets mode and owner on it, and then moves it over the target,
as Ansible's `atomic_move` does.
"""

from __future__ import annotations

import difflib
import shlex
import uuid
from dataclasses import dataclass
from typing import Literal

from provision.transport import CommandError, Transport

STAT_FORMAT = "%F|%a|%U|%G"


@dataclass(frozen=True)
class Stat:
    kind: Literal["file", "directory", "other"]
    mode: int
    owner: str
    group: str


def q(path: str) -> str:
    return shlex.quote(path)


def stat(t: Transport, path: str) -> Stat | None:
    """What is at `path`, or None when nothing is."""
    res = t.run(f"stat -c {q(STAT_FORMAT)} -- {q(path)}")
    if not res.ok:
        if "No such file" in res.stderr:
            return None
        raise CommandError(f"stat {path}", res)
    kind_text, mode, owner, group = res.stdout.strip().split("|")
    kind: Literal["file", "directory", "other"] = (
        "directory" if kind_text == "directory"
        else "file" if kind_text.startswith("regular") else "other"
    )
    return Stat(kind, int(mode, 8), owner, group)


def read(t: Transport, path: str) -> bytes | None:
    """The file's content, or None when it does not exist."""
    try:
        return t.get(path)
    except FileNotFoundError:
        return None


def sha256(t: Transport, path: str) -> str | None:
    """The file's sha256 computed on the host (no download), or None when it is missing."""
    res = t.run(f"sha256sum -- {q(path)}")
    if not res.ok:
        if "No such file" in res.stderr:
            return None
        raise CommandError(f"sha256sum {path}", res)
    return res.stdout.split()[0]


def parse_mode(value: int | str | None) -> int | None:
    """A mode from a playbook: an int (YAML reads 0644 as octal already) or an octal string."""
    if value is None or isinstance(value, int):
        return value
    text = value.strip().removeprefix("0o")
    if not text or any(c not in "01234567" for c in text):
        raise ValueError(f"mode {value!r} is not octal (write it quoted, e.g. '0644')")
    return int(text, 8)


def owner_spec(owner: str | None, group: str | None) -> str | None:
    """`chown` argument for the requested owner/group, or None when nothing is asked."""
    if owner is None and group is None:
        return None
    return f"{owner or ''}:{group}" if group else str(owner)


def attribute_changes(
    current: Stat, mode: int | None, owner: str | None, group: str | None
) -> list[str]:
    """Human-readable differences between `current` and the requested attributes."""
    changes = []
    if mode is not None and current.mode != mode:
        changes.append(f"mode {current.mode:04o} -> {mode:04o}")
    if owner is not None and current.owner != owner:
        changes.append(f"owner {current.owner} -> {owner}")
    if group is not None and current.group != group:
        changes.append(f"group {current.group} -> {group}")
    return changes


def set_attributes(
    t: Transport, path: str, mode: int | None, owner: str | None, group: str | None
) -> None:
    if mode is not None:
        t.run(f"chmod {mode:o} -- {q(path)}", check=True)
    spec = owner_spec(owner, group)
    if spec:
        t.run(f"chown {q(spec)} -- {q(path)}", check=True)


def write_atomic(
    t: Transport, path: str, data: bytes, *,
    mode: int | None = None, owner: str | None = None, group: str | None = None,
) -> None:
    """Replace `path` with `data` in one rename. Unasked attributes keep the old file's."""
    old = stat(t, path)
    if old is not None and old.kind == "directory":
        raise IsADirectoryError(path)
    directory, _, name = path.rpartition("/")
    tmp = f"{directory}/.{name}.kubeclass-{uuid.uuid4().hex[:8]}.tmp"
    if mode is None and old is not None:
        mode = old.mode
    t.put(data, tmp, mode=mode)
    try:
        if old is not None:
            owner, group = owner or old.owner, group or old.group
        new = stat(t, tmp)
        if new is not None and (owner not in (None, new.owner) or group not in (None, new.group)):
            t.run(f"chown {q(owner_spec(owner, group) or '')} -- {q(tmp)}", check=True)
        t.run(f"mv -f -- {q(tmp)} {q(path)}", check=True)
    except BaseException:
        t.run(f"rm -f -- {q(tmp)}")
        raise


def unified_diff(path: str, before: bytes | None, after: bytes | None) -> str:
    """A unified diff of a file's content, as `--diff` shows it; binary files get one line."""
    try:
        old = (before or b"").decode()
        new = (after or b"").decode()
    except UnicodeDecodeError:
        return f"Binary file {path} differs\n"
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True),
        fromfile=f"before: {path}" if before is not None else "/dev/null",
        tofile=f"after: {path}" if after is not None else "/dev/null",
    )
    # A last line without newline would glue onto the next header; mark it like diff(1).
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in lines)
