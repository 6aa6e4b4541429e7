"""Security contexts of pods and containers: user and group ids, sysctls, seccomp, AppArmor.

Where it sits: ``pods.py`` checks ``spec.securityContext`` with
:func:`validate_pod_security_context`; ``containers.py`` checks each container's with
:func:`validate_container_security_context`.

What it promises: upstream's checks of the fields a workload sets (ids in range,
well-formed sysctls and profiles, no privileged container that forbids privilege
escalation). Windows-only options are not checked: this cluster runs Linux nodes.
The cluster allows privileged containers, as ``kube-apiserver --allow-privileged``
in every common installer does.
"""

from __future__ import annotations

import re
from typing import Any

from ..fielderrors import FieldError, Path, duplicate, invalid, not_supported, required
from .formats import is_valid_group_id, is_valid_user_id
from .meta import format_errors
from .volumes import validate_local_descending_path

SYSCTL_SEGMENT_FMT = "[a-z0-9]([-_a-z0-9]*[a-z0-9])?"
SYSCTL_FMT = "(" + SYSCTL_SEGMENT_FMT + "[\\./])*" + SYSCTL_SEGMENT_FMT
_SYSCTL = re.compile(SYSCTL_FMT)
# The sysctls a pod may only set inside its own network or IPC namespace.
_NET_SYSCTL_PREFIX = "net."
_IPC_SYSCTLS = ("kernel.shm", "kernel.msg", "kernel.sem", "fs.mqueue.")


def _ids(context: dict, fields: tuple[str, ...], path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    for fld in fields:
        value = context.get(fld)
        if value is None:
            continue
        check = is_valid_user_id if fld == "runAsUser" else is_valid_group_id
        errs += format_errors(check, value, path.child(fld))
    return errs


def validate_pod_security_context(context: Any, spec: dict, path: Path) -> list[FieldError]:
    if context is None:
        return []
    errs = _ids(context, ("fsGroup", "runAsUser", "runAsGroup"), path)
    for i, gid in enumerate(context.get("supplementalGroups") or []):
        errs += format_errors(is_valid_group_id, gid, path.child("supplementalGroups").index(i))
    if context.get("shareProcessNamespace") and spec.get("hostPID"):
        errs.append(invalid(str(path.child("shareProcessNamespace")), True,
                            "ShareProcessNamespace and HostPID cannot both be enabled"))
    errs += _validate_sysctls(context.get("sysctls") or [], spec, path.child("sysctls"))
    policy = context.get("fsGroupChangePolicy")
    if policy is not None and policy not in ("Always", "OnRootMismatch"):
        errs.append(not_supported(str(path.child("fsGroupChangePolicy")), policy,
                                  ["Always", "OnRootMismatch"]))
    policy = context.get("supplementalGroupsPolicy")
    if policy is not None and policy not in ("Merge", "Strict"):
        errs.append(not_supported(str(path.child("supplementalGroupsPolicy")), policy,
                                  ["Merge", "Strict"]))
    errs += _validate_seccomp(context.get("seccompProfile"), path.child("seccompProfile"))
    return errs + _validate_apparmor(context.get("appArmorProfile"), path.child("appArmorProfile"))


def _validate_sysctls(sysctls: list[dict], spec: dict, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, sysctl in enumerate(sysctls):
        name_path = path.index(i).child("name")
        name = sysctl.get("name") or ""
        if not name:
            errs.append(required(str(name_path)))
        elif len(name) > 253 or not _SYSCTL.fullmatch(name):
            errs.append(invalid(str(name_path), name,
                                f"must have at most 253 characters and match regex ^{SYSCTL_FMT}$"))
        elif name in names:
            errs.append(duplicate(str(name_path), name))
        names.add(name)
        # A pod that shares the host's network or IPC namespace would change the host's sysctls.
        dotted = name.replace("/", ".")
        if spec.get("hostNetwork") and dotted.startswith(_NET_SYSCTL_PREFIX):
            errs.append(invalid(str(name_path), name,
                                "may not be specified when 'hostNetwork' is true"))
        elif spec.get("hostIPC") and dotted.startswith(_IPC_SYSCTLS):
            errs.append(invalid(str(name_path), name,
                                "may not be specified when 'hostIPC' is true"))
    return errs


def validate_container_security_context(context: Any, path: Path) -> list[FieldError]:
    if context is None:
        return []
    errs = _ids(context, ("runAsUser", "runAsGroup"), path)
    proc_mount = context.get("procMount")
    if proc_mount is not None:
        if proc_mount not in ("Default", "Unmasked"):
            errs.append(not_supported(str(path.child("procMount")), proc_mount,
                                      ["Default", "Unmasked"]))
        elif proc_mount == "Unmasked":
            # Pods here always share the host's user namespace (hostUsers is not supported).
            errs.append(invalid(str(path.child("procMount")), proc_mount,
                                "`hostUsers` must be false to use `Unmasked`"))
    errs += _validate_seccomp(context.get("seccompProfile"), path.child("seccompProfile"))
    if context.get("allowPrivilegeEscalation") is False:
        if context.get("privileged"):
            errs.append(invalid(str(path), context, "cannot set `allowPrivilegeEscalation` to"
                                                    " false and `privileged` to true"))
        if "CAP_SYS_ADMIN" in ((context.get("capabilities") or {}).get("add") or []):
            errs.append(invalid(str(path), context, "cannot set `allowPrivilegeEscalation` to"
                                                    " false and `capabilities.Add` CAP_SYS_ADMIN"))
    return errs + _validate_apparmor(context.get("appArmorProfile"), path.child("appArmorProfile"))


_PROFILE_TYPES = ["Localhost", "RuntimeDefault", "Unconfined"]


def _validate_seccomp(profile: Any, path: Path) -> list[FieldError]:
    if profile is None:
        return []
    kind = profile.get("type") or ""
    errs: list[FieldError] = []
    if not kind:
        errs.append(required(str(path.child("type")),
                             "type is required when seccompProfile is set"))
    elif kind not in _PROFILE_TYPES:
        errs.append(not_supported(str(path.child("type")), kind, _PROFILE_TYPES))
    local = profile.get("localhostProfile")
    if kind == "Localhost":
        if local is None:
            errs.append(required(str(path.child("localhostProfile")),
                                 "must be set when seccomp type is Localhost"))
        else:
            errs += validate_local_descending_path(local, path.child("localhostProfile"))
    elif local is not None:
        errs.append(invalid(str(path.child("localhostProfile")), profile,
                            "can only be set when seccomp type is Localhost"))
    return errs


def _validate_apparmor(profile: Any, path: Path) -> list[FieldError]:
    if profile is None:
        return []
    kind, local = profile.get("type") or "", profile.get("localhostProfile")
    if kind == "Localhost":
        if local is None or not local.strip():
            return [required(str(path.child("localhostProfile")),
                             "must be set when AppArmor type is Localhost")]
        if local != local.strip():
            return [invalid(str(path.child("localhostProfile")), local,
                            "must not be padded with whitespace")]
        return []
    if kind in ("RuntimeDefault", "Unconfined"):
        if local is not None:
            return [invalid(str(path.child("localhostProfile")), local,
                            "can only be set when AppArmor type is Localhost")]
        return []
    if not kind:
        return [required(str(path.child("type")), "type is required when appArmorProfile is set")]
    return [not_supported(str(path.child("type")), kind, _PROFILE_TYPES)]
