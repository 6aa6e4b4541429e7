"""coordination.k8s.io/v1 Leases, as ``pkg/apis/coordination/validation`` checks them.

Where it sits: the registry looks up ``RULES["Lease"]``. Leases are the cluster's
heartbeats and locks: every node agent renews one in ``kube-node-lease``, and the
controller manager and scheduler elect their leader with one. A Lease is valid when
its duration is positive and its transition count is not negative; who holds it
(``holderIdentity``) is free text, and its times are checked by the JSON decoder.

``strategy`` and ``preferredHolder`` belong to coordinated leader election, a feature
that is off by default in 1.33; as upstream drops the fields of a disabled feature, so
does the defaulting here, which is why they are never validated.
"""

from __future__ import annotations

from ..fielderrors import FieldError, Path, invalid
from .rules import KindRules

SPEC = Path("spec")


def drop_disabled_fields(obj: dict) -> None:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec.pop("strategy", None)
        spec.pop("preferredHolder", None)


def validate_lease(obj: dict) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errs: list[FieldError] = []
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and duration <= 0:
        errs.append(invalid(str(SPEC.child("leaseDurationSeconds")), duration,
                            "must be greater than 0"))
    transitions = spec.get("leaseTransitions")
    if transitions is not None and transitions < 0:
        errs.append(invalid(str(SPEC.child("leaseTransitions")), transitions,
                            "must be greater than or equal to 0"))
    return errs


def validate_lease_update(new: dict, old: dict) -> list[FieldError]:
    return validate_lease(new)


RULES: dict[str, KindRules] = {
    "Lease": KindRules(drop_disabled_fields, validate_lease, validate_lease_update),
}
