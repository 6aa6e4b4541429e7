"""What the instructor sees: Ansible-style progress lines, the recap, and a JSON log.

Data flow (B): executor ─▶ per-host `HostResult`s ─▶ **report** ─▶ terminal + result log.
The executor hands every finished task here; this module only formats and counts, it never
decides anything. Counting follows Ansible: `ok` counts every task that did not fail or
skip, changed ones included, so `ok=5 changed=2` means five tasks ran and two changed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

STATUSES = ("ok", "changed", "failed", "skipped", "unreachable")
LABEL = {"ok": "ok", "changed": "changed", "failed": "failed", "skipped": "skipping",
         "unreachable": "unreachable"}


@dataclass
class ItemResult:
    item: Any
    status: str
    msg: str = ""
    diff: str | None = None


@dataclass
class HostResult:
    host: str
    status: str  # one of STATUSES
    msg: str = ""
    diff: str | None = None
    items: list[ItemResult] | None = None  # set when the task has a loop
    data: dict[str, Any] = field(default_factory=dict)
    ignored: bool = False  # failed, but the task said ignore_errors
    rescued: bool = False  # failed inside a block whose rescue takes over


@dataclass
class Counts:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    unreachable: int = 0
    rescued: int = 0
    ignored: int = 0


# What a command prints when the host tried to leave its network (lab hosts have no route out).
LEFT_THE_NETWORK = ("Network is unreachable", "Temporary failure resolving",
                    "Temporary failure in name resolution", "Could not resolve host")


def offline_hint(msg: str) -> str:
    """A failure that comes from reaching beyond the hosts' network gets one line saying so."""
    if not any(sign in msg for sign in LEFT_THE_NETWORK):
        return ""
    return ("\n  (this task tried to reach beyond the hosts' network, which has no route out: "
            "what a host needs must come from this machine, e.g. in the bundle)")


def banner(title: str) -> str:
    return f"\n{title} " + "*" * max(3, 79 - len(title))


class Reporter:
    def __init__(self, out: TextIO, show_diff: bool = False) -> None:
        self.out = out
        self.show_diff = show_diff
        self.recap: dict[str, Counts] = {}
        self.log: list[dict[str, Any]] = []

    def play(self, name: str) -> None:
        self._print(banner(f"PLAY [{name}]"))

    def task(self, name: str, handler: bool = False) -> None:
        self._print(banner(f"{'RUNNING HANDLER' if handler else 'TASK'} [{name}]"))

    def note(self, text: str) -> None:
        self._print(text)

    def result(self, play: str, task: str, r: HostResult) -> None:
        if r.items is None:
            self._line(r.status, r.host, r.msg, r.diff)
        else:
            for it in r.items:
                self._line(it.status, r.host, it.msg, it.diff, item=it.item)
            if r.status in ("failed", "unreachable"):
                self._line(r.status, r.host, r.msg or "one or more items failed", None)
        if r.ignored:
            self._print("...ignoring")
        self._count(r)
        entry = asdict(r)
        entry.update(play=play, task=task, changed=r.status == "changed",
                     failed=r.status == "failed")
        self.log.append(entry)

    def _line(self, status: str, host: str, msg: str, diff: str | None, **kw: Any) -> None:
        line = f"{LABEL[status]}: [{host}]"
        if "item" in kw:
            line += f" => (item={kw['item']})"
        if status in ("failed", "unreachable") and msg:
            line += f" => {msg}{offline_hint(msg) if status == 'failed' else ''}"
        self._print(line)
        if self.show_diff and diff:
            self._print(diff.rstrip("\n"))

    def _count(self, r: HostResult) -> None:
        counts = self.recap.setdefault(r.host, Counts())
        if r.ignored:
            counts.ignored += 1
            return
        if r.rescued:  # Ansible's count: the failure is the rescue's to deal with
            counts.rescued += 1
            return
        if r.status in ("ok", "changed"):
            counts.ok += 1
        if r.status != "ok":
            setattr(counts, r.status, getattr(counts, r.status) + 1)

    def print_recap(self) -> None:
        self._print(banner("PLAY RECAP"))
        for host, c in self.recap.items():
            self._print(
                f"{host:<26} : ok={c.ok:<4} changed={c.changed:<4} "
                f"unreachable={c.unreachable:<4} failed={c.failed:<4} "
                f"skipped={c.skipped:<4} rescued={c.rescued:<4} ignored={c.ignored}"
            )

    def write_log(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.log, indent=2, default=str) + "\n")

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)
