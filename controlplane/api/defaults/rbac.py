"""Defaults for rbac.authorization.k8s.io/v1 bindings, as ``pkg/apis/rbac/v1/defaults.go``.

Where it sits: the registry calls these (through ``validation.rbac.RULES``) before
validation. A binding may leave out the API group of what it names, because it can be
told from the kind: a ``roleRef`` always points into ``rbac.authorization.k8s.io``,
and so do ``User`` and ``Group`` subjects; a ``ServiceAccount`` lives in the core group
(``""``). Kinds the server does not know are left alone for validation to reject.
"""

from __future__ import annotations

from typing import Any

from .apps import section

GROUP = "rbac.authorization.k8s.io"
SUBJECT_GROUPS = {"ServiceAccount": "", "User": GROUP, "Group": GROUP}


def default_binding(obj: dict[str, Any]) -> None:
    """For RoleBindings and ClusterRoleBindings alike."""
    role_ref = section(obj, "roleRef")
    if not role_ref.get("apiGroup"):
        role_ref["apiGroup"] = GROUP
    for subject in obj.get("subjects") or []:
        # A ServiceAccount's group is "", which the API omits rather than writes out.
        if isinstance(subject, dict) and not subject.get("apiGroup") \
                and SUBJECT_GROUPS.get(subject.get("kind", "")):
            subject["apiGroup"] = SUBJECT_GROUPS[subject["kind"]]
