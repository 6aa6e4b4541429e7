"""Containers and init containers: names, images, ports, env, mounts, probes, resources.

Where it sits: the pod spec validator (``pods.py``) calls :func:`validate_containers`
and :func:`validate_init_containers` with the volume names it accepted, so that a
``volumeMount`` can be checked against them.

What it promises: upstream's ``validateContainers`` / ``validateInitContainers``:
names are DNS labels unique across both lists, an image is required, a port is a
number in 1-65535 with an IANA name, probes and lifecycle hooks have exactly one
handler, and plain init containers (without ``restartPolicy: Always``, i.e. not
sidecars) may have neither probes nor lifecycle hooks.
"""

from __future__ import annotations

from typing import Any

from ..fielderrors import (FieldError, Path, duplicate, forbidden, invalid, not_found,
                           not_supported, required)
from .formats import (is_config_map_key, is_http_header_name, is_relaxed_env_var_name,
                      is_valid_port_name, is_valid_port_num)
from .meta import (IS_NEGATIVE, format_errors, is_dns1123_label, is_dns1123_subdomain,
                   mask_trailing_dash)
from .resourcelists import validate_resource_requirements
from .security import validate_container_security_context
from .volumes import (ENV_FIELD_PATHS, validate_local_descending_path,
                      validate_object_field_selector, validate_resource_field_selector)

PROTOCOLS = ["SCTP", "TCP", "UDP"]
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
_NOT_FOR_INIT = "may not be set for init containers without restartPolicy=Always"
_PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
_HOOK_HANDLERS = ("exec", "httpGet", "tcpSocket", "sleep")


def validate_containers(containers: Any, volumes: set[str], grace: int | None,
                        path: Path) -> list[FieldError]:
    if not containers:
        return [required(str(path))]
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, ctr in enumerate(containers):
        ctr_path = path.index(i)
        errs += _validate_common(ctr, volumes, ctr_path)
        name = ctr.get("name") or ""
        if name in names:
            errs.append(duplicate(str(ctr_path.child("name")), name))
        names.add(name)
        errs += _validate_hooks_and_probes(ctr, grace, ctr_path)
        if ctr.get("restartPolicy") is not None:
            errs.append(forbidden(str(ctr_path.child("restartPolicy")),
                                  "may not be set for non-init containers"))
    return errs + _host_port_conflicts(containers, path)


