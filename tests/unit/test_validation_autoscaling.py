"""HorizontalPodAutoscaler validation, for autoscaling/v2 and v1 manifests."""

from __future__ import annotations

import copy

import pytest

from controlplane.api.validation import rules_for

HPA = rules_for("autoscaling", "HorizontalPodAutoscaler")


def hpa(**spec: object) -> dict:
    base: dict = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                  "maxReplicas": 5}
    base.update(spec)
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "default"}, "spec": base}


def cpu(target: dict) -> list[dict]:
    return [{"type": "Resource", "resource": {"name": "cpu", "target": target}}]


def errors(obj: dict) -> list[str]:
    HPA.default(obj)
    return [str(e) for e in HPA.validate(obj)]


CASES = [
    ("valid", hpa(), []),
    ("no target", hpa(scaleTargetRef={}),
     ["spec.scaleTargetRef.kind: Required value", "spec.scaleTargetRef.name: Required value"]),
    ("target name with a slash", hpa(scaleTargetRef={"kind": "Deployment", "name": "a/b"}),
     ["spec.scaleTargetRef.name: Invalid value: \"a/b\": may not contain '/'"]),
    ("minReplicas 0", hpa(minReplicas=0),
     ["spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
      "spec.metrics: Forbidden: must specify at least one Object or External metric to support "
      "scaling to zero replicas"]),
    ("maxReplicas 0", hpa(maxReplicas=0),
     ["spec.maxReplicas: Invalid value: 0: must be greater than 0",
      "spec.maxReplicas: Invalid value: 0: must be greater than or equal to `minReplicas`"]),
    ("max below min", hpa(minReplicas=6),
     ["spec.maxReplicas: Invalid value: 5: must be greater than or equal to `minReplicas`"]),
    ("resource metric without a target", hpa(metrics=cpu({"type": "Utilization"})),
     ["spec.metrics[0].resource.target.averageUtilization: Required value: "
      "must set either a target raw value or a target utilization"]),
    ("resource metric with both targets",
     hpa(metrics=cpu({"type": "Utilization", "averageUtilization": 50, "averageValue": "100m"})),
     ["spec.metrics[0].resource.target.averageValue: Forbidden: "
      "may not set both a target raw value and a target utilization"]),
    ("utilization 0", hpa(metrics=cpu({"type": "Utilization", "averageUtilization": 0})),
     ["spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0"]),
    ("unknown target type", hpa(metrics=cpu({"type": "Percent", "averageUtilization": 50})),
     ['spec.metrics[0].resource.target.type: Invalid value: "Percent": '
      "must be either Utilization, Value, or AverageValue"]),
    ("resource metric without a name",
     hpa(metrics=[{"type": "Resource", "resource": {"target": {"type": "Utilization", "averageUtilization": 5}}}]),
     ["spec.metrics[0].resource.name: Required value: must specify a resource name"]),
    ("type without its source", hpa(metrics=[{"type": "Pods"}]),
     ["spec.metrics[0].pods: Required value: must populate information for the given metric source"]),
    ("two sources", hpa(metrics=[{"type": "Resource", **cpu({"type": "Utilization", "averageUtilization": 5})[0],
                                  "pods": {"metric": {"name": "qps"},
                                           "target": {"type": "AverageValue", "averageValue": "1"}}}]),
     ["spec.metrics[0].pods: Forbidden: must populate the given metric source only"]),
    ("pods metric without averageValue",
     hpa(metrics=[{"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue"}}}]),
     ["spec.metrics[0].pods.target.averageValue: Required value: must specify a positive target averageValue"]),
    ("unknown metric type", hpa(metrics=[{"type": "Magic"}]),
     ['spec.metrics[0].type: Unsupported value: "Magic": supported values: "ContainerResource", '
      '"External", "Object", "Pods", "Resource"'] * 2),
    ("scaling policy problems", hpa(behavior={"scaleDown": {"selectPolicy": "Avg",
                                                            "stabilizationWindowSeconds": 4000,
                                                            "policies": [{"type": "Pods", "value": 0,
                                                                          "periodSeconds": 3600}]}}),
     ["spec.behavior.scaleDown.stabilizationWindowSeconds: Invalid value: 4000: "
      "must be less than or equal to 3600",
      'spec.behavior.scaleDown.selectPolicy: Unsupported value: "Avg": supported values: '
      '"Disabled", "Max", "Min"',
      "spec.behavior.scaleDown.policies[0].value: Invalid value: 0: must be greater than zero",
      "spec.behavior.scaleDown.policies[0].periodSeconds: Invalid value: 3600: "
      "must be less than or equal to 1800"]),
    ("empty policies", hpa(behavior={"scaleUp": {"policies": []}}),
     ["spec.behavior.scaleUp.policies: Required value: must specify at least one Policy"]),
]


@pytest.mark.parametrize("name, obj, expected", CASES, ids=[c[0] for c in CASES])
def test_hpa(name: str, obj: dict, expected: list[str]) -> None:
    assert errors(obj) == expected


def test_negative_quantity_target() -> None:
    obj = hpa(metrics=[{"type": "Pods", "pods": {"metric": {"name": "qps"},
                                                 "target": {"type": "AverageValue", "averageValue": "-1"}}}])
    assert errors(obj) == [
        'spec.metrics[0].pods.target.averageValue: Invalid value: resource.Quantity{i:resource.int64Amount'
        '{value:-1, scale:0}, d:resource.infDecAmount{Dec:(*inf.Dec)(nil)}, s:"-1", Format:"DecimalSI"}: '
        "must be positive"]


def test_v1_target_cpu_is_checked_as_the_v2_metric_it_becomes() -> None:
    obj = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "web", "namespace": "default"},
           "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3,
                    "targetCPUUtilizationPercentage": 0}}
    assert errors(obj) == [
        "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0"]
    assert "metrics" not in obj["spec"]  # the stored v1 object keeps its v1 shape


def test_update_keeps_a_scale_to_zero_hpa_writable() -> None:
    old = hpa(minReplicas=0, metrics=[{"type": "External", "external": {
        "metric": {"name": "queue"}, "target": {"type": "Value", "value": "10"}}}])
    new = copy.deepcopy(old)
    new["spec"]["maxReplicas"] = 8
    assert HPA.validate_update(new, old) == []
    assert [str(e) for e in HPA.validate(new)] == [
        "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1"]


def test_status() -> None:
    new, old = hpa(), hpa()
    new["status"] = {"currentReplicas": -1, "desiredReplicas": 2}
    assert [str(e) for e in HPA.validate_status_update(new, old)] == [
        "status.currentReplicas: Invalid value: -1: must be greater than or equal to 0"]
