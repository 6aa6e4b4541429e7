"""fetch: bring a file from a host back to the controller machine (copy's opposite).

Data flow (B): executor ─▶ **fetch module** ─▶ transport.get (host) ─▶ a file here. The
cluster playbook fetches the admin kubeconfig from the first master this way, as one
fetches /etc/kubernetes/admin.conf after kubeadm. As in Ansible, `dest` is a folder
and the file lands in `dest/HOST/SRC-PATH`, unless `flat: true`, when `dest` is the
file itself. The local file is written only when its content differs (atomically, with
`mode`), so a second run reports ok; in check mode nothing is written.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from provision import remotefs
from provision.modules.base import Arg, Module, Result


class Fetch(Module):
    NAME = "fetch"
    ARGS = {
        "src": Arg("path", required=True),
        "dest": Arg(required=True),
        "flat": Arg("bool", default=False),
        "mode": Arg("mode", default=0o600),
        "fail_on_missing": Arg("bool", default=True),
    }

    def run(self) -> Result:
        a = self.args
        data = remotefs.read(self.t, a["src"])
        if data is None:
            return Result(False, f"{a['src']} does not exist on the host", failed=a["fail_on_missing"])
        dest = self._local_path()
        before = dest.read_bytes() if dest.is_file() else None
        data_out = {"path": str(dest), "src": a["src"]}
        mode = remotefs.resolve_mode(a["mode"], _mode(dest)) or 0o600
        if before == data and _mode(dest) == mode:
            return Result(False, f"{dest} is up to date", data=data_out)
        if not self.check_mode:
            _write_atomic(dest, data, mode)
        what = "fetched" if before is None else "updated" if before != data else "mode changed"
        diff = remotefs.unified_diff(str(dest), before, data) if before != data else None
        return Result(True, f"{a['src']} {what} into {dest}", diff=diff, data=data_out)

    def _local_path(self) -> Path:
        dest = Path(self.args["dest"]).expanduser()
        if not dest.is_absolute():
            dest = self.base_dir / dest
        if self.args["flat"]:
            return dest
        host = str(self.variables.get("inventory_hostname", "host"))
        return dest / host / self.args["src"].lstrip("/")


def _mode(path: Path) -> int | None:
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return None


def _write_atomic(dest: Path, data: bytes, mode: int) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
