"""systemd: make a unit started, stopped or restarted, and enabled or disabled.

Data flow (B): executor ─▶ **systemd module** ─▶ `systemctl` over the transport ─▶ host.
One `systemctl show` reads LoadState, ActiveState and UnitFileState; the module then acts
only on the differences: daemon-reload, then enable/disable, then start/stop/restart.

`daemon_reload: true` reloads only when a unit file changed. The executor knows that: it
sets the host fact `systemd_units_changed` when a copy/template/file task changed a path
that `is_unit_file` recognises, and clears it after a reload. Without that fact (the
module used on its own) it reloads, which is always safe.
"""

from __future__ import annotations

import shlex

from provision.modules.base import Arg, Module, Result

UNIT_DIRS = ("/etc/systemd/system/", "/lib/systemd/system/", "/usr/lib/systemd/system/",
             "/run/systemd/system/")
UNIT_SUFFIXES = (".service", ".socket", ".timer", ".mount", ".target", ".path", ".conf")
UNITS_CHANGED = "systemd_units_changed"
PAST = {"start": "started", "stop": "stopped", "restart": "restarted", "reload": "reloaded"}


def is_unit_file(path: str) -> bool:
    """A unit file or a drop-in (`foo.service.d/override.conf`) that needs a daemon-reload."""
    return path.startswith(UNIT_DIRS) and path.endswith(UNIT_SUFFIXES)


def parse_show(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


class Systemd(Module):
    NAME = "systemd"
    ARGS = {
        "name": Arg(),
        "state": Arg(choices=("started", "stopped", "restarted", "reloaded")),
        "enabled": Arg("bool"),
        "daemon_reload": Arg("bool", default=False),
    }

    def run(self) -> Result:
        a = self.args
        done: list[str] = []
        reload_needed = a["daemon_reload"] and self.facts.get(UNITS_CHANGED, True)
        if reload_needed:
            done.append("daemon-reload")
            if not self.check_mode:
                self.t.run("systemctl daemon-reload", check=True)
        if not a["name"]:
            if a["state"] or a["enabled"] is not None:
                return Result(False, "systemd: 'state'/'enabled' need 'name'", failed=True)
            return self._result(done, reloaded=reload_needed)

        unit = shlex.quote(a["name"])
        show = self.t.run(f"systemctl show {unit} -p LoadState -p ActiveState -p UnitFileState")
        props = parse_show(show.stdout)
        if not show.ok or props.get("LoadState") == "not-found":
            # In check mode a unit file that a reload would have loaded may not be known yet.
            if not (self.check_mode and reload_needed):
                return Result(False, f"could not find the unit {a['name']}", failed=True)
            props = {"ActiveState": "inactive", "UnitFileState": "disabled"}

        if a["enabled"] is not None:
            is_enabled = props.get("UnitFileState") in ("enabled", "enabled-runtime")
            if a["enabled"] != is_enabled:
                verb = "enable" if a["enabled"] else "disable"
                done.append(f"{verb}d")
                if not self.check_mode:
                    self.t.run(f"systemctl {verb} {unit}", check=True)

        active = props.get("ActiveState") in ("active", "activating", "reloading")
        verb = {
            "started": None if active else "start",
            "stopped": "stop" if active else None,
            "restarted": "restart",
            "reloaded": "reload" if active else "start",
        }.get(a["state"] or "")
        if verb:
            done.append(PAST[verb])
            if not self.check_mode:
                self.t.run(f"systemctl {verb} {unit}", check=True)
        return self._result(done, reloaded=reload_needed)

    def _result(self, done: list[str], reloaded: bool) -> Result:
        name = self.args["name"] or "systemd"
        msg = f"{name}: {', '.join(done)}" if done else f"{name} is as requested"
        return Result(bool(done), msg, data={"daemon_reloaded": reloaded})
