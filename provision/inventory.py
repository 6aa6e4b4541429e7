"""The inventory: which hosts exist, how to reach them, which groups they are in.

Data flow (B): **inventory.yaml** ─▶ playbook (`hosts:` patterns) ─▶ executor. Two shapes
are read. kubeclass's own:

    vars: {cluster_name: classroom}          # for every host
    hosts:
      m1: {address: 10.0.0.11, user: vagrant, key: ~/.ssh/id_ed25519, port: 22,
           vars: {etcd_name: m1}}
      me: {connection: local}                # runs on this machine, no SSH
    groups:
      masters: {hosts: [m1], vars: {role: master}}
      workers: {hosts: []}
      cluster: {children: [masters, workers], vars: {cni: bridge}}

and Ansible's YAML inventory, recognised by its top-level `all:`:

    all:
      vars: {ansible_user: vagrant}
      hosts: {me: {ansible_connection: local}}
      children:
        cluster:
          vars: {cni: bridge}
          children:
            masters: {hosts: {m1: {ansible_host: 10.0.0.11, etcd_name: m1}}}

A group's `children` are groups whose hosts belong to it as well. Variables merge as in
Ansible: all < parent group < child group < host; groups at the same depth in file order
(kubeclass shape) or by name (Ansible shape, as Ansible does). `ansible_host`,
`ansible_user`, `ansible_port`, `ansible_ssh_private_key_file` and `ansible_connection`,
from any level, fill what a host entry leaves out; in the Ansible shape a host without an
address is reached by its name. `masters` and `workers` always exist (empty if not
declared), so the cluster playbooks may name them. Every mistake is an `InventoryError`
whose one line says what is wrong and where.
"""

from __future__ import annotations

import fnmatch
import re
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


@dataclass
class _Group:
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)


def parse(text: str, source: str = "inventory") -> Inventory:
    doc = yamlfile.parse(text, source, InventoryError) or {}
    if not isinstance(doc, dict):
        raise InventoryError(f"{source}: the top level must be a mapping, not a "
                             f"{type(doc).__name__}")
    if "all" in doc:
        all_vars, hosts, groups = _from_ansible(doc, source)
        return _build(all_vars, hosts, dict(sorted(groups.items())), source,
                      address_from_name=True)
    unknown = set(doc) - {"vars", "hosts", "groups"}
    if unknown:
        raise InventoryError(f"{source}: unknown top-level key {sorted(unknown)[0]!r} "
                             "(expected vars, hosts, groups; or Ansible's all:)")
    raw_hosts = _mapping(doc.get("hosts"), f"{source}: hosts")
    groups = {}
    for gname, body in _mapping(doc.get("groups"), f"{source}: groups").items():
        where = f"{source}: group {gname!r}"
        body = _group_body(body, where)
        members = _names(body.get("hosts"), f"{where}: hosts")
        for member in members:
            if member not in raw_hosts:
                raise InventoryError(f"{where} lists unknown host {member!r}")
        groups[str(gname)] = _Group(members, _names(body.get("children"), f"{where}: children"),
                                    _mapping(body.get("vars"), f"{where}: vars"))
    return _build(_mapping(doc.get("vars"), f"{source}: vars"), raw_hosts, groups, source)


def _group_body(body: Any, where: str) -> dict[str, Any]:
    """A group's mapping, which may hold only hosts, children and vars."""
    body = _mapping(body, where)
    extra = set(body) - {"hosts", "vars", "children"}
    if extra:
        raise InventoryError(f"{where}: unknown key {sorted(extra)[0]!r} "
                             "(expected hosts, children, vars)")
    return body


def _from_ansible(doc: dict[str, Any], source: str
                  ) -> tuple[dict[str, Any], dict[str, Any], dict[str, _Group]]:
    """Ansible's tree (all ─▶ children ─▶ hosts with inline vars) as flat hosts and groups.
    A host or group may appear under several parents; its entries merge."""
    hosts: dict[str, Any] = {}
    groups: dict[str, _Group] = {}

    def walk(name: str, body: Any, group: _Group) -> None:
        where = f"{source}: group {name!r}"
        body = _group_body(body, where)
        group.vars.update(_mapping(body.get("vars"), f"{where}: vars"))
        for hname, inline in _mapping(body.get("hosts"), f"{where}: hosts").items():
            hname = str(hname)
            if re.search(r"\[[^\]]*:[^\]]*\]", hname):
                raise InventoryError(f"{where}: host ranges such as {hname!r} are not "
                                     "supported; list the hosts")
            entry = hosts.setdefault(hname, {"vars": {}})
            entry["vars"].update(_mapping(inline, f"{source}: host {hname!r}"))
            if hname not in group.hosts:
                group.hosts.append(hname)
        for child, child_body in _mapping(body.get("children"), f"{where}: children").items():
            child = str(child)
            if child not in group.children:
                group.children.append(child)
            walk(child, child_body, groups.setdefault(child, _Group()))

    top = _Group()
    for name, body in doc.items():  # groups beside `all` are its children, as in Ansible
        group = top if name == "all" else groups.setdefault(str(name), _Group())
        walk(str(name), body, group)
    return top.vars, hosts, groups


