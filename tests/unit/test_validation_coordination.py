"""Lease validation (coordination.k8s.io/v1)."""

from __future__ import annotations

import pytest

from controlplane.api.validation import rules_for

LEASE = rules_for("coordination.k8s.io", "Lease")


def lease(**spec: object) -> dict:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "node-1", "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": "node-1", "renewTime": "2026-01-05T10:00:00.000000Z", **spec}}


@pytest.mark.parametrize("obj, expected", [
    (lease(leaseDurationSeconds=40, leaseTransitions=0), []),
    (lease(), []),  # every field of a Lease's spec is optional
    (lease(leaseDurationSeconds=0), ["spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"]),
    (lease(leaseTransitions=-1),
     ["spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0"]),
])
def test_lease(obj: dict, expected: list[str]) -> None:
    assert [str(e) for e in LEASE.validate(obj)] == expected
    assert [str(e) for e in LEASE.validate_update(obj, lease())] == expected


def test_coordinated_election_fields_are_dropped_while_the_feature_is_off() -> None:
    obj = lease(strategy="Bogus", preferredHolder="node-2")
    LEASE.default(obj)
    assert "strategy" not in obj["spec"] and "preferredHolder" not in obj["spec"]
    assert LEASE.validate(obj) == []
