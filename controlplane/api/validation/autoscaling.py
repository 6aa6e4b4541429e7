"""autoscaling HorizontalPodAutoscalers, as ``pkg/apis/autoscaling/validation`` checks them.

Where it sits: the registry looks up ``RULES["HorizontalPodAutoscaler"]`` after
``defaults.autoscaling`` has run. Upstream validates the internal (v2-shaped) object,
so an autoscaling/v1 HPA is first seen as v2 here: its ``targetCPUUtilizationPercentage``
becomes ``spec.metrics[0]``, and that is the path an error about it names.

The checks: a target to scale (``scaleTargetRef`` kind and name), ``1 <= minReplicas
<= maxReplicas``, metrics that say what to measure and which target to aim at, and
scaling rules with positive values and sane periods.
"""

from __future__ import annotations

from typing import Any

from ..defaults import autoscaling as defaults
from ..fielderrors import FieldError, Path, forbidden, invalid, not_supported, required
from .apps import nonnegative
from .goprint import go_quote, go_struct, invalid_go
from .meta import is_dns1123_label, is_path_segment_name, is_qualified_name
from .quantity import try_parse
from .rules import KindRules

SPEC = Path("spec")
MAX_PERIOD_SECONDS = 1800
MAX_STABILIZATION_WINDOW_SECONDS = 3600
METRIC_TYPES = ["ContainerResource", "External", "Object", "Pods", "Resource"]
SOURCE_FIELDS = {"Object": "object", "Pods": "pods", "Resource": "resource",
                 "External": "external", "ContainerResource": "containerResource"}
SELECT_POLICIES = ["Disabled", "Max", "Min"]
POLICY_TYPES = ["Percent", "Pods"]
POPULATE = "must populate information for the given metric source"
RESOURCE_NAME = "must specify a resource name"


def as_v2(obj: dict) -> dict:
    """The spec as upstream's internal type holds it, whatever version the client used."""
    spec = dict(obj.get("spec") or {})
    if obj.get("apiVersion") == "autoscaling/v1":
        cpu = spec.pop("targetCPUUtilizationPercentage", None)
        if cpu is not None:
            spec["metrics"] = [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu}}}]
    return spec


def _reference(ref: dict, path: Path) -> list[FieldError]:
    """ValidateCrossVersionObjectReference: a kind and a name that can sit in a URL path."""
    errs: list[FieldError] = []
    for name in ("kind", "name"):
        value = ref.get(name, "")
        if not value:
            errs.append(required(str(path.child(name))))
        else:
            errs += [invalid(str(path.child(name)), value, m) for m in is_path_segment_name(value)]
    return errs


def _spec(spec: dict, min_replicas_floor: int) -> list[FieldError]:
    errs: list[FieldError] = []
    low, high = spec.get("minReplicas"), spec.get("maxReplicas") or 0
    if low is not None and low < min_replicas_floor:
        errs.append(invalid(str(SPEC.child("minReplicas")), low,
                            f"must be greater than or equal to {min_replicas_floor}"))
    if high < 1:
        errs.append(invalid(str(SPEC.child("maxReplicas")), high, "must be greater than 0"))
    if low is not None and high < low:
        errs.append(invalid(str(SPEC.child("maxReplicas")), high,
                            "must be greater than or equal to `minReplicas`"))
    errs += _reference(spec.get("scaleTargetRef") or {}, SPEC.child("scaleTargetRef"))
    errs += _metrics(spec.get("metrics") or [], low)
    behavior = spec.get("behavior")
    if behavior is not None:
        for name in ("scaleUp", "scaleDown"):
            if behavior.get(name) is not None:
                errs += _scaling_rules(behavior[name], SPEC.child("behavior", name))
    return errs


def _metrics(metrics: list[dict], min_replicas: int | None) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, metric in enumerate(metrics):
        errs += _metric(metric, SPEC.child("metrics").index(i))
    kinds = {m.get("type") for m in metrics}
    # Scaling to zero leaves no pods to measure, so only an outside metric can wake it up.
    if min_replicas == 0 and not kinds & {"Object", "External"}:
        errs.append(forbidden(str(SPEC.child("metrics")), "must specify at least one Object or "
                              "External metric to support scaling to zero replicas"))
    return errs