def _build(all_vars: dict[str, Any], raw_hosts: dict[str, Any], specs: dict[str, _Group],
           source: str, address_from_name: bool = False) -> Inventory:
    for gname, spec in specs.items():
        for child in spec.children:
            if child not in specs:
                raise InventoryError(f"{source}: group {gname!r} lists unknown child group "
                                     f"{child!r}")
    depth: dict[str, int] = {}
    members: dict[str, list[str]] = {}
    for gname in specs:
        _walk_group(gname, specs, depth, members, [], source)
    groups = {g: [] for g in STANDARD_GROUPS} | {g: members[g] for g in specs}
    # Ansible's order: shallow groups first, so a child group's vars win over its parent's.
    ordered = sorted(specs, key=lambda g: depth[g])
    hosts = {}
    for hname, body in raw_hosts.items():
        merged = dict(all_vars)
        for gname in ordered:
            if hname in members[gname]:
                merged.update(specs[gname].vars)
        hosts[str(hname)] = _host(str(hname), _mapping(body, f"{source}: host {hname!r}"),
                                  merged, source, address_from_name)
    return Inventory(hosts, groups, source)


def _walk_group(name: str, specs: dict[str, _Group], depth: dict[str, int],
                members: dict[str, list[str]], path: list[str], source: str) -> list[str]:
    """Fill `members` (own hosts, then the children's) and `depth` (1 below `all`, each
    child deeper than its deepest parent) for `name` and everything under it."""
    if name in path:
        cycle = " -> ".join([*path[path.index(name):], name])
        raise InventoryError(f"{source}: group {name!r} contains itself ({cycle})")
    depth[name] = max(depth.get(name, 1), len(path) + 1)
    hosts = list(specs[name].hosts)
    for child in specs[name].children:
        for h in _walk_group(child, specs, depth, members, [*path, name], source):
            if h not in hosts:
                hosts.append(h)
    members[name] = hosts
    return hosts


def _host(name: str, body: dict[str, Any], inherited: dict[str, Any], source: str,
          address_from_name: bool = False) -> Host:
    where = f"{source}: host {name!r}"
    extra = set(body) - HOST_KEYS
    if extra:
        raise InventoryError(f"{where}: unknown key {sorted(extra)[0]!r} "
                             f"(expected {', '.join(sorted(HOST_KEYS))})")
    host_vars = {**inherited, **_mapping(body.get("vars"), f"{where}: vars")}

    def setting(key: str, *ansible_names: str, default: Any = None) -> Any:
        """A connection setting: the host entry's own key, else an ansible_* variable."""
        if body.get(key) is not None:
            return body[key]
        return next((host_vars[n] for n in ansible_names if host_vars.get(n) is not None),
                    default)

    connection = str(setting("connection", "ansible_connection", default="ssh"))
    connection = "ssh" if connection in ("paramiko", "smart") else connection
    if connection not in ("ssh", "local"):
        raise InventoryError(f"{where}: connection must be ssh or local, not {connection!r}")
    address = setting("address", "ansible_host", default=name if address_from_name else None)
    if connection == "ssh" and not address:
        raise InventoryError(f"{where}: missing address")
    port = setting("port", "ansible_port", default=22)
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if not isinstance(port, int) or not 0 < port < 65536:
        raise InventoryError(f"{where}: port must be a number from 1 to 65535, not {port!r}")
    key = setting("key", "ansible_ssh_private_key_file", "ansible_private_key_file")
    return Host(name, str(address or "127.0.0.1"), setting("user", "ansible_user"), key, port,
                connection, host_vars)


def _names(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InventoryError(f"{where} must be a list of names")
    return [str(v) for v in value]


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InventoryError(f"{where} must be a mapping, not a {type(value).__name__}")
    return value
