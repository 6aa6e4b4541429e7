"""command: run a command on the host, unless `creates`/`removes` say it already ran.

Data flow (B): executor ─▶ **command module** ─▶ transport.run ─▶ host. A command is opaque,
so when it runs it reports `changed`; `creates: PATH` (skip if PATH exists) and
`removes: PATH` (skip if PATH is absent) are what make it idempotent. In check mode it
reports what it would do and runs nothing. A non-zero exit fails the task.
"""

from __future__ import annotations

import shlex

from provision import remotefs
from provision.modules.base import Arg, Module, Result


class Command(Module):
    NAME = "command"
    FREE_FORM = "cmd"
    ARGS = {
        "cmd": Arg(required=True),
        "creates": Arg("path"),
        "removes": Arg("path"),
        "chdir": Arg("path"),
        "stdin": Arg(),
    }

    def run(self) -> Result:
        a = self.args
        if a["creates"] and remotefs.stat(self.t, a["creates"]) is not None:
            return Result(False, f"skipped, since {a['creates']} exists")
        if a["removes"] and remotefs.stat(self.t, a["removes"]) is None:
            return Result(False, f"skipped, since {a['removes']} does not exist")
        command = a["cmd"]
        if a["chdir"]:
            command = f"cd {shlex.quote(a['chdir'])} && {command}"
        if self.check_mode:
            return Result(True, f"would run: {a['cmd']}")
        res = self.t.run(command, input=a["stdin"])
        data = {"stdout": res.stdout, "stderr": res.stderr, "rc": res.exit_code}
        if not res.ok:
            last = (res.stderr or res.stdout).strip().splitlines()
            detail = f": {last[-1]}" if last else ""
            return Result(True, f"non-zero return code {res.exit_code}{detail}", failed=True,
                          data=data)
        return Result(True, res.stdout.strip().splitlines()[-1] if res.stdout.strip() else "",
                      data=data)
