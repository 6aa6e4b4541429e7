"""Pods and pod templates: the pod spec as a whole, and what a new pod must satisfy.

Where it sits: ``core.RULES["Pod"]`` uses :func:`validate_pod` on create (and
``podupdates`` on update); the workload validators (Deployments, Jobs, ...) call
:func:`validate_pod_template_spec` for their ``spec.template``. The parts of a spec
live in ``containers``, ``volumes``, ``scheduling`` and ``security``.

What it promises: upstream's ``ValidatePodSpec``, ``ValidatePodTemplateSpec`` and
``ValidatePodCreate``. The pod's metadata is checked by the registry (``meta.py``),
except for the annotations only pods have.
"""

from __future__ import annotations

from typing import Any

from ..fielderrors import FieldError, Path, duplicate, forbidden, invalid, not_supported, required
from .containers import validate_containers, validate_init_containers
from .formats import is_dns1123_subdomain_with_underscore, validate_ip
from .goprint import go_strings, invalid_go
from .meta import (format_errors, inclusive_range_error, is_dns1123_label, is_dns1123_subdomain,
                   is_qualified_name, validate_annotations, validate_labels)
from .scheduling import validate_affinity, validate_tolerations, validate_topology_spread
from .security import validate_pod_security_context
from .volumes import validate_volumes

RESTART_POLICIES = ["Always", "OnFailure", "Never"]
DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
MAX_INT32 = 2**31 - 1
SPEC = Path("spec")

# -- the pod spec ----------------------------------------------------------------------------


def validate_pod_spec(spec: Any, path: Path) -> list[FieldError]:
    """A PodSpec inside another object (a pod template): no pod-only rules."""
    return validate_any_pod_spec(spec or {}, path, is_pod=False)


def validate_any_pod_spec(spec: dict, path: Path, is_pod: bool) -> list[FieldError]:
    """ValidatePodSpec; ``is_pod`` says whether the spec is a real pod's, not a template's."""
    errs: list[FieldError] = []
    grace = spec.get("terminationGracePeriodSeconds")
    if grace is None:
        errs.append(required(str(path.child("terminationGracePeriodSeconds"))))
    volumes, volume_errs = validate_volumes(spec.get("volumes"), path.child("volumes"))
    errs += volume_errs
    containers = spec.get("containers")
    errs += validate_containers(containers, volumes, grace, path.child("containers"))
    errs += validate_init_containers(spec.get("initContainers"), containers, volumes, grace,
                                     path.child("initContainers"))
    errs += _host_network_ports(spec, path, is_pod)
    errs += _enum(spec.get("restartPolicy"), RESTART_POLICIES, path.child("restartPolicy"))
    errs += _enum(spec.get("dnsPolicy"), DNS_POLICIES, path.child("dnsPolicy"))
    errs += validate_labels(spec.get("nodeSelector"), path.child("nodeSelector"))
    errs += validate_pod_security_context(spec.get("securityContext"), spec,
                                          path.child("securityContext"))
    for i, secret in enumerate(spec.get("imagePullSecrets") or []):
        if set(secret) - {"name"}:
            errs.append(invalid(str(path.child("imagePullSecrets").index(i)), secret,
                                "only name may be set"))
    errs += validate_affinity(spec.get("affinity"), path.child("affinity"))
    errs += _dns_config(spec.get("dnsConfig"), spec.get("dnsPolicy"), path.child("dnsConfig"))
    for i, gate in enumerate(spec.get("readinessGates") or []):
        condition_path = path.child("readinessGates").index(i).child("conditionType")
        errs += format_errors(is_qualified_name, gate.get("conditionType") or "", condition_path)
    errs += _scheduling_gates(spec.get("schedulingGates"), path.child("schedulingGates"))
    errs += validate_topology_spread(spec.get("topologySpreadConstraints"),
                                     path.child("topologySpreadConstraints"))
    return errs + _validate_pod_spec_scalars(spec, path)


