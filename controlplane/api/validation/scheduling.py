"""What steers scheduling: node taints and pod tolerations, affinity, topology spread.

Where it sits: the pod spec validator checks a pod's tolerations, affinity and spread
constraints here; the node validator checks ``spec.taints`` with :func:`validate_taints`.

What it promises: upstream's messages for the rules a student trips over: an empty
toleration key needs ``operator: Exists``, ``tolerationSeconds`` only goes with
``NoExecute``, a taint is unique by key and effect, and an affinity term needs a
topology key.
"""

from __future__ import annotations

from typing import Any

from ..fielderrors import FieldError, Path, duplicate, forbidden, invalid, not_supported, required
from .goprint import duplicate_go, go_quote, go_struct
from .meta import (format_errors, is_dns1123_label, is_dns1123_subdomain, is_qualified_name,
                   is_valid_label_value, validate_label_selector)

TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
NOT_POSITIVE = "must be greater than zero"


def _key_errors(key: str, path: Path) -> list[FieldError]:
    return format_errors(is_qualified_name, key, path)


def _effect_errors(effect: str, path: Path, allow_empty: bool) -> list[FieldError]:
    if not effect:
        return [] if allow_empty else [required(str(path))]
    return [] if effect in TAINT_EFFECTS else [not_supported(str(path), effect, TAINT_EFFECTS)]


# -- tolerations and taints ------------------------------------------------------------------


