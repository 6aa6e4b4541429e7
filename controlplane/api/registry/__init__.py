"""The registry: how each kind is stored, read, written and deleted.

Where it sits: between the HTTP handlers (``controlplane/api/handlers``) and
``controlplane.storage``. ``catalog.Registry`` holds one ``store.RESTStore`` per
resource; a store implements the verbs once for every kind and consults the
kind's ``strategy.Strategy`` for what is particular to it.
"""

from .catalog import Registry
from .options import DeleteOptions, ListOptions, WriteOptions
from .store import APPLY_PATCH, JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, Outcome, RESTStore

__all__ = [
    "APPLY_PATCH", "JSON_PATCH", "MERGE_PATCH", "STRATEGIC_PATCH", "DeleteOptions", "ListOptions",
    "Outcome", "RESTStore", "Registry", "WriteOptions",
]
