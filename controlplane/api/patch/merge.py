"""JSON merge patch (RFC 7386): ``application/merge-patch+json``.

Where it sits: the PATCH handler uses it for ``kubectl label``, ``kubectl annotate``,
``kubectl scale`` (on the ``/scale`` subresource), ``kubectl patch --type=merge`` and
every patch of a custom resource, for which strategic merge is not defined.

What it promises: the RFC's algorithm and nothing more. A patch object is merged key
by key into the target; ``null`` removes a key; any value that is not an object
(lists included) replaces what was there. Lists are never merged, which is exactly why
Kubernetes invented the strategic merge patch for its own kinds.
"""

from __future__ import annotations

import copy
from typing import Any


def merge_patch(original: Any, patch: Any) -> Any:
    """Apply ``patch`` to ``original`` as RFC 7386 says; neither argument is changed.

    >>> merge_patch({"metadata": {"labels": {"app": "web", "tier": "db"}}},
    ...             {"metadata": {"labels": {"tier": None, "env": "dev"}}})
    {'metadata': {'labels': {'app': 'web', 'env': 'dev'}}}

    A patch that is not an object replaces the whole document, as the RFC requires;
    the handler refuses such a result for Kubernetes objects afterwards.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    # A target that is not an object (or is missing) is treated as an empty one.
    target = original if isinstance(original, dict) else {}
    # Walk the target first so that keys keep their order, as they do upstream.
    result: dict[str, Any] = {}
    for key, value in target.items():
        if key not in patch:
            result[key] = copy.deepcopy(value)
        elif patch[key] is not None:  # null deletes: leaving the key out is the deletion
            result[key] = merge_patch(value, patch[key])
    for key, value in patch.items():
        if key not in target and value is not None:
            result[key] = merge_patch(None, value)
    return result
