"""The module library: every name a task may use, mapped to its module class.

Data flow (B): playbook (task's module key) ─▶ **MODULES[name]** ─▶ module.run() ─▶ Result.
Adding a module means one new file here and one line in `MODULES`.
"""

from __future__ import annotations

from provision.modules.base import Arg, ArgumentError, Module, Result, run_module
from provision.modules.command import Command
from provision.modules.copy import Copy
from provision.modules.deb import Deb
from provision.modules.fetch import Fetch
from provision.modules.file import File
from provision.modules.k8s import K8s, K8sDrain, K8sInfo
from provision.modules.lineinfile import LineInFile
from provision.modules.pip import Pip
from provision.modules.sysctl import Sysctl
from provision.modules.systemd import Systemd
from provision.modules.template import Template
from provision.modules.user import User
from provision.modules.wait_for import WaitFor

MODULES: dict[str, type[Module]] = {
    cls.NAME: cls
    for cls in (Command, File, Copy, Template, LineInFile, Sysctl, Systemd, User, WaitFor,
                Deb, Pip, Fetch, K8sDrain, K8sInfo, K8s)
}

__all__ = ["MODULES", "Arg", "ArgumentError", "Module", "Result", "run_module"]
