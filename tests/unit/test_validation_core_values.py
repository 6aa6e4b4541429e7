"""Value formats the core kinds share: quantities, ports, IP addresses, keys, env names."""

from __future__ import annotations

import pytest

from controlplane.api.fielderrors import Path
from controlplane.api.validation import formats, quantity

# -- quantities -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, canonical", [
    ("500m", "500m"), ("0.5", "500m"), ("1.5", "1500m"), (2, "2"), (0.25, "250m"),
    ("1000", "1k"), ("1500", "1500"), ("2000000", "2M"),
    ("1Ki", "1Ki"), ("1.5Gi", "1536Mi"), ("123Mi", "123Mi"), ("1.5Ki", "1536"), ("512", "512"),
    ("0.1Gi", "107374182400m"),  # a fractional byte count is written in decimal, as upstream
    ("129e6", "129e6"), ("1e3", "1e3"), ("100u", "100u"), ("0", "0"), ("0m", "0"), ("-1Gi", "-1Gi"),
])
def test_canonical_form(text, canonical):
    assert str(quantity.parse(text)) == canonical


@pytest.mark.parametrize("text, stored", [
    ("0.5", "500m"), ("100u", "1m"), ("1n", "1m"), ("1.5Gi", "1536Mi"), ("bogus", "bogus"),
])
def test_normalize_rounds_up_to_milli_units(text, stored):
    assert quantity.normalize(text) == stored


@pytest.mark.parametrize("text", ["abc", "1.2.3", "1Z", "", "1Kib", None, True, "--1"])
def test_not_a_quantity(text):
    with pytest.raises(quantity.QuantityError) as raised:
        quantity.parse(text)
    assert str(raised.value) == ("quantities must match the regular expression"
                                 " '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")


def test_comparisons_use_the_value():
    assert quantity.parse("1Gi").value > quantity.parse("1G").value
    assert quantity.parse("1500m").milli_value() == 1500
    assert quantity.parse("1").value == quantity.parse("1000m").value


# -- ports and names ------------------------------------------------------------------------------


@pytest.mark.parametrize("name, problems", [
    ("http", []),
    ("http-alt-8080", []),
    ("HTTP", ["must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
              "must contain at least one letter (a-z)"]),
    ("80", ["must contain at least one letter (a-z)"]),
    ("a--b", ["must not contain consecutive hyphens"]),
    ("-a", ["must not begin or end with a hyphen"]),
    ("a" * 16, ["must be no more than 15 characters"]),
])
def test_port_names(name, problems):
    assert formats.is_valid_port_name(name) == problems


@pytest.mark.parametrize("key, problems", [
    ("app.conf", []),
    (".", ["must not be '.'"]),
    ("..", ["must not be '..'"]),
    ("..data", ["must not start with '..'"]),
])
def test_config_keys(key, problems):
    assert formats.is_config_map_key(key) == problems


ENV_NAME_MSG = ("a valid environment variable name must consist only of printable ASCII characters"
                " other than '='")


@pytest.mark.parametrize("name, problems", [
    ("MY_VAR", []),
    ("1-weird.name", []),  # relaxed names are on by default in 1.33
    ("A=B", [ENV_NAME_MSG]),
    ("tab\there", [ENV_NAME_MSG]),
])
def test_env_names(name, problems):
    assert formats.is_relaxed_env_var_name(name) == problems


# -- IP addresses ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value, valid", [
    ("10.0.0.1", True), ("010.000.000.001", True),  # upstream parses IPv4 "sloppily"
    ("2001:db8::1", True), ("::ffff:10.0.0.1", True),
    ("10.0.0", False), ("10.0.0.256", False), ("web", False), ("", False),
])
def test_ip_addresses(value, valid):
    assert (formats.validate_ip(Path("ip"), value) == []) is valid


def test_ipv4_mapped_addresses_count_as_ipv4():
    assert not formats.is_ipv6("::ffff:10.0.0.1")
    assert formats.is_ipv6("fd00::1")


@pytest.mark.parametrize("value, detail", [
    ("0.0.0.0", "may not be unspecified (0.0.0.0)"),
    ("127.0.0.1", "may not be in the loopback range (127.0.0.0/8, ::1/128)"),
    ("fe80::1", "may not be in the link-local range (169.254.0.0/16, fe80::/10)"),
    ("224.0.0.5", "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"),
    ("ff02::1", "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"),
])
def test_special_ips(value, detail):
    assert [e.detail for e in formats.validate_non_special_ip(Path("ip"), value)] == [detail]


@pytest.mark.parametrize("value, valid", [
    ("10.244.0.0/16", True), ("10.244.1.1/16", True), ("fd00::/64", True),
    ("10.244.0.0", False), ("10.244.0.0/33", False), ("10.244.0.0/x", False),
])
def test_cidrs(value, valid):
    assert (formats.validate_cidr(Path("cidr"), value) == []) is valid


@pytest.mark.parametrize("value, as_pod, errors", [
    ("127.100.3.4", True, 0), ("127.255.0.9", True, 0),   # where unprivileged node agents put pods
    ("127.0.0.1", True, 1), ("127.99.0.1", True, 1),      # the rest of loopback stays out
    ("127.100.3.4", False, 1),                            # and for anything but an endpoint
])
def test_unprivileged_pod_addresses_may_be_endpoints(value, as_pod, errors):
    assert len(formats.validate_non_special_ip(Path("ip"), value, pod_address=as_pod)) == errors
