"""HorizontalPodAutoscaler defaults (autoscaling/v2 and v1)."""

from __future__ import annotations

from controlplane.api.defaults import autoscaling


def spec(**fields: object) -> dict:
    return {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5, **fields}


def test_minimal_v2_hpa() -> None:
    obj = {"apiVersion": "autoscaling/v2", "spec": spec()}
    autoscaling.default_hpa(obj)
    assert obj["spec"] == spec(minReplicas=1, metrics=[{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}])


def test_no_behavior_stays_no_behavior() -> None:
    obj = {"apiVersion": "autoscaling/v2", "spec": spec()}
    autoscaling.default_hpa(obj)
    assert "behavior" not in obj["spec"]


def test_behavior_fills_every_rule_left_out() -> None:
    obj = {"apiVersion": "autoscaling/v2",
           "spec": spec(behavior={"scaleDown": {"stabilizationWindowSeconds": 60}})}
    autoscaling.default_hpa(obj)
    assert obj["spec"]["behavior"] == {
        "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
            {"type": "Pods", "value": 4, "periodSeconds": 15},
            {"type": "Percent", "value": 100, "periodSeconds": 15}]},
        "scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Max", "policies": [
            {"type": "Percent", "value": 100, "periodSeconds": 15}]},
    }


def test_given_policies_replace_the_defaults() -> None:
    mine = [{"type": "Pods", "value": 1, "periodSeconds": 60}]
    obj = {"apiVersion": "autoscaling/v2", "spec": spec(behavior={"scaleUp": {"policies": mine}})}
    autoscaling.default_hpa(obj)
    assert obj["spec"]["behavior"]["scaleUp"] == {
        "stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": mine}
    assert "stabilizationWindowSeconds" not in obj["spec"]["behavior"]["scaleDown"]


def test_explicit_values_are_kept() -> None:
    metrics = [{"type": "Pods", "pods": {"metric": {"name": "qps"},
                                         "target": {"type": "AverageValue", "averageValue": "10"}}}]
    obj = {"apiVersion": "autoscaling/v2", "spec": spec(minReplicas=2, metrics=metrics)}
    autoscaling.default_hpa(obj)
    assert obj["spec"]["minReplicas"] == 2
    assert obj["spec"]["metrics"] == metrics


def test_v1_gets_only_min_replicas() -> None:
    obj = {"apiVersion": "autoscaling/v1", "spec": spec()}
    autoscaling.default_hpa(obj)
    assert obj["spec"] == spec(minReplicas=1)
