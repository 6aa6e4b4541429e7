"""Services: allocation of cluster IPs and node ports.

Where it sits: the Service strategy, called by the generic store just before a
Service is stored, and after it is deleted.

Every allocated address or port is a small record in storage, created with
compare-and-swap (``create`` fails if the key exists), as upstream's
``networking.k8s.io IPAddress`` objects do. So two API server processes sharing a
store can never hand out the same IP, and an allocation survives restarts. A
record names the Service's uid: an allocation retried for the same Service finds
its own record and keeps it.
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any

from ... import storage as st
from .. import errors
from ..defaults.core import prepare_service_update
from ..fielderrors import FieldError, invalid
from .strategy import Strategy

NODE_PORTS = range(30000, 32768)
IP_PREFIX = "/registry/core/serviceipallocations/"
PORT_PREFIX = "/registry/core/servicenodeportallocations/"
RANDOM_TRIES = 64
DEFAULT_SERVICE_CIDR = "10.96.0.0/12"  # upstream's default --service-cluster-ip-range
_service_cidr = ipaddress.ip_network(DEFAULT_SERVICE_CIDR)


def set_service_cidr(cidr: str) -> None:
    """The API server's ``--service-cluster-ip-range``: where ClusterIPs come from."""
    global _service_cidr
    _service_cidr = ipaddress.ip_network(cidr)


def service_cidr() -> ipaddress.IPv4Network:
    return _service_cidr


def kubernetes_service_ip() -> str:
    """The `kubernetes` Service's address: the range's first."""
    return str(_service_cidr.network_address + 1)


def _needs_ip(spec: dict[str, Any]) -> bool:
    return spec.get("type", "ClusterIP") != "ExternalName" and spec.get("clusterIP") != "None"


def _needs_node_ports(spec: dict[str, Any]) -> bool:
    return spec.get("type") in ("NodePort", "LoadBalancer")


class Allocator:
    """Hands out unique values (IPs or ports) recorded under one storage prefix."""

    def __init__(self, storage: st.Storage, prefix: str, candidates: Any, what: str) -> None:
        self.storage = storage
        self.prefix = prefix
        self.candidates = candidates  # a sequence of values, indexable
        self.what = what

    def _key(self, value: str) -> str:
        return self.prefix + value.replace(":", "_")

    def reserve(self, value: str, owner_uid: str, owner: str) -> bool:
        """Take ``value`` for ``owner_uid``; False if somebody else holds it."""
        record = {"metadata": {"name": value}, "owner": owner, "uid": owner_uid}
        try:
            self.storage.create(self._key(value), record)
            return True
        except st.KeyExistsError:
            try:
                return self.storage.get(self._key(value)).get("uid") == owner_uid
            except st.KeyNotFoundError:
                return self.reserve(value, owner_uid, owner)  # released meanwhile: try again

    def allocate(self, owner_uid: str, owner: str, skip: set[str] = frozenset()) -> str:
        size = len(self.candidates)
        for _ in range(RANDOM_TRIES):
            value = str(self.candidates[random.randrange(size)])
            if value not in skip and self.reserve(value, owner_uid, owner):
                return value
        start = random.randrange(size)  # crowded: walk the whole range once
        for i in range(size):
            value = str(self.candidates[(start + i) % size])
            if value not in skip and self.reserve(value, owner_uid, owner):
                return value
        raise errors.internal_error(f"failed to allocate a {self.what}: the range is full")

    def release(self, value: str, owner_uid: str) -> None:
        key = self._key(value)
        try:
            self.storage.delete(key, validate=lambda rec: _owned_by(rec, owner_uid))
        except (st.KeyNotFoundError, _NotOwner):
            pass


class _NotOwner(Exception):
    pass


def _owned_by(record: dict[str, Any], uid: str) -> None:
    if record.get("uid") != uid:
        raise _NotOwner


class _Hosts:
    """The usable addresses of the service CIDR, indexable without building a list."""

    def __init__(self, network: ipaddress.IPv4Network) -> None:
        self.first = int(network.network_address) + 2  # .0 is the network, .1 is `kubernetes`
        self.size = network.num_addresses - 3

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int) -> str:
        return str(ipaddress.ip_address(self.first + i))


