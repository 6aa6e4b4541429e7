"""The lab's private network: one Linux bridge, one /24, no way out.

Data flow (B, on one machine): lab ─▶ **network** (bridge + address for this machine) ─▶
each lab host's veth (made by systemd-nspawn) ─▶ the host's own address (systemd-networkd).

This machine takes `.1` on the bridge so that SSH, kubectl and the virtual IP are reachable
from here. The hosts get no gateway and the bridge does not forward, so nothing from a lab
host can reach beyond the lab network: a closed classroom network on one machine. Commands
are the plain `ip` and `sysctl` an instructor would type.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CANDIDATES = [f"10.231.{i}.0/24" for i in range(256)]
LOCK = Path("/run/kubeclass-labhosts.lock")


class NetworkError(Exception):
    """The lab network could not be set up; the message says which command failed."""


def ip(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *argv], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise NetworkError(f"`ip {' '.join(argv)}` failed: {proc.stderr.strip()}")
    return proc


@contextmanager
def allocation_lock() -> Iterator[None]:
    """Serializes choosing a subnet and creating its bridge between labs made at once."""
    with open(LOCK, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def used_networks() -> list[ipaddress.IPv4Network]:
    routes = json.loads(ip("-j", "-4", "route", "show", "table", "all").stdout or "[]")
    nets = []
    for route in routes:
        dst = route.get("dst", "")
        if not dst or dst == "default":
            continue
        try:
            nets.append(ipaddress.ip_network(dst, strict=False))
        except ValueError:  # multicast and other special destinations
            continue
    return nets


def free_subnet() -> str:
    """The first candidate /24 that no route on this machine overlaps."""
    used = used_networks()
    for candidate in CANDIDATES:
        net = ipaddress.ip_network(candidate)
        if not any(net.overlaps(u) for u in used):
            return candidate
    raise NetworkError("no free 10.231.x.0/24 for a lab network: `kubeclass labhosts down` "
                       "some labs, or pass --subnet")


def exists(bridge: str) -> bool:
    return ip("link", "show", "dev", bridge, check=False).returncode == 0


def create_bridge(bridge: str, subnet: str) -> None:
    """The bridge with this machine's `.1`, forwarding off: hosts reach here and each other only."""
    if exists(bridge):
        return
    net = ipaddress.ip_network(subnet)
    ip("link", "add", bridge, "type", "bridge")
    ip("addr", "add", f"{net.network_address + 1}/{net.prefixlen}", "dev", bridge)
    ip("link", "set", bridge, "up")
    subprocess.run(["sysctl", "-q", "-w", f"net.ipv4.conf.{bridge}.forwarding=0"],
                   capture_output=True, check=False)


def delete_bridge(bridge: str) -> None:
    if exists(bridge):
        ip("link", "del", bridge)
