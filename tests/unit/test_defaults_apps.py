"""apps/v1 defaults: what ``kubectl get -o yaml`` shows for fields the manifest left out."""

from __future__ import annotations

import copy

import pytest

from controlplane.api.defaults import apps


def manifest(**spec: object) -> dict:
    base = {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}
    base.update(spec)
    return {"metadata": {"name": "web"}, "spec": base}


def without_template(obj: dict) -> dict:
    spec = dict(obj["spec"])
    del spec["template"], spec["selector"]
    return spec


def test_deployment_defaults() -> None:
    obj = manifest()
    apps.default_deployment(obj)
    assert without_template(obj) == {
        "replicas": 1,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
    }
    assert obj["spec"]["template"]["spec"]["restartPolicy"] == "Always"  # the pod defaults
    assert obj["spec"]["template"]["spec"]["dnsPolicy"] == "ClusterFirst"


@pytest.mark.parametrize("given, expected", [
    ({"type": "Recreate"}, {"type": "Recreate"}),
    ({"rollingUpdate": {"maxSurge": 1}},
     {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}}),
    ({"type": "RollingUpdate", "rollingUpdate": None},
     {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
])
def test_deployment_strategy_keeps_what_was_given(given: dict, expected: dict) -> None:
    obj = manifest(strategy=given, replicas=0, revisionHistoryLimit=0)
    apps.default_deployment(obj)
    assert obj["spec"]["strategy"] == expected
    assert obj["spec"]["replicas"] == 0 and obj["spec"]["revisionHistoryLimit"] == 0


def test_replica_set_defaults() -> None:
    obj = manifest()
    apps.default_replica_set(obj)
    assert without_template(obj) == {"replicas": 1}


def test_daemon_set_defaults() -> None:
    obj = manifest()
    apps.default_daemon_set(obj)
    assert without_template(obj) == {
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
        "revisionHistoryLimit": 10,
    }


def test_daemon_set_on_delete_has_no_rolling_update() -> None:
    obj = manifest(updateStrategy={"type": "OnDelete"})
    apps.default_daemon_set(obj)
    assert obj["spec"]["updateStrategy"] == {"type": "OnDelete"}


def test_stateful_set_defaults() -> None:
    obj = manifest(serviceName="web")
    apps.default_stateful_set(obj)
    assert without_template(obj) == {
        "serviceName": "web",
        "podManagementPolicy": "OrderedReady",
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
        "replicas": 1,
        "revisionHistoryLimit": 10,
    }


def test_stateful_set_explicit_rolling_update_gets_no_block() -> None:
    # Upstream adds rollingUpdate only when it chose the strategy type itself.
    obj = manifest(updateStrategy={"type": "RollingUpdate"})
    apps.default_stateful_set(obj)
    assert obj["spec"]["updateStrategy"] == {"type": "RollingUpdate"}


def test_stateful_set_claim_templates_read_back_as_claims() -> None:
    claim = {"metadata": {"name": "data"},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    obj = manifest(volumeClaimTemplates=[claim])
    apps.default_stateful_set(obj)
    assert obj["spec"]["volumeClaimTemplates"] == [{
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                 "volumeMode": "Filesystem"},
        "status": {"phase": "Pending"},
    }]


@pytest.mark.parametrize("default", [apps.default_deployment, apps.default_replica_set,
                                     apps.default_daemon_set, apps.default_stateful_set])
def test_defaulting_twice_changes_nothing(default) -> None:  # type: ignore[no-untyped-def]
    once = manifest()
    default(once)
    twice = copy.deepcopy(once)
    default(twice)
    assert twice == once


def test_missing_template_gets_pod_defaults() -> None:
    obj: dict = {"spec": {}}
    apps.default_replica_set(obj)
    assert obj["spec"]["template"]["spec"]["restartPolicy"] == "Always"