def _metric(metric: dict, path: Path) -> list[FieldError]:
    kind, errs = metric.get("type", ""), []
    if not kind:
        errs.append(required(str(path.child("type")), "must specify a metric source type"))
    if kind not in METRIC_TYPES:
        errs.append(not_supported(str(path.child("type")), kind, METRIC_TYPES))
    present = [f for f in ("object", "external", "pods", "resource", "containerResource")
               if metric.get(f) is not None]
    if present:
        # Upstream checks only the first source given; the rest are reported as extras below.
        errs += _SOURCES[present[0]](metric[present[0]], path.child(present[0]))
    expected = SOURCE_FIELDS.get(kind)
    if expected is None:
        errs.append(not_supported(str(path.child("type")), kind, METRIC_TYPES))
    elif metric.get(expected) is None:
        errs.append(required(str(path.child(expected)), POPULATE))
    if len(present) != 1:
        errs += [forbidden(str(path.child(f)), "must populate the given metric source only")
                 for f in sorted(present) if f != expected]
    return errs


def _identifier(metric: dict, path: Path) -> list[FieldError]:
    name = metric.get("name", "")
    if not name:
        return [required(str(path.child("name")), "must specify a metric name")]
    return [invalid(str(path.child("name")), name, m) for m in is_path_segment_name(name)]


def _go_quantity(value: Any) -> str:
    # fmt prints resource.Quantity's private fields; this shows the same shape, not every digit.
    text = str(value)
    return go_struct("resource.Quantity", i=f"resource.int64Amount{{value:{text}, scale:0}}",
                     d="resource.infDecAmount{Dec:(*inf.Dec)(nil)}", s=go_quote(text),
                     Format='"DecimalSI"')


def _target(target: dict, path: Path) -> list[FieldError]:
    kind, errs = target.get("type", ""), []
    if not kind:
        errs.append(required(str(path.child("type")), "must specify a metric target type"))
    if kind not in ("Utilization", "Value", "AverageValue"):
        errs.append(invalid(str(path.child("type")), kind,
                            "must be either Utilization, Value, or AverageValue"))
    for name in ("value", "averageValue"):
        quantity = try_parse(target.get(name)) if target.get(name) is not None else None
        if quantity is not None and quantity.value <= 0:
            errs.append(invalid_go(path.child(name), _go_quantity(target[name]),
                                   "must be positive"))
    utilization = target.get("averageUtilization")
    if utilization is not None and utilization < 1:
        errs.append(invalid(str(path.child("averageUtilization")), utilization,
                            "must be greater than 0"))
    return errs


def _object_source(source: dict, path: Path) -> list[FieldError]:
    errs = _reference(source.get("describedObject") or {}, path.child("describedObject"))
    errs += _identifier(source.get("metric") or {}, path.child("metric"))
    target = source.get("target") or {}
    errs += _target(target, path.child("target"))
    if target.get("value") is None and target.get("averageValue") is None:
        errs.append(required(str(path.child("target", "averageValue")),
                             "must set either a target value or averageValue"))
    return errs


def _external_source(source: dict, path: Path) -> list[FieldError]:
    errs = _identifier(source.get("metric") or {}, path.child("metric"))
    target = source.get("target") or {}
    errs += _target(target, path.child("target"))
    if target.get("value") is None and target.get("averageValue") is None:
        errs.append(required(str(path.child("target", "averageValue")),
                             "must set either a target value for metric or a per-pod target"))
    if target.get("value") is not None and target.get("averageValue") is not None:
        errs.append(forbidden(str(path.child("target", "value")),
                              "may not set both a target value for metric and a per-pod target"))
    return errs


def _pods_source(source: dict, path: Path) -> list[FieldError]:
    errs = _identifier(source.get("metric") or {}, path.child("metric"))
    target = source.get("target") or {}
    errs += _target(target, path.child("target"))
    if target.get("averageValue") is None:
        errs.append(required(str(path.child("target", "averageValue")),
                             "must specify a positive target averageValue"))
    return errs


