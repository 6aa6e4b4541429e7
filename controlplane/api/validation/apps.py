"""apps/v1: Deployments, ReplicaSets, DaemonSets, StatefulSets and ControllerRevisions.

Where it sits: the registry looks up ``RULES[kind]`` for every write to the apps
group, after it has filled defaults (``defaults.apps``) and checked metadata. The
checks are upstream's ``pkg/apis/apps/validation`` plus the selector immutability
that the apps/v1 strategies (``pkg/registry/apps/*/strategy.go``) add on update.

The workload checks other groups share live here too, as upstream's batch and policy
validators import them from apps: int-or-percent values, "does the selector match the
template", "may not be negative". So do the helpers that print a bad value the way
Go's ``%#v`` does, because kubectl shows it verbatim:

    Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from ..defaults import apps as defaults
from ..fielderrors import (FieldError, Path, forbidden, invalid,
                           not_supported, required)
from .core import validate_pod_template_spec
from .goprint import (go_int_or_string, go_pointer, go_quote, go_scalar, go_selector, go_string_map,
                      go_struct, invalid_go, not_supported_go)
from .meta import (is_dns1123_label, label_selector_matches, validate_annotations,
                   validate_label_selector, validate_labels)
from .rules import KindRules

SPEC = Path("spec")
STATUS = Path("status")
NOT_ABOVE_REPLICAS = "cannot be greater than status.replicas"
IS_NEGATIVE = "must be greater than or equal to 0"
IMMUTABLE = "field is immutable"

# -- checks the workload kinds share with batch and policy ------------------------------------


def nonnegative(value: Any, path: Path) -> list[FieldError]:
    """ValidateNonnegativeField; a missing value is Go's zero, so it passes."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        return [invalid(str(path), value, IS_NEGATIVE)]
    return []


_PERCENT = re.compile(r"[0-9]+%")
_PERCENT_MSG = ("a valid percent string must be a numeric string followed by an ending '%'"
                " (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")


def int_or_percent_value(value: int | str | None) -> int:
    """What a maxSurge-like value amounts to: 25 for "25%", 3 for 3, 0 for nonsense."""
    if isinstance(value, str):
        digits = value[:-1] if _PERCENT.fullmatch(value) else value
        return int(digits) if digits.isdigit() else 0
    return int(value or 0)


def int_or_percent(value: int | str | None, path: Path) -> list[FieldError]:
    """ValidatePositiveIntOrPercent: a non-negative integer, or a string like "25%"."""
    if isinstance(value, str):
        if _PERCENT.fullmatch(value):
            return []
        return [invalid_go(path, go_int_or_string(value), _PERCENT_MSG)]
    return nonnegative(value, path)


def at_most_100_percent(value: int | str | None, path: Path) -> list[FieldError]:
    if isinstance(value, str) and _PERCENT.fullmatch(value) and int(value[:-1]) > 100:
        return [invalid_go(path, go_int_or_string(value), "must not be greater than 100%")]
    return []


def selector_convertible(selector: dict | None) -> bool:
    """Whether LabelSelectorAsSelector accepts it; a missing selector converts to "nothing"."""
    return selector is None or not validate_label_selector(selector, SPEC)


def selector_is_empty(selector: dict | None) -> bool:
    """An empty (not missing) selector selects everything."""
    if selector is None:
        return False
    return not selector.get("matchLabels") and not selector.get("matchExpressions")


def template_mismatch(selector: dict | None, labels: dict | None, path: Path) -> list[FieldError]:
    """The selector must select the pods the template stamps out (a missing one selects none)."""
    if selector_is_empty(selector) or label_selector_matches(selector, labels or {}):
        return []
    return [invalid_go(path, go_string_map(labels), "`selector` does not match template `labels`")]


def semantically_equal(a: Any, b: Any) -> bool:
    """apiequality.Semantic.DeepEqual: a missing list or map equals an empty one.

    (So does a missing object, where Go would tell a nil pointer from an empty struct;
    no check here depends on that difference.)
    """
    return _normalize(a) == _normalize(b)


def _normalize(value: Any) -> Any:
    if isinstance(value, dict):
        pairs = {k: _normalize(v) for k, v in value.items()}
        return {k: v for k, v in pairs.items() if v is not None} or None
    if isinstance(value, list):
        return [_normalize(v) for v in value] or None
    return value


