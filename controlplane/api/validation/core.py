"""The core API group (``v1``): one :class:`KindRules` per kind, and the small kinds' rules.

Where it sits: ``validation.rules_for("", kind)`` returns ``RULES[kind]`` to the
registry, which on every write calls the kind's ``default`` and then ``validate``,
``validate_update`` or ``validate_status_update`` (metadata is checked separately,
by ``meta.py``). Pods, Services, Endpoints, ConfigMaps and Secrets have modules of
their own; Namespaces, Nodes, ServiceAccounts, Events and Bindings are small enough
to live here.

What it promises: upstream's ``pkg/apis/core/validation`` for these kinds, with its
messages, and the defaults of ``pkg/apis/core/v1/defaults.go`` (in ``defaults.core``).
"""

from __future__ import annotations

import ipaddress

from ..defaults import core as defaults
from ..fielderrors import FieldError, Path, duplicate, forbidden, invalid, not_supported, required
from .config import (validate_config_map, validate_config_map_update, validate_secret,
                     validate_secret_update)
from .endpoints import validate_endpoints
from .formats import parse_cidr, validate_cidr
from .goprint import duplicate_go, go_quote, go_strings, go_struct, invalid_go
from .meta import (NOT_A_STANDARD_FINALIZER, STANDARD_FINALIZERS, format_errors, is_dns1035_label,
                   is_dns1123_label, is_dns1123_subdomain, is_path_segment_name, is_qualified_name)
from .pods import validate_pod, validate_pod_spec, validate_pod_template_spec
from .podupdates import validate_pod_status_update, validate_pod_update
from .resourcelists import parse_resource_list, validate_resource_quantity_value
from .rules import KindRules, Validate, ValidateUpdate
from .scheduling import validate_taints
from .services import validate_service, validate_service_status_update, validate_service_update

__all__ = ["RULES", "validate_pod_spec", "validate_pod_template_spec"]

# -- Namespace ----------------------------------------------------------------------------------


def validate_namespace(ns: dict) -> list[FieldError]:
    path = Path("spec", "finalizers")  # upstream reports these without an index
    errs: list[FieldError] = []
    for finalizer in (ns.get("spec") or {}).get("finalizers") or []:
        errs += format_errors(is_qualified_name, finalizer, path)
        if "/" not in finalizer and finalizer not in STANDARD_FINALIZERS:
            errs.append(invalid(str(path), finalizer, NOT_A_STANDARD_FINALIZER))
    return errs


def validate_namespace_status_update(new: dict, old: dict) -> list[FieldError]:
    phase = (new.get("status") or {}).get("phase") or ""
    path = str(Path("status", "Phase"))  # sic: upstream's capital P
    if not (new.get("metadata") or {}).get("deletionTimestamp"):
        if phase != "Active":
            return [invalid(path, phase, "may only be 'Active' if `deletionTimestamp` is empty")]
    elif phase != "Terminating":
        return [invalid(path, phase,
                        "may only be 'Terminating' if `deletionTimestamp` is not empty")]
    return []


# -- Node ---------------------------------------------------------------------------------------

_NO_POD_CIDR_CHANGE = 'node updates may not change podCIDR except from "" to valid'
_NO_PROVIDER_ID_CHANGE = 'node updates may not change providerID except from "" to valid'


def validate_node(node: dict) -> list[FieldError]:
    spec = node.get("spec") or {}
    # Upstream checks spec.taints under metadata.taints (sic), so kubectl shows that path.
    errs = validate_taints(spec.get("taints"), Path("metadata", "taints"))
    errs += _node_resources(node)
    cidrs = spec.get("podCIDRs") or []
    cidrs_path = Path("spec", "podCIDRs")
    for i, cidr in enumerate(cidrs):
        errs += validate_cidr(cidrs_path.index(i), cidr)
    if len(cidrs) > 1 and not errs:
        families = {isinstance(parse_cidr(c), ipaddress.IPv6Network) for c in cidrs}
        if len(cidrs) > 2 or len(families) != 2:
            errs.append(invalid_go(cidrs_path, go_strings(cidrs),
                                   "may specify no more than one CIDR for each IP family"))
        errs += [duplicate(str(cidrs_path.index(i)), cidr)
                 for i, cidr in enumerate(cidrs) if cidr in cidrs[:i]]
    return errs


