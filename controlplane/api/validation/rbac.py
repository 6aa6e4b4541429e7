"""rbac.authorization.k8s.io/v1 Roles, ClusterRoles and their bindings.

Where it sits: the registry looks up ``RULES[kind]``; the authorizer then reads these
objects to answer "may this user do this?". Upstream's ``pkg/apis/rbac/validation``:

* names only need to be usable in a URL path (``is_path_segment_name``), because
  role names such as ``system:controller:job-controller`` contain colons;
* a rule grants ``verbs`` on either resources (which need ``apiGroups`` and
  ``resources``) or ``nonResourceURLs`` such as ``/healthz``, never both; a Role is
  namespaced, so it cannot grant URLs, which belong to no namespace;
* a binding's ``roleRef`` names a Role or ClusterRole (a ClusterRoleBinding only a
  ClusterRole) and can never change: rebinding to another role is a new binding, so
  nobody can quietly widen what the subjects may do;
* subjects are Users and Groups (group ``rbac.authorization.k8s.io``) or
  ServiceAccounts (core group, with a namespace unless the binding has one).
"""

from __future__ import annotations

from ..defaults import rbac as defaults
from ..fielderrors import FieldError, Path, invalid, not_supported, required
from .apps import selector_convertible
from .goprint import go_quote, go_strings, go_struct, invalid_go
from .meta import is_dns1123_subdomain, is_path_segment_name, validate_label_selector
from .rules import KindRules

GROUP = defaults.GROUP
SUBJECT_KINDS = ["ServiceAccount", "User", "Group"]


def validate_rule(rule: dict, namespaced: bool, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    if not rule.get("verbs"):
        errs.append(required(str(path.child("verbs")), "verbs must contain at least one value"))
    urls = rule.get("nonResourceURLs")
    if urls:
        if namespaced:
            errs.append(invalid_go(path.child("nonResourceURLs"), go_strings(urls),
                                   "namespaced rules cannot apply to non-resource URLs"))
        if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
            errs.append(invalid_go(path.child("nonResourceURLs"), go_strings(urls), "rules cannot "
                                   "apply to both regular resources and non-resource URLs"))
        return errs
    if not rule.get("apiGroups"):
        errs.append(required(str(path.child("apiGroups")),
                             "resource rules must supply at least one api group"))
    if not rule.get("resources"):
        errs.append(required(str(path.child("resources")),
                             "resource rules must supply at least one resource"))
    return errs


def _rules(obj: dict, namespaced: bool) -> list[FieldError]:
    return [e for i, rule in enumerate(obj.get("rules") or [])
            for e in validate_rule(rule, namespaced, Path("rules").index(i))]


def validate_role(obj: dict) -> list[FieldError]:
    return _rules(obj, namespaced=True)


def validate_cluster_role(obj: dict) -> list[FieldError]:
    errs = _rules(obj, namespaced=False)
    aggregation = obj.get("aggregationRule")
    if aggregation is not None:
        path = Path("aggregationRule", "clusterRoleSelectors")
        selectors = aggregation.get("clusterRoleSelectors") or []
        if not selectors:
            errs.append(required(str(path), "at least one clusterRoleSelector required if "
                                            "aggregationRule is non-nil"))
        for i, selector in enumerate(selectors):
            errs += validate_label_selector(selector, path.index(i))
            if not selector_convertible(selector):
                # Go prints the selector it failed to build, a nil interface, as "null".
                errs.append(invalid(str(path.index(i)), "null", "invalid label selector."))
    return errs


def validate_subject(subject: dict, namespaced: bool, path: Path) -> list[FieldError]:
    name, kind = subject.get("name", ""), subject.get("kind", "")
    group = subject.get("apiGroup", "")
    errs = [] if name else [required(str(path.child("name")))]
    if kind == "ServiceAccount":
        if name:
            errs += [invalid(str(path.child("name")), name, m) for m in is_dns1123_subdomain(name)]
        if group:
            errs.append(not_supported(str(path.child("apiGroup")), group, [""]))
        if not namespaced and not subject.get("namespace"):
            errs.append(required(str(path.child("namespace"))))
    elif kind in ("User", "Group"):
        if group != GROUP:
            errs.append(not_supported(str(path.child("apiGroup")), group, [GROUP]))
    else:
        errs.append(not_supported(str(path.child("kind")), kind, SUBJECT_KINDS))
    return errs


def _binding(obj: dict, role_kinds: list[str], namespaced: bool) -> list[FieldError]:
    ref = obj.get("roleRef") or {}
    errs: list[FieldError] = []
    if ref.get("apiGroup", "") != GROUP:
        errs.append(not_supported("roleRef.apiGroup", ref.get("apiGroup", ""), [GROUP]))
    if ref.get("kind", "") not in role_kinds:
        errs.append(not_supported("roleRef.kind", ref.get("kind", ""), role_kinds))
    name = ref.get("name", "")
    if not name:
        errs.append(required("roleRef.name"))
    errs += [invalid("roleRef.name", name, m) for m in is_path_segment_name(name) if name]
    for i, subject in enumerate(obj.get("subjects") or []):
        errs += validate_subject(subject, namespaced, Path("subjects").index(i))
    return errs


def _go_role_ref(ref: dict) -> str:
    return go_struct("rbac.RoleRef", APIGroup=go_quote(ref.get("apiGroup", "")),
                     Kind=go_quote(ref.get("kind", "")), Name=go_quote(ref.get("name", "")))


def _role_ref_unchanged(new: dict, old: dict) -> list[FieldError]:
    new_ref, old_ref = new.get("roleRef") or {}, old.get("roleRef") or {}
    fields = ("apiGroup", "kind", "name")
    if all(new_ref.get(f, "") == old_ref.get(f, "") for f in fields):
        return []
    return [invalid_go("roleRef", _go_role_ref(new_ref), "cannot change roleRef")]


def validate_role_binding(obj: dict) -> list[FieldError]:
    return _binding(obj, ["Role", "ClusterRole"], namespaced=True)


def validate_cluster_role_binding(obj: dict) -> list[FieldError]:
    return _binding(obj, ["ClusterRole"], namespaced=False)


def validate_role_update(new: dict, old: dict) -> list[FieldError]:
    return validate_role(new)


def validate_cluster_role_update(new: dict, old: dict) -> list[FieldError]:
    return validate_cluster_role(new)


def validate_role_binding_update(new: dict, old: dict) -> list[FieldError]:
    return validate_role_binding(new) + _role_ref_unchanged(new, old)


def validate_cluster_role_binding_update(new: dict, old: dict) -> list[FieldError]:
    return validate_cluster_role_binding(new) + _role_ref_unchanged(new, old)


RULES: dict[str, KindRules] = {
    "Role": KindRules(validate=validate_role, validate_update=validate_role_update,
                      name=is_path_segment_name),
    "ClusterRole": KindRules(validate=validate_cluster_role,
                             validate_update=validate_cluster_role_update, name=is_path_segment_name),
    "RoleBinding": KindRules(defaults.default_binding, validate_role_binding,
                             validate_role_binding_update, name=is_path_segment_name),
    "ClusterRoleBinding": KindRules(defaults.default_binding, validate_cluster_role_binding,
                                    validate_cluster_role_binding_update, name=is_path_segment_name),
}