def immutable(new: Any, old: Any, path: Path,
              printer: Callable[[Any], str] = go_scalar) -> list[FieldError]:
    return [] if semantically_equal(new, old) else [invalid_go(path, printer(new), IMMUTABLE)]


def collision_count_errors(new: dict, old: dict) -> list[FieldError]:
    """status.collisionCount only grows: it salts the hash that names a template's revision."""
    new_count = (new.get("status") or {}).get("collisionCount")
    old_count = (old.get("status") or {}).get("collisionCount")
    if old_count is not None and (new_count is None or new_count < old_count):
        return [invalid("status.collisionCount", new_count or 0, "cannot be decremented")]
    return []


def status_counters(status: dict, path: Path, *names: str) -> list[FieldError]:
    return [e for name in names for e in nonnegative(status.get(name), path.child(name))]


def at_most(status: dict, path: Path, limit: str, message: str, *names: str) -> list[FieldError]:
    top = status.get(limit) or 0
    return [invalid(str(path.child(n)), status.get(n) or 0, message)
            for n in names if (status.get(n) or 0) > top]


# -- what Deployments, ReplicaSets, DaemonSets and StatefulSets have in common -----------------


def _selector_checks(spec: dict, kind: str) -> list[FieldError]:
    """A required, valid, non-empty selector (Deployments, ReplicaSets, StatefulSets)."""
    selector = spec.get("selector")
    if selector is None:
        return [required(str(SPEC.child("selector")))]
    errs = validate_label_selector(selector, SPEC.child("selector"))
    if selector_is_empty(selector):
        errs.append(invalid_go(SPEC.child("selector"), go_selector(selector),
                               f"empty selector is invalid for {kind}"))
    return errs


def _always_restart(template: dict, path: Path, kind: str) -> list[FieldError]:
    """Controllers that keep pods running want restartPolicy Always and no deadline."""
    pod = template.get("spec") or {}
    errs = []
    if pod.get("restartPolicy", "") != "Always":
        errs.append(not_supported(str(path.child("spec", "restartPolicy")),
                                  pod.get("restartPolicy", ""), ["Always"]))
    if pod.get("activeDeadlineSeconds") is not None:
        errs.append(forbidden(str(path.child("spec", "activeDeadlineSeconds")),
                              f"activeDeadlineSeconds in {kind} is not Supported"))
    return errs


def _replica_set_template(spec: dict) -> list[FieldError]:
    """ValidatePodTemplateSpecForReplicaSet, which Deployments use too."""
    selector, template = spec.get("selector"), spec.get("template") or {}
    if not selector_convertible(selector):
        return [invalid_go(SPEC.child("selector"), go_selector(selector), "invalid label selector")]
    path = SPEC.child("template")
    labels = (template.get("metadata") or {}).get("labels")
    errs = template_mismatch(selector, labels, path.child("metadata", "labels"))
    errs += validate_pod_template_spec(template, path)
    return errs + _always_restart(template, path, "ReplicaSet")


def _selector_unchanged(new: dict, old: dict) -> list[FieldError]:
    # apps/v1 forbids changing a selector: the controller would orphan the pods it has.
    new_selector = (new.get("spec") or {}).get("selector")
    old_selector = (old.get("spec") or {}).get("selector")
    return immutable(new_selector, old_selector, SPEC.child("selector"), go_selector)


def _status(obj: dict) -> dict:
    return obj.get("status") or {}


# -- Deployment -------------------------------------------------------------------------------


def _deployment_strategy(strategy: dict) -> list[FieldError]:
    path = SPEC.child("strategy")
    kind, rolling = strategy.get("type", ""), strategy.get("rollingUpdate")
    if kind == "Recreate":
        if rolling is None:
            return []
        return [forbidden(str(path.child("rollingUpdate")),
                          "may not be specified when strategy `type` is 'Recreate'")]
    if kind != "RollingUpdate":
        printed = go_struct("apps.DeploymentStrategy", Type=go_quote(kind),
                            RollingUpdate=go_pointer("apps.RollingUpdateDeployment", rolling))
        return [not_supported_go(path, printed, ["Recreate", "RollingUpdate"])]
    if rolling is None:
        return [required(str(path.child("rollingUpdate")),
                         "this should be defaulted and never be nil")]
    path = path.child("rollingUpdate")
    unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
    errs = int_or_percent(unavailable, path.child("maxUnavailable"))
    errs += int_or_percent(surge, path.child("maxSurge"))
    # With neither extra pods nor missing pods allowed, a rollout could never make progress.
    if int_or_percent_value(unavailable) == 0 and int_or_percent_value(surge) == 0:
        errs.append(invalid_go(path.child("maxUnavailable"), go_int_or_string(unavailable),
                               "may not be 0 when `maxSurge` is 0"))
    return errs + at_most_100_percent(unavailable, path.child("maxUnavailable"))


