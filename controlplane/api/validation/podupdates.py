"""What a pod update may change, and what its /status may say.

Where it sits: ``core.RULES["Pod"]`` uses :func:`validate_pod_update` for writes to a
pod and :func:`validate_pod_status_update` for writes to ``pods/status`` (the node
agent reports there). The new pod is first checked as a whole, as on create.

What it promises: upstream's ``ValidatePodUpdate`` and ``ValidatePodStatusUpdate``. A
pod is almost immutable: an update may only change container images, shorten
``activeDeadlineSeconds``, add tolerations, remove scheduling gates and (while gated)
add node selector entries. Anything else is the Forbidden error kubectl shows as
"pod updates may not change fields other than ...", followed by what changed.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from ..fielderrors import FieldError, Path, forbidden, invalid, required
from .formats import is_ipv6, validate_ip
from .goprint import NULL, duplicate_go, go_quote, go_string_map, go_struct, invalid_go
from .meta import (FIELD_IMMUTABLE, format_errors, inclusive_range_error, is_dns1123_subdomain,
                   is_qualified_name)
from .pods import MAX_INT32, SPEC, validate_pod_object
from .scheduling import validate_tolerations

UPDATABLE_POD_SPEC_FIELDS = ",".join([
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
])


def validate_pod_update(new: dict, old: dict) -> list[FieldError]:
    errs = validate_pod_object(new)
    new_spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    for kind in ("containers", "initContainers"):
        new_ctrs, old_ctrs = new_spec.get(kind) or [], old_spec.get(kind) or []
        if len(new_ctrs) != len(old_ctrs):
            return errs + [forbidden(str(SPEC.child(kind)),
                                     "pod updates may not add or remove containers")]
        errs += [required(str(SPEC.child(kind).index(i).child("image")))
                 for i, ctr in enumerate(new_ctrs) if not ctr.get("image")]
    deadline_errs, stop = _deadline_update(new_spec.get("activeDeadlineSeconds"),
                                           old_spec.get("activeDeadlineSeconds"))
    errs += deadline_errs
    if stop:
        return errs
    errs += _only_added_tolerations(new_spec.get("tolerations") or [],
                                    old_spec.get("tolerations") or [])
    errs += _only_removed_gates(new_spec.get("schedulingGates") or [],
                                old_spec.get("schedulingGates") or [])
    if new_spec == old_spec:
        return errs
    munged = _munge_updatable_fields(new_spec, old_spec)
    if old_spec.get("schedulingGates"):
        errs += _gated_node_selector(munged, old_spec)
    if munged != old_spec:
        diff = spec_diff(old_spec, munged)
        errs.append(forbidden(str(SPEC), "pod updates may not change fields other than"
                                         f" {UPDATABLE_POD_SPEC_FIELDS}\n{diff}"))
    return errs


def _deadline_update(new: int | None, old: int | None) -> tuple[list[FieldError], bool]:
    """A deadline may be set, or shortened, never lengthened or removed. The second value
    says whether upstream stops checking the update here."""
    path = str(SPEC.child("activeDeadlineSeconds"))
    if new is None:
        removed = [invalid_go(path, NULL, "must not update from a positive integer to nil value")]
        return (removed if old is not None else []), False
    if not 0 <= new <= MAX_INT32:
        return [invalid(path, new, inclusive_range_error(0, MAX_INT32))], True
    if old is not None and old < new:
        return [invalid(path, new, "must be less than or equal to previous value")], True
    return [], False


def _only_added_tolerations(new: list[dict], old: list[dict]) -> list[FieldError]:
    path = SPEC.child("tolerations")
    for toleration in old:
        # An existing toleration may stay as it is, or change only its tolerationSeconds.
        base = _without_seconds(toleration)
        if not any(_without_seconds(t) == base for t in new):
            return [forbidden(str(path), "existing toleration can not be modified except its"
                                         " tolerationSeconds")]
    return validate_tolerations(new, path)


def _without_seconds(toleration: dict) -> dict:
    return {k: v for k, v in toleration.items() if k != "tolerationSeconds"}


def _only_removed_gates(new: list[dict], old: list[dict]) -> list[FieldError]:
    old_names = {g.get("name") for g in old}
    return [forbidden(str(SPEC.child("schedulingGates").index(i).child("name")),
                      f"only deletion is allowed, but found new scheduling gate '{g.get('name')}'")
            for i, g in enumerate(new) if g.get("name") not in old_names]


def _gated_node_selector(munged: dict, old_spec: dict) -> list[FieldError]:
    """A pod still waiting on scheduling gates may gain node selector entries, nothing else."""
    old_selector, new_selector = old_spec.get("nodeSelector"), munged.get("nodeSelector")
    if new_selector == old_selector:
        return []
    _set(munged, "nodeSelector", old_selector)
    if all((new_selector or {}).get(k) == v for k, v in (old_selector or {}).items()):
        return []
    return [invalid_go(SPEC.child("nodeSelector"), go_string_map(new_selector or {}),
                       "only additions to spec.nodeSelector are allowed"
                       " (no mutations or deletions)")]


def _set(obj: dict, key: str, value: Any) -> None:
    if value is None:
        obj.pop(key, None)
    else:
        obj[key] = value


def _munge_updatable_fields(new: dict, old: dict) -> dict:
    """The new spec with every field an update may change put back to its old value."""
    munged = copy.deepcopy(new)
    for kind in ("containers", "initContainers"):
        for ctr, old_ctr in zip(munged.get(kind) or [], old.get(kind) or []):
            _set(ctr, "image", old_ctr.get("image"))
    for key in ("activeDeadlineSeconds", "schedulingGates", "tolerations"):
        _set(munged, key, old.get(key))
    old_grace = old.get("terminationGracePeriodSeconds")
    if old_grace is not None and old_grace < 0 and munged.get("terminationGracePeriodSeconds") == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    return munged


def spec_diff(old: Any, new: Any, prefix: str = "") -> str:
    """The changed fields, one ``- old`` / ``+ new`` pair each. Upstream prints a Go struct
    diff here; this is the same information in the API's own field names."""
    lines: list[str] = []
    _diff(old, new, prefix, lines)
    return "\n".join(lines)


