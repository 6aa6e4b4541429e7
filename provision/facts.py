"""Facts: what a host is, read through the transport before a play's first task.

Data flow (B): executor ─▶ **facts.gather** ─▶ transport ─▶ host; the result is the `facts`
variable in `when:` conditions and templates (`facts.os_id == 'ubuntu'`), and the `facts`
argument every module receives. A fact the host cannot tell (no `ip`, no python3) is None:
a missing tool is information, not a reason to fail the play. Only `Unreachable` escapes.
"""

from __future__ import annotations

import shlex
from typing import Any

from provision.transport import Transport


def parse_os_release(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.startswith("#"):
            parts = shlex.split(value, posix=True)
            out[key.strip()] = parts[0] if parts else ""
    return out


def parse_meminfo_mb(text: str) -> int | None:
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024  # the kernel reports kB
    return None


def parse_ipv4(text: str) -> list[dict[str, Any]]:
    """`ip -o -4 addr` lines: `2: eth0    inet 10.0.0.11/24 brd ... scope global eth0`."""
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == "inet":
            address, _, prefix = fields[3].partition("/")
            out.append({"interface": fields[1], "address": address,
                        "prefix": int(prefix) if prefix else 32})
    return out


def gather(t: Transport) -> dict[str, Any]:
    def output(command: str) -> str | None:
        res = t.run(command)
        return res.stdout if res.ok else None

    osr = parse_os_release(output("cat /etc/os-release") or "")
    python = output("python3 --version")
    nproc = output("nproc")
    meminfo = output("cat /proc/meminfo")
    addrs = output("ip -o -4 addr")
    addresses = parse_ipv4(addrs) if addrs is not None else []
    return {
        "hostname": (output("hostname") or "").strip() or None,
        "os_id": osr.get("ID"),
        "os_version": osr.get("VERSION_ID"),
        "os_pretty_name": osr.get("PRETTY_NAME"),
        "python_version": python.split()[-1] if python and python.split() else None,
        "cpus": int(nproc) if nproc and nproc.strip().isdigit() else None,
        "memory_mb": parse_meminfo_mb(meminfo) if meminfo else None,
        "addresses": addresses,
        "default_ipv4": next((a["address"] for a in addresses
                              if not a["address"].startswith("127.")), None),
    }