def validate_deployment(obj: dict) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errs = nonnegative(spec.get("replicas"), SPEC.child("replicas"))
    errs += _selector_checks(spec, "deployment")
    errs += _replica_set_template(spec)
    errs += _deployment_strategy(spec.get("strategy") or {})
    errs += nonnegative(spec.get("minReadySeconds"), SPEC.child("minReadySeconds"))
    errs += nonnegative(spec.get("revisionHistoryLimit"), SPEC.child("revisionHistoryLimit"))
    deadline = spec.get("progressDeadlineSeconds")
    if deadline is not None:
        errs += nonnegative(deadline, SPEC.child("progressDeadlineSeconds"))
        if deadline <= (spec.get("minReadySeconds") or 0):
            errs.append(invalid(str(SPEC.child("progressDeadlineSeconds")), deadline,
                                "must be greater than minReadySeconds"))
    return errs


def validate_deployment_update(new: dict, old: dict) -> list[FieldError]:
    return validate_deployment(new) + _selector_unchanged(new, old)


def validate_deployment_status(new: dict, old: dict) -> list[FieldError]:
    status = _status(new)
    errs = status_counters(status, STATUS, "observedGeneration", "replicas", "updatedReplicas",
                           "readyReplicas", "availableReplicas", "unavailableReplicas",
                           "collisionCount")
    errs += at_most(status, STATUS, "replicas", NOT_ABOVE_REPLICAS,
                    "updatedReplicas", "readyReplicas", "availableReplicas")
    errs += at_most(status, STATUS, "readyReplicas", "cannot be greater than readyReplicas",
                    "availableReplicas")
    return errs + collision_count_errors(new, old)


# -- ReplicaSet -------------------------------------------------------------------------------


def validate_replica_set(obj: dict) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errs = nonnegative(spec.get("replicas"), SPEC.child("replicas"))
    errs += nonnegative(spec.get("minReadySeconds"), SPEC.child("minReadySeconds"))
    # Upstream says "deployment" here too; kubectl users see exactly that.
    errs += _selector_checks(spec, "deployment")
    return errs + _replica_set_template(spec)


def validate_replica_set_update(new: dict, old: dict) -> list[FieldError]:
    return validate_replica_set(new) + _selector_unchanged(new, old)


def validate_replica_set_status(new: dict, old: dict) -> list[FieldError]:
    status = _status(new)
    errs = status_counters(status, STATUS, "replicas", "fullyLabeledReplicas", "readyReplicas",
                           "availableReplicas", "observedGeneration")
    errs += at_most(status, STATUS, "replicas", NOT_ABOVE_REPLICAS,
                    "fullyLabeledReplicas", "readyReplicas", "availableReplicas")
    return errs + at_most(status, STATUS, "readyReplicas", "cannot be greater than readyReplicas",
                          "availableReplicas")


# -- DaemonSet --------------------------------------------------------------------------------


def _daemon_set_strategy(strategy: dict) -> list[FieldError]:
    path = SPEC.child("updateStrategy")
    kind, rolling = strategy.get("type", ""), strategy.get("rollingUpdate")
    if kind == "OnDelete":
        return []
    if kind != "RollingUpdate":
        printed = go_struct("apps.DaemonSetUpdateStrategy", Type=go_quote(kind),
                            RollingUpdate=go_pointer("apps.RollingUpdateDaemonSet", rolling))
        return [not_supported_go(path, printed, ["RollingUpdate", "OnDelete"])]
    if rolling is None:
        return [required(str(path.child("rollingUpdate")))]
    path = path.child("rollingUpdate")
    unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
    errs = int_or_percent(unavailable, path.child("maxUnavailable"))
    errs += int_or_percent(surge, path.child("maxSurge"))
    errs += at_most_100_percent(unavailable, path.child("maxUnavailable"))
    errs += at_most_100_percent(surge, path.child("maxSurge"))
    # A node runs one daemon pod: an update either replaces it in place or surges, not both.
    has_unavailable = int_or_percent_value(unavailable) != 0
    has_surge = int_or_percent_value(surge) != 0
    if has_unavailable and has_surge:
        errs.append(invalid_go(path.child("maxSurge"), go_int_or_string(surge),
                               "may not be set when maxUnavailable is non-zero"))
    elif not has_unavailable and not has_surge:
        errs.append(required(str(path.child("maxUnavailable")), "cannot be 0 when maxSurge is 0"))
    return errs


