"""file: make sure a path is a directory, an existing file, a touched file, or absent.

Data flow (B): executor ─▶ **file module** ─▶ remotefs ─▶ transport ─▶ host. It stats the
path, works out the difference from the requested state, mode and owner, and acts only
on that difference. `state: touch` creates a missing empty file but, unlike Ansible, does
not bump the time of an existing one: that keeps a second run `ok`.
"""

from __future__ import annotations

from provision import remotefs
from provision.modules.base import Arg, Module, Result
from provision.remotefs import q


class File(Module):
    NAME = "file"
    ARGS = {
        "path": Arg("path", required=True),
        "state": Arg(default="file", choices=("file", "directory", "absent", "touch")),
        "mode": Arg("mode"),
        "owner": Arg(),
        "group": Arg(),
    }

    def run(self) -> Result:
        a = self.args
        path, state = a["path"], a["state"]
        current = remotefs.stat(self.t, path)
        if state == "absent":
            if current is None:
                return Result(False, f"{path} is already absent")
            if not self.check_mode:
                self.t.run(f"rm -rf -- {q(path)}", check=True)
            return Result(True, f"removed {current.kind} {path}", data={"path": path})

        wanted = "directory" if state == "directory" else "file"
        if current is not None and current.kind != wanted:
            return Result(False, f"{path} is a {current.kind}, not a {wanted}", failed=True)
        if current is None and state == "file":
            return Result(False, f"{path} does not exist (use state: touch to create it)",
                          failed=True)

        changes = []
        if current is None:
            changes.append(f"created {wanted}")
            if not self.check_mode:
                verb = "mkdir -p" if wanted == "directory" else "touch"
                self.t.run(f"{verb} -- {q(path)}", check=True)
                current = remotefs.stat(self.t, path)
        if current is not None:
            attrs = remotefs.attribute_changes(current, a["mode"], a["owner"], a["group"])
            changes += attrs
            if attrs and not self.check_mode:
                remotefs.set_attributes(self.t, path, a["mode"], a["owner"], a["group"])
        elif a["mode"] is not None or a["owner"] or a["group"]:
            changes.append("set attributes")  # check mode on a path that does not exist yet
        if not changes:
            return Result(False, f"{path} is a {wanted} as requested")
        return Result(True, f"{path}: {', '.join(changes)}", data={"path": path})
