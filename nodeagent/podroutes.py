"""Routes to the other nodes' pods: each node's pod range is reached through that node.

Where it sits: with ``--pod-routes`` (what ``kubeclass provision`` gives agents on real
hosts) the agent follows the cluster's Nodes through an informer and keeps one route
per other node, as flannel's ``host-gw`` backend does::

    10.244.2.0/24 via 10.231.0.12 dev host0 proto 66      (worker-1's pods, via worker-1)

A packet from a pod on this node to a pod on another leaves through the pod's bridge,
is forwarded by this host to the other node's address, and that host's bridge delivers
it. It needs the nodes on one network (one hop apart) and IP forwarding on (the
provisioning sets ``net.ipv4.ip_forward=1``). Routes carry protocol number 66 so the
agent can tell its own routes from the host's and remove those of deleted nodes.
Nodes of one machine (``kubeclass up``) need no routes: their bridges are all local.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import subprocess
import threading
from typing import Any

log = logging.getLogger(__name__)

PROTO = "66"


def desired_routes(nodes: list[dict[str, Any]], own_name: str) -> dict[str, str]:
    """{other node's pod CIDR: that node's InternalIP} for every node that has both."""
    routes = {}
    for node in nodes:
        if (node.get("metadata") or {}).get("name") == own_name:
            continue
        cidr = (node.get("spec") or {}).get("podCIDR")
        address = next((a.get("address") for a in (node.get("status") or {}).get("addresses") or []
                        if a.get("type") == "InternalIP"), None)
        if not cidr or not address:
            continue
        try:
            if ipaddress.ip_address(address).is_loopback:
                continue  # a node of this very machine: its bridge is local
            ipaddress.ip_network(cidr)
        except ValueError:
            continue
        routes[cidr] = address
    return routes


def node_network(address: str) -> str | None:
    """The network of the interface that holds `address` (10.231.0.0/24 for 10.231.0.21/24):
    pods get a route to it, so they answer the other hosts (a relayed Service connection
    comes from the proxying host's address)."""
    try:
        links = json.loads(_ip("-j", "-4", "addr", "show").stdout or "[]")
    except ValueError:
        return None
    for link in links:
        for info in link.get("addr_info", []):
            if info.get("local") == address:
                return str(ipaddress.ip_network(f"{address}/{info.get('prefixlen', 32)}", strict=False))
    return None


def _ip(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *argv], capture_output=True, text=True, check=False)


class PodRoutes:
    """Converges this host's proto-66 routes to `desired_routes` of the Nodes it is given."""

    def __init__(self, own_name: str) -> None:
        self.own_name = own_name
        self._lock = threading.Lock()

    def current(self) -> dict[str, str]:
        routes = {}
        for line in _ip("-4", "route", "show", "proto", PROTO).stdout.splitlines():
            parts = line.split()
            if "via" in parts:
                routes[parts[0]] = parts[parts.index("via") + 1]
        return routes

    def sync(self, nodes: list[dict[str, Any]]) -> None:
        with self._lock:
            want, have = desired_routes(nodes, self.own_name), self.current()
            for cidr, via in want.items():
                if have.get(cidr) != via:
                    res = _ip("route", "replace", cidr, "via", via, "proto", PROTO)
                    if res.returncode:
                        log.warning("cannot route %s via %s: %s", cidr, via, res.stderr.strip())
                    else:
                        log.info("pods of %s reached via %s", cidr, via)
            for cidr in set(have) - set(want):
                _ip("route", "del", cidr, "proto", PROTO)
                log.info("route to %s removed (its node is gone)", cidr)
