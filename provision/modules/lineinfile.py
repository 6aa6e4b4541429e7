"""lineinfile: make sure one line is in a file (or is not), leaving the rest alone.

Data flow (B): executor ─▶ **lineinfile module** ─▶ remotefs ─▶ transport ─▶ host. The edit
itself is the pure function `edit_lines`, the same rules as Ansible's lineinfile:

* `state: present` with `regexp`: the last line matching `regexp` becomes `line`; with no
  match, `line` is added after `insertafter` (`EOF`, or the last line matching a regex)
  unless it is already there.
* `state: present` without `regexp`: `line` is added unless an identical line exists.
* `state: absent`: every line matching `regexp` (or equal to `line`) is removed.

`sysctl` reuses `edit_lines` for its drop-in file.
"""

from __future__ import annotations

import re

from provision import remotefs
from provision.modules.base import Arg, ArgumentError, Module, Result


def edit_lines(
    text: str, *, line: str | None, regexp: str | None, state: str, insertafter: str = "EOF"
) -> str:
    lines = text.splitlines()
    pattern = re.compile(regexp) if regexp else None

    def matches(candidate: str) -> bool:
        return bool(pattern.search(candidate)) if pattern else candidate == line

    if state == "absent":
        lines = [x for x in lines if not matches(x)]
    else:
        assert line is not None
        hits = [i for i, x in enumerate(lines) if pattern and pattern.search(x)]
        if hits:
            lines[hits[-1]] = line
        elif line not in lines:
            lines.insert(_insert_index(lines, insertafter), line)
    return "".join(x + "\n" for x in lines)


def _insert_index(lines: list[str], insertafter: str) -> int:
    if insertafter == "EOF":
        return len(lines)
    anchor = re.compile(insertafter)
    hits = [i for i, x in enumerate(lines) if anchor.search(x)]
    return hits[-1] + 1 if hits else len(lines)  # no anchor found: append, as Ansible does


class LineInFile(Module):
    NAME = "lineinfile"
    ARGS = {
        "path": Arg("path", required=True),
        "line": Arg(),
        "regexp": Arg(),
        "state": Arg(default="present", choices=("present", "absent")),
        "insertafter": Arg(default="EOF"),
        "create": Arg("bool", default=False),
        "mode": Arg("mode"),
    }

    def run(self) -> Result:
        a = self.args
        if a["state"] == "present" and a["line"] is None:
            raise ArgumentError("lineinfile: state=present needs 'line'")
        if a["state"] == "absent" and a["line"] is None and a["regexp"] is None:
            raise ArgumentError("lineinfile: state=absent needs 'regexp' or 'line'")
        return ensure_line(self, a["path"], line=a["line"], regexp=a["regexp"],
                           state=a["state"], insertafter=a["insertafter"],
                           create=a["create"], mode=a["mode"])


def ensure_line(mod: Module, path: str, *, line: str | None, regexp: str | None, state: str,
                insertafter: str = "EOF", create: bool = False,
                mode: int | None = None) -> Result:
    """Read `path`, apply `edit_lines`, write it back atomically if anything differs."""
    before = remotefs.read(mod.t, path)
    if before is None:
        if state == "absent":
            return Result(False, f"{path} does not exist, nothing to remove")
        if not create:
            return Result(False, f"{path} does not exist (set create: true to create it)",
                          failed=True)
    old_text = (before or b"").decode()
    try:
        new_text = edit_lines(old_text, line=line, regexp=regexp, state=state,
                              insertafter=insertafter)
    except re.error as exc:
        raise ArgumentError(f"{mod.NAME}: bad regular expression: {exc}") from None
    # Compare lines, not bytes: a file that merely lacks its final newline is left alone.
    if before is not None and new_text.splitlines() == old_text.splitlines():
        return Result(False, f"{path} already as requested", data={"path": path})
    diff = remotefs.unified_diff(path, before, new_text.encode())
    if not mod.check_mode:
        remotefs.write_atomic(mod.t, path, new_text.encode(), mode=mode)
    verb = "line removed" if state == "absent" else "line added" if before is None or \
        len(new_text.splitlines()) > len(old_text.splitlines()) else "line replaced"
    return Result(True, f"{path}: {verb}", diff=diff, data={"path": path})