def _diff(old: Any, new: Any, path: str, lines: list[str]) -> None:
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            _diff(old.get(key), new.get(key), f"{path}.{key}" if path else key, lines)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new)):
            _diff(a, b, f"{path}[{i}]", lines)
    else:
        lines.append(f"- {path}: {json.dumps(old, sort_keys=True)}")
        lines.append(f"+ {path}: {json.dumps(new, sort_keys=True)}")


# -- /status ------------------------------------------------------------------------------------

_SYSTEM_CONDITIONS = ("PodScheduled", "Ready", "Initialized")
_STATUS = Path("status")


def validate_pod_status_update(new: dict, old: dict) -> list[FieldError]:
    status, old_status = new.get("status") or {}, old.get("status") or {}
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    errs: list[FieldError] = []
    for i, condition in enumerate(status.get("conditions") or []):
        if condition.get("type") not in _SYSTEM_CONDITIONS:
            # Upstream reports these under metadata.conditions (sic).
            errs += format_errors(is_qualified_name, condition.get("type") or "",
                                  Path("metadata", "conditions").index(i).child("Type"))
    if spec.get("nodeName") != old_spec.get("nodeName"):
        errs.append(forbidden(str(_STATUS.child("nodeName")), "may not be changed directly"))
    nominated = status.get("nominatedNodeName") or ""
    if nominated and nominated != old_status.get("nominatedNodeName"):
        errs += format_errors(is_dns1123_subdomain, nominated, _STATUS.child("nominatedNodeName"))
    qos = status.get("qosClass") or ""
    if qos != (old_status.get("qosClass") or ""):
        errs.append(invalid(str(_STATUS.child("qosClass")), qos, FIELD_IMMUTABLE))
    restart = old_spec.get("restartPolicy")
    errs += _state_transitions(status, old_status, "containerStatuses", restart, set())
    sidecars = {c.get("name") for c in old_spec.get("initContainers") or []
                if c.get("restartPolicy") == "Always"}
    errs += _state_transitions(status, old_status, "initContainerStatuses", restart, sidecars)
    return errs + _pod_ips(status.get("podIPs"), _STATUS.child("podIPs"))


def _state_transitions(status: dict, old_status: dict, kind: str, restart: str | None,
                       may_restart: set[str]) -> list[FieldError]:
    """A container that may not restart may not leave the terminated state."""
    if restart == "Always":
        return []
    errs: list[FieldError] = []
    for i, before in enumerate(old_status.get(kind) or []):
        terminated = (before.get("state") or {}).get("terminated")
        if terminated is None or before.get("name") in may_restart:
            continue
        if terminated.get("exitCode") and restart == "OnFailure":
            continue
        for after in status.get(kind) or []:
            running_again = (after.get("state") or {}).get("terminated") is None
            if after.get("name") == before.get("name") and running_again:
                errs.append(forbidden(str(_STATUS.child(kind).index(i).child("state")),
                                      "may not be transitioned to non-terminated state"))
    return errs


def _pod_ips(entries: Any, path: Path) -> list[FieldError]:
    entries = entries or []
    errs: list[FieldError] = []
    for i, entry in enumerate(entries):
        errs += validate_ip(path.index(i), entry.get("ip") or "")
    if len(entries) < 2 or errs:
        return errs
    # One address per family at most: an IPv4 one, an IPv6 one, or one of each.
    families = [is_ipv6(e.get("ip") or "") for e in entries]
    if len(entries) > 2 or families[0] == families[1]:
        printed = "[]core.PodIP{" + ", ".join(_go_pod_ip(e) for e in entries) + "}"
        errs.append(invalid_go(path, printed, "may specify no more than one IP for each IP family"))
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if entry.get("ip") in seen:
            errs.append(duplicate_go(path.index(i), _go_pod_ip(entry)))
        seen.add(entry.get("ip"))
    return errs


def _go_pod_ip(entry: dict) -> str:
    return go_struct("core.PodIP", IP=go_quote(entry.get("ip") or ""))
