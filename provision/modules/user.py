"""user: make sure a local account exists with the given shell, home and groups (or not).

Data flow (B): executor ─▶ **user module** ─▶ `getent`/`id` then `useradd`/`usermod`/`userdel`
─▶ transport ─▶ host. `groups` is the full supplementary list unless `append: true`, in
which case groups are only ever added, as in Ansible.
"""

from __future__ import annotations

import shlex

from provision.modules.base import Arg, Module, Result


class User(Module):
    NAME = "user"
    ARGS = {
        "name": Arg(required=True),
        "state": Arg(default="present", choices=("present", "absent")),
        "shell": Arg(),
        "home": Arg("path"),
        "groups": Arg("list"),
        "append": Arg("bool", default=False),
        "system": Arg("bool", default=False),
        "create_home": Arg("bool", default=True),
    }

    def run(self) -> Result:
        a = self.args
        name = shlex.quote(a["name"])
        entry = self.t.run(f"getent passwd {name}")
        exists = entry.ok and entry.stdout.strip() != ""
        if a["state"] == "absent":
            if not exists:
                return Result(False, f"user {a['name']} is already absent")
            if not self.check_mode:
                self.t.run(f"userdel {name}", check=True)
            return Result(True, f"user {a['name']} removed")
        if not exists:
            return self._create(name)
        return self._update(name, entry.stdout.strip().split(":"))

    def _create(self, name: str) -> Result:
        a = self.args
        argv = ["useradd"]
        if a["system"]:
            argv.append("--system")
        argv.append("-m" if a["create_home"] else "-M")
        if a["shell"]:
            argv += ["-s", a["shell"]]
        if a["home"]:
            argv += ["-d", a["home"]]
        if a["groups"]:
            argv += ["-G", ",".join(a["groups"])]
        command = " ".join(shlex.quote(x) for x in argv) + f" {name}"
        if not self.check_mode:
            self.t.run(command, check=True)
        return Result(True, f"user {a['name']} created")

    def _update(self, name: str, fields: list[str]) -> Result:
        a = self.args
        changes: list[tuple[str, list[str]]] = []
        if a["shell"] and fields[6] != a["shell"]:
            changes.append((f"shell {fields[6]} -> {a['shell']}", ["-s", a["shell"]]))
        if a["home"] and fields[5] != a["home"]:
            changes.append((f"home {fields[5]} -> {a['home']}", ["-d", a["home"]]))
        if a["groups"] is not None:
            current = self._supplementary(name)
            wanted = set(a["groups"])
            if a["append"] and not wanted <= current:
                missing = sorted(wanted - current)
                changes.append((f"groups +{','.join(missing)}", ["-a", "-G", ",".join(missing)]))
            elif not a["append"] and wanted != current:
                text = f"groups {','.join(sorted(current)) or '-'} -> {','.join(a['groups']) or '-'}"
                changes.append((text, ["-G", ",".join(a["groups"])]))
        if not changes:
            return Result(False, f"user {a['name']} is as requested")
        if not self.check_mode:
            flags = [flag for _, part in changes for flag in part]
            self.t.run("usermod " + " ".join(shlex.quote(f) for f in flags) + f" {name}",
                       check=True)
        return Result(True, f"user {a['name']}: " + ", ".join(text for text, _ in changes))

    def _supplementary(self, name: str) -> set[str]:
        primary = self.t.run(f"id -gn {name}", check=True).stdout.strip()
        return set(self.t.run(f"id -nG {name}", check=True).stdout.split()) - {primary}