def _node_resources(node: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    status = node.get("status") or {}
    for kind in ("capacity", "allocatable"):
        # Upstream builds these paths as status.capacity.<name>, not status.capacity[<name>].
        quantities, parse_errs = parse_resource_list(status.get(kind), Path("status", kind))
        errs += parse_errs
        for name, q in quantities.items():
            errs += validate_resource_quantity_value(name, q, Path("status", kind, name))
    return errs


def validate_node_update(new: dict, old: dict) -> list[FieldError]:
    errs = validate_node(new)
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    seen: list[dict] = []
    for i, address in enumerate((new.get("status") or {}).get("addresses") or []):
        if address in seen:
            printed = go_struct("core.NodeAddress", Type=go_quote(address.get("type") or ""),
                                Address=go_quote(address.get("address") or ""))
            errs.append(duplicate_go(Path("status", "addresses").index(i), printed))
        seen.append(address)
    old_cidrs, new_cidrs = old_spec.get("podCIDRs") or [], spec.get("podCIDRs") or []
    # The node IPAM controller may set a CIDR once; after that it is fixed.
    if old_cidrs and len(old_cidrs) != len(new_cidrs):
        errs.append(forbidden("spec.podCIDRs", _NO_POD_CIDR_CHANGE))
    elif old_cidrs:
        errs += [forbidden("spec.podCIDRs", _NO_POD_CIDR_CHANGE)
                 for before, after in zip(old_cidrs, new_cidrs) if before != after]
    if old_spec.get("providerID") and old_spec.get("providerID") != spec.get("providerID"):
        errs.append(forbidden("spec.providerID", _NO_PROVIDER_ID_CHANGE))
    if spec.get("externalID") != old_spec.get("externalID"):
        errs.append(forbidden("spec.externalID", "may not be updated"))
    return errs


# -- Event (core/v1) ------------------------------------------------------------------------------


def validate_event(event: dict) -> list[FieldError]:
    """core/v1 Events keep their old, loose rules; only the namespaces must agree."""
    namespace = (event.get("metadata") or {}).get("namespace") or ""
    involved = (event.get("involvedObject") or {}).get("namespace") or ""
    errs: list[FieldError] = []
    mismatch = invalid("involvedObject.namespace", involved, "does not match event.namespace")
    if not event.get("eventTime"):
        # An old-style event about a cluster-scoped object lives in "default" (or nowhere).
        if involved and namespace != involved:
            errs.append(mismatch)
        elif not involved and namespace not in ("", "default"):
            errs.append(mismatch)
    else:
        errs += _new_style_event(event, namespace, involved, mismatch)
    return errs + format_errors(is_dns1123_subdomain, namespace, Path("namespace"))


def _new_style_event(event: dict, namespace: str, involved: str,
                     mismatch: FieldError) -> list[FieldError]:
    errs: list[FieldError] = []
    if not involved and namespace not in ("default", "kube-system"):
        errs.append(mismatch)
    controller = event.get("reportingComponent") or ""  # reportingController in the internal type
    if not controller:
        errs.append(required("reportingController"))
    errs += format_errors(is_qualified_name, controller, Path("reportingController"))
    for fld in ("reportingInstance", "action", "reason"):
        value = event.get(fld) or ""
        if not value:
            errs.append(required(fld))
        if len(value) > 128:
            errs.append(invalid(fld, "", "can have at most 128 characters"))
    if len(event.get("message") or "") > 1024:
        errs.append(invalid("message", "", "can have at most 1024 characters"))
    return errs


# -- Binding --------------------------------------------------------------------------------------


def validate_binding(binding: dict) -> list[FieldError]:
    target = binding.get("target") or {}
    errs: list[FieldError] = []
    if target.get("kind") and target["kind"] != "Node":
        errs.append(not_supported("target.kind", target["kind"], ["Node", "<empty>"]))
    if not target.get("name"):
        errs.append(required("target.name"))
    return errs


# -- the table the registry reads -----------------------------------------------------------------


def _both(check: Validate) -> ValidateUpdate:
    """An update rule that re-checks the new object as on create."""
    return lambda new, _old: check(new)


RULES: dict[str, KindRules] = {
    "Pod": KindRules(default=defaults.default_pod, validate=validate_pod,
                     validate_update=validate_pod_update,
                     validate_status_update=validate_pod_status_update),
    "Service": KindRules(default=defaults.default_service, validate=validate_service,
                         validate_update=validate_service_update,
                         validate_status_update=validate_service_status_update,
                         name=is_dns1035_label),
    "Endpoints": KindRules(default=defaults.default_endpoints, validate=validate_endpoints,
                           validate_update=_both(validate_endpoints)),
    "Namespace": KindRules(default=defaults.default_namespace, validate=validate_namespace,
                           validate_update=_both(validate_namespace),
                           validate_status_update=validate_namespace_status_update,
                           name=is_dns1123_label),
    "Node": KindRules(default=defaults.default_node, validate=validate_node,
                      validate_update=validate_node_update,
                      validate_status_update=validate_node_update),
    "ConfigMap": KindRules(validate=validate_config_map,
                           validate_update=validate_config_map_update),
    "Secret": KindRules(default=defaults.default_secret, validate=validate_secret,
                        validate_update=validate_secret_update),
    "ServiceAccount": KindRules(),
    "Event": KindRules(validate=validate_event, validate_update=_both(validate_event),
                       name=is_path_segment_name),
    "Binding": KindRules(validate=validate_binding, name=is_path_segment_name),
}
