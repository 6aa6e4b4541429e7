"""apps/v1 validation: each case is what kubectl would print for a manifest.

Every object goes through the kind's defaults first, as the registry does, so the
cases read like the manifests a student writes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from controlplane.api.validation import rules_for

Mutation = Callable[[dict], object]

MISMATCH = ('spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: '
            "`selector` does not match template `labels`")
EMPTY_SELECTOR = ("v1.LabelSelector{MatchLabels:map[string]string(nil), "
                  "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}")


def workload(kind: str) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": kind,
        "metadata": {"name": "web", "namespace": "default", "uid": "6c1e3a52"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}},
        },
    }


def errors(kind: str, mutate: Mutation) -> list[str]:
    obj = workload(kind)
    mutate(obj)
    rules = rules_for("apps", kind)
    rules.default(obj)
    return [str(e) for e in rules.validate(obj)]


def update_errors(kind: str, mutate: Mutation) -> list[str]:
    rules = rules_for("apps", kind)
    old = workload(kind)
    rules.default(old)
    new = copy.deepcopy(old)
    mutate(new)
    rules.default(new)
    return [str(e) for e in rules.validate_update(new, old)]


def spec(**fields: object) -> Mutation:
    return lambda obj: obj["spec"].update(fields)


def pod(**fields: object) -> Mutation:
    return lambda obj: obj["spec"]["template"]["spec"].update(fields)


# -- Deployment ----------------------------------------------------------------------------------

DEPLOYMENT_CASES = [
    ("valid", spec(), []),
    ("negative replicas", spec(replicas=-1),
     ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]),
    ("missing selector", spec(selector=None), ["spec.selector: Required value", MISMATCH]),
    ("empty selector", spec(selector={}),
     [f"spec.selector: Invalid value: {EMPTY_SELECTOR}: empty selector is invalid for deployment"]),
    ("selector does not match", spec(selector={"matchLabels": {"app": "api"}}), [MISMATCH]),
    ("selector with a bad operator",
     spec(selector={"matchExpressions": [{"key": "app", "operator": "Is", "values": ["web"]}]}),
     ['spec.selector.matchExpressions[0].operator: Invalid value: "Is": not a valid selector operator',
      'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), '
      'MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"app", '
      'Operator:"Is", Values:[]string{"web"}}}}: invalid label selector']),
    ("restartPolicy Never", pod(restartPolicy="Never"),
     ['spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"']),
    ("activeDeadlineSeconds", pod(activeDeadlineSeconds=30),
     ["spec.template.spec.activeDeadlineSeconds: Forbidden: "
      "activeDeadlineSeconds in ReplicaSet is not Supported"]),
    ("Recreate with rollingUpdate", spec(strategy={"type": "Recreate", "rollingUpdate": {}}),
     ["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"]),
    ("Recreate", spec(strategy={"type": "Recreate"}), []),
    ("unknown strategy", spec(strategy={"type": "BlueGreen"}),
     ['spec.strategy: Unsupported value: apps.DeploymentStrategy{Type:"BlueGreen", '
      'RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}: supported values: "Recreate", "RollingUpdate"']),
    ("maxSurge and maxUnavailable both 0",
     spec(strategy={"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}}),
     ['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, '
      'StrVal:"0%"}: may not be 0 when `maxSurge` is 0']),
    ("maxUnavailable over 100%", spec(strategy={"rollingUpdate": {"maxUnavailable": "150%"}}),
     ['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, '
      'StrVal:"150%"}: must not be greater than 100%']),
    ("maxSurge not a percent", spec(strategy={"rollingUpdate": {"maxSurge": "2x"}}),
     ['spec.strategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{Type:1, IntVal:0, '
      "StrVal:\"2x\"}: a valid percent string must be a numeric string followed by an ending '%' "
      "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"]),
    ("negative maxSurge", spec(strategy={"rollingUpdate": {"maxSurge": -1}}),
     ["spec.strategy.rollingUpdate.maxSurge: Invalid value: -1: must be greater than or equal to 0"]),
    ("negative revisionHistoryLimit", spec(revisionHistoryLimit=-1),
     ["spec.revisionHistoryLimit: Invalid value: -1: must be greater than or equal to 0"]),
    ("progress deadline not after minReadySeconds", spec(minReadySeconds=30, progressDeadlineSeconds=30),
     ["spec.progressDeadlineSeconds: Invalid value: 30: must be greater than minReadySeconds"]),
]


@pytest.mark.parametrize("name, mutate, expected", DEPLOYMENT_CASES, ids=[c[0] for c in DEPLOYMENT_CASES])
def test_deployment(name: str, mutate: Mutation, expected: list[str]) -> None:
    assert errors("Deployment", mutate) == expected


def test_deployment_selector_is_immutable() -> None:
    def change(obj: dict) -> None:
        obj["spec"]["selector"]["matchLabels"]["tier"] = "front"
        obj["spec"]["template"]["metadata"]["labels"]["tier"] = "front"

    assert update_errors("Deployment", change) == [
        'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", '
        '"tier":"front"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable']


def test_deployment_template_and_replicas_may_change() -> None:
    assert update_errors("Deployment", spec(replicas=5)) == []
    assert update_errors("Deployment", pod(containers=[{"name": "web", "image": "nginx:1.28"}])) == []


DEPLOYMENT_STATUS_CASES = [
    ({"replicas": 2, "readyReplicas": 2, "availableReplicas": 2}, {}, []),
    ({"replicas": 1, "readyReplicas": 2}, {},
     ["status.readyReplicas: Invalid value: 2: cannot be greater than status.replicas"]),
    ({"replicas": 3, "readyReplicas": 1, "availableReplicas": 2}, {},
     ["status.availableReplicas: Invalid value: 2: cannot be greater than readyReplicas"]),
    # Unset counters are 0, and 0 is more than -1: upstream reports them too.
    ({"replicas": -1}, {}, ["status.replicas: Invalid value: -1: must be greater than or equal to 0",
                            "status.updatedReplicas: Invalid value: 0: cannot be greater than status.replicas",
                            "status.readyReplicas: Invalid value: 0: cannot be greater than status.replicas",
                            "status.availableReplicas: Invalid value: 0: cannot be greater than status.replicas"]),
    ({"collisionCount": 1}, {"collisionCount": 2},
     ["status.collisionCount: Invalid value: 1: cannot be decremented"]),
    ({}, {"collisionCount": 2}, ["status.collisionCount: Invalid value: 0: cannot be decremented"]),
]


@pytest.mark.parametrize("status, old_status, expected", DEPLOYMENT_STATUS_CASES)
def test_deployment_status(status: dict, old_status: dict, expected: list[str]) -> None:
    new, old = workload("Deployment"), workload("Deployment")
    new["status"], old["status"] = status, old_status
    assert [str(e) for e in rules_for("apps", "Deployment").validate_status_update(new, old)] == expected


# -- ReplicaSet ----------------------------------------------------------------------------------

REPLICA_SET_CASES = [
    ("valid", spec(), []),
    ("negative minReadySeconds", spec(minReadySeconds=-5),
     ["spec.minReadySeconds: Invalid value: -5: must be greater than or equal to 0"]),
    # Upstream's message names deployments for ReplicaSets too.
    ("empty selector", spec(selector={}),
     [f"spec.selector: Invalid value: {EMPTY_SELECTOR}: empty selector is invalid for deployment"]),
    ("missing selector", spec(selector=None), ["spec.selector: Required value", MISMATCH]),
]


@pytest.mark.parametrize("name, mutate, expected", REPLICA_SET_CASES, ids=[c[0] for c in REPLICA_SET_CASES])
def test_replica_set(name: str, mutate: Mutation, expected: list[str]) -> None:
    assert errors("ReplicaSet", mutate) == expected


def test_replica_set_status() -> None:
    new, old = workload("ReplicaSet"), workload("ReplicaSet")
    new["status"] = {"replicas": 1, "fullyLabeledReplicas": 3}
    assert [str(e) for e in rules_for("apps", "ReplicaSet").validate_status_update(new, old)] == [
        "status.fullyLabeledReplicas: Invalid value: 3: cannot be greater than status.replicas"]


# -- DaemonSet -----------------------------------------------------------------------------------

DAEMON_SET_CASES = [
    ("valid", spec(), []),
    # A DaemonSet's selector is not required by name, but a missing one selects nothing.
    ("missing selector", spec(selector=None), [MISMATCH]),
    ("empty selector", spec(selector={}),
     [f"spec.selector: Invalid value: {EMPTY_SELECTOR}: empty selector is invalid for daemonset"]),
    ("restartPolicy OnFailure", pod(restartPolicy="OnFailure"),
     ['spec.template.spec.restartPolicy: Unsupported value: "OnFailure": supported values: "Always"']),
    ("surge and unavailable both set", spec(updateStrategy={"rollingUpdate": {"maxSurge": 1}}),
     ["spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{Type:0, IntVal:1, "
      'StrVal:""}: may not be set when maxUnavailable is non-zero']),
    ("surge only", spec(updateStrategy={"rollingUpdate": {"maxSurge": "10%", "maxUnavailable": 0}}), []),
    ("neither surge nor unavailable", spec(updateStrategy={"rollingUpdate": {"maxUnavailable": 0}}),
     ["spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"]),
    ("OnDelete", spec(updateStrategy={"type": "OnDelete"}), []),
    ("unknown strategy", spec(updateStrategy={"type": "Sometimes"}),
     ['spec.updateStrategy: Unsupported value: apps.DaemonSetUpdateStrategy{Type:"Sometimes", '
      'RollingUpdate:(*apps.RollingUpdateDaemonSet)(nil)}: supported values: "RollingUpdate", "OnDelete"']),
    ("maxSurge over 100%", spec(updateStrategy={"rollingUpdate": {"maxSurge": "101%", "maxUnavailable": 0}}),
     ['spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{Type:1, IntVal:0, '
      'StrVal:"101%"}: must not be greater than 100%']),
]


@pytest.mark.parametrize("name, mutate, expected", DAEMON_SET_CASES, ids=[c[0] for c in DAEMON_SET_CASES])
def test_daemon_set(name: str, mutate: Mutation, expected: list[str]) -> None:
    assert errors("DaemonSet", mutate) == expected


def test_daemon_set_selector_is_immutable() -> None:
    def change(obj: dict) -> None:
        obj["spec"]["selector"] = {"matchLabels": {"app": "web", "v": "2"}}
        obj["spec"]["template"]["metadata"]["labels"]["v"] = "2"

    assert update_errors("DaemonSet", change) == [
        'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", '
        '"v":"2"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable']


# -- StatefulSet ---------------------------------------------------------------------------------

STS_FORBIDDEN = ("spec: Forbidden: updates to statefulset spec for fields other than 'replicas', "
                 "'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' "
                 "and 'minReadySeconds' are forbidden")

STATEFUL_SET_CASES = [
    ("valid", spec(serviceName="web"), []),
    ("unknown podManagementPolicy", spec(podManagementPolicy="AllAtOnce"),
     ["spec.podManagementPolicy: Invalid value: \"AllAtOnce\": must be 'OrderedReady' or 'Parallel'"]),
    ("OnDelete with rollingUpdate", spec(updateStrategy={"type": "OnDelete", "rollingUpdate": {"partition": 2}}),
     ["spec.updateStrategy.rollingUpdate: Invalid value: apps.RollingUpdateStatefulSetStrategy{Partition:2, "
      "MaxUnavailable:(*intstr.IntOrString)(nil)}: only allowed for updateStrategy 'RollingUpdate'"]),
    ("unknown updateStrategy", spec(updateStrategy={"type": "Canary"}),
     ['spec.updateStrategy: Invalid value: apps.StatefulSetUpdateStrategy{Type:"Canary", '
      "RollingUpdate:(*apps.RollingUpdateStatefulSetStrategy)(nil)}: must be 'RollingUpdate' or 'OnDelete'"]),
    ("negative partition", spec(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": -1}}),
     ["spec.updateStrategy.rollingUpdate.partition: Invalid value: -1: must be greater than or equal to 0"]),
    ("unknown retention policy", spec(persistentVolumeClaimRetentionPolicy={"whenDeleted": "Keep"}),
     ['spec.persistentVolumeClaimRetentionPolicy.whenDeleted: Unsupported value: "Keep": '
      'supported values: "Retain", "Delete"']),
    ("negative ordinals.start", spec(ordinals={"start": -1}),
     ["spec.ordinals.start: Invalid value: -1: must be greater than or equal to 0"]),
    ("missing selector", spec(selector=None), ["spec.selector: Required value", MISMATCH]),
    ("empty selector", spec(selector={}),
     [f"spec.selector: Invalid value: {EMPTY_SELECTOR}: empty selector is invalid for statefulset"]),
    ("restartPolicy Never", pod(restartPolicy="Never"),
     ['spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"']),
    ("bad template label", lambda o: o["spec"]["template"]["metadata"]["labels"].update({"a b": "x"}),
     ['spec.template.labels: Invalid value: "a b": name part must consist of alphanumeric characters, '
      "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or "
      "'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"]),
]


@pytest.mark.parametrize("name, mutate, expected", STATEFUL_SET_CASES, ids=[c[0] for c in STATEFUL_SET_CASES])
def test_stateful_set(name: str, mutate: Mutation, expected: list[str]) -> None:
    assert errors("StatefulSet", mutate) == expected


@pytest.mark.parametrize("mutate, expected", [
    (spec(replicas=3), []),
    (spec(minReadySeconds=10), []),
    (spec(updateStrategy={"type": "OnDelete"}), []),
    (pod(containers=[{"name": "web", "image": "nginx:1.28"}]), []),
    (spec(serviceName="other"), [STS_FORBIDDEN]),
    (spec(podManagementPolicy="Parallel"), [STS_FORBIDDEN]),
    (spec(volumeClaimTemplates=[{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]),
     [STS_FORBIDDEN]),
])
def test_stateful_set_update(mutate: Mutation, expected: list[str]) -> None:
    assert update_errors("StatefulSet", mutate) == expected


def test_stateful_set_names_are_dns_labels() -> None:
    check = rules_for("apps", "StatefulSet").name
    assert check is not None
    assert check("web") == []
    assert check("web.example") != []  # a subdomain is fine elsewhere, not as a pod hostname


def test_stateful_set_status() -> None:
    new, old = workload("StatefulSet"), workload("StatefulSet")
    new["status"] = {"replicas": 2, "readyReplicas": 1, "availableReplicas": 2}
    assert [str(e) for e in rules_for("apps", "StatefulSet").validate_status_update(new, old)] == [
        "status.availableReplicas: Invalid value: 2: cannot be greater than status.readyReplicas"]


# -- ControllerRevision --------------------------------------------------------------------------


def revision(**fields: object) -> dict:
    obj = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
           "metadata": {"name": "web-6b9f", "namespace": "default"}, "revision": 1, "data": {"spec": {}}}
    obj.update(fields)
    return obj


@pytest.mark.parametrize("obj, expected", [
    (revision(), []),
    (revision(data=None), ["data: Required value: data is mandatory"]),
    (revision(revision=-1), ["revision: Invalid value: -1: must be greater than or equal to 0"]),
])
def test_controller_revision(obj: dict, expected: list[str]) -> None:
    assert [str(e) for e in rules_for("apps", "ControllerRevision").validate(obj)] == expected


def test_controller_revision_data_is_immutable() -> None:
    errs = rules_for("apps", "ControllerRevision").validate_update(revision(data={"a": 1}), revision())
    assert [str(e) for e in errs] == [
        "data: Invalid value: runtime.Unknown{TypeMeta:runtime.TypeMeta{APIVersion:\"\", Kind:\"\"}, "
        "Raw:[]uint8{0x7b, 0x22, 0x61, 0x22, 0x3a, 0x31, 0x7d}, ContentEncoding:\"\", "
        "ContentType:\"application/json\"}: field is immutable"]
