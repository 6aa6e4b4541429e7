"""Small measuring tools: percentiles, and who used the machine's CPU while a figure was taken.

Where it sits: under every figure ``benchmarks.apiserver`` prints. A latency or a rate
alone does not say whether the server was busy computing, waiting, or starved by
something else on the machine; CPU seconds per process group (read from ``/proc``)
during the same interval do. Each server runs in its own process group (``kubeclass
up`` and the benchmark start them with a new session), so a group's CPU is the
gunicorn master and all of its workers together.
"""

from __future__ import annotations

import dataclasses
import math
import os

TICK = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``values``; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _group_seconds(pgid: int) -> float:
    """User + system CPU seconds of every live process in process group ``pgid``."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def _machine_busy_seconds() -> float:
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    steal = values[7] if len(values) > 7 else 0
    return (sum(values[:8]) - idle - steal) / TICK


def _own_seconds() -> float:
    """This process and its waited-for children (wrk, the Python clients)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclasses.dataclass
class CpuSample:
    wall: float
    groups: dict[str, float]
    own: float
    machine: float


def sample(groups: dict[str, int]) -> CpuSample:
    """CPU seconds used so far by each named process group, by us, and by the whole machine."""
    return CpuSample(os.times().elapsed, {name: _group_seconds(pgid) for name, pgid in groups.items()},
                     _own_seconds(), _machine_busy_seconds())


@dataclasses.dataclass
class CpuUse:
    """CPU seconds used between two samples; ``percent`` is of one core (a 2-core machine has 200)."""
    wall: float
    seconds: dict[str, float]

    def percent(self, name: str) -> float:
        return 100 * self.seconds.get(name, 0.0) / self.wall if self.wall else 0.0

    def line(self) -> str:
        parts = [f"{name} {self.percent(name):.0f}%" for name in self.seconds]
        return f"CPU (% of one core, {os.cpu_count()} cores): " + ", ".join(parts)


def between(a: CpuSample, b: CpuSample) -> CpuUse:
    seconds = {name: b.groups[name] - a.groups.get(name, b.groups[name]) for name in b.groups}
    seconds["benchmark clients"] = b.own - a.own
    seconds["other processes"] = max(0.0, (b.machine - a.machine) - sum(seconds.values()))
    return CpuUse(b.wall - a.wall, seconds)
