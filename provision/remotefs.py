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
import re
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


def _output(t: Transport, command: str, path: str) -> str | None:
    """`command PATH`'s output, or None when PATH does not exist; other failures raise."""
    res = t.run(f"{command} -- {q(path)}")
    if not res.ok:
        if "No such file" in res.stderr:
            return None
        raise CommandError(f"{command.split()[0]} {path}", res)
    return res.stdout


def stat(t: Transport, path: str) -> Stat | None:
    """What is at `path`, or None when nothing is."""
    out = _output(t, f"stat -c {q(STAT_FORMAT)}", path)
    return None if out is None else _parse_stat(out)


def _parse_stat(out: str) -> Stat:
    kind_text, mode, owner, group = out.strip().split("|")
    kind: Literal["file", "directory", "other"] = (
        "directory" if kind_text == "directory"
        else "file" if kind_text.startswith("regular") else "other"
    )
    return Stat(kind, int(mode, 8), owner, group)


def stat_and_sha256(t: Transport, path: str) -> tuple[Stat | None, str | None]:
    """`stat` and, for a regular file, its sha256, in one round trip: what copy and
    template compare before they act (a second run is mostly such comparisons)."""
    res = t.run(f"stat -c {q(STAT_FORMAT)} -- {q(path)} && sha256sum -- {q(path)}")
    lines = res.stdout.splitlines()
    if not lines:
        if "No such file" in res.stderr:
            return None, None
        raise CommandError(f"stat {path}", res)
    current = _parse_stat(lines[0])
    if current.kind != "file":
        return current, None
    if not res.ok or len(lines) < 2:
        raise CommandError(f"sha256sum {path}", res)
    return current, lines[1].split()[0]


def read(t: Transport, path: str) -> bytes | None:
    """The file's content, or None when it does not exist."""
    try:
        return t.get(path)
    except FileNotFoundError:
        return None


def sha256(t: Transport, path: str) -> str | None:
    """The file's sha256 computed on the host (no download), or None when it is missing."""
    out = _output(t, "sha256sum", path)
    return None if out is None else out.split()[0]


Mode = int | str  # an octal number, or a chmod-style symbolic mode such as 'u=rw,g=r,o=r'
SYMBOLIC_CLAUSE = re.compile(r"([ugoa]*)((?:[-+=][rwxXst]*)+)")
CLASS_BITS = {"u": 0o4700, "g": 0o2070, "o": 0o1007}  # each class's rwx plus its special bit
PERM_BITS = {"r": 0o444, "w": 0o222, "x": 0o111, "s": 0o6000, "t": 0o1000}


def parse_mode(value: Mode | None) -> Mode | None:
    """A mode from a playbook: an int (YAML reads 0644 as octal already), an octal string, or
    a symbolic mode (`u=rw,g=r,o=r`, `u+x`, `go-w`), kept as text because `+`/`-` are
    relative to the file's current mode; `resolve_mode` turns it into a number."""
    if value is None or isinstance(value, int):
        return value
    text = value.strip().removeprefix("0o")
    if text and all(c in "01234567" for c in text):
        return int(text, 8)
    if text and all(SYMBOLIC_CLAUSE.fullmatch(c) for c in text.split(",")):
        return text
    raise ValueError(f"mode {value!r} is neither octal (write it quoted, e.g. '0644') nor "
                     "symbolic (e.g. 'u=rw,g=r,o=r' or 'u+x')")


def resolve_mode(mode: Mode | None, current: int | None, is_dir: bool = False) -> int | None:
    """The numeric mode `mode` asks for, given the path's `current` mode (None when the path
    does not exist yet: a new file starts from 0644 and a new directory from 0755, what the
    usual umask 022 gives). Symbolic modes follow chmod(1), except that a clause without
    `ugoa` means `a` whatever the umask, so that comparing and applying always agree."""
    if mode is None or isinstance(mode, int):
        return mode
    result = current if current is not None else (0o755 if is_dir else 0o644)
    for clause in mode.split(","):
        match = SYMBOLIC_CLAUSE.fullmatch(clause)
        if match is None:
            raise ValueError(f"mode {mode!r}: bad clause {clause!r}")
        who = match.group(1).replace("a", "ugo") or "ugo"
        classes = 0
        for c in who:
            classes |= CLASS_BITS[c]
        for op, perms in re.findall(r"([-+=])([rwxXst]*)", match.group(2)):
            bits = 0
            for p in perms:
                if p == "X":  # search bit for directories and for files already executable
                    bits |= 0o111 if is_dir or result & 0o111 else 0
                else:
                    bits |= PERM_BITS[p]
            bits &= classes
            if op == "+":
                result |= bits
            elif op == "-":
                result &= ~bits
            else:  # like GNU chmod, `=` keeps a directory's set-id bits unless it names `s`
                cleared = classes & ~0o6000 if is_dir and "s" not in perms else classes
                result = (result & ~cleared) | bits
    return result


def owner_spec(owner: str | None, group: str | None) -> str | None:
    """`chown` argument for the requested owner/group, or None when nothing is asked."""
    if owner is None and group is None:
        return None
    return f"{owner or ''}:{group}" if group else str(owner)


def attribute_changes(
    current: Stat, mode: Mode | None, owner: str | None, group: str | None
) -> list[str]:
    """Human-readable differences between `current` and the requested attributes."""
    changes = []
    wanted = resolve_mode(mode, current.mode, current.kind == "directory")
    if wanted is not None and current.mode != wanted:
        changes.append(f"mode {current.mode:04o} -> {wanted:04o}")
    if owner is not None and current.owner != owner:
        changes.append(f"owner {current.owner} -> {owner}")
    if group is not None and current.group != group:
        changes.append(f"group {current.group} -> {group}")
    return changes


def set_attributes(
    t: Transport, path: str, mode: Mode | None, owner: str | None, group: str | None
) -> None:
    if isinstance(mode, str):  # symbolic: relative to what is there now
        current = stat(t, path)
        mode = resolve_mode(mode, current.mode if current else None,
                            current is not None and current.kind == "directory")
    if mode is not None:
        t.run(f"chmod {mode:o} -- {q(path)}", check=True)
    spec = owner_spec(owner, group)
    if spec:
        t.run(f"chown {q(spec)} -- {q(path)}", check=True)


def write_atomic(
    t: Transport, path: str, data: bytes, *,
    mode: Mode | None = None, owner: str | None = None, group: str | None = None,
) -> None:
    """Replace `path` with `data` in one rename. Unasked attributes keep the old file's."""
    old = stat(t, path)
    if old is not None and old.kind == "directory":
        raise IsADirectoryError(path)
    directory, _, name = path.rpartition("/")
    tmp = f"{directory}/.{name}.kubeclass-{uuid.uuid4().hex[:8]}.tmp"
    numeric = resolve_mode(mode, old.mode if old is not None else None)
    if numeric is None and old is not None:
        numeric = old.mode
    t.put(data, tmp, mode=numeric)
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