def validate_tolerations(tolerations: Any, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, tol in enumerate(tolerations or []):
        tol_path = path.index(i)
        key, operator = tol.get("key") or "", tol.get("operator") or ""
        value, effect = tol.get("value") or "", tol.get("effect") or ""
        if key:
            errs += _key_errors(key, tol_path.child("key"))
        if not key and operator != "Exists":
            errs.append(invalid(str(tol_path.child("operator")), operator,
                                "operator must be Exists when `key` is empty, which means"
                                ' "match all values and all keys"'))
        if tol.get("tolerationSeconds") is not None and effect != "NoExecute":
            errs.append(invalid(str(tol_path.child("effect")), effect,
                                "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        errs += _operator_errors(operator, value, tol_path.child("operator"))
        errs += _effect_errors(effect, tol_path.child("effect"), allow_empty=True)
    return errs


def _operator_errors(operator: str, value: str, path: Path) -> list[FieldError]:
    if operator in ("Equal", ""):  # an empty operator means Equal
        problems = is_valid_label_value(value)
        return [invalid(str(path), value, ";".join(problems))] if problems else []
    if operator == "Exists":
        if value:
            return [invalid(str(path), value, "value must be empty when `operator` is 'Exists'")]
        return []
    return [not_supported(str(path), operator, ["Equal", "Exists"])]


def validate_taints(taints: Any, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate(taints or []):
        taint_path = path.index(i)
        key, value = taint.get("key") or "", taint.get("value") or ""
        effect = taint.get("effect") or ""
        errs += _key_errors(key, taint_path.child("key"))
        problems = is_valid_label_value(value)
        if problems:
            errs.append(invalid(str(taint_path.child("value")), value, ";".join(problems)))
        errs += _effect_errors(effect, taint_path.child("effect"), allow_empty=False)
        if (key, effect) in seen:
            errs.append(duplicate_go(taint_path, _go_taint(taint),
                                     "taints must be unique by key and effect pair"))
            continue
        seen.add((key, effect))
    return errs


def _go_taint(taint: dict) -> str:
    # TimeAdded is a pointer, and Go prints its address, which nobody can predict: a stand-in.
    added = "(*v1.Time)(nil)" if taint.get("timeAdded") is None else "(*v1.Time)(0xc000a1b2c0)"
    return go_struct("core.Taint", Key=go_quote(taint.get("key") or ""),
                     Value=go_quote(taint.get("value") or ""),
                     Effect=go_quote(taint.get("effect") or ""), TimeAdded=added)


# -- node affinity ------------------------------------------------------------------------

_NODE_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")
_REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
_PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


def _node_requirement(req: dict, check_values: bool, path: Path) -> list[FieldError]:
    operator, values = req.get("operator") or "", req.get("values") or []
    values_path = path.child("values")
    errs: list[FieldError] = []
    if operator in ("In", "NotIn") and not values:
        errs.append(required(str(values_path),
                             "must be specified when `operator` is 'In' or 'NotIn'"))
    elif operator in ("Exists", "DoesNotExist") and values:
        errs.append(forbidden(str(values_path), "may not be specified when `operator` is"
                                                " 'Exists' or 'DoesNotExist'"))
    elif operator in ("Gt", "Lt") and len(values) != 1:
        errs.append(required(str(values_path),
                             "must be specified single value when `operator` is 'Lt' or 'Gt'"))
    elif operator not in _NODE_OPERATORS:
        errs.append(invalid(str(path.child("operator")), operator, "not a valid selector operator"))
    errs += _key_errors(req.get("key") or "", path.child("key"))
    if check_values:
        for j, value in enumerate(values):
            errs += format_errors(is_valid_label_value, value, values_path.index(j))
    return errs


def _field_requirement(req: dict, path: Path) -> list[FieldError]:
    operator, values = req.get("operator") or "", req.get("values") or []
    key = req.get("key") or ""
    errs: list[FieldError] = []
    if operator not in ("In", "NotIn"):
        errs.append(invalid(str(path.child("operator")), operator, "not a valid selector operator"))
    elif len(values) != 1:
        errs.append(required(str(path.child("values")), "must be only one value when `operator` is"
                                                       " 'In' or 'NotIn' for node field selector"))
    if key != "metadata.name":
        errs.append(invalid(str(path.child("key")), key, "not a valid field selector key"))
    else:
        for j, value in enumerate(values):
            errs += format_errors(is_dns1123_subdomain, value, path.child("values").index(j))
    return errs


def _node_selector_term(term: dict, check_values: bool, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    for j, req in enumerate(term.get("matchExpressions") or []):
        errs += _node_requirement(req, check_values, path.child("matchExpressions").index(j))
    for j, req in enumerate(term.get("matchFields") or []):
        errs += _field_requirement(req, path.child("matchFields").index(j))
    return errs


def _node_affinity(affinity: dict, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    selector = affinity.get(_REQUIRED)
    if selector is not None:
        terms_path = path.child(_REQUIRED, "nodeSelectorTerms")
        terms = selector.get("nodeSelectorTerms") or []
        if not terms:
            errs.append(required(str(terms_path), "must have at least one node selector term"))
        for i, term in enumerate(terms):
            errs += _node_selector_term(term, True, terms_path.index(i))
    for i, term in enumerate(affinity.get(_PREFERRED) or []):
        term_path = path.child(_PREFERRED).index(i)
        errs += _weight(term, term_path)
        # Preferred terms tolerate bad label values: with one node they can still be satisfied.
        errs += _node_selector_term(term.get("preference") or {}, False,
                                    term_path.child("preference"))
    return errs


def _weight(term: dict, path: Path) -> list[FieldError]:
    weight = term.get("weight") or 0
    if not 1 <= weight <= 100:
        return [invalid(str(path.child("weight")), weight, "must be in the range 1-100")]
    return []


# -- pod (anti-)affinity -------------------------------------------------------------------


def _pod_affinity_term(term: dict, path: Path) -> list[FieldError]:
    errs = validate_label_selector(term.get("labelSelector"), path.child("labelSelector"))
    errs += validate_label_selector(term.get("namespaceSelector"), path.child("namespaceSelector"))
    for name in term.get("namespaces") or []:
        errs += format_errors(is_dns1123_label, name, path.child("namespace"))
    topology_key = term.get("topologyKey") or ""
    if not topology_key:
        errs.append(required(str(path.child("topologyKey")), "can not be empty"))
    return errs + _key_errors(topology_key, path.child("topologyKey"))


def _pod_affinity(affinity: dict, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, term in enumerate(affinity.get(_REQUIRED) or []):
        errs += _pod_affinity_term(term, path.child(_REQUIRED).index(i))
    for i, weighted in enumerate(affinity.get(_PREFERRED) or []):
        term_path = path.child(_PREFERRED).index(i)
        errs += _weight(weighted, term_path)
        errs += _pod_affinity_term(weighted.get("podAffinityTerm") or {},
                                   term_path.child("podAffinityTerm"))
    return errs


def validate_affinity(affinity: Any, path: Path) -> list[FieldError]:
    if affinity is None:
        return []
    errs: list[FieldError] = []
    if affinity.get("nodeAffinity") is not None:
        errs += _node_affinity(affinity["nodeAffinity"], path.child("nodeAffinity"))
    for kind in ("podAffinity", "podAntiAffinity"):
        if affinity.get(kind) is not None:
            errs += _pod_affinity(affinity[kind], path.child(kind))
    return errs


# -- topology spread constraints -------------------------------------------------------------


def validate_topology_spread(constraints: Any, path: Path) -> list[FieldError]:
    constraints = constraints or []
    errs: list[FieldError] = []
    for i, constraint in enumerate(constraints):
        c_path = path.index(i)
        max_skew = constraint.get("maxSkew") or 0
        if max_skew <= 0:
            errs.append(invalid(str(c_path.child("maxSkew")), max_skew, NOT_POSITIVE))
        key = constraint.get("topologyKey") or ""
        action = constraint.get("whenUnsatisfiable") or ""
        if not key:
            errs.append(required(str(c_path.child("topologyKey")), "can not be empty"))
        if action not in ("DoNotSchedule", "ScheduleAnyway"):
            errs.append(not_supported(str(c_path.child("whenUnsatisfiable")), action,
                                      ["DoNotSchedule", "ScheduleAnyway"]))
        if any(c.get("topologyKey") == key and c.get("whenUnsatisfiable") == action
               for c in constraints[i + 1:]):
            errs.append(duplicate(str(c_path.child("{topologyKey, whenUnsatisfiable}")),
                                  f"{{{key}, {action}}}"))
        errs += _min_domains(constraint.get("minDomains"), action, c_path.child("minDomains"))
        for policy in ("nodeAffinityPolicy", "nodeTaintsPolicy"):
            value = constraint.get(policy)
            if value is not None and value not in ("Honor", "Ignore"):
                errs.append(not_supported(str(c_path.child(policy)), value, ["Honor", "Ignore"]))
        errs += validate_label_selector(constraint.get("labelSelector"),
                                        c_path.child("labelSelector"))
    return errs


def _min_domains(min_domains: int | None, action: str, path: Path) -> list[FieldError]:
    if min_domains is None:
        return []
    errs = [invalid(str(path), min_domains, NOT_POSITIVE)] if min_domains <= 0 else []
    if action != "DoNotSchedule":
        detail = f"can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {action}"
        errs.append(invalid(str(path), min_domains, detail))
    return errs
