"""Defaults for HorizontalPodAutoscalers, as ``pkg/apis/autoscaling/v2/defaults.go`` sets them.

Where it sits: the registry calls :func:`default_hpa` (through
``validation.autoscaling.RULES``) before validation, on create and on update.

What an autoscaling/v2 HPA gets when the client leaves it out:

* ``minReplicas: 1``;
* one metric, average CPU utilization of 80%, when there are no metrics at all;
* for a ``behavior`` the client did give, every rule it left out: scale up by at most
  4 pods or 100% every 15 seconds, whichever is more, with no stabilization window;
  scale down by at most 100% every 15 seconds. (The scale-down stabilization window
  stays unset: the controller's own flag, 300 seconds by default, then applies.)

An autoscaling/v1 HPA gets only ``minReplicas: 1``, as upstream's v1 defaults.
"""

from __future__ import annotations

import copy
from typing import Any

from .apps import fill, section

DEFAULT_CPU_UTILIZATION = 80

SCALE_UP = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                 {"type": "Percent", "value": 100, "periodSeconds": 15}],
}
SCALE_DOWN = {
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}


def default_hpa(obj: dict[str, Any]) -> None:
    spec = section(obj, "spec")
    fill(spec, "minReplicas", 1)
    if obj.get("apiVersion") == "autoscaling/v1":
        return
    if not spec.get("metrics"):
        spec["metrics"] = [{"type": "Resource", "resource": {
            "name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}}}]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        behavior["scaleUp"] = _rules(behavior.get("scaleUp"), SCALE_UP)
        behavior["scaleDown"] = _rules(behavior.get("scaleDown"), SCALE_DOWN)


def _rules(given: dict[str, Any] | None, defaults: dict[str, Any]) -> dict[str, Any]:
    """The default rules with every field the client did set laid over them."""
    rules = copy.deepcopy(defaults)
    for key, value in (given or {}).items():
        if value is not None:
            rules[key] = value
    return rules