def validate_daemon_set(obj: dict) -> list[FieldError]:
    spec = obj.get("spec") or {}
    selector, template = spec.get("selector"), spec.get("template") or {}
    errs = validate_label_selector(selector, SPEC.child("selector"))
    if selector_convertible(selector):
        errs += template_mismatch(selector, (template.get("metadata") or {}).get("labels"),
                                  SPEC.child("template", "metadata", "labels"))
    if selector_is_empty(selector):
        errs.append(invalid_go(SPEC.child("selector"), go_selector(selector),
                               "empty selector is invalid for daemonset"))
    errs += validate_pod_template_spec(template, SPEC.child("template"))
    errs += _always_restart(template, SPEC.child("template"), "DaemonSet")
    errs += nonnegative(spec.get("minReadySeconds"), SPEC.child("minReadySeconds"))
    errs += _daemon_set_strategy(spec.get("updateStrategy") or {})
    errs += nonnegative(spec.get("revisionHistoryLimit"), SPEC.child("revisionHistoryLimit"))
    return errs


def validate_daemon_set_update(new: dict, old: dict) -> list[FieldError]:
    return validate_daemon_set(new) + _selector_unchanged(new, old)


def validate_daemon_set_status(new: dict, old: dict) -> list[FieldError]:
    errs = status_counters(_status(new), STATUS, "currentNumberScheduled", "numberMisscheduled",
                           "desiredNumberScheduled", "numberReady", "observedGeneration",
                           "updatedNumberScheduled", "numberAvailable", "numberUnavailable",
                           "collisionCount")
    return errs + collision_count_errors(new, old)


# -- StatefulSet ------------------------------------------------------------------------------

# Only these may change once a StatefulSet exists: its pods' identities and volumes hang on
# the rest (selector, serviceName, volumeClaimTemplates, podManagementPolicy...).
_STS_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy",
                "persistentVolumeClaimRetentionPolicy", "minReadySeconds")
_STS_FORBIDDEN = ("updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                  "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
                  "'minReadySeconds' are forbidden")


def _stateful_set_strategy(strategy: dict) -> list[FieldError]:
    path = SPEC.child("updateStrategy")
    kind, rolling = strategy.get("type", ""), strategy.get("rollingUpdate")
    if kind == "":
        return [required(str(path))]
    if kind == "RollingUpdate":
        partition = (rolling or {}).get("partition")
        return nonnegative(partition, path.child("rollingUpdate", "partition"))
    if kind == "OnDelete":
        if rolling is None:
            return []
        printed = go_struct("apps.RollingUpdateStatefulSetStrategy",
                            Partition=str(rolling.get("partition") or 0),
                            MaxUnavailable=go_pointer("intstr.IntOrString",
                                                      rolling.get("maxUnavailable")))
        return [invalid_go(path.child("rollingUpdate"), printed,
                           "only allowed for updateStrategy 'RollingUpdate'")]
    printed = go_struct("apps.StatefulSetUpdateStrategy", Type=go_quote(kind),
                        RollingUpdate=go_pointer("apps.RollingUpdateStatefulSetStrategy", rolling))
    return [invalid_go(path, printed, "must be 'RollingUpdate' or 'OnDelete'")]


def _retention_policy(policy: dict | None) -> list[FieldError]:
    if policy is None:
        return []
    path = SPEC.child("persistentVolumeClaimRetentionPolicy")
    allowed = ["Retain", "Delete"]
    return [not_supported(str(path.child(name)), policy.get(name, ""), allowed)
            for name in ("whenDeleted", "whenScaled") if policy.get(name, "") not in allowed]


def _stateful_set_template(spec: dict) -> list[FieldError]:
    # Upstream checks only the template's metadata here, not its pod spec (a long-standing TODO).
    selector, template = spec.get("selector"), spec.get("template") or {}
    if not selector_convertible(selector):
        return [invalid_go(SPEC.child("selector"), go_selector(selector), "")]
    path, meta = SPEC.child("template"), template.get("metadata") or {}
    errs = template_mismatch(selector, meta.get("labels"), path.child("metadata", "labels"))
    errs += validate_labels(meta.get("labels"), path.child("labels"))
    return errs + validate_annotations(meta.get("annotations"), path.child("annotations"))


