"""Server-side apply and managedFields: a teaching-sized structured-merge-diff.

Where it sits: inside the API server, between decoding a request and storing
the object. Every write goes through :func:`update`, which records in
``metadata.managedFields`` which manager set which fields; a server-side apply
(``kubectl apply --server-side``) goes through :func:`apply`, which merges the
applied configuration into the live object, removes what the applier stopped
applying, and refuses (:class:`ApplyConflictError`) to change fields another
manager owns unless forced.

Reading order for students: ``fieldpath.py`` (what a field set is and how it is
written down), ``shape.py`` (what the schema says about maps and lists),
``typed.py`` and ``merge.py`` (walking objects), ``manager.py`` (the
bookkeeping, the heart of it), then ``entries.py``, ``lastapplied.py`` and
``errors.py``.
"""

from .errors import ApplyConflictError, Conflict, InvalidObjectError
from .manager import apply, update

__all__ = ["ApplyConflictError", "Conflict", "InvalidObjectError", "apply", "update"]
