"""RBAC binding defaults: the API groups a binding may leave out."""

from __future__ import annotations

from controlplane.api.defaults import rbac


def test_binding_defaults() -> None:
    obj = {"roleRef": {"kind": "ClusterRole", "name": "view"},
           "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"},
                        {"kind": "ServiceAccount", "name": "builder", "namespace": "ci"},
                        {"kind": "Robot", "name": "r2"}]}
    rbac.default_binding(obj)
    assert obj == {
        "roleRef": {"kind": "ClusterRole", "name": "view", "apiGroup": "rbac.authorization.k8s.io"},
        "subjects": [
            {"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"},
            {"kind": "Group", "name": "devs", "apiGroup": "rbac.authorization.k8s.io"},
            {"kind": "ServiceAccount", "name": "builder", "namespace": "ci"},  # "" is omitted
            {"kind": "Robot", "name": "r2"},  # left for validation to reject
        ],
    }


def test_explicit_groups_are_kept() -> None:
    obj = {"roleRef": {"apiGroup": "example.com", "kind": "Role", "name": "r"},
           "subjects": [{"kind": "User", "name": "alice", "apiGroup": "example.com"}]}
    rbac.default_binding(obj)
    assert obj["roleRef"]["apiGroup"] == "example.com"
    assert obj["subjects"][0]["apiGroup"] == "example.com"
