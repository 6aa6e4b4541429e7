"""policy/v1 PodDisruptionBudgets, as ``pkg/apis/policy/validation`` checks them.

Where it sits: the registry looks up ``RULES["PodDisruptionBudget"]``; the eviction
subresource later reads the budget to decide whether a pod may go. A budget says how
many of the selected pods must stay (``minAvailable``) or may be missing
(``maxUnavailable``), as a count or a percentage, never both: with both, the eviction
code could not tell which one wins.

policy/v1 has no defaults, and unlike most kinds its spec may change at any time.
"""

from __future__ import annotations

from ..fielderrors import FieldError, Path, not_supported
from .apps import at_most_100_percent, int_or_percent, nonnegative
from .goprint import go_pointer, go_struct, invalid_go
from .meta import validate_label_selector
from .rules import KindRules

SPEC = Path("spec")
EVICTION_POLICIES = ["AlwaysAllow", "IfHealthyBudget"]


def _go_spec(spec: dict) -> str:
    return go_struct("policy.PodDisruptionBudgetSpec",
                     MinAvailable=go_pointer("intstr.IntOrString", spec.get("minAvailable")),
                     Selector=go_pointer("v1.LabelSelector", spec.get("selector")),
                     MaxUnavailable=go_pointer("intstr.IntOrString", spec.get("maxUnavailable")),
                     UnhealthyPodEvictionPolicy=go_pointer("policy.UnhealthyPodEvictionPolicyType",
                                                           spec.get("unhealthyPodEvictionPolicy")))


def validate_pdb(obj: dict) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errs: list[FieldError] = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        errs.append(invalid_go(SPEC, _go_spec(spec),
                               "minAvailable and maxUnavailable cannot be both set"))
    for name in ("minAvailable", "maxUnavailable"):
        if spec.get(name) is not None:
            errs += int_or_percent(spec[name], SPEC.child(name))
            errs += at_most_100_percent(spec[name], SPEC.child(name))
    errs += validate_label_selector(spec.get("selector"), SPEC.child("selector"))
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in EVICTION_POLICIES:
        errs.append(not_supported(str(SPEC.child("unhealthyPodEvictionPolicy")), policy,
                                  EVICTION_POLICIES))
    return errs


def validate_pdb_update(new: dict, old: dict) -> list[FieldError]:
    return validate_pdb(new)


def validate_pdb_status(new: dict, old: dict) -> list[FieldError]:
    status, path = new.get("status") or {}, Path("status")
    errs: list[FieldError] = []
    for name in ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"):
        errs += nonnegative(status.get(name), path.child(name))
    return errs


RULES: dict[str, KindRules] = {
    "PodDisruptionBudget": KindRules(validate=validate_pdb, validate_update=validate_pdb_update,
                                     validate_status_update=validate_pdb_status),
}
