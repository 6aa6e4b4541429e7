"""copy: make a host file hold exactly the given content, with the given mode and owner.

Data flow (B): executor ─▶ **copy module** ─▶ remotefs ─▶ transport ─▶ host. The content comes
from `content:` or from a controller file `src:`. It compares sha256 sums first (the host
computes its own, so an unchanged file is never downloaded), fetches the old content only
to show a diff, and writes atomically (temp file next to the target, then `mv`).
`template` renders its text and then calls `ensure_content` below, so both behave alike.
"""

from __future__ import annotations

import hashlib

from provision import remotefs
from provision.modules.base import Arg, Module, Result

FILE_ARGS = {
    "dest": Arg("path", required=True),
    "mode": Arg("mode"),
    "owner": Arg(),
    "group": Arg(),
}


def ensure_content(mod: Module, data: bytes) -> Result:
    """Converge `dest` (and its mode/owner) to `data`; shared by copy and template."""
    a = mod.args
    dest = a["dest"]
    current, current_sum = remotefs.stat_and_sha256(mod.t, dest)
    if current is not None and current.kind != "file":
        return Result(False, f"{dest} is a {current.kind}, not a file", failed=True)
    new_sum = hashlib.sha256(data).hexdigest()
    content_changed = current is None or current_sum != new_sum
    attrs = [] if current is None else remotefs.attribute_changes(
        current, a["mode"], a["owner"], a["group"])
    data_out = {"path": dest, "checksum": new_sum}

    if content_changed:
        before = None if current is None else remotefs.read(mod.t, dest)
        diff = remotefs.unified_diff(dest, before, data)
        if not mod.check_mode:
            remotefs.write_atomic(mod.t, dest, data, mode=a["mode"], owner=a["owner"],
                                  group=a["group"])
        what = "created" if current is None else "content changed"
        return Result(True, f"{dest}: {', '.join([what, *attrs])}", diff=diff, data=data_out)
    if attrs:
        if not mod.check_mode:
            remotefs.set_attributes(mod.t, dest, a["mode"], a["owner"], a["group"])
        return Result(True, f"{dest}: {', '.join(attrs)}", data=data_out)
    return Result(False, f"{dest} is up to date", data=data_out)


class Copy(Module):
    NAME = "copy"
    ONE_OF = ("content", "src")
    ARGS = {**FILE_ARGS, "content": Arg(), "src": Arg()}

    def run(self) -> Result:
        if self.args["src"] is not None:
            data = self.resolve_src(self.args["src"]).read_bytes()
        else:
            data = self.args["content"].encode()
        return ensure_content(self, data)
