"""One container attempt as a supervised process: start it, log it, watch it exit, stop it.

Where it sits: the process runtime (:mod:`nodeagent.runtime`) creates a
:class:`ContainerProcess` for every start of a container (kubelet calls each such start
an *attempt*; ``restartCount`` counts them). What happens on :meth:`ContainerProcess.start`::

    agent thread ── fork/exec ──▶ python sandbox.py --spec <attempt dir>/config.json
                                    (join cgroup, pod netns, build root, chdir) ── execve ──▶ program
        ◀── error pipe: empty = started; text = StartError (exit code 128)
        stdout, stderr ──▶ two pump threads ──▶ <attempt>.log (CRI format)
        watcher thread: wait() ──▶ kill what is left of the container ──▶ on_exit(callback)

Each container runs in a session of its own (``setsid``), so a signal reaches every
process it started, and with cgroups the whole cgroup is killed when the main process
exits, as a container runtime does when a container's first process ends.

Stopping is upstream's: optional preStop hook (run by the caller), SIGTERM to the whole
session, wait up to the grace period, then SIGKILL. A process killed by signal *n*
reports exit code 128+*n* (143 after SIGTERM, 137 after SIGKILL).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from . import logs
from .cgroups import ContainerCgroup, session_pids
from .volumes import Mount

SANDBOX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox.py")
HELPER_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def helper_argv(*args: str) -> list[str]:
    # -I: ignore PYTHON* variables and user site; -S: no site import - the helper needs only the stdlib.
    return [sys.executable, "-I", "-S", SANDBOX, *args]


class StartError(Exception):
    """The program could not be started (not found, bad working directory, ...)."""


@dataclasses.dataclass
class ContainerConfig:
    """Everything needed to start one attempt of a container (CRI's ContainerConfig)."""

    id: str
    pod_uid: str
    name: str
    attempt: int
    image: str
    image_id: str
    argv: list[str]
    env: dict[str, str]
    log_path: str
    attempt_dir: str  # holds config.json (and rootfs/, the mount point of the container's root)
    cwd: str = ""
    mounts: list[Mount] = dataclasses.field(default_factory=list)
    hostname: str = ""
    netns: str | None = None
    use_rootfs: bool = False
    cgroup: ContainerCgroup | None = None
    uid: int | None = None
    gid: int | None = None
    memory_limit: int | None = None


class ContainerProcess:
    def __init__(self, config: ContainerConfig, on_exit: Callable[[ContainerProcess], None] | None = None) -> None:
        self.config = config
        self.on_exit = on_exit
        self.popen: subprocess.Popen[bytes] | None = None
        self.started_at: float | None = None  # wall-clock seconds
        self.started_mono: float | None = None
        self.finished_at: float | None = None
        self.finished_mono: float | None = None
        self.exit_code: int | None = None
        self.signal: int | None = None
        self.reason = ""
        self.message = ""
        self.oom_killed = False  # set by the runtime when it enforces a limit without cgroups
        self._oom_before = 0
        self.exited = threading.Event()
        self._writer: logs.LogWriter | None = None
        self._pumps: list[threading.Thread] = []
        # CPU sampling for stats: (monotonic time, cumulative CPU ns) and the last rate.
        self.cpu_sample: tuple[float, int] | None = None
        self.nano_cores = 0

    # -- identity ------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    @property
    def running(self) -> bool:
        return self.popen is not None and not self.exited.is_set()

    # -- start ---------------------------------------------------------------------

    def spec(self) -> dict:
        c = self.config
        return {
            "argv": c.argv, "env": c.env, "cwd": c.cwd or "/", "hostname": c.hostname,
            "netns": c.netns, "rootfs": os.path.join(c.attempt_dir, "rootfs") if c.use_rootfs else None,
            "mounts": [{"source": m.source, "target": m.target, "readOnly": m.read_only} for m in c.mounts],
            "cgroups": c.cgroup.procs_files if c.cgroup else [], "parent": os.getpid(),
            "user": {"uid": c.uid, "gid": c.gid},
        }

    def start(self) -> None:
        """Start the program; raises StartError (the attempt is then terminated, code 128).

        Call it from a thread that lives as long as the container: the program is killed
        when the thread that started it ends (``PR_SET_PDEATHSIG``)."""
        c = self.config
        os.makedirs(c.attempt_dir, exist_ok=True)
        if c.use_rootfs:
            os.makedirs(os.path.join(c.attempt_dir, "rootfs"), exist_ok=True)
        read_end, write_end = os.pipe()
        spec = {**self.spec(), "error_fd": write_end}
        spec_path = os.path.join(c.attempt_dir, "config.json")
        fd = os.open(spec_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # env may hold secrets
        with os.fdopen(fd, "w") as f:
            json.dump(spec, f, indent=1)
        self._writer = logs.LogWriter(c.log_path)
        self._oom_before = c.cgroup.oom_kills() if c.cgroup else 0
        try:
            self.popen = subprocess.Popen(helper_argv("--spec", spec_path), stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(write_end,),
                                          start_new_session=True, env=HELPER_ENV, cwd="/")
        except OSError as e:
            os.close(read_end)
            self._finish()
            self._fail(f"cannot start the sandbox helper: {e}")
            raise StartError(self.message) from None
        finally:
            os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            error = pipe.read().decode(errors="replace")  # EOF at execve, or the helper's message
        self.started_at, self.started_mono = time.time(), time.monotonic()
        for stream, pipe in (("stdout", self.popen.stdout), ("stderr", self.popen.stderr)):
            t = threading.Thread(target=logs.pump, args=(pipe, stream, self._writer),
                                 name=f"log-{c.name}-{stream}", daemon=True)
            t.start()
            self._pumps.append(t)
        if error:
            self.popen.wait()
            self._finish()
            self._fail(error)
            raise StartError(error)
        threading.Thread(target=self._watch, name=f"watch-{c.name}", daemon=True).start()

    def _fail(self, message: str) -> None:
        now = time.time()
        self.started_at = self.started_at or now
        self.started_mono = self.started_mono or time.monotonic()
        self.finished_at, self.finished_mono = now, time.monotonic()
        self.exit_code, self.reason, self.message = 128, "StartError", message
        self.exited.set()

    # -- exit ----------------------------------------------------------------------

    def _watch(self) -> None:
        assert self.popen is not None
        self.popen.wait()
        oom = self.oom_killed or (self.config.cgroup is not None and self.config.cgroup.oom_kills() > self._oom_before)
        self._finish()
        code = self.popen.returncode
        if code < 0:
            self.signal = -code
            code = 128 - code
        self.exit_code = code
        self.reason = "OOMKilled" if oom else ("Completed" if code == 0 else "Error")
        self.finished_at, self.finished_mono = time.time(), time.monotonic()
        self.exited.set()
        if self.on_exit is not None:
            self.on_exit(self)

    def _finish(self) -> None:
        """The main process ended: end the rest of the container, the log pumps, the cgroup
        (all before the attempt counts as exited, so "exited" means "nothing left")."""
        self._kill_rest()
        for t in self._pumps:
            t.join(timeout=5)
        if self._writer is not None:
            self._writer.close()
        if self.config.cgroup is not None:
            self.config.cgroup.remove()

    def _kill_rest(self) -> None:
        if self.config.cgroup is not None:
            self.config.cgroup.kill_all()
        if self.popen is not None:
            for pid in session_pids(self.popen.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    # -- stop ----------------------------------------------------------------------

    def signal_all(self, signum: int) -> None:
        if self.popen is None or self.exited.is_set():
            return
        try:
            os.killpg(self.popen.pid, signum)
        except ProcessLookupError:
            pass
        if signum == signal.SIGKILL:
            self._kill_rest()

    def stop(self, grace: float) -> None:
        """SIGTERM, up to ``grace`` seconds, SIGKILL; returns once the container is gone."""
        if not self.running:
            return
        self.signal_all(signal.SIGTERM)
        if not self.exited.wait(max(0.0, grace)):
            self.signal_all(signal.SIGKILL)
            self.exited.wait(10)
