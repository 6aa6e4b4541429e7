"""sysctl: set a kernel parameter now and keep it across reboots.

Data flow (B): executor ─▶ **sysctl module** ─▶ lineinfile's `ensure_line` + `sysctl -n/-w`
─▶ transport ─▶ host. Two things converge independently: the line `name = value` in a
drop-in under /etc/sysctl.d/ (what the next boot applies), and the running kernel's value
(what `sysctl -n` reads now, applied with `sysctl -w`). Values compare with whitespace
normalised, because the kernel prints `32768\t60999` for `32768 60999`.
"""

from __future__ import annotations

import re
import shlex

from provision.modules.base import Arg, ArgumentError, Module, Result
from provision.modules.lineinfile import ensure_line

SYSCTL_DIR = "/etc/sysctl.d"


def normalise(value: str) -> str:
    return " ".join(value.split())


class Sysctl(Module):
    NAME = "sysctl"
    ARGS = {
        "name": Arg(required=True),
        "value": Arg(),
        "state": Arg(default="present", choices=("present", "absent")),
        "file": Arg(default="99-kubeclass.conf"),
        "reload": Arg("bool", default=True),
    }

    def run(self) -> Result:
        a = self.args
        name, state = a["name"], a["state"]
        if state == "present" and a["value"] is None:
            raise ArgumentError("sysctl: state=present needs 'value'")
        if not re.fullmatch(r"[A-Za-z0-9_.\-/]+", name):
            raise ArgumentError(f"sysctl: {name!r} is not a sysctl key")
        path = a["file"] if a["file"].startswith("/") else f"{SYSCTL_DIR}/{a['file']}"
        if not a["file"].startswith("/") and "/" in a["file"]:
            raise ArgumentError(f"sysctl: file {a['file']!r} must be a plain file name")
        value = normalise(a["value"] or "")
        on_disk = ensure_line(
            self, path, line=f"{name} = {value}", regexp=rf"^\s*{re.escape(name)}\s*=",
            state=state, create=True,
        )
        if on_disk.failed or state == "absent" or not a["reload"]:
            return on_disk

        current = self.t.run(f"sysctl -n {shlex.quote(name)}")
        if not current.ok:
            return Result(on_disk.changed, f"unknown sysctl key {name}: {current.stderr.strip()}",
                          diff=on_disk.diff, failed=True)
        live_changed = normalise(current.stdout) != value
        if live_changed and not self.check_mode:
            self.t.run(f"sysctl -w {shlex.quote(f'{name}={value}')}", check=True)
        parts = [on_disk.msg] if on_disk.changed else []
        if live_changed:
            parts.append(f"{name}: {normalise(current.stdout)} -> {value}")
        return Result(
            on_disk.changed or live_changed,
            "; ".join(parts) or f"{name} = {value} already",
            diff=on_disk.diff, data={"path": path},
        )