_NAMES = (("serviceAccountName", is_dns1123_subdomain), ("nodeName", is_dns1123_subdomain),
          ("hostname", is_dns1123_label), ("subdomain", is_dns1123_label),
          ("priorityClassName", is_dns1123_subdomain))


def _validate_pod_spec_scalars(spec: dict, path: Path) -> list[FieldError]:
    """The names and small values of a spec: who runs it, where, for how long."""
    errs: list[FieldError] = []
    for fld, check in _NAMES:
        if spec.get(fld):
            errs += format_errors(check, spec[fld], path.child(fld))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and not 1 <= deadline <= MAX_INT32:
        errs.append(invalid(str(path.child("activeDeadlineSeconds")), deadline,
                            inclusive_range_error(1, MAX_INT32)))
    errs += validate_tolerations(spec.get("tolerations"), path.child("tolerations"))
    for i, alias in enumerate(spec.get("hostAliases") or []):
        alias_path = path.child("hostAliases").index(i)
        errs += validate_ip(alias_path.child("ip"), alias.get("ip") or "")
        for j, hostname in enumerate(alias.get("hostnames") or []):
            errs += format_errors(is_dns1123_subdomain, hostname,
                                  alias_path.child("hostnames").index(j))
    if spec.get("runtimeClassName") is not None:
        errs += format_errors(is_dns1123_subdomain, spec["runtimeClassName"],
                              path.child("runtimeClassName"))
    if spec.get("preemptionPolicy") is not None:
        errs += _enum(spec["preemptionPolicy"], ["PreemptLowerPriority", "Never"],
                      path.child("preemptionPolicy"))
    os = spec.get("os")
    if os is not None:
        if not os.get("name"):
            errs.append(required(str(path.child("os", "name")), "cannot be empty"))
        elif os["name"] not in ("linux", "windows"):
            errs.append(not_supported(str(path.child("os")), os["name"], ["linux", "windows"]))
    return errs


def _enum(value: str | None, allowed: list[str], path: Path) -> list[FieldError]:
    if not value:
        return [required(str(path))]
    return [] if value in allowed else [not_supported(str(path), value, allowed)]


def _host_network_ports(spec: dict, path: Path, is_pod: bool) -> list[FieldError]:
    """With hostNetwork a container port *is* a host port. A template may leave hostPort
    unset (the pod's defaults fill it in); a pod may not differ."""
    if not spec.get("hostNetwork"):
        return []
    errs: list[FieldError] = []
    for i, ctr in enumerate(spec.get("containers") or []):
        for j, port in enumerate(ctr.get("ports") or []):
            host_port, container_port = port.get("hostPort") or 0, port.get("containerPort") or 0
            if (is_pod or host_port) and host_port != container_port:
                port_path = path.child("containers").index(i).child("ports").index(j)
                errs.append(invalid(str(port_path.child("hostPort")), host_port,
                                    "must match `containerPort` when `hostNetwork` is true"))
    return errs


def _dns_config(config: Any, policy: str | None, path: Path) -> list[FieldError]:
    if policy == "None":
        if config is None:
            return [required(str(path), "must provide `dnsConfig` when `dnsPolicy` is None")]
        if not config.get("nameservers"):
            return [required(str(path.child("nameservers")),
                             "must provide at least one DNS nameserver when `dnsPolicy` is None")]
    if config is None:
        return []
    errs: list[FieldError] = []
    nameservers, searches = config.get("nameservers") or [], config.get("searches") or []
    if len(nameservers) > 3:
        errs.append(invalid_go(path.child("nameservers"), go_strings(nameservers),
                               "must not have more than 3 nameservers"))
    for i, server in enumerate(nameservers):
        errs += validate_ip(path.child("nameservers").index(i), server)
    if len(searches) > 32:
        errs.append(invalid_go(path.child("searches"), go_strings(searches),
                               "must not have more than 32 search paths"))
    if len(" ".join(searches)) > 2048:
        errs.append(invalid_go(path.child("searches"), go_strings(searches), "must not have more"
                               " than 2048 characters (including spaces) in the search list"))
    for i, search in enumerate(searches):
        if search != ".":
            errs += format_errors(is_dns1123_subdomain_with_underscore, search.removesuffix("."),
                                  path.child("searches").index(i))
    for i, option in enumerate(config.get("options") or []):
        if not option.get("name"):
            errs.append(required(str(path.child("options").index(i)), "must not be empty"))
    return errs