class ServiceStrategy(Strategy):
    def __init__(self, info, storage: st.Storage) -> None:
        super().__init__(info)
        self.ips = Allocator(storage, IP_PREFIX, _Hosts(service_cidr()), "cluster IP")
        self.ports = Allocator(storage, PORT_PREFIX, NODE_PORTS, "node port")

    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        obj["status"] = {"loadBalancer": {}}

    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        super().prepare_for_update(new, old)
        # As upstream: a client that leaves out what the server allocated keeps it.
        prepare_service_update(new, old)

    def _owner(self, obj: dict[str, Any]) -> tuple[str, str]:
        meta = obj["metadata"]
        return meta["uid"], f"{meta.get('namespace', '')}/{meta['name']}"

    def before_create(self, obj: dict[str, Any], dry_run: bool) -> None:
        self._allocate(obj, None, dry_run)

    def before_update(self, new: dict[str, Any], old: dict[str, Any], dry_run: bool) -> None:
        self._allocate(new, old, dry_run)

    def _allocate(self, obj: dict[str, Any], old: dict[str, Any] | None, dry_run: bool) -> None:
        spec = obj.setdefault("spec", {})
        uid, owner = self._owner(obj)
        if _needs_ip(spec):
            ip = spec.get("clusterIP")
            if not ip:
                ip = str(self.ips.candidates[random.randrange(len(self.ips.candidates))]) if dry_run \
                    else self.ips.allocate(uid, owner)
            elif not dry_run and not self.ips.reserve(ip, uid, owner):
                raise errors.invalid("Service", "", owner.split("/")[1], [_ip_taken(ip)])
            spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
        if _needs_node_ports(spec):
            taken = {str(p.get("nodePort")) for p in spec.get("ports") or [] if p.get("nodePort")}
            for i, port in enumerate(spec.get("ports") or []):
                if port.get("nodePort"):
                    if not dry_run and not self.ports.reserve(str(port["nodePort"]), uid, owner):
                        raise errors.invalid("Service", "", owner.split("/")[1], [_port_taken(i, port["nodePort"])])
                elif dry_run:
                    port["nodePort"] = NODE_PORTS[random.randrange(len(NODE_PORTS))]
                else:
                    port["nodePort"] = int(self.ports.allocate(uid, owner, skip=taken))
                    taken.add(str(port["nodePort"]))
        if old is not None and not dry_run:
            self._release_unused(old, obj)

    def _release_unused(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        uid = old["metadata"]["uid"]
        kept = {str(p.get("nodePort")) for p in (new.get("spec") or {}).get("ports") or [] if p.get("nodePort")}
        for port in (old.get("spec") or {}).get("ports") or []:
            if port.get("nodePort") and str(port["nodePort"]) not in kept:
                self.ports.release(str(port["nodePort"]), uid)
        old_ip, new_ip = (old.get("spec") or {}).get("clusterIP"), (new.get("spec") or {}).get("clusterIP")
        if old_ip and old_ip != "None" and old_ip != new_ip:
            self.ips.release(old_ip, uid)

    def after_delete(self, obj: dict[str, Any]) -> None:
        self.create_failed(obj)

    def create_failed(self, obj: dict[str, Any]) -> None:
        spec, uid = obj.get("spec") or {}, obj["metadata"].get("uid", "")
        if spec.get("clusterIP") and spec["clusterIP"] != "None":
            self.ips.release(spec["clusterIP"], uid)
        for port in spec.get("ports") or []:
            if port.get("nodePort"):
                self.ports.release(str(port["nodePort"]), uid)


def _ip_taken(ip: str) -> FieldError:
    return invalid("spec.clusterIPs", [ip], f"failed to allocate IP {ip}: provided IP is already allocated")


def _port_taken(index: int, port: int) -> FieldError:
    return invalid(f"spec.ports[{index}].nodePort", port, "provided port is already allocated")
