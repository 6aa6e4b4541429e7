"""The three PATCH body formats a Kubernetes API server understands.

Where it sits: the PATCH handler reads the live object from storage, picks one of
these functions by the request's ``Content-Type``, and then validates and stores the
result exactly as if the client had sent it with PUT::

    application/merge-patch+json            -> merge_patch            (RFC 7386)
    application/strategic-merge-patch+json  -> strategic_merge_patch  (built-in kinds only)
    application/json-patch+json             -> json_patch             (RFC 6902)

Server-side apply (``application/apply-patch+yaml``) lives elsewhere.

What it promises: every function is pure. Inputs are never mutated and results are
new objects that share nothing with them, so a handler may retry a patch against a
fresher copy of the object after a write conflict. When a patch cannot be applied
the functions raise :class:`PatchError`, whose ``code`` is the HTTP status
the real apiserver answers with.
"""

from __future__ import annotations


class PatchError(Exception):
    """A patch that cannot be applied.

    ``code`` 400: the patch document itself is malformed (a JSON patch that is not a list of
    operations, an unknown ``$patch`` directive, a broken ``$retainKeys`` list).
    ``code`` 422: the patch is well formed but does not apply to this object (a failed
    ``test``, a path that does not exist, a list item without its merge key).
    """

    def __init__(self, message: str, code: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# The submodules import PatchError from this package, so it must exist before they load.
from .json6902 import json_patch  # noqa: E402
from .merge import merge_patch  # noqa: E402
from .strategic import strategic_merge_patch  # noqa: E402

__all__ = ["PatchError", "json_patch", "merge_patch", "strategic_merge_patch"]