def _scheduling_gates(gates: Any, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, gate in enumerate(gates or []):
        name = gate.get("name") or ""
        errs += format_errors(is_qualified_name, name, path.index(i))
        if name in seen:
            errs.append(duplicate(str(path.index(i)), name))
        seen.add(name)
    return errs


def validate_pod_template_spec(template: Any, path: Path) -> list[FieldError]:
    """A workload's ``spec.template``: its labels and annotations, and a pod spec."""
    template = template or {}
    meta = template.get("metadata") or {}
    # Upstream reports template labels at <path>.labels, not <path>.metadata.labels.
    errs = validate_labels(meta.get("labels"), path.child("labels"))
    errs += validate_annotations(meta.get("annotations"), path.child("annotations"))
    errs += validate_pod_spec(template.get("spec"), path.child("spec"))
    if (template.get("spec") or {}).get("ephemeralContainers"):
        errs.append(forbidden(str(path.child("spec", "ephemeralContainers")),
                              "ephemeral containers not allowed in pod template"))
    return errs


# -- the Pod kind ------------------------------------------------------------------------------


def validate_pod_object(pod: dict) -> list[FieldError]:
    """What create and update both check: the spec, plus the rules only a real pod has."""
    spec = pod.get("spec") or {}
    errs = _pod_annotations((pod.get("metadata") or {}).get("annotations") or {}, spec)
    errs += validate_any_pod_spec(spec, SPEC, is_pod=True)
    if not spec.get("serviceAccountName"):
        for i, volume in enumerate(spec.get("volumes") or []):
            sources_path = SPEC.child("volumes").index(i).child("projected", "sources")
            for j, source in enumerate((volume.get("projected") or {}).get("sources") or []):
                if source.get("serviceAccountToken") is not None:
                    token_path = sources_path.index(j).child("serviceAccountToken")
                    errs.append(forbidden(str(token_path), "must not be specified when"
                                                           " serviceAccountName is not set"))
    for kind in ("containers", "initContainers"):
        for i, ctr in enumerate(spec.get(kind) or []):
            image = ctr.get("image") or ""
            if image != image.strip():
                errs.append(invalid(str(SPEC.child(kind).index(i).child("image")), image,
                                    "must not have leading or trailing whitespace"))
    return errs


def _pod_annotations(annotations: dict, spec: dict) -> list[FieldError]:
    path = Path("metadata", "annotations")
    errs: list[FieldError] = []
    mirror = annotations.get("kubernetes.io/config.mirror")
    if mirror is not None and not spec.get("nodeName"):
        errs.append(invalid(str(path.key("kubernetes.io/config.mirror")), mirror,
                            "must set spec.nodeName if mirror pod annotation is set"))
    cost = annotations.get("controller.kubernetes.io/pod-deletion-cost")
    if cost is not None and not _is_int32(cost):
        errs.append(invalid(str(path.key("controller.kubernetes.io/pod-deletion-cost")), cost,
                            "must be a 32bit integer"))
    return errs


def _is_int32(text: str) -> bool:
    try:
        return -(2**31) <= int(text, 10) <= MAX_INT32 and text.strip() == text
    except ValueError:
        return False


def validate_pod(pod: dict) -> list[FieldError]:
    errs = validate_pod_object(pod)
    spec = pod.get("spec") or {}
    if spec.get("ephemeralContainers"):
        errs.append(forbidden(str(SPEC.child("ephemeralContainers")), "cannot be set on create"))
    if spec.get("nodeName") and spec.get("schedulingGates"):
        errs.append(forbidden(str(SPEC.child("nodeName")),
                              "cannot be set until all schedulingGates have been cleared"))
    return errs