def validate_init_containers(init_containers: Any, containers: Any, volumes: set[str],
                             grace: int | None, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    names = {c.get("name") or "" for c in containers or []}
    for i, ctr in enumerate(init_containers or []):
        ctr_path = path.index(i)
        errs += _validate_common(ctr, volumes, ctr_path)
        policy = ctr.get("restartPolicy")
        if policy is not None and policy != "Always":
            errs.append(not_supported(str(ctr_path.child("restartPolicy")), policy, ["Always"]))
        name = ctr.get("name") or ""
        if name in names:
            errs.append(duplicate(str(ctr_path.child("name")), name))
        elif name:
            names.add(name)
        # Init containers run one at a time, so only ports within one of them can clash.
        errs += _host_port_conflicts([ctr], path)
        if policy == "Always":  # a sidecar: it keeps running, so probes and hooks make sense
            errs += _validate_hooks_and_probes(ctr, grace, ctr_path)
        else:
            errs += [forbidden(str(ctr_path.child(f)), _NOT_FOR_INIT)
                     for f in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe")
                     if ctr.get(f) is not None]
    return errs


def _validate_common(ctr: dict, volumes: set[str], path: Path) -> list[FieldError]:
    name = ctr.get("name") or ""
    if not name:
        errs = [required(str(path.child("name")))]
    else:
        errs = format_errors(is_dns1123_label, name, path.child("name"))
    if not ctr.get("image"):
        errs.append(required(str(path.child("image"))))
    policy = ctr.get("terminationMessagePolicy") or ""
    if not policy:
        errs.append(required(str(path.child("terminationMessagePolicy"))))
    elif policy not in ("File", "FallbackToLogsOnError"):
        errs.append(not_supported(str(path.child("terminationMessagePolicy")), policy,
                                  ["File", "FallbackToLogsOnError"]))
    errs += _validate_ports(ctr.get("ports"), path.child("ports"))
    errs += _validate_env(ctr.get("env"), path.child("env"))
    errs += _validate_env_from(ctr.get("envFrom"), path.child("envFrom"))
    errs += _validate_volume_mounts(ctr, volumes, path.child("volumeMounts"))
    pull = ctr.get("imagePullPolicy") or ""
    if not pull:
        errs.append(required(str(path.child("imagePullPolicy"))))
    elif pull not in PULL_POLICIES:
        errs.append(not_supported(str(path.child("imagePullPolicy")), pull, PULL_POLICIES))
    errs += validate_resource_requirements(ctr.get("resources"), path.child("resources"))
    return errs + validate_container_security_context(ctr.get("securityContext"),
                                                      path.child("securityContext"))


# -- ports --------------------------------------------------------------------------------------


def _validate_ports(ports: Any, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, port in enumerate(ports or []):
        port_path = path.index(i)
        name = port.get("name") or ""
        if name:
            problems = format_errors(is_valid_port_name, name, port_path.child("name"))
            errs += problems
            if not problems and name in names:
                errs.append(duplicate(str(port_path.child("name")), name))
            names.add(name)
        number = port.get("containerPort") or 0
        if not number:
            errs.append(required(str(port_path.child("containerPort"))))
        else:
            errs += format_errors(is_valid_port_num, number, port_path.child("containerPort"))
        host_port = port.get("hostPort") or 0
        if host_port:
            errs += format_errors(is_valid_port_num, host_port, port_path.child("hostPort"))
        protocol = port.get("protocol") or ""
        if not protocol:
            errs.append(required(str(port_path.child("protocol"))))
        elif protocol not in PROTOCOLS:
            errs.append(not_supported(str(port_path.child("protocol")), protocol, PROTOCOLS))
    return errs


def _host_port_conflicts(containers: list[dict], path: Path) -> list[FieldError]:
    seen: set[str] = set()
    errs: list[FieldError] = []
    for i, ctr in enumerate(containers):
        for j, port in enumerate(ctr.get("ports") or []):
            if not port.get("hostPort"):
                continue
            key = f"{port.get('protocol', '')}/{port.get('hostIP', '')}/{port['hostPort']}"
            if key in seen:
                port_path = path.index(i).child("ports").index(j)
                errs.append(duplicate(str(port_path.child("hostPort")), key))
            seen.add(key)
    return errs


def validate_port_num_or_name(port: Any, path: Path) -> list[FieldError]:
    """An IntOrString port: a number in 1-65535, or the name of a container port."""
    if isinstance(port, str):
        return format_errors(is_valid_port_name, port, path)
    return format_errors(is_valid_port_num, port or 0, path)


# -- env and envFrom ------------------------------------------------------------------------------


def _validate_env(env: Any, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, var in enumerate(env or []):
        var_path = path.index(i)
        name = var.get("name") or ""
        if not name:
            errs.append(required(str(var_path.child("name"))))
        else:
            errs += format_errors(is_relaxed_env_var_name, name, var_path.child("name"))
        if var.get("valueFrom") is not None:
            errs += _validate_value_from(var, var_path.child("valueFrom"))
    return errs


def _validate_value_from(var: dict, path: Path) -> list[FieldError]:
    source = var["valueFrom"]
    errs: list[FieldError] = []
    if source.get("fieldRef") is not None:
        errs += validate_object_field_selector(source["fieldRef"], ENV_FIELD_PATHS,
                                               path.child("fieldRef"))
    if source.get("resourceFieldRef") is not None:
        errs += validate_resource_field_selector(source["resourceFieldRef"],
                                                 path.child("resourceFieldRef"), volume=False)
    for kind in ("configMapKeyRef", "secretKeyRef"):
        if source.get(kind) is not None:
            errs += _validate_key_selector(source[kind], path.child(kind))
    count = sum(source.get(k) is not None
                for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef"))
    if count == 0:
        errs.append(invalid(str(path), "", "must specify one of: `fieldRef`, `resourceFieldRef`,"
                                           " `configMapKeyRef` or `secretKeyRef`"))
    elif var.get("value"):
        errs.append(invalid(str(path), "", "may not be specified when `value` is not empty"))
    elif count > 1:
        errs.append(invalid(str(path), "", "may not have more than one field specified at a time"))
    return errs


def _validate_key_selector(selector: dict, path: Path) -> list[FieldError]:
    name, key = selector.get("name") or "", selector.get("key") or ""
    errs = format_errors(is_dns1123_subdomain, name, path.child("name"))
    if not key:
        errs.append(required(str(path.child("key"))))
    else:
        errs += format_errors(is_config_map_key, key, path.child("key"))
    return errs


def _validate_env_from(sources: Any, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, source in enumerate(sources or []):
        src_path = path.index(i)
        prefix = source.get("prefix") or ""
        if prefix:
            errs += format_errors(is_relaxed_env_var_name, prefix, src_path.child("prefix"))
        refs = [k for k in ("configMapRef", "secretRef") if source.get(k) is not None]
        for kind in refs:
            name = source[kind].get("name") or ""
            if not name:
                errs.append(required(str(src_path.child(kind).child("name"))))
            else:
                errs += [invalid(str(src_path.child(kind).child("name")), name, msg)
                         for msg in is_dns1123_subdomain(mask_trailing_dash(name))]
        # Upstream reports a missing or doubled source at envFrom itself, without the index.
        if not refs:
            errs.append(invalid(str(path), "",
                                "must specify one of: `configMapRef` or `secretRef`"))
        elif len(refs) > 1:
            errs.append(invalid(str(path), "",
                                "may not have more than one field specified at a time"))
    return errs


# -- volume mounts --------------------------------------------------------------------------------


def _validate_volume_mounts(ctr: dict, volumes: set[str], path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    mount_paths: set[str] = set()
    privileged = bool((ctr.get("securityContext") or {}).get("privileged"))
    for i, mount in enumerate(ctr.get("volumeMounts") or []):
        mount_path_ = path.index(i)
        name, mount_path = mount.get("name") or "", mount.get("mountPath") or ""
        if not name:
            errs.append(required(str(mount_path_.child("name"))))
        if name not in volumes:
            errs.append(not_found(str(mount_path_.child("name")), name))
        if not mount_path:
            errs.append(required(str(mount_path_.child("mountPath"))))
        if mount_path in mount_paths:
            errs.append(invalid(str(mount_path_.child("mountPath")), mount_path, "must be unique"))
        mount_paths.add(mount_path)
        # Upstream checks subPath and propagation at the list's path, without the index.
        if mount.get("subPath"):
            errs += validate_local_descending_path(mount["subPath"], path.child("subPath"))
        if mount.get("subPathExpr"):
            if mount.get("subPath"):
                errs.append(invalid(str(mount_path_.child("subPathExpr")), mount["subPathExpr"],
                                    "subPathExpr and subPath are mutually exclusive"))
            errs += validate_local_descending_path(mount["subPathExpr"], path.child("subPathExpr"))
        errs += _validate_propagation(mount.get("mountPropagation"), privileged,
                                      path.child("mountPropagation"))
    return errs


def _validate_propagation(mode: str | None, privileged: bool, path: Path) -> list[FieldError]:
    if mode is None:
        return []
    supported = ["Bidirectional", "HostToContainer", "None"]
    errs = [] if mode in supported else [not_supported(str(path), mode, supported)]
    if mode == "Bidirectional" and not privileged:
        errs.append(forbidden(str(path), "Bidirectional mount propagation is available only to"
                                         " privileged containers"))
    return errs


# -- probes and lifecycle hooks ------------------------------------------------------------


def _validate_hooks_and_probes(ctr: dict, grace: int | None, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    lifecycle = ctr.get("lifecycle")
    if lifecycle is not None:
        for hook in ("postStart", "preStop"):
            if lifecycle.get(hook) is not None:
                errs += _validate_handler(lifecycle[hook], _HOOK_HANDLERS, grace,
                                          path.child("lifecycle").child(hook))
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = ctr.get(kind)
        if probe is None:
            continue
        probe_path = path.child(kind)
        errs += _validate_probe(probe, grace, probe_path)
        if kind == "readinessProbe":
            grace_override = probe.get("terminationGracePeriodSeconds")
            if grace_override is not None:
                errs.append(invalid(str(probe_path.child("terminationGracePeriodSeconds")),
                                    grace_override, "must not be set for readinessProbes"))
        elif probe.get("successThreshold", 0) != 1:
            errs.append(invalid(str(probe_path.child("successThreshold")),
                                probe.get("successThreshold", 0), "must be 1"))
    return errs


def _validate_probe(probe: dict, grace: int | None, path: Path) -> list[FieldError]:
    errs = _validate_handler(probe, _PROBE_HANDLERS, grace, path)
    for fld in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold",
                "failureThreshold"):
        value = probe.get(fld) or 0
        if value < 0:
            errs.append(invalid(str(path.child(fld)), value, IS_NEGATIVE))
    grace_override = probe.get("terminationGracePeriodSeconds")
    if grace_override is not None and grace_override <= 0:
        errs.append(invalid(str(path.child("terminationGracePeriodSeconds")), grace_override,
                            "must be greater than 0"))
    return errs


def _validate_handler(handler: dict, kinds: tuple[str, ...], grace: int | None,
                      path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    found = 0
    for kind in kinds:
        action = handler.get(kind)
        if action is None:
            continue
        if found:
            errs.append(forbidden(str(path.child(kind)),
                                  "may not specify more than 1 handler type"))
            continue
        found += 1
        errs += _validate_action(kind, action, grace, path.child(kind))
    if not found:
        errs.append(required(str(path), "must specify a handler type"))
    return errs


def _validate_action(kind: str, action: dict, grace: int | None, path: Path) -> list[FieldError]:
    if kind == "exec":
        return [] if action.get("command") else [required(str(path.child("command")))]
    if kind == "httpGet":
        errs = [] if action.get("path") else [required(str(path.child("path")))]
        errs += validate_port_num_or_name(action.get("port"), path.child("port"))
        scheme = action.get("scheme") or ""
        if scheme not in ("HTTP", "HTTPS"):
            errs.append(not_supported(str(path.child("scheme")), scheme, ["HTTP", "HTTPS"]))
        for header in action.get("httpHeaders") or []:
            name = header.get("name") or ""
            errs += format_errors(is_http_header_name, name, path.child("httpHeaders"))
        return errs
    if kind == "tcpSocket":
        return validate_port_num_or_name(action.get("port"), path.child("port"))
    if kind == "grpc":
        return format_errors(is_valid_port_num, action.get("port") or 0, path.child("port"))
    seconds = action.get("seconds") or 0  # sleep
    if grace is not None and not 0 <= seconds <= grace:
        return [invalid(str(path), seconds, "must be non-negative and less than"
                                            f" terminationGracePeriodSeconds ({grace})")]
    return []


def validate_port_and_protocol(port: dict, path: Path) -> list[FieldError]:
    """``port`` (1-65535) and ``protocol`` (required, TCP/UDP/SCTP) of a Service or Endpoints port."""
    errs = format_errors(is_valid_port_num, port.get("port") or 0, path.child("port"))
    protocol = port.get("protocol") or ""
    if not protocol:
        errs.append(required(str(path.child("protocol"))))
    elif protocol not in PROTOCOLS:
        errs.append(not_supported(str(path.child("protocol")), protocol, PROTOCOLS))
    return errs
