"""Services and Endpoints: ports, cluster IPs, types and the traffic policies.

Where it sits: ``core.RULES["Service"]`` and ``core.RULES["Endpoints"]`` point here.
The registry allocates cluster IPs and node ports (and copies them over on update)
*before* it validates, as upstream's service storage does, so the rules below see a
service with its addresses filled in and only check their format and consistency.

What it promises: upstream's ``ValidateService`` / ``ValidateServiceUpdate``. Among
them: a port needs a name when there are several; a headless service may have no
ports; ``nodePort`` is forbidden for ``type: ClusterIP``; once set, the cluster IPs
"may not change once set".
"""

from __future__ import annotations

from ..fielderrors import FieldError, Path, duplicate, forbidden, invalid, not_supported, required
from .containers import validate_port_and_protocol, validate_port_num_or_name
from .formats import (is_ipv6, is_valid_port_num, parse_ip, validate_cidr, validate_ip,
                      validate_non_special_ip)
from .goprint import duplicate_go, go_optional, go_quote, go_strings, go_struct, invalid_go
from .meta import (format_errors, is_dns1123_label, is_dns1123_subdomain, is_qualified_name,
                   validate_labels)

SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
_SPEC = Path("spec")
_ONLY_LOAD_BALANCER = "may only be used when `type` is 'LoadBalancer'"


def _is_headless(spec: dict) -> bool:
    return (spec.get("clusterIPs") or []) == ["None"]


def externally_accessible(spec: dict) -> bool:
    kind = spec.get("type")
    if kind == "ClusterIP":
        return bool(spec.get("externalIPs"))
    return kind in ("LoadBalancer", "NodePort")


def _needs_health_check(spec: dict) -> bool:
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def validate_service(svc: dict) -> list[FieldError]:
    spec = svc.get("spec") or {}
    kind, ports = spec.get("type") or "", spec.get("ports") or []
    errs: list[FieldError] = []
    if not ports and not _is_headless(spec) and kind != "ExternalName":
        errs.append(required(str(_SPEC.child("ports"))))
    errs += _type_specific(spec)
    names: set[str] = set()
    for i, port in enumerate(ports):
        errs += _validate_port(port, len(ports) > 1, names, _SPEC.child("ports").index(i))
    if spec.get("selector") is not None:
        errs += validate_labels(spec["selector"], _SPEC.child("selector"))
    errs += _session_affinity(spec)
    errs += validate_cluster_ips(spec)
    for i, ip in enumerate(spec.get("externalIPs") or []):
        ip_path = _SPEC.child("externalIPs").index(i)
        errs += validate_ip(ip_path, ip) or validate_non_special_ip(ip_path, ip)
    if not kind:
        errs.append(required(str(_SPEC.child("type"))))
    elif kind not in SERVICE_TYPES:
        errs.append(not_supported(str(_SPEC.child("type")), kind, SERVICE_TYPES))
    errs += _node_ports(spec)
    errs += _duplicate_ports(ports)
    return errs + _load_balancer_fields(spec) + _traffic_policies(spec)


def _type_specific(spec: dict) -> list[FieldError]:
    kind = spec.get("type")
    if kind in ("LoadBalancer", "NodePort") and _is_headless(spec):
        return [invalid(str(_SPEC.child("clusterIPs").index(0)), "None",
                        f"may not be set to 'None' for {kind} services")]
    if kind != "ExternalName":
        return []
    not_for_external_name = "may not be set for ExternalName services"
    errs = [forbidden(str(_SPEC.child(f)), not_for_external_name)
            for f in ("clusterIPs", "ipFamilies") if spec.get(f)]
    if spec.get("ipFamilyPolicy") is not None:
        errs.append(forbidden(str(_SPEC.child("ipFamilyPolicy")), not_for_external_name))
    # A CNAME may end in a dot to say it is fully qualified.
    cname = (spec.get("externalName") or "").removesuffix(".")
    if cname:
        errs += format_errors(is_dns1123_subdomain, cname, _SPEC.child("externalName"))
    else:
        errs.append(required(str(_SPEC.child("externalName"))))
    return errs


