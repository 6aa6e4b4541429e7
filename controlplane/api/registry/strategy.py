"""Strategies: what is particular to a kind when it is created, updated or deleted.

Where it sits: the generic store (``store.py``) implements the verbs once for every
kind and asks the kind's :class:`Strategy` at each step, as upstream's generic
registry asks its ``RESTCreateStrategy``/``RESTUpdateStrategy``:

* ``prepare_for_create`` / ``prepare_for_update`` / ``prepare_for_subresource``:
  which parts of an incoming object the server ignores (for kinds with a ``/status``
  subresource, a write to the object never changes its status, and a write to
  ``/status`` changes nothing else);
* ``default`` and ``validate*``: delegated to the kind's rules in ``validation/``;
* whether ``metadata.generation`` counts spec changes, whether PUT may create, and
  what DELETE returns.

Kinds that need more (pods, namespaces, services, CRDs, custom resources) subclass
it in ``kinds.py`` and ``custom.py``.
"""

from __future__ import annotations

import copy
from typing import Any

from .. import decoding
from ..resources import ResourceInfo
from ..schema import Schema, builtin_schema
from ..selectors import FieldGetter, field_labels
from ..validation import rules_for
from ..validation.rules import KindRules

# Kinds whose metadata.generation counts changes of the spec, as upstream's strategies do.
GENERATION_KINDS = {
    ("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "StatefulSet"), ("apps", "DaemonSet"),
    ("batch", "Job"), ("policy", "PodDisruptionBudget"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
}
# Kinds a PUT may create when the object does not exist yet (AllowCreateOnUpdate).
CREATE_ON_UPDATE_KINDS = {
    ("", "Endpoints"), ("", "Event"), ("", "Service"), ("coordination.k8s.io", "Lease"),
    ("events.k8s.io", "Event"), ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "ClusterRole"), ("rbac.authorization.k8s.io", "RoleBinding"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
}
# Kinds whose DELETE answers with the object rather than a Status (ReturnDeletedObject).
RETURN_DELETED_KINDS = {("", "Pod"), ("", "Service"), ("", "Namespace")}

# Top-level keys that are not "spec" for the purpose of counting generations.
_NOT_SPEC = ("apiVersion", "kind", "metadata", "status")


class Strategy:
    def __init__(self, info: ResourceInfo, schema: Schema | None = None, rules: KindRules | None = None) -> None:
        self.info = info
        self.schema = schema if schema is not None else builtin_schema(info.group, info.version, info.kind)
        self.rules = rules or rules_for(info.group, info.kind)
        self.status_subresource = info.has_subresource("status")
        key = (info.group, info.kind)
        self.generation = key in GENERATION_KINDS
        self.allow_create_on_update = key in CREATE_ON_UPDATE_KINDS
        self.return_deleted_object = key in RETURN_DELETED_KINDS
        self.field_label_names, self.field_getter = self._field_labels()
        self.printer_columns: list[dict] | None = None  # set for custom resources

    def _field_labels(self) -> tuple[frozenset[str], FieldGetter]:
        return field_labels(self.info.group, self.info.resource)

    # -- create --------------------------------------------------------------------

    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        """Drop what a client may not set on create. With a status subresource, that is status."""
        if self.status_subresource:
            obj.pop("status", None)

    # -- update --------------------------------------------------------------------

    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        """A write to the object itself keeps the stored status when status is a subresource."""
        if self.status_subresource:
            _copy_key(old, new, "status")

    def prepare_for_subresource(self, subresource: str, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        """A write to /status changes only status: everything else comes from the stored object
        (metadata too, but for managedFields, as upstream's ResetObjectMetaForStatus)."""
        if subresource != "status":
            raise ValueError(f"{self.info.resource} has no writable subresource {subresource!r}")
        result = copy.deepcopy(old)
        _copy_key(new, result, "status")
        managed = new.get("metadata", {}).get("managedFields")
        if managed is not None:
            result["metadata"]["managedFields"] = managed
        return result

    def spec_changed(self, new: dict[str, Any], old: dict[str, Any]) -> bool:
        keys = (set(new) | set(old)) - set(_NOT_SPEC)
        return any(new.get(k) != old.get(k) for k in keys)

    # -- decoding (fieldValidation) ------------------------------------------------

    def check_fields(self, obj: dict[str, Any]) -> decoding.Findings:
        """Unknown fields and wrong JSON types in an incoming object."""
        if self.schema is None:
            return decoding.Findings(unknown=[], type_errors=[])
        return decoding.check_object(obj, self.schema)

    def strict_message(self, findings: decoding.Findings, duplicates: list[str]) -> str:
        return decoding.strict_error_message(self.info.kind, self.info.version, findings, duplicates)

    def unknown_warnings(self, findings: decoding.Findings, duplicates: list[str]) -> list[str]:
        return decoding.unknown_field_warnings(findings, duplicates)

    def prune(self, obj: dict[str, Any]) -> None:
        """Drop unknown fields, as decoding into Go structs does."""
        if self.schema is not None:
            decoding.prune_unknown(obj, self.schema)
            decoding.null_as_go(obj, self.schema)

    # -- storage form ---------------------------------------------------------------

    def to_storage(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The stored form of an object (events.k8s.io events are stored as core events)."""
        return obj

    def from_storage(self, obj: dict[str, Any]) -> dict[str, Any]:
        return obj

    # -- rules ---------------------------------------------------------------------

    def default(self, obj: dict[str, Any]) -> None:
        self.rules.default(obj)

    def validate(self, obj: dict[str, Any]) -> list:
        return self.rules.validate(obj)

    def validate_update(self, new: dict[str, Any], old: dict[str, Any]) -> list:
        return self.rules.validate_update(new, old)

    def validate_status_update(self, new: dict[str, Any], old: dict[str, Any]) -> list:
        return self.rules.validate_status_update(new, old)

    # -- hooks for kinds that own other state (services allocate IPs) ---------------

    def before_create(self, obj: dict[str, Any], dry_run: bool) -> None:
        """Called just before the object is stored (after validation)."""

    def before_update(self, new: dict[str, Any], old: dict[str, Any], dry_run: bool) -> None:
        """Called inside the update's compare-and-swap, after validation."""

    def after_delete(self, obj: dict[str, Any]) -> None:
        """Called once the object is gone from storage."""

    def create_failed(self, obj: dict[str, Any]) -> None:
        """Undo ``before_create`` when storing failed."""

    # -- deletion ------------------------------------------------------------------

    def default_propagation(self) -> str:
        return "Background"

    def prepare_for_delete(self, obj: dict[str, Any]) -> None:
        """Mark an object whose deletion must wait (namespaces turn Terminating)."""

    def blocks_deletion(self, obj: dict[str, Any]) -> bool:
        """Something other than metadata.finalizers still holds a deleted object back."""
        return False

    def graceful_period(self, obj: dict[str, Any], requested: int | None) -> int:
        """Seconds a deleted object stays as 'terminating' before it goes; 0 = at once."""
        return 0


def _copy_key(src: dict[str, Any], dst: dict[str, Any], key: str) -> None:
    if key in src:
        dst[key] = copy.deepcopy(src[key])
    else:
        dst.pop(key, None)
