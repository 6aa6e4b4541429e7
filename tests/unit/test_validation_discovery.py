"""EndpointSlice defaults and validation (discovery.k8s.io/v1)."""

from __future__ import annotations

import copy

import pytest

from controlplane.api.validation import rules_for

SLICE = rules_for("discovery.k8s.io", "EndpointSlice")


def endpoint_slice(address_type: str = "IPv4", *addresses: str, **extra: object) -> dict:
    obj = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": "web-abc12", "namespace": "default"},
           "addressType": address_type,
           "endpoints": [{"addresses": list(addresses or ["10.1.2.3"]), "conditions": {"ready": True}}],
           "ports": [{"name": "http", "port": 80}]}
    obj.update(extra)
    return obj


def errors(obj: dict) -> list[str]:
    SLICE.default(obj)
    return [str(e) for e in SLICE.validate(obj)]


CASES = [
    ("valid IPv4", endpoint_slice(), []),
    ("valid IPv6", endpoint_slice("IPv6", "2001:db8::1"), []),
    ("valid FQDN", endpoint_slice("FQDN", "db.example.com."), []),
    ("missing addressType", endpoint_slice(""), ["addressType: Required value"]),
    ("unknown addressType", endpoint_slice("IP"),
     ['addressType: Unsupported value: "IP": supported values: "FQDN", "IPv4", "IPv6"']),
    ("no addresses", endpoint_slice(endpoints=[{"addresses": []}]),
     ["endpoints[0].addresses: Required value: must contain at least 1 address"]),
    ("too many addresses", endpoint_slice(endpoints=[{"addresses": [f"10.0.0.{i}" for i in range(1, 102)]}]),
     ["endpoints[0].addresses: Too many: 101: must have at most 100 items"]),
    ("IPv6 in an IPv4 slice", endpoint_slice("IPv4", "2001:db8::1"),
     ['endpoints[0].addresses[0]: Invalid value: "2001:db8::1": must be an IPv4 address']),
    ("not an IP", endpoint_slice("IPv4", "web"),
     ['endpoints[0].addresses[0]: Invalid value: "web": must be a valid IP address']),
    ("loopback", endpoint_slice("IPv4", "127.0.0.1"),
     ['endpoints[0].addresses[0]: Invalid value: "127.0.0.1": '
      "may not be in the loopback range (127.0.0.0/8, ::1/128)"]),
    ("one-label FQDN", endpoint_slice("FQDN", "db"),
     ['endpoints[0].addresses[0]: Invalid value: "db": '
      "should be a domain with at least two segments separated by dots"]),
    ("bad hostname", endpoint_slice(endpoints=[{"addresses": ["10.1.2.3"], "hostname": "Web_1"}]),
     ['endpoints[0].hostname: Invalid value: "Web_1": a lowercase RFC 1123 label must consist of lower '
      "case alphanumeric characters or '-', and must start and end with an alphanumeric character "
      "(e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"]),
    ("duplicate port names", endpoint_slice(ports=[{"name": "http", "port": 80}, {"name": "http", "port": 81}]),
     ['ports[1].name: Duplicate value: "http"']),
    ("two unnamed ports", endpoint_slice(ports=[{"port": 80}, {"port": 81}]),
     ['ports[1].name: Duplicate value: ""']),
    ("unknown protocol", endpoint_slice(ports=[{"name": "http", "port": 80, "protocol": "HTTP"}]),
     ['ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"']),
    ("duplicate zone hints", endpoint_slice(endpoints=[{"addresses": ["10.1.2.3"], "hints": {
        "forZones": [{"name": "a"}, {"name": "a"}]}}]),
     ['endpoints[0].hints.forZones[1].name: Duplicate value: "a"']),
]


@pytest.mark.parametrize("name, obj, expected", CASES, ids=[c[0] for c in CASES])
def test_endpoint_slice(name: str, obj: dict, expected: list[str]) -> None:
    assert errors(obj) == expected


def test_ports_default_to_unnamed_tcp() -> None:
    obj = endpoint_slice(ports=[{"port": 53, "protocol": "UDP"}, {"port": 80}])
    SLICE.default(obj)
    assert obj["ports"] == [{"port": 53, "protocol": "UDP", "name": ""},
                            {"port": 80, "name": "", "protocol": "TCP"}]


def test_address_type_is_immutable() -> None:
    old = endpoint_slice()
    SLICE.default(old)
    new = copy.deepcopy(old)
    new["addressType"] = "FQDN"
    new["endpoints"] = [{"addresses": ["web.example.com"]}]
    assert [str(e) for e in SLICE.validate_update(new, old)] == [
        'addressType: Invalid value: "FQDN": field is immutable']


def test_unchanged_endpoints_are_not_checked_again() -> None:
    # An address an older server accepted must not block, say, a label change.
    old = endpoint_slice("IPv4", "010.1.2.3")
    SLICE.default(old)
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"kubernetes.io/service-name": "web"}
    assert SLICE.validate_update(new, old) == []
