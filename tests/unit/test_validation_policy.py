"""PodDisruptionBudget validation (policy/v1)."""

from __future__ import annotations

import pytest

from controlplane.api.validation import rules_for

PDB = rules_for("policy", "PodDisruptionBudget")


def pdb(**spec: object) -> dict:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}}


CASES = [
    ("minAvailable count", pdb(minAvailable=2), []),
    ("maxUnavailable percent", pdb(maxUnavailable="30%"), []),
    ("both", pdb(minAvailable=1, maxUnavailable=1),
     ["spec: Invalid value: policy.PodDisruptionBudgetSpec{MinAvailable:(*intstr.IntOrString)(0xc000a1b2c0), "
      "Selector:(*v1.LabelSelector)(0xc000a1b2c0), MaxUnavailable:(*intstr.IntOrString)(0xc000a1b2c0), "
      "UnhealthyPodEvictionPolicy:(*policy.UnhealthyPodEvictionPolicyType)(nil)}: "
      "minAvailable and maxUnavailable cannot be both set"]),
    ("negative", pdb(minAvailable=-1),
     ["spec.minAvailable: Invalid value: -1: must be greater than or equal to 0"]),
    ("over 100%", pdb(maxUnavailable="120%"),
     ['spec.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"120%"}: '
      "must not be greater than 100%"]),
    ("not a percent", pdb(minAvailable="half"),
     ['spec.minAvailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"half"}: '
      "a valid percent string must be a numeric string followed by an ending '%' "
      "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"]),
    ("bad selector", pdb(minAvailable=1, selector={"matchExpressions": [{"key": "app", "operator": "In"}]}),
     ["spec.selector.matchExpressions[0].values: Required value: "
      "must be specified when `operator` is 'In' or 'NotIn'"]),
    ("eviction policy", pdb(minAvailable=1, unhealthyPodEvictionPolicy="Never"),
     ['spec.unhealthyPodEvictionPolicy: Unsupported value: "Never": supported values: '
      '"AlwaysAllow", "IfHealthyBudget"']),
    ("eviction policy AlwaysAllow", pdb(minAvailable=1, unhealthyPodEvictionPolicy="AlwaysAllow"), []),
]


@pytest.mark.parametrize("name, obj, expected", CASES, ids=[c[0] for c in CASES])
def test_pdb(name: str, obj: dict, expected: list[str]) -> None:
    assert [str(e) for e in PDB.validate(obj)] == expected


def test_spec_may_change() -> None:
    assert PDB.validate_update(pdb(minAvailable=3), pdb(minAvailable=1)) == []


def test_status() -> None:
    new = pdb(minAvailable=1)
    new["status"] = {"disruptionsAllowed": -1, "expectedPods": 2}
    assert [str(e) for e in PDB.validate_status_update(new, pdb())] == [
        "status.disruptionsAllowed: Invalid value: -1: must be greater than or equal to 0"]