def _validate_port(port: dict, require_name: bool, names: set[str], path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    name = port.get("name") or ""
    if require_name and not name:
        errs.append(required(str(path.child("name"))))
    elif name:
        errs += format_errors(is_dns1123_label, name, path.child("name"))
        if name in names:
            errs.append(duplicate(str(path.child("name")), name))
        names.add(name)
    errs += validate_port_and_protocol(port, path)
    errs += validate_port_num_or_name(port.get("targetPort"), path.child("targetPort"))
    if port.get("appProtocol") is not None:
        errs += format_errors(is_qualified_name, port["appProtocol"], path.child("appProtocol"))
    return errs


def _session_affinity(spec: dict) -> list[FieldError]:
    affinity, config = spec.get("sessionAffinity") or "", spec.get("sessionAffinityConfig")
    path = _SPEC.child("sessionAffinityConfig")
    if not affinity:
        return [required(str(_SPEC.child("sessionAffinity")))]
    if affinity not in ("ClientIP", "None"):
        return [not_supported(str(_SPEC.child("sessionAffinity")), affinity, ["ClientIP", "None"])]
    if affinity == "None":
        if config is None:
            return []
        return [forbidden(str(path), "must not be set when session affinity is None")]
    when = "when session affinity type is ClientIP"
    if config is None:
        return [required(str(path), when)]
    if config.get("clientIP") is None:
        return [required(str(path.child("clientIP")), when)]
    timeout = config["clientIP"].get("timeoutSeconds")
    if timeout is None:
        return [required(str(path.child("clientIP", "timeoutSeconds")), when)]
    if not 0 < timeout <= 86400:
        return [invalid(str(path.child("clientIP", "timeoutSeconds")), timeout,
                        "must be greater than 0 and less than 86400")]
    return []


def validate_cluster_ips(spec: dict) -> list[FieldError]:
    """clusterIP, clusterIPs, ipFamilies and ipFamilyPolicy must agree with each other."""
    if spec.get("type") == "ExternalName":
        return []
    cluster_ip, ips = spec.get("clusterIP") or "", spec.get("clusterIPs") or []
    families = spec.get("ipFamilies") or []
    ips_path, families_path = _SPEC.child("clusterIPs"), _SPEC.child("ipFamilies")
    errs: list[FieldError] = []
    if cluster_ip and not ips:
        errs.append(required(str(ips_path)))
    elif cluster_ip and ips[0] != cluster_ip:
        errs.append(invalid_go(ips_path, go_strings(ips), "first value must match `clusterIP`"))
    elif not cluster_ip and ips:
        errs.append(invalid_go(ips_path, go_strings(ips),
                               "must be empty when `clusterIP` is not specified"))
    seen: set[str] = set()
    for i, family in enumerate(families):
        if family not in ("IPv4", "IPv6"):
            errs.append(not_supported(str(families_path.index(i)), family, ["IPv4", "IPv6"]))
        if family in seen:
            errs.append(duplicate(str(families_path.index(i)), family))
        seen.add(family)
    policy = spec.get("ipFamilyPolicy")
    policies = ["PreferDualStack", "RequireDualStack", "SingleStack"]
    if policy is not None and policy not in policies:
        errs.append(not_supported(str(_SPEC.child("ipFamilyPolicy")), policy, policies))
    bad_ips = False
    for i, ip in enumerate(ips):
        if i == 0 and ip == "None":
            if len(ips) > 1:
                bad_ips = True
                errs.append(invalid_go(ips_path, go_strings(ips),
                                       "'None' must be the first and only value"))
            continue
        ip_errs = validate_ip(ips_path.index(i), ip)
        bad_ips = bad_ips or bool(ip_errs)
        errs += ip_errs
    if len(ips) > 2:
        errs.append(invalid_go(ips_path, go_strings(ips), "may only hold up to 2 values"))
    if bad_ips:  # family checks on malformed addresses would only add noise
        return errs
    if len(ips) > 1 and len({is_ipv6(ip) for ip in ips}) != len(ips):
        errs.append(invalid_go(ips_path, go_strings(ips),
                               "may specify no more than one IP for each IP family"))
    if not _is_headless(spec):
        for i, (ip, family) in enumerate(zip(ips, families)):
            if family == "IPv4" and is_ipv6(ip):
                errs.append(invalid(str(ips_path.index(i)), ip,
                                    f"expected an IPv4 value as indicated by `ipFamilies[{i}]`"))
            if family == "IPv6" and not is_ipv6(ip):
                errs.append(invalid(str(ips_path.index(i)), ip,
                                    f"expected an IPv6 value as indicated by `ipFamilies[{i}]`"))
    return errs


def _node_ports(spec: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[tuple[str, int]] = set()
    for i, port in enumerate(spec.get("ports") or []):
        node_port = port.get("nodePort") or 0
        if not node_port:
            continue
        path = _SPEC.child("ports").index(i).child("nodePort")
        if spec.get("type") == "ClusterIP":
            errs.append(forbidden(str(path), "may not be used when `type` is 'ClusterIP'"))
        key = (port.get("protocol") or "", node_port)
        if key in seen:
            errs.append(duplicate(str(path), node_port))
        seen.add(key)
    return errs


def _duplicate_ports(ports: list[dict]) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[tuple[str, int]] = set()
    for i, port in enumerate(ports):
        key = (port.get("protocol") or "", port.get("port") or 0)
        if key in seen:
            errs.append(duplicate_go(_SPEC.child("ports").index(i), _go_port_key(*key)))
        seen.add(key)
    return errs


def _go_port_key(protocol: str, port: int) -> str:
    """The (protocol, port) pair as upstream prints it: a ServicePort with only those set."""
    return go_struct("core.ServicePort", Name='""', Protocol=go_quote(protocol),
                     AppProtocol="(*string)(nil)", Port=str(port),
                     TargetPort='intstr.IntOrString{Type:0, IntVal:0, StrVal:""}', NodePort="0")


def _load_balancer_fields(spec: dict) -> list[FieldError]:
    is_lb = spec.get("type") == "LoadBalancer"
    errs: list[FieldError] = []
    ranges = spec.get("loadBalancerSourceRanges") or []
    if ranges:
        path = _SPEC.child("LoadBalancerSourceRanges")  # sic: upstream's capital L
        if not is_lb:
            errs.append(forbidden(str(path), _ONLY_LOAD_BALANCER))
        for i, value in enumerate(ranges):
            errs += validate_cidr(path.index(i), value.strip())
    if spec.get("allocateLoadBalancerNodePorts") is not None and not is_lb:
        errs.append(forbidden(str(_SPEC.child("allocateLoadBalancerNodePorts")),
                              _ONLY_LOAD_BALANCER))
    if is_lb and spec.get("allocateLoadBalancerNodePorts") is None:
        errs.append(required("allocateLoadBalancerNodePorts"))  # sic: upstream omits "spec."
    lb_class = spec.get("loadBalancerClass")
    if lb_class is not None:
        if is_lb:
            errs += format_errors(is_qualified_name, lb_class, _SPEC.child("loadBalancerClass"))
        else:
            errs.append(forbidden(str(_SPEC.child("loadBalancerClass")), _ONLY_LOAD_BALANCER))
    return errs


def _traffic_policies(spec: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    external = spec.get("externalTrafficPolicy") or ""
    if not externally_accessible(spec):
        if external:
            errs.append(invalid(str(_SPEC.child("externalTrafficPolicy")), external,
                                "may only be set for externally-accessible services"))
    elif not external:
        errs.append(required(str(_SPEC.child("externalTrafficPolicy"))))
    elif external not in ("Cluster", "Local"):
        errs.append(not_supported(str(_SPEC.child("externalTrafficPolicy")), external,
                                  ["Cluster", "Local"]))
    health_port = spec.get("healthCheckNodePort") or 0
    if not _needs_health_check(spec):
        if health_port:
            errs.append(invalid(str(_SPEC.child("healthCheckNodePort")), health_port,
                                "may only be set when `type` is 'LoadBalancer' and"
                                " `externalTrafficPolicy` is 'Local'"))
    elif not health_port:
        errs.append(required(str(_SPEC.child("healthCheckNodePort"))))
    else:
        errs += format_errors(is_valid_port_num, health_port, _SPEC.child("healthCheckNodePort"))
    internal = spec.get("internalTrafficPolicy")
    if internal is None and spec.get("type") in ("ClusterIP", "NodePort", "LoadBalancer"):
        errs.append(required(str(_SPEC.child("internalTrafficPolicy"))))
    elif internal is not None and internal not in ("Cluster", "Local"):
        errs.append(not_supported(str(_SPEC.child("internalTrafficPolicy")), internal,
                                  ["Cluster", "Local"]))
    distribution = spec.get("trafficDistribution")
    if distribution is not None and distribution != "PreferClose":
        errs.append(not_supported(str(_SPEC.child("trafficDistribution")), distribution,
                                  ["PreferClose"]))
    return errs


# -- updates ------------------------------------------------------------------------------


def validate_service_update(new: dict, old: dict) -> list[FieldError]:
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    errs: list[FieldError] = []
    if "ExternalName" not in (spec.get("type"), old_spec.get("type")):
        errs += _cluster_ips_update(spec, old_spec)
        errs += _ip_families_update(spec, old_spec)
    if spec.get("type") == old_spec.get("type") == "LoadBalancer":
        if spec.get("loadBalancerClass") != old_spec.get("loadBalancerClass"):
            printed = go_optional(spec.get("loadBalancerClass"))
            errs.append(invalid_go(_SPEC.child("loadBalancerClass"), printed,
                                   "may not change once set"))
    if _needs_health_check(spec) and _needs_health_check(old_spec):
        if spec.get("healthCheckNodePort") != old_spec.get("healthCheckNodePort"):
            errs.append(forbidden(str(_SPEC.child("healthCheckNodePort")), "field is immutable"))
    return errs + validate_service(new)


def _cluster_ips_update(spec: dict, old_spec: dict) -> list[FieldError]:
    """The primary cluster IP never changes; a secondary one may be added or released."""
    if _is_headless(spec) and _is_headless(old_spec):
        return []
    new_ips, old_ips = spec.get("clusterIPs") or [], old_spec.get("clusterIPs") or []
    path = _SPEC.child("clusterIPs")
    errs: list[FieldError] = []
    printed = go_strings(spec.get("clusterIPs"))
    if len(new_ips) == len(old_ips):
        errs += [invalid_go(path.index(i), printed, "may not change once set")
                 for i, ip in enumerate(old_ips) if ip != new_ips[i]]
    elif len(new_ips) < len(old_ips):
        if not new_ips:
            errs.append(invalid_go(path.index(0), printed, "primary clusterIP can not be unset"))
        elif new_ips[0] != old_ips[0]:
            errs.append(invalid_go(path.index(0), printed, "may not change once set"))
        if len(new_ips) == 1 and spec.get("ipFamilyPolicy") != "SingleStack":
            errs.append(_must_be_single_stack(spec, "clusterIP"))
    elif old_ips and new_ips[0] != old_ips[0]:
        errs.append(invalid_go(path.index(0), printed, "may not change once set"))
    return errs


def _ip_families_update(spec: dict, old_spec: dict) -> list[FieldError]:
    if _is_headless(spec) or _is_headless(old_spec):  # headless services may change families
        return []
    new, old = spec.get("ipFamilies") or [], old_spec.get("ipFamilies") or []
    path = _SPEC.child("ipFamilies").index(0)
    families = go_strings(spec.get("ipFamilies"), "core.IPFamily")
    # Upstream shows the clusterIPs as the bad value of two of these; kept as it is.
    cluster_ips = go_strings(spec.get("clusterIPs"))
    errs: list[FieldError] = []
    if len(new) == len(old):
        errs += [invalid_go(path, families, "may not change once set")
                 for a, b in zip(old, new) if a != b]
    elif len(new) < len(old):
        if not spec.get("clusterIPs"):
            errs.append(invalid_go(path, families, "primary ipFamily can not be unset"))
        if new and new[0] != old[0]:
            errs.append(invalid_go(path, cluster_ips, "may not change once set"))
        if len(new) == 1 and spec.get("ipFamilyPolicy") != "SingleStack":
            errs.append(_must_be_single_stack(spec, "ipFamily"))
    elif old and new[0] != old[0]:
        errs.append(invalid_go(path, cluster_ips, "may not change once set"))
    return errs


def _must_be_single_stack(spec: dict, what: str) -> FieldError:
    return invalid_go(_SPEC.child("ipFamilyPolicy"), go_optional(spec.get("ipFamilyPolicy")),
                      f"must be set to 'SingleStack' when releasing the secondary {what}")


def validate_service_status_update(new: dict, old: dict) -> list[FieldError]:
    spec = new.get("spec") or {}
    path = Path("status", "loadBalancer", "ingress")
    ingress = ((new.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if ingress and spec.get("type") != "LoadBalancer":
        return [forbidden(str(path), "may only be used when `spec.type` is 'LoadBalancer'")]
    errs: list[FieldError] = []
    for i, entry in enumerate(ingress):
        entry_path = path.index(i)
        ip, mode, hostname = entry.get("ip") or "", entry.get("ipMode"), entry.get("hostname") or ""
        if ip:
            errs += validate_ip(entry_path.child("ip"), ip)
        if ip and mode is None:
            errs.append(required(str(entry_path.child("ipMode")),
                                 "must be specified when `ip` is set"))
        elif mode is not None and not ip:
            errs.append(forbidden(str(entry_path.child("ipMode")),
                                  "may not be specified when `ip` is not set"))
        elif mode is not None and mode not in ("Proxy", "VIP"):
            errs.append(not_supported(str(entry_path.child("ipMode")), mode, ["Proxy", "VIP"]))
        if hostname:
            errs += format_errors(is_dns1123_subdomain, hostname, entry_path.child("hostname"))
            if parse_ip(hostname) is not None:
                errs.append(invalid(str(entry_path.child("hostname")), hostname,
                                    "must be a DNS name, not an IP address"))
    return errs

