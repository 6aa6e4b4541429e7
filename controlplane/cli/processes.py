"""Starting and stopping a cluster's processes: detached, recorded, and stopped for sure.

Where it sits: under ``local.py``. Each process runs under a supervisor that restarts it
when it exits (``supervisor.py``), in a session of its own (closing the terminal does not
stop the cluster); its output goes to ``logs/<name>.log``, and ``run/<name>.pid`` records
its pid *and its start time* (a pid may be reused by an unrelated program once ours has
exited, but a start time never repeats, so ``down`` never signals a stranger) and its
command line (so ``up`` sees when settings changed). Stopping sends SIGTERM to the
supervisor, which passes it on to its process (gunicorn's master then stops its
workers), then SIGKILL to the whole process group, whatever is still there after the
grace; ``kill=True`` sends SIGKILL at once, as a power cut would.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

STOP_GRACE = 10.0


@dataclasses.dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str] = dataclasses.field(default_factory=dict)  # added to the caller's


class Processes:
    def __init__(self, home: str) -> None:
        self.home = home
        self.run_dir = os.path.join(home, "run")
        self.log_dir = os.path.join(home, "logs")

    def pidfile(self, name: str) -> str:
        return os.path.join(self.run_dir, f"{name}.pid")

    def log(self, name: str) -> str:
        return os.path.join(self.log_dir, f"{name}.log")

    def running(self) -> dict[str, int]:
        """The processes that are alive, by name."""
        alive = {}
        for entry in sorted(os.listdir(self.run_dir)) if os.path.isdir(self.run_dir) else []:
            if entry.endswith(".pid"):
                pid, started = _read_pidfile(os.path.join(self.run_dir, entry))
                if pid and _is_ours(pid, started):
                    alive[entry[:-4]] = pid
        return alive

    def spawn(self, proc: Process) -> int:
        os.makedirs(self.log_dir, exist_ok=True)
        os.makedirs(self.run_dir, exist_ok=True)
        log = open(self.log(proc.name), "ab")
        # Ctrl-C between starting the process and recording it would orphan it: defer the
        # interrupt until the pidfile exists. (A handler, not a blocked signal mask: the
        # child would inherit the mask, but handlers are reset by exec.)
        interrupted: list[int] = []
        previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum))
        try:
            argv = [sys.executable, "-m", "controlplane.cli.supervisor", proc.name, "--", *proc.argv]
            child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=self.home, env={**os.environ, **proc.env})
            with open(self.pidfile(proc.name), "w") as f:
                f.write(f"{child.pid} {_start_time(child.pid)}\n{json.dumps(proc.argv)}\n")
        finally:
            signal.signal(signal.SIGINT, previous)
            log.close()
        if interrupted:
            raise KeyboardInterrupt
        return child.pid

    def argv(self, name: str) -> list[str] | None:
        """The command line a running process was started with (None if unknown)."""
        try:
            with open(self.pidfile(name)) as f:
                return json.loads(f.read().split("\n")[1])
        except (OSError, IndexError, ValueError):
            return None

    def stop(self, names: list[str], *, kill: bool = False) -> list[str]:
        """SIGTERM the named process groups together, wait, SIGKILL what remains
        (or SIGKILL them at once with ``kill``)."""
        alive = self.running()
        groups = [alive[n] for n in names if n in alive]
        for pid in groups:
            if kill:
                _signal_group(pid, signal.SIGKILL)
            else:  # to the supervisor only: it passes SIGTERM on (a second one means "no grace" to some)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        while time.monotonic() < deadline and any(_group_alive(pid) for pid in groups):
            time.sleep(0.1)
        for pid in groups:
            if _group_alive(pid):
                _signal_group(pid, signal.SIGKILL)
        for name in names:
            if os.path.exists(self.pidfile(name)):
                os.remove(self.pidfile(name))
        return [n for n in names if n in alive]

    def tail(self, name: str, lines: int = 20) -> str:
        try:
            with open(self.log(name), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no log)"


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name, or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _start_time(pid: int) -> str:
    fields = _stat(pid)
    return fields[19] if fields else ""  # field 22 of stat: when the process started, in ticks


def _read_pidfile(path: str) -> tuple[int | None, str]:
    try:
        with open(path) as f:
            pid, _, started = f.readline().strip().partition(" ")
        return int(pid), started
    except (OSError, ValueError):
        return None, ""


def _is_ours(pid: int, started: str) -> bool:
    """Alive, and the very process we started: a pid may since have been reused, and
    right after exec even its command line may not show yet, but its start time is fixed."""
    fields = _stat(pid)
    return bool(fields) and fields[0] != "Z" and fields[19] == started


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields and fields[0] != "Z" and len(fields) > 2 and fields[2] == str(pgid):
                return True
    return False
