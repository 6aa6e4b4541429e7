"""discovery.k8s.io/v1 EndpointSlices, as ``pkg/apis/discovery/validation`` checks them.

Where it sits: the registry looks up ``RULES["EndpointSlice"]``; the endpoint slice
controller writes these for every Service, and the service proxy reads them. A slice
carries addresses of one type (``addressType``: IPv4, IPv6 or FQDN, fixed at
creation), so that a proxy can take a whole slice or skip it. Each endpoint has 1 to
100 addresses of that type, which may not point at "nowhere" (0.0.0.0), at loopback
or at link-local ranges; ports have unique DNS-label names and a protocol.

Defaulting lives here too, as it is two lines (``pkg/apis/discovery/v1/defaults.go``): a
port without a name gets ``""`` and one without a protocol gets ``TCP``.
"""

from __future__ import annotations

from ..fielderrors import FieldError, Path, duplicate, invalid, not_supported, required, too_many
from .goprint import go_quote, invalid_go
from .formats import parse_ip, validate_non_special_ip
from .meta import (is_dns1123_label, is_dns1123_subdomain, is_qualified_name, is_valid_label_value,
                   validate_labels)
from .rules import KindRules

ADDRESS_TYPES = ["FQDN", "IPv4", "IPv6"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]
MAX_ENDPOINTS, MAX_ADDRESSES, MAX_PORTS = 1000, 100, 20000
MAX_TOPOLOGY_LABELS, MAX_ZONE_HINTS = 16, 8


def default_endpoint_slice(obj: dict) -> None:
    for port in obj.get("ports") or []:
        if isinstance(port, dict):
            if port.get("name") is None:
                port["name"] = ""
            if port.get("protocol") is None:
                port["protocol"] = "TCP"


def _address(address: str, kind: str, path: Path) -> list[FieldError]:
    if kind == "FQDN":
        return _fqdn(address, path)
    if kind not in ("IPv4", "IPv6"):
        return []  # an unknown type is reported once, on addressType
    errs = validate_non_special_ip(path, address, pod_address=True)
    ip = parse_ip(address)
    if not errs and ip is not None and ip.version != (4 if kind == "IPv4" else 6):
        errs.append(invalid(str(path), address, f"must be an {kind} address"))
    return errs


def _fqdn(name: str, path: Path) -> list[FieldError]:
    """IsFullyQualifiedDomainName: at least two DNS labels; a trailing dot is allowed."""
    if not name:
        return [required(str(path))]
    name = name[:-1] if name.endswith(".") else name
    problems = is_dns1123_subdomain(name)
    if problems:
        return [invalid(str(path), name, ",".join(problems))]
    if len(name.split(".")) < 2:
        return [invalid(str(path), name,
                        "should be a domain with at least two segments separated by dots")]
    for label in name.split("."):
        problems = is_dns1123_label(label)
        if problems:
            return [invalid(str(path), label, ",".join(problems))]
    return []


def _endpoint(endpoint: dict, kind: str, path: Path) -> list[FieldError]:
    addresses, errs = endpoint.get("addresses") or [], []
    if not addresses:
        errs.append(required(str(path.child("addresses")), "must contain at least 1 address"))
    elif len(addresses) > MAX_ADDRESSES:
        errs.append(too_many(str(path.child("addresses")), len(addresses), MAX_ADDRESSES))
    for i, address in enumerate(addresses):
        errs += _address(address, kind, path.child("addresses").index(i))
    node = endpoint.get("nodeName")
    if node is not None:
        errs += [invalid(str(path.child("nodeName")), node, m) for m in is_dns1123_subdomain(node)]
    topology = endpoint.get("deprecatedTopology") or {}
    if len(topology) > MAX_TOPOLOGY_LABELS:
        errs.append(too_many(str(path.child("deprecatedTopology")), len(topology),
                             MAX_TOPOLOGY_LABELS))
    errs += validate_labels(topology, path.child("deprecatedTopology"))
    if endpoint.get("hostname") is not None:
        hostname = endpoint["hostname"]
        errs += [invalid(str(path.child("hostname")), hostname, m)
                 for m in is_dns1123_label(hostname)]
    if endpoint.get("hints") is not None:
        errs += _hints(endpoint["hints"], path.child("hints"))
    return errs


def _hints(hints: dict, path: Path) -> list[FieldError]:
    zones, errs, seen = hints.get("forZones") or [], [], set()
    if len(zones) > MAX_ZONE_HINTS:
        return [too_many(str(path.child("forZones")), len(zones), MAX_ZONE_HINTS)]
    for i, zone in enumerate(zones):
        name, zone_path = zone.get("name", ""), path.child("forZones").index(i).child("name")
        if name in seen:
            errs.append(duplicate(str(zone_path), name))
        seen.add(name)
        errs += [invalid(str(zone_path), name, m) for m in is_valid_label_value(name)]
    return errs


def _ports(ports: list[dict]) -> list[FieldError]:
    if len(ports) > MAX_PORTS:
        return [too_many("ports", len(ports), MAX_PORTS)]
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        path, name = Path("ports").index(i), port.get("name") or ""
        if name:
            errs += [invalid(str(path.child("name")), name, m) for m in is_dns1123_label(name)]
        if name in names:
            errs.append(duplicate(str(path.child("name")), name))
        names.add(name)
        protocol = port.get("protocol")
        if protocol is None:
            errs.append(required(str(path.child("protocol"))))
        elif protocol not in PROTOCOLS:
            errs.append(not_supported(str(path.child("protocol")), protocol, PROTOCOLS))
        if port.get("appProtocol") is not None:
            app = port["appProtocol"]
            errs += [invalid(str(path.child("appProtocol")), app, m)
                     for m in is_qualified_name(app)]
    return errs


def _validate(obj: dict, old: dict | None) -> list[FieldError]:
    kind, errs = obj.get("addressType", ""), []
    if not kind:
        errs.append(required("addressType"))
    elif kind not in ADDRESS_TYPES:
        errs.append(not_supported("addressType", kind, ADDRESS_TYPES))
    errs += _ports(obj.get("ports") or [])
    endpoints = obj.get("endpoints") or []
    # Unchanged endpoints are not checked again: older servers accepted looser addresses.
    if old is not None and endpoints == (old.get("endpoints") or []):
        return errs
    if len(endpoints) > MAX_ENDPOINTS:
        return errs + [too_many("endpoints", len(endpoints), MAX_ENDPOINTS)]
    for i, endpoint in enumerate(endpoints):
        errs += _endpoint(endpoint, kind, Path("endpoints").index(i))
    return errs


def validate_endpoint_slice(obj: dict) -> list[FieldError]:
    return _validate(obj, None)


def validate_endpoint_slice_update(new: dict, old: dict) -> list[FieldError]:
    # A proxy that took the slice as IPv4 must never find IPv6 addresses in it later.
    errs = _validate(new, old)
    if new.get("addressType", "") != old.get("addressType", ""):
        printed = go_quote(new.get("addressType", ""))
        errs.append(invalid_go("addressType", printed, "field is immutable"))
    return errs


RULES: dict[str, KindRules] = {
    "EndpointSlice": KindRules(default_endpoint_slice, validate_endpoint_slice,
                               validate_endpoint_slice_update),
}
