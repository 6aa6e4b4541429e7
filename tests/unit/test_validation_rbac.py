"""RBAC validation: Roles, ClusterRoles and their bindings."""

from __future__ import annotations

import copy

import pytest

from controlplane.api.validation import rules_for

GROUP = "rbac.authorization.k8s.io"


def role(kind: str, *rules: dict, **extra: object) -> dict:
    obj = {"apiVersion": f"{GROUP}/v1", "kind": kind, "metadata": {"name": "reader"}, "rules": list(rules)}
    obj.update(extra)
    return obj


READ_PODS = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}
HEALTHZ = {"nonResourceURLs": ["/healthz"], "verbs": ["get"]}

ROLE_CASES = [
    ("Role", role("Role", READ_PODS), []),
    ("Role", role("Role", {"apiGroups": [""], "resources": ["pods"]}),
     ["rules[0].verbs: Required value: verbs must contain at least one value"]),
    ("Role", role("Role", {"verbs": ["get"]}),
     ["rules[0].apiGroups: Required value: resource rules must supply at least one api group",
      "rules[0].resources: Required value: resource rules must supply at least one resource"]),
    ("Role", role("Role", HEALTHZ),
     ['rules[0].nonResourceURLs: Invalid value: []string{"/healthz"}: '
      "namespaced rules cannot apply to non-resource URLs"]),
    ("ClusterRole", role("ClusterRole", HEALTHZ), []),
    ("ClusterRole", role("ClusterRole", {**HEALTHZ, "resources": ["pods"]}),
     ['rules[0].nonResourceURLs: Invalid value: []string{"/healthz"}: '
      "rules cannot apply to both regular resources and non-resource URLs"]),
    ("ClusterRole", role("ClusterRole", aggregationRule={"clusterRoleSelectors": []}),
     ["aggregationRule.clusterRoleSelectors: Required value: "
      "at least one clusterRoleSelector required if aggregationRule is non-nil"]),
    ("ClusterRole", role("ClusterRole", aggregationRule={"clusterRoleSelectors": [
        {"matchLabels": {"rbac.example.com/aggregate-to-view": "true"}}]}), []),
]


@pytest.mark.parametrize("kind, obj, expected", ROLE_CASES)
def test_roles(kind: str, obj: dict, expected: list[str]) -> None:
    assert [str(e) for e in rules_for(GROUP, kind).validate(obj)] == expected


def binding(kind: str, role_ref: dict, *subjects: dict) -> dict:
    return {"apiVersion": f"{GROUP}/v1", "kind": kind, "metadata": {"name": "read-pods", "namespace": "dev"},
            "roleRef": role_ref, "subjects": list(subjects)}


ALICE = {"kind": "User", "name": "alice"}
SA = {"kind": "ServiceAccount", "name": "builder"}

BINDING_CASES = [
    ("RoleBinding", binding("RoleBinding", {"kind": "Role", "name": "reader"}, ALICE, SA), []),
    ("RoleBinding", binding("RoleBinding", {"kind": "ClusterRole", "name": "view"}, ALICE), []),
    ("RoleBinding", binding("RoleBinding", {"kind": "Group", "name": "reader"}, ALICE),
     ['roleRef.kind: Unsupported value: "Group": supported values: "Role", "ClusterRole"']),
    ("RoleBinding", binding("RoleBinding", {"apiGroup": "rbac", "kind": "Role"}, ALICE),
     ['roleRef.apiGroup: Unsupported value: "rbac": supported values: "rbac.authorization.k8s.io"',
      "roleRef.name: Required value"]),
    ("ClusterRoleBinding", binding("ClusterRoleBinding", {"kind": "Role", "name": "reader"}, ALICE),
     ['roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"']),
    # A ServiceAccount outside any namespace needs one named in the subject.
    ("ClusterRoleBinding", binding("ClusterRoleBinding", {"kind": "ClusterRole", "name": "view"}, SA),
     ["subjects[0].namespace: Required value"]),
    ("RoleBinding", binding("RoleBinding", {"kind": "Role", "name": "reader"},
                            {"kind": "ServiceAccount", "name": "b", "apiGroup": GROUP}),
     [f'subjects[0].apiGroup: Unsupported value: "{GROUP}": supported values: ""']),
    ("RoleBinding", binding("RoleBinding", {"kind": "Role", "name": "reader"},
                            {"kind": "User", "name": "bob", "apiGroup": "users"}),
     ['subjects[0].apiGroup: Unsupported value: "users": supported values: "rbac.authorization.k8s.io"']),
    ("RoleBinding", binding("RoleBinding", {"kind": "Role", "name": "reader"}, {"kind": "Robot", "name": "r2"}),
     ['subjects[0].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"']),
    ("RoleBinding", binding("RoleBinding", {"kind": "Role", "name": "reader"}, {"kind": "ServiceAccount"}),
     ["subjects[0].name: Required value"]),
    ("RoleBinding", binding("RoleBinding", {"kind": "Role", "name": "reader"},
                            {"kind": "ServiceAccount", "name": "Builder"}),
     ['subjects[0].name: Invalid value: "Builder": a lowercase RFC 1123 subdomain must consist of lower '
      "case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character "
      "(e.g. 'example.com', regex used for validation is "
      "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"]),
]


@pytest.mark.parametrize("kind, obj, expected", BINDING_CASES)
def test_bindings(kind: str, obj: dict, expected: list[str]) -> None:
    rules = rules_for(GROUP, kind)
    rules.default(obj)  # fills the API groups a binding may leave out
    assert [str(e) for e in rules.validate(obj)] == expected


def test_role_ref_cannot_change() -> None:
    rules = rules_for(GROUP, "RoleBinding")
    old = binding("RoleBinding", {"kind": "Role", "name": "reader"}, ALICE)
    rules.default(old)
    new = copy.deepcopy(old)
    new["roleRef"]["name"] = "admin"
    new["subjects"].append({"kind": "Group", "name": "devs", "apiGroup": GROUP})
    assert [str(e) for e in rules.validate_update(new, old)] == [
        'roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"Role", '
        'Name:"admin"}: cannot change roleRef']
    new["roleRef"]["name"] = "reader"
    assert rules.validate_update(new, old) == []


@pytest.mark.parametrize("kind", ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"])
def test_names_only_need_to_fit_in_a_url(kind: str) -> None:
    check = rules_for(GROUP, kind).name
    assert check is not None
    assert check("system:controller:job-controller") == []
    assert check("a/b") == ["may not contain '/'"]
