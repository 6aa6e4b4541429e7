"""Validation and defaulting of every built-in kind, as upstream does it.

Where it sits: the registry looks up :func:`rules_for` (group, kind) on every write.
Each module covers one API group and exports ``RULES: dict[kind, KindRules]``;
``meta`` holds the checks shared by all kinds (names, labels, selectors, metadata).
"""

from __future__ import annotations

import importlib

from .rules import KindRules

# API group -> module in this package that holds its RULES.
_MODULES = {
    "": "core",
    "apps": "apps",
    "batch": "batch",
    "autoscaling": "autoscaling",
    "policy": "policy",
    "rbac.authorization.k8s.io": "rbac",
    "coordination.k8s.io": "coordination",
    "discovery.k8s.io": "discovery",
    "events.k8s.io": "events",
    "apiextensions.k8s.io": "apiextensions",
}

_DEFAULT = KindRules()


def rules_for(group: str, kind: str) -> KindRules:
    module = _MODULES.get(group)
    if module is None:
        return _DEFAULT
    rules = importlib.import_module(f"{__name__}.{module}").RULES
    return rules.get(kind, _DEFAULT)