def validate_stateful_set(obj: dict) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errs: list[FieldError] = []
    policy = spec.get("podManagementPolicy", "")
    if policy == "":
        errs.append(required(str(SPEC.child("podManagementPolicy"))))
    elif policy not in ("OrderedReady", "Parallel"):
        errs.append(invalid(str(SPEC.child("podManagementPolicy")), policy,
                            "must be 'OrderedReady' or 'Parallel'"))
    errs += _stateful_set_strategy(spec.get("updateStrategy") or {})
    errs += _retention_policy(spec.get("persistentVolumeClaimRetentionPolicy"))
    errs += nonnegative(spec.get("replicas"), SPEC.child("replicas"))
    errs += nonnegative(spec.get("minReadySeconds"), SPEC.child("minReadySeconds"))
    if spec.get("ordinals") is not None:
        errs += nonnegative(spec["ordinals"].get("start"), SPEC.child("ordinals.start"))
    errs += _selector_checks(spec, "statefulset")
    errs += _stateful_set_template(spec)
    errs += _always_restart(spec.get("template") or {}, SPEC.child("template"), "StatefulSet")
    return errs


def validate_stateful_set_update(new: dict, old: dict) -> list[FieldError]:
    # The name is not checked again: StatefulSets once allowed names pods cannot carry.
    errs = validate_stateful_set(new)
    fixed_new = {k: v for k, v in (new.get("spec") or {}).items() if k not in _STS_MUTABLE}
    fixed_old = {k: v for k, v in (old.get("spec") or {}).items() if k not in _STS_MUTABLE}
    if not semantically_equal(fixed_new, fixed_old):
        errs.append(forbidden("spec", _STS_FORBIDDEN))
    return errs


def validate_stateful_set_status(new: dict, old: dict) -> list[FieldError]:
    status = _status(new)
    errs = status_counters(status, STATUS, "replicas", "readyReplicas", "currentReplicas",
                           "updatedReplicas", "availableReplicas", "observedGeneration",
                           "collisionCount")
    errs += at_most(status, STATUS, "replicas", NOT_ABOVE_REPLICAS,
                    "readyReplicas", "currentReplicas", "updatedReplicas", "availableReplicas")
    errs += at_most(status, STATUS, "readyReplicas", "cannot be greater than status.readyReplicas",
                    "availableReplicas")
    return errs + collision_count_errors(new, old)


# -- ControllerRevision -----------------------------------------------------------------------


def _go_raw(data: Any) -> str:
    """The revision's data as the internal type holds it: a runtime.Unknown of JSON bytes."""
    raw = json.dumps(data, separators=(",", ":")).encode()
    return go_struct("runtime.Unknown", TypeMeta='runtime.TypeMeta{APIVersion:"", Kind:""}',
                     Raw="[]uint8{" + ", ".join(f"0x{b:x}" for b in raw) + "}",
                     ContentEncoding='""', ContentType='"application/json"')


def validate_controller_revision(obj: dict) -> list[FieldError]:
    errs = [] if obj.get("data") is not None else [required("data", "data is mandatory")]
    return errs + nonnegative(obj.get("revision"), Path("revision"))


def validate_controller_revision_update(new: dict, old: dict) -> list[FieldError]:
    # A revision is a snapshot a rollback returns to: its data may never change.
    return validate_controller_revision(new) + immutable(new.get("data"), old.get("data"),
                                                         Path("data"), _go_raw)


RULES: dict[str, KindRules] = {
    "Deployment": KindRules(defaults.default_deployment, validate_deployment,
                            validate_deployment_update, validate_deployment_status),
    "ReplicaSet": KindRules(defaults.default_replica_set, validate_replica_set,
                            validate_replica_set_update, validate_replica_set_status),
    "DaemonSet": KindRules(defaults.default_daemon_set, validate_daemon_set,
                           validate_daemon_set_update, validate_daemon_set_status),
    # StatefulSet names become pod hostnames, so they must be DNS labels, not subdomains.
    "StatefulSet": KindRules(defaults.default_stateful_set, validate_stateful_set,
                             validate_stateful_set_update, validate_stateful_set_status,
                             name=is_dns1123_label),
    "ControllerRevision": KindRules(validate=validate_controller_revision,
                                    validate_update=validate_controller_revision_update),
}
