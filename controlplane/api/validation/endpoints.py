"""Endpoints: the addresses and ports behind a Service, as the endpoints controller writes them.

Where it sits: ``core.RULES["Endpoints"]`` points here. Students rarely write
Endpoints by hand, except for a Service without a selector that fronts something
outside the cluster; the controller's own writes pass through the same checks.

What it promises: upstream's ``ValidateEndpoints``: every subset has an address, an
address is a real IP that is not loopback, link-local or unspecified, and ports are
named when there are several.
"""

from __future__ import annotations

from ..fielderrors import FieldError, Path, required
from .containers import validate_port_and_protocol
from .formats import validate_ip, validate_non_special_ip
from .meta import format_errors, is_dns1123_label, is_dns1123_subdomain, is_qualified_name


def validate_endpoints(endpoints: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, subset in enumerate(endpoints.get("subsets") or []):
        path = Path("subsets").index(i)
        if not subset.get("addresses") and not subset.get("notReadyAddresses"):
            errs.append(required(str(path), "must specify `addresses` or `notReadyAddresses`"))
        for kind in ("addresses", "notReadyAddresses"):
            for j, address in enumerate(subset.get(kind) or []):
                errs += _endpoint_address(address, path.child(kind).index(j))
        ports = subset.get("ports") or []
        for j, port in enumerate(ports):
            errs += _endpoint_port(port, len(ports) > 1, path.child("ports").index(j))
    return errs


def _endpoint_address(address: dict, path: Path) -> list[FieldError]:
    ip = address.get("ip") or ""
    errs = validate_ip(path.child("ip"), ip)
    if address.get("hostname"):
        errs += format_errors(is_dns1123_label, address["hostname"], path.child("hostname"))
    if address.get("nodeName") is not None:
        errs += format_errors(is_dns1123_subdomain, address["nodeName"], path.child("nodeName"))
    return errs + validate_non_special_ip(path.child("ip"), ip, pod_address=True)


def _endpoint_port(port: dict, require_name: bool, path: Path) -> list[FieldError]:
    name = port.get("name") or ""
    errs: list[FieldError] = []
    if require_name and not name:
        errs.append(required(str(path.child("name"))))
    elif name:
        errs += format_errors(is_dns1123_label, name, path.child("name"))
    errs += validate_port_and_protocol(port, path)
    if port.get("appProtocol") is not None:
        errs += format_errors(is_qualified_name, port["appProtocol"], path.child("appProtocol"))
    return errs
