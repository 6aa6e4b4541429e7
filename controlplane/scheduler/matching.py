"""Matching rules several plugins share: taints against tolerations, nodes against selectors.

Where it sits: below the plugins. Each plugin file stays independent of its siblings
(import-linter's rule for ``scheduler/plugins``), so the rules two plugins need live
here: NodeUnschedulable and TaintToleration both ask "does the pod tolerate this
taint?", NodeAffinity and PodTopologySpread both ask "does this node match the pod's
required node affinity?".

Semantics are upstream's (``k8s.io/component-helpers/scheduling/corev1``):

* a toleration with an empty ``effect`` matches every effect, an empty ``key`` with
  ``operator: Exists`` matches every taint; ``Equal`` (the default) compares values;
* node selector terms are ORed; the expressions and fields inside one term are ANDed;
  a term with neither matches nothing;
* ``NotIn`` and ``DoesNotExist`` match a node without the label; ``Gt``/``Lt`` compare
  integers and match nothing when either side is not one;
* ``matchFields`` knows one field, ``metadata.name``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Obj = dict[str, Any]

NO_SCHEDULE, NO_EXECUTE, PREFER_NO_SCHEDULE = "NoSchedule", "NoExecute", "PreferNoSchedule"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"

# -- taints and tolerations ------------------------------------------------------------


def tolerates(toleration: Obj, taint: Obj) -> bool:
    """One toleration against one taint (upstream's ``Toleration.ToleratesTaint``)."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def tolerated(tolerations: Iterable[Obj], taint: Obj) -> bool:
    return any(tolerates(t, taint) for t in tolerations)


def first_untolerated(taints: Iterable[Obj], tolerations: list[Obj], effects: tuple[str, ...]) -> Obj | None:
    """The first taint with one of ``effects`` that no toleration covers, or None."""
    for taint in taints:
        if taint.get("effect") in effects and not tolerated(tolerations, taint):
            return taint
    return None


def pod_tolerations(pod: Obj) -> list[Obj]:
    return list((pod.get("spec") or {}).get("tolerations") or [])


def node_taints(node: Obj) -> list[Obj]:
    return list((node.get("spec") or {}).get("taints") or [])

# -- node selectors -------------------------------------------------------------------


def _int(value: str) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def requirement_matches(expr: Obj, labels: dict[str, str]) -> bool:
    """One ``NodeSelectorRequirement`` (or label selector requirement) against labels."""
    key, operator, values = expr.get("key") or "", expr.get("operator"), list(expr.get("values") or [])
    present = key in labels
    if operator == "In":
        return present and labels[key] in values
    if operator == "NotIn":
        return not present or labels[key] not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and len(values) == 1:
        have, want = _int(labels[key]), _int(values[0])
        if have is None or want is None:
            return False
        return have > want if operator == "Gt" else have < want
    return False


def _field_matches(expr: Obj, node: Obj) -> bool:
    if expr.get("key") != "metadata.name":
        return False
    return requirement_matches(expr, {"metadata.name": (node.get("metadata") or {}).get("name") or ""})


def term_matches(term: Obj, node: Obj) -> bool:
    """One ``NodeSelectorTerm``: every expression and field must hold; an empty term matches nothing."""
    expressions, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not expressions and not fields:
        return False
    labels = (node.get("metadata") or {}).get("labels") or {}
    return all(requirement_matches(e, labels) for e in expressions) and all(_field_matches(f, node) for f in fields)


def required_node_affinity_matches(pod: Obj, node: Obj) -> bool:
    """``spec.nodeSelector`` and ``requiredDuringSchedulingIgnoredDuringExecution`` both hold."""
    spec = pod.get("spec") or {}
    labels = (node.get("metadata") or {}).get("labels") or {}
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required is None:
        return True
    return any(term_matches(term, node) for term in required.get("nodeSelectorTerms") or [])


def preferred_terms(pod: Obj) -> list[Obj]:
    """The pod's ``preferredDuringSchedulingIgnoredDuringExecution`` terms that can match at all."""
    affinity = ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
    terms = affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []
    return [t for t in terms if t.get("weight") and ((t.get("preference") or {}).get("matchExpressions")
                                                      or (t.get("preference") or {}).get("matchFields"))]

# -- label selectors (metav1.LabelSelector) -------------------------------------------------


def label_selector_matches(selector: Obj | None, labels: dict[str, str]) -> bool:
    """``matchLabels`` and ``matchExpressions``; a null selector matches nothing, an empty one everything."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    return all(requirement_matches(e, labels) for e in selector.get("matchExpressions") or [])
