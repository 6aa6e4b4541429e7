"""Resource limits and usage through cgroups (v1), or from ``/proc`` where there are none.

Where it sits: the process runtime gives each container attempt a cgroup before its
program starts (the sandbox helper joins it), removes it after the container stopped,
and reads usage from it for ``/stats/summary`` (``kubectl top``). The hierarchy nests
under the agent's own cgroup, so the node agent never escapes the limits it was given::

    /sys/fs/cgroup/memory/<agent's cgroup>/kc<id>-<node>/pod<uid>/<container>-<attempt>/
        memory.limit_in_bytes   <- resources.limits.memory (the kernel OOM-kills past it)
    /sys/fs/cgroup/cpu/...      cpu.cfs_quota_us / cpu.cfs_period_us <- limits.cpu (throttling)
                                cpu.shares <- requests.cpu (a share when CPUs are busy)
    /sys/fs/cgroup/cpuacct/...  cpuacct.usage: CPU time used, in nanoseconds

Without cgroups (not root, or no v1 hierarchy) :class:`ProcessGroupUsage` reads the same
numbers from ``/proc`` for the container's session, and the runtime enforces a memory
limit itself by killing the container (reason ``OOMKilled``) when it passes the limit.
"""

from __future__ import annotations

import logging
import os
import signal
import time

log = logging.getLogger(__name__)

ROOT = "/sys/fs/cgroup"
CONTROLLERS = ("memory", "cpu", "cpuacct")
CFS_PERIOD_US = 100_000
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def _own_paths() -> dict[str, str]:
    """controller -> this process's cgroup directory, for each v1 controller mounted."""
    paths: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return paths
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(","):
            if c in CONTROLLERS and os.path.isdir(os.path.join(ROOT, c)):
                paths[c] = os.path.join(ROOT, c, path.lstrip("/"))
    return paths


class Cgroups:
    """The node's part of the cgroup hierarchy (``kc<id>-<node>`` under the agent's own)."""

    def __init__(self, name: str) -> None:
        self.parents = {c: os.path.join(p, name) for c, p in _own_paths().items()}

    @classmethod
    def create(cls, name: str) -> Cgroups | None:
        """The manager, or None when cgroups cannot be used here (not root, no v1 memory/cpu)."""
        if os.geteuid() != 0:
            return None
        manager = cls(name)
        if "memory" not in manager.parents or "cpu" not in manager.parents:
            return None
        try:
            for path in manager.parents.values():
                os.makedirs(path, exist_ok=True)
        except OSError as e:
            log.warning("cannot create cgroups (%s); limits are enforced from /proc instead", e)
            return None
        return manager

    def container(self, pod_uid: str, name: str, *, memory_limit: int | None = None,
                  cpu_limit_millis: int | None = None, cpu_request_millis: int | None = None) -> ContainerCgroup:
        paths = {c: os.path.join(p, f"pod{pod_uid}", name) for c, p in self.parents.items()}
        for path in paths.values():
            os.makedirs(path, exist_ok=True)
        cg = ContainerCgroup(paths)
        if memory_limit:
            cg.write("memory", "memory.limit_in_bytes", str(memory_limit))
        if cpu_limit_millis:
            cg.write("cpu", "cpu.cfs_period_us", str(CFS_PERIOD_US))
            cg.write("cpu", "cpu.cfs_quota_us", str(max(1000, cpu_limit_millis * CFS_PERIOD_US // 1000)))
        if cpu_request_millis:
            cg.write("cpu", "cpu.shares", str(max(2, cpu_request_millis * 1024 // 1000)))
        return cg

    def remove_pod(self, pod_uid: str) -> None:
        for parent in self.parents.values():
            _remove_tree(os.path.join(parent, f"pod{pod_uid}"))

    def remove_all(self) -> None:
        for parent in self.parents.values():
            _remove_tree(parent)


def _remove_tree(path: str) -> None:
    """rmdir a cgroup and its children, deepest first (cgroup directories only go by rmdir)."""
    if not os.path.isdir(path):
        return
    for dirpath, _, _ in sorted(os.walk(path), key=lambda w: -w[0].count("/")):
        _kill_procs(dirpath)
        for _ in range(50):
            try:
                os.rmdir(dirpath)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)  # processes just killed take a moment to leave
        else:
            log.warning("cannot remove cgroup %s", dirpath)


def _kill_procs(path: str) -> None:
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            pids = [int(p) for p in f.read().split()]
    except OSError:
        return
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class ContainerCgroup:
    def __init__(self, paths: dict[str, str]) -> None:
        self.paths = paths

    def write(self, controller: str, file: str, value: str) -> None:
        if controller in self.paths:
            with open(os.path.join(self.paths[controller], file), "w") as f:
                f.write(value)

    def _read(self, controller: str, file: str) -> str:
        with open(os.path.join(self.paths[controller], file)) as f:
            return f.read()

    @property
    def procs_files(self) -> list[str]:
        """What the sandbox helper writes its pid into (one per hierarchy)."""
        return list(dict.fromkeys(os.path.join(p, "cgroup.procs") for p in self.paths.values()))

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in self._read("memory", "cgroup.procs").split()]
        except OSError:
            return []

    def cpu_usage_ns(self) -> int:
        try:
            return int(self._read("cpuacct", "cpuacct.usage"))
        except (OSError, KeyError, ValueError):
            return 0

    def memory(self) -> tuple[int, int, int]:
        """(usage, working set, rss) in bytes; working set = usage - inactive file cache (as cAdvisor)."""
        try:
            usage = int(self._read("memory", "memory.usage_in_bytes"))
            stats = dict(line.split() for line in self._read("memory", "memory.stat").splitlines())
        except (OSError, ValueError):
            return 0, 0, 0
        inactive = int(stats.get("total_inactive_file", 0))
        return usage, max(0, usage - inactive), int(stats.get("total_rss", 0))

    def oom_kills(self) -> int:
        try:
            for line in self._read("memory", "memory.oom_control").splitlines():
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return 0

    def kill_all(self) -> None:
        for path in self.paths.values():
            _kill_procs(path)

    def remove(self) -> None:
        for path in self.paths.values():
            _remove_tree(path)


class ProcessGroupUsage:
    """Usage of a container without cgroups: every process of its session (the sandbox
    helper starts each container in a session of its own, led by its main process)."""

    @staticmethod
    def sessions() -> dict[int, tuple[int, int]]:
        """session id -> (CPU nanoseconds, RSS bytes), summed over the session's processes."""
        totals: dict[int, tuple[int, int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            session = int(fields[3])  # fields after "(comm)": state ppid pgrp session ...
            cpu = (int(fields[11]) + int(fields[12])) * TICK_NS  # utime + stime
            rss = int(fields[21]) * PAGE
            old = totals.get(session, (0, 0))
            totals[session] = (old[0] + cpu, old[1] + rss)
        return totals


def session_pids(session: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[3]) == session:
                        pids.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return pids