def _utilization_or_value(target: dict, path: Path) -> list[FieldError]:
    errs = _target(target, path)
    if target.get("averageUtilization") is None and target.get("averageValue") is None:
        errs.append(required(str(path.child("averageUtilization")),
                             "must set either a target raw value or a target utilization"))
    if target.get("averageUtilization") is not None and target.get("averageValue") is not None:
        errs.append(forbidden(str(path.child("averageValue")),
                              "may not set both a target raw value and a target utilization"))
    return errs


def _resource_source(source: dict, path: Path) -> list[FieldError]:
    errs = [] if source.get("name") else [required(str(path.child("name")), RESOURCE_NAME)]
    return errs + _utilization_or_value(source.get("target") or {}, path.child("target"))


def _container_resource_source(source: dict, path: Path) -> list[FieldError]:
    name, container, errs = source.get("name", ""), source.get("container", ""), []
    if not name:
        errs.append(required(str(path.child("name")), RESOURCE_NAME))
    elif "/" not in name and name not in ("cpu", "memory", "ephemeral-storage") \
            and not name.startswith("hugepages-"):
        errs.append(invalid(str(path.child("name")), name,
                            "must be a standard resource for containers"))
    elif "/" in name:
        errs += [invalid(str(path.child("name")), name, m) for m in is_qualified_name(name)]
    if not container:
        errs.append(required(str(path.child("container")), "must specify a container"))
    else:
        errs += [invalid(str(path.child("container")), container, m)
                 for m in is_dns1123_label(container)]
    return errs + _utilization_or_value(source.get("target") or {}, path.child("target"))


_SOURCES = {"object": _object_source, "external": _external_source, "pods": _pods_source,
            "resource": _resource_source, "containerResource": _container_resource_source}


def _scaling_rules(rules: dict, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    window = rules.get("stabilizationWindowSeconds")
    if window is not None and window < 0:
        errs.append(invalid(str(path.child("stabilizationWindowSeconds")), window,
                            "must be greater than or equal to zero"))
    if window is not None and window > MAX_STABILIZATION_WINDOW_SECONDS:
        errs.append(invalid(str(path.child("stabilizationWindowSeconds")), window,
                            f"must be less than or equal to {MAX_STABILIZATION_WINDOW_SECONDS}"))
    select = rules.get("selectPolicy")
    if select is not None and select not in SELECT_POLICIES:
        errs.append(not_supported(str(path.child("selectPolicy")), select, SELECT_POLICIES))
    policies = rules.get("policies") or []
    if not policies:
        errs.append(required(str(path.child("policies")), "must specify at least one Policy"))
    for i, policy in enumerate(policies):
        errs += _scaling_policy(policy, path.child("policies").index(i))
    return errs


def _scaling_policy(policy: dict, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    if policy.get("type") not in POLICY_TYPES:
        errs.append(not_supported(str(path.child("type")), policy.get("type", ""), POLICY_TYPES))
    value, period = policy.get("value") or 0, policy.get("periodSeconds") or 0
    if value <= 0:
        errs.append(invalid(str(path.child("value")), value, "must be greater than zero"))
    if period <= 0:
        errs.append(invalid(str(path.child("periodSeconds")), period, "must be greater than zero"))
    if period > MAX_PERIOD_SECONDS:
        errs.append(invalid(str(path.child("periodSeconds")), period,
                            f"must be less than or equal to {MAX_PERIOD_SECONDS}"))
    return errs


def validate_hpa(obj: dict) -> list[FieldError]:
    # Scaling to zero (HPAScaleToZero) is an alpha feature, off in 1.33: the floor is 1.
    return _spec(as_v2(obj), min_replicas_floor=1)


def validate_hpa_update(new: dict, old: dict) -> list[FieldError]:
    # An HPA that already scales to zero (from when the feature was on) may keep doing so.
    floor = 0 if as_v2(old).get("minReplicas") == 0 else 1
    return _spec(as_v2(new), min_replicas_floor=floor)


def validate_hpa_status(new: dict, old: dict) -> list[FieldError]:
    status, path = new.get("status") or {}, Path("status")
    return (nonnegative(status.get("currentReplicas"), path.child("currentReplicas"))
            + nonnegative(status.get("desiredReplicas"), path.child("desiredReplicas")))


RULES: dict[str, KindRules] = {
    "HorizontalPodAutoscaler": KindRules(defaults.default_hpa, validate_hpa, validate_hpa_update,
                                         validate_hpa_status),
}
