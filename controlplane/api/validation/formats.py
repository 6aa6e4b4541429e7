"""Value formats the core kinds check: ports, IP addresses, CIDRs, config keys, env names.

Where it sits: used by the pod, service, node and config validators (and by any group
validator that meets the same formats, such as EndpointSlices). It is the rest of
apimachinery's ``util/validation`` package; names and labels are in ``meta``.

What it promises: upstream's exact messages. IP addresses are parsed "sloppily", as
upstream's ``netutils.ParseIPSloppy`` does: an IPv4 octet may carry leading zeros.
"""

from __future__ import annotations

import ipaddress
import re

from ..fielderrors import FieldError, Path, invalid
from .names import empty_error, format_check, inclusive_range_error, max_len_error, regex_error

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# -- ports -------------------------------------------------------------------------------


def is_valid_port_num(port: int) -> list[str]:
    return [] if 1 <= port <= 65535 else [inclusive_range_error(1, 65535)]


_PORT_NAME_CHARSET = re.compile("[-a-z0-9]+")
_ONE_LETTER = re.compile("[a-z]")


def is_valid_port_name(name: str) -> list[str]:
    """An IANA_SVC_NAME: at most 15 of [-a-z0-9], at least one letter, no '--', no edge '-'."""
    errs = []
    if len(name) > 15:
        errs.append(max_len_error(15))
    if not _PORT_NAME_CHARSET.fullmatch(name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _ONE_LETTER.search(name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name and (name[0] == "-" or name[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def is_valid_user_id(uid: int) -> list[str]:
    return [] if 0 <= uid <= 0xFFFFFFFF else [inclusive_range_error(0, 0xFFFFFFFF)]


is_valid_group_id = is_valid_user_id

# -- keys and names inside objects ---------------------------------------------------------

CONFIG_MAP_KEY_FMT = "[-._a-zA-Z0-9]+"
_CONFIG_MAP_KEY = re.compile(CONFIG_MAP_KEY_FMT)


def _chdir_prefix(value: str) -> list[str]:
    if value == ".":
        return ["must not be '.'"]
    if value == "..":
        return ["must not be '..'"]
    if value.startswith(".."):
        return ["must not start with '..'"]
    return []


def is_config_map_key(key: str) -> list[str]:
    """A key of a ConfigMap or Secret: it becomes a file name when mounted."""
    errs = []
    if len(key.encode("utf-8")) > 253:
        errs.append(max_len_error(253))
    if not _CONFIG_MAP_KEY.fullmatch(key):
        errs.append(regex_error(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
            CONFIG_MAP_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    return errs + _chdir_prefix(key)


def is_relaxed_env_var_name(name: str) -> list[str]:
    """Environment variable names as 1.33 checks them (RelaxedEnvironmentVariableValidation,
    on by default): any printable ASCII but '='."""
    errs = []
    if not name:
        errs.append("environment variable name " + empty_error())
    if any(not (" " <= ch <= "~") or ch == "=" for ch in name):
        errs.append("a valid environment variable name must consist only of printable ASCII"
                    " characters other than '='")
    return errs


HTTP_HEADER_NAME_FMT = "[-A-Za-z0-9]+"
_HTTP_HEADER_NAME = re.compile(HTTP_HEADER_NAME_FMT)


def is_http_header_name(name: str) -> list[str]:
    if _HTTP_HEADER_NAME.fullmatch(name):
        return []
    return [regex_error("a valid HTTP header must consist of alphanumeric characters or '-'",
                        HTTP_HEADER_NAME_FMT, "X-Header-Name")]


_LABEL_WITH_UNDERSCORE_FMT = "_?[a-z0-9]([-_a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_UNDERSCORE_FMT = (_LABEL_WITH_UNDERSCORE_FMT + "(\\." + _LABEL_WITH_UNDERSCORE_FMT
                                    + ")*")
_DNS1123_SUBDOMAIN_UNDERSCORE = re.compile(DNS1123_SUBDOMAIN_UNDERSCORE_FMT)


def is_dns1123_subdomain_with_underscore(value: str) -> list[str]:
    """DNS search domains (RelaxedDNSSearchValidation, on by default in 1.33) may hold '_'."""
    return format_check(
        value, 253, _DNS1123_SUBDOMAIN_UNDERSCORE,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters,"
        " '_', '-' or '.', and must start and end with an alphanumeric character",
        DNS1123_SUBDOMAIN_UNDERSCORE_FMT, "example.com")


# -- IP addresses and CIDRs ------------------------------------------------------------------

_SLOPPY_IPV4 = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})")


def parse_ip(value: str) -> IPAddress | None:
    """An IP address, or None. Leading zeros in IPv4 octets are accepted (and read as decimal)."""
    match = _SLOPPY_IPV4.fullmatch(value)
    if match:
        octets = [int(o) for o in match.groups()]
        return ipaddress.IPv4Address(bytes(octets)) if all(o <= 255 for o in octets) else None
    if ":" not in value:
        return None
    try:
        address = ipaddress.IPv6Address(value)
    except ValueError:
        return None
    # Go treats an IPv4-mapped IPv6 address (::ffff:1.2.3.4) as the IPv4 address.
    return address.ipv4_mapped or address


def is_ipv6(value: str) -> bool:
    address = parse_ip(value)
    return isinstance(address, ipaddress.IPv6Address)


def validate_ip(path: Path, value: str) -> list[FieldError]:
    if parse_ip(value) is None:
        return [invalid(str(path), value,
                        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")]
    return []


def parse_cidr(value: str) -> IPNetwork | None:
    address, slash, bits = value.partition("/")
    ip = parse_ip(address)
    if ip is None or not slash or not bits.isdigit():
        return None
    try:
        return ipaddress.ip_network(f"{ip}/{int(bits)}", strict=False)
    except ValueError:
        return None


def validate_cidr(path: Path, value: str) -> list[FieldError]:
    if parse_cidr(value) is None:
        return [invalid(str(path), value,
                        "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")]
    return []


def is_unprivileged_pod_ip(ip: IPAddress) -> bool:
    """127.100.0.0 to 127.255.255.255: where node agents without root put their pods (each
    pod its own loopback address; nodeagent/network.py)."""
    return isinstance(ip, ipaddress.IPv4Address) and ip.is_loopback and ip.packed[1] >= 100


def validate_non_special_ip(path: Path, value: str, *, pod_address: bool = False) -> list[FieldError]:
    """Endpoints and external IPs may not point at "nowhere", loopback or link-local ranges.

    Deviation: an endpoint (``pod_address``) may be one of the loopback addresses kubeclass
    gives pods when its node agent runs without root; upstream has no such pods, and
    without this, Services would have no endpoints on those nodes."""
    ip = parse_ip(value)
    if ip is None:
        return [invalid(str(path), value, "must be a valid IP address")]
    errs = []
    if ip.is_unspecified:
        errs.append(invalid(str(path), value, f"may not be unspecified ({value})"))
    if ip.is_loopback and not (pod_address and is_unprivileged_pod_ip(ip)):
        errs.append(invalid(str(path), value,
                            "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
    if ip.is_link_local:
        errs.append(invalid(str(path), value,
                            "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
    if _is_link_local_multicast(ip):
        errs.append(invalid(
            str(path), value,
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
    return errs


def _is_link_local_multicast(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv4Address):
        return ip in ipaddress.IPv4Network("224.0.0.0/24")
    return ip.packed[0] == 0xFF and ip.packed[1] & 0x0F == 0x02
