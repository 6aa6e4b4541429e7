"""Defaults for apps/v1 workloads, as ``pkg/apis/apps/v1/defaults.go`` sets them.

Where it sits: the registry calls these (through ``validation.apps.RULES``) on every
create and update, before validation. They fill in place only what the client left
out, so calling them twice changes nothing, and what they fill is what
``kubectl get -o yaml`` shows afterwards: ``replicas: 1``, a ``RollingUpdate`` strategy
with 25% surge, ``revisionHistoryLimit: 10``... Every workload's pod template also gets
the pod defaults (``restartPolicy: Always``, ``dnsPolicy: ClusterFirst``...).

A field the client sent as ``null`` counts as left out, as a nil pointer does in Go.
"""

from __future__ import annotations

from typing import Any

from .core import default_pod_spec


def fill(obj: dict[str, Any], key: str, value: Any) -> Any:
    """Set ``obj[key]`` unless the client gave a value; return the value it ends with."""
    if obj.get(key) is None:
        obj[key] = value
    return obj[key]


def section(obj: dict[str, Any], key: str) -> dict[str, Any]:
    """The sub-object at ``key``, created empty when missing (Go's zero-valued struct)."""
    if not isinstance(obj.get(key), dict):
        obj[key] = {}
    return obj[key]


def default_template(spec: dict[str, Any]) -> None:
    """The pod defaults, applied to ``spec.template.spec`` as to a pod."""
    default_pod_spec(section(section(spec, "template"), "spec"))


def default_deployment(obj: dict[str, Any]) -> None:
    spec = section(obj, "spec")
    fill(spec, "replicas", 1)
    strategy = section(spec, "strategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        rolling = section(strategy, "rollingUpdate")
        fill(rolling, "maxUnavailable", "25%")
        fill(rolling, "maxSurge", "25%")
    fill(spec, "revisionHistoryLimit", 10)
    fill(spec, "progressDeadlineSeconds", 600)
    default_template(spec)


def default_replica_set(obj: dict[str, Any]) -> None:
    spec = section(obj, "spec")
    fill(spec, "replicas", 1)
    default_template(spec)


def default_daemon_set(obj: dict[str, Any]) -> None:
    spec = section(obj, "spec")
    strategy = section(spec, "updateStrategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        # One node at a time, replaced in place: a node can run only one copy of the daemon.
        rolling = section(strategy, "rollingUpdate")
        fill(rolling, "maxUnavailable", 1)
        fill(rolling, "maxSurge", 0)
    fill(spec, "revisionHistoryLimit", 10)
    default_template(spec)


def default_stateful_set(obj: dict[str, Any]) -> None:
    spec = section(obj, "spec")
    if not spec.get("podManagementPolicy"):
        spec["podManagementPolicy"] = "OrderedReady"
    strategy = section(spec, "updateStrategy")
    if not strategy.get("type"):
        # Only a strategy the client left entirely to the server gets a rollingUpdate block.
        strategy["type"] = "RollingUpdate"
        section(strategy, "rollingUpdate")
    rolling = strategy.get("rollingUpdate")
    if strategy["type"] == "RollingUpdate" and isinstance(rolling, dict):
        fill(rolling, "partition", 0)
        # maxUnavailable is behind the alpha MaxUnavailableStatefulSet gate, off in 1.33,
        # and upstream drops fields of disabled features.
        rolling.pop("maxUnavailable", None)
    retention = section(spec, "persistentVolumeClaimRetentionPolicy")
    for when in ("whenDeleted", "whenScaled"):
        if not retention.get(when):
            retention[when] = "Retain"
    fill(spec, "replicas", 1)
    fill(spec, "revisionHistoryLimit", 10)
    default_template(spec)
    for claim in spec.get("volumeClaimTemplates") or []:
        _default_claim_template(claim)


def _default_claim_template(claim: dict[str, Any]) -> None:
    """A volumeClaimTemplates entry reads back as a full PersistentVolumeClaim."""
    claim.setdefault("apiVersion", "v1")
    claim.setdefault("kind", "PersistentVolumeClaim")
    fill(section(claim, "spec"), "volumeMode", "Filesystem")
    status = section(claim, "status")
    if not status.get("phase"):
        status["phase"] = "Pending"
