"""JSON patch (RFC 6902): ``application/json-patch+json``.

Where it sits: the PATCH handler uses it for ``kubectl rollout undo`` (which replaces
``/spec/template`` with an old ReplicaSet's template) and ``kubectl patch --type=json``.

What it promises: a JSON patch is a list of operations (``add``, ``remove``,
``replace``, ``move``, ``copy``, ``test``) applied in order, all or nothing. The
operations themselves come from the ``jsonpatch`` library (python-json-patch); this
module only decides which HTTP code each failure gets, the way the apiserver does:

* the body is not a list of operations, or an operation lacks ``op``/``path``/``value``
  or names an unknown ``op``: 400, the document is malformed;
* a ``test`` fails, or a path or ``from`` does not exist in the object: 422, with the
  library's own message.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer

from . import PatchError


def json_patch(original: dict, operations: Any) -> dict:
    """Apply the RFC 6902 ``operations`` to ``original`` and return the new object.

    >>> json_patch({"spec": {"replicas": 1}},
    ...            [{"op": "test", "path": "/spec/replicas", "value": 1},
    ...             {"op": "replace", "path": "/spec/replicas", "value": 3}])
    {'spec': {'replicas': 3}}
    """
    if not isinstance(operations, list) or not all(isinstance(op, dict) for op in operations):
        raise PatchError("a JSON patch must be a list of operations", code=400)
    # The library inserts the operations' values into the result as they are; copy them
    # so the result shares nothing with the request body. apply() copies the object.
    try:
        result = jsonpatch.JsonPatch(copy.deepcopy(operations)).apply(original)
    except jsonpatch.InvalidJsonPatch as err:
        raise PatchError(str(err), code=400) from err
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as err:
        # JsonPatchConflict, JsonPatchTestFailed and a pointer into nothing all mean the
        # patch was understood but does not fit this object.
        raise PatchError(str(err), code=422) from err
    if not isinstance(result, dict):
        # Only possible with an operation on the whole document (path ""), which would
        # turn a Kubernetes object into a list or a scalar.
        raise PatchError("the result of a JSON patch must be a JSON object", code=422)
    return result
