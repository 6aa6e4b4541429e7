"""The inventory: which hosts exist, how to reach them, which groups they are in.

Data flow (B): **inventory.yaml** ─▶ playbook (`hosts:` patterns) ─▶ executor. The file:

    vars: {cluster_name: classroom}          # for every host
    hosts:
      m1: {address: 10.0.0.11, user: vagrant, key: ~/.ssh/id_ed25519, port: 22,
           vars: {etcd_name: m1}}
      me: {connection: local}                # runs on this machine, no SSH
    groups:
      masters: {hosts: [m1], vars: {role: master}}
      workers: {hosts: []}

Variables merge all < group < host; a host in several groups takes them in file order,
later groups winning. `masters` and `workers` always exist (empty if not declared), so
the cluster playbooks may name them. Every mistake is an `InventoryError` whose one line
says what is wrong and where.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provision import yamlfile

STANDARD_GROUPS = ("masters", "workers")
HOST_KEYS = {"address", "user", "key", "port", "connection", "vars"}


class InventoryError(ValueError):
    """The inventory cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class Host:
    name: str
    address: str
    user: str | None = None
    key: str | None = None
    port: int = 22
    connection: str = "ssh"  # ssh | local
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass
class Inventory:
    hosts: dict[str, Host]
    groups: dict[str, list[str]]
    source: str = "inventory"

    def select(self, pattern: str) -> list[Host]:
        """Hosts matching an Ansible-style pattern: `all`, a group, a host, a glob over host
        names, several joined by `,` or `:`, and `!term` to exclude. Inventory order."""
        chosen: set[str] = set()
        excluded: set[str] = set()
        for term in (t.strip() for t in pattern.replace(":", ",").split(",")):
            if not term:
                continue
            target = excluded if term.startswith("!") else chosen
            target |= self._expand(term.lstrip("!"))
        return [h for name, h in self.hosts.items() if name in chosen - excluded]

    def _expand(self, term: str) -> set[str]:
        if term == "all":
            return set(self.hosts)
        if term in self.groups:
            return set(self.groups[term])
        if term in self.hosts:
            return {term}
        if any(c in term for c in "*?["):
            return set(fnmatch.filter(self.hosts, term))
        raise InventoryError(f"{self.source}: no host or group named {term!r}")


def load(path: str | Path) -> Inventory:
    path = Path(path)
    return parse(yamlfile.read(path, InventoryError), str(path))


def parse(text: str, source: str = "inventory") -> Inventory:
    doc = yamlfile.parse(text, source, InventoryError) or {}
    if not isinstance(doc, dict):
        raise InventoryError(f"{source}: the top level must be a mapping, not a "
                             f"{type(doc).__name__}")
    unknown = set(doc) - {"vars", "hosts", "groups"}
    if unknown:
        raise InventoryError(f"{source}: unknown top-level key {sorted(unknown)[0]!r} "
                             "(expected vars, hosts, groups)")
    all_vars = _mapping(doc.get("vars"), f"{source}: vars")
    raw_hosts = _mapping(doc.get("hosts"), f"{source}: hosts")
    raw_groups = _mapping(doc.get("groups"), f"{source}: groups")

    groups: dict[str, list[str]] = {g: [] for g in STANDARD_GROUPS}
    group_vars: dict[str, dict[str, Any]] = {}
    for gname, body in raw_groups.items():
        where = f"{source}: group {gname!r}"
        body = _mapping(body, where)
        extra = set(body) - {"hosts", "vars"}
        if extra:
            raise InventoryError(f"{where}: unknown key {sorted(extra)[0]!r} (expected hosts, vars)")
        members = body.get("hosts") or []
        if not isinstance(members, list):
            raise InventoryError(f"{where}: hosts must be a list of host names")
        for member in members:
            if member not in raw_hosts:
                raise InventoryError(f"{where} lists unknown host {member!r}")
        groups[gname] = [str(m) for m in members]
        group_vars[gname] = _mapping(body.get("vars"), f"{where}: vars")

    hosts = {}
    for hname, body in raw_hosts.items():
        merged = dict(all_vars)
        for gname, members in groups.items():
            if hname in members:
                merged.update(group_vars.get(gname, {}))
        hosts[str(hname)] = _host(str(hname), _mapping(body, f"{source}: host {hname!r}"),
                                  merged, source)
    return Inventory(hosts, groups, source)


def _host(name: str, body: dict[str, Any], inherited: dict[str, Any], source: str) -> Host:
    where = f"{source}: host {name!r}"
    extra = set(body) - HOST_KEYS
    if extra:
        raise InventoryError(f"{where}: unknown key {sorted(extra)[0]!r} "
                             f"(expected {', '.join(sorted(HOST_KEYS))})")
    connection = str(body.get("connection", "ssh"))
    if connection not in ("ssh", "local"):
        raise InventoryError(f"{where}: connection must be ssh or local, not {connection!r}")
    address = body.get("address")
    if connection == "ssh" and not address:
        raise InventoryError(f"{where}: missing address")
    port = body.get("port", 22)
    if not isinstance(port, int) or not 0 < port < 65536:
        raise InventoryError(f"{where}: port must be a number from 1 to 65535, not {port!r}")
    host_vars = {**inherited, **_mapping(body.get("vars"), f"{where}: vars")}
    return Host(name, str(address or "127.0.0.1"), body.get("user"), body.get("key"), port,
                connection, host_vars)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InventoryError(f"{where} must be a mapping, not a {type(value).__name__}")
    return value
