"""CustomResourceDefinitions, and the custom resources they define.

Where it sits: the catalog turns every stored CRD into one :class:`ResourceInfo` per
served version and a :class:`CustomResourceStrategy` for it, so custom resources go
through the same generic store as built-in kinds. What differs:

* the schema is the version's ``openAPIV3Schema``: unknown fields are pruned (and
  refused or warned about per ``fieldValidation``), ``default:`` values are filled
  in, and objects are validated against it (``crdschema``);
* ``status`` and ``scale`` exist only if the version declares them;
* strategic merge patch is not defined for custom resources (415, as upstream);
* a CRD is ``Established`` and ``NamesAccepted`` as soon as it is created (upstream's
  apiextensions controllers do the same, only a moment later), and carries the
  ``customresourcecleanup`` finalizer: deleting it first deletes all its objects.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

from .. import crdschema, decoding
from .. import meta as objmeta
from ..resources import STATUS_VERBS, ResourceInfo, Subresource
from ..schema import OBJECT_META, Schema, builtin_definitions
from ..validation.rules import KindRules
from .strategy import Strategy

CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


def served_versions(crd: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in (crd.get("spec") or {}).get("versions") or [] if isinstance(v, dict) and v.get("served")]


def storage_version(crd: dict[str, Any]) -> str:
    for v in (crd.get("spec") or {}).get("versions") or []:
        if isinstance(v, dict) and v.get("storage"):
            return str(v.get("name") or "")  # validation reports a missing name; this runs before it
    return ""


def resource_info(crd: dict[str, Any], version: dict[str, Any]) -> ResourceInfo:
    spec = crd["spec"]
    names = spec["names"]
    subresources = version.get("subresources") or {}
    subs = []
    if "scale" in subresources:
        subs.append(Subresource("scale", "Scale", STATUS_VERBS, "autoscaling", "v1"))
    if "status" in subresources:
        subs.append(Subresource("status", names["kind"], STATUS_VERBS))
    return ResourceInfo(
        group=spec["group"], version=version["name"], resource=names["plural"], kind=names["kind"],
        namespaced=spec.get("scope") == "Namespaced",
        singular=names.get("singular") or names["kind"].lower(),
        short_names=tuple(names.get("shortNames") or ()), categories=tuple(names.get("categories") or ()),
        subresources=tuple(subs), crd_name=crd["metadata"]["name"],
    )


@functools.cache
def _metadata_only() -> Schema:
    """A schema that knows only ``metadata``: custom resources share ObjectMeta with built-ins."""
    node = {"type": "object", "properties": {"metadata": {"$ref": "#/components/schemas/" + OBJECT_META}}}
    return Schema(node, builtin_definitions())


class CustomResourceStrategy(Strategy):
    def __init__(self, info: ResourceInfo, version: dict[str, Any]) -> None:
        raw = ((version.get("schema") or {}).get("openAPIV3Schema")) or {"type": "object",
                                                                       "x-kubernetes-preserve-unknown-fields": True}
        schema = Schema(raw)
        rules = KindRules(
            default=lambda obj: crdschema.apply_defaults(obj, schema),
            validate=lambda obj: crdschema.validate(obj, schema),
            validate_update=lambda new, old: crdschema.validate(new, schema),
            validate_status_update=lambda new, old: crdschema.validate(new, schema),
        )
        super().__init__(info, schema=schema, rules=rules)
        self.generation = True  # custom resources count every change outside metadata and status
        self.printer_columns = list(version.get("additionalPrinterColumns") or [])
        self.scale_paths = (version.get("subresources") or {}).get("scale")

    def check_fields(self, obj: dict[str, Any]) -> decoding.Findings:
        probe = copy.deepcopy(obj)
        unknown = crdschema.prune(probe, self.schema)
        meta = decoding.check_object({"metadata": obj.get("metadata") or {}}, _metadata_only())
        return decoding.Findings(unknown=meta.unknown + unknown, type_errors=meta.type_errors)

    def strict_message(self, findings: decoding.Findings, duplicates: list[str]) -> str:
        return decoding.strict_error_message(self.info.kind, self.info.version, findings, duplicates,
                                             custom_resource=True)

    def unknown_warnings(self, findings: decoding.Findings, duplicates: list[str]) -> list[str]:
        return decoding.unknown_field_warnings(findings, duplicates, custom_resource=True)

    def prune(self, obj: dict[str, Any]) -> None:
        crdschema.prune(obj, self.schema)
        if isinstance(obj.get("metadata"), dict):
            # Wrapped, so that only metadata is pruned against ObjectMeta (the dict is shared);
            # nulls in it are decoded as Go decodes them, as for built-in kinds.
            wrapped = {"metadata": obj["metadata"]}
            decoding.prune_unknown(wrapped, _metadata_only())
            decoding.null_as_go(wrapped, _metadata_only())


class CRDStrategy(Strategy):
    """CustomResourceDefinition: status is the server's, computed from the spec."""

    def __init__(self, info: ResourceInfo, other_crds: Callable[[], list[dict[str, Any]]]) -> None:
        super().__init__(info)
        self._others = other_crds

    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        obj.pop("status", None)
        meta = objmeta.metadata(obj)
        if CLEANUP_FINALIZER not in (meta.get("finalizers") or []):
            meta["finalizers"] = [*(meta.get("finalizers") or []), CLEANUP_FINALIZER]

    def default(self, obj: dict[str, Any]) -> None:
        # Runs on create and on every update of the spec: the status follows the spec.
        super().default(obj)
        self._set_status(obj)

    def _set_status(self, obj: dict[str, Any]) -> None:
        """NamesAccepted, Established, acceptedNames and storedVersions, as the apiextensions
        controllers keep them."""
        status = obj.setdefault("status", {})
        spec = obj.get("spec") or {}
        names = copy.deepcopy(spec.get("names") or {})
        conflict = self._name_conflict(obj)
        now = objmeta.timestamp()
        previous = {c.get("type"): c for c in status.get("conditions") or []}

        def condition(kind: str, ok: bool, reason: str, message: str) -> dict[str, Any]:
            value = "True" if ok else "False"
            before = previous.get(kind)
            since = before["lastTransitionTime"] if before and before.get("status") == value else now
            return {"type": kind, "status": value, "lastTransitionTime": since, "reason": reason, "message": message}

        conditions = [
            condition("NamesAccepted", not conflict, "NoConflicts" if not conflict else "NameConflict",
                      "no conflicts found" if not conflict else conflict),
            condition("Established", not conflict, "InitialNamesAccepted" if not conflict else "NotAccepted",
                      "the initial names have been accepted" if not conflict else "not all names are accepted"),
        ]
        if obj.get("metadata", {}).get("deletionTimestamp"):
            conditions.append(condition("Terminating", True, "InstanceDeletionInProgress",
                                        "CustomResource deletion is in progress"))
        status["conditions"] = conditions
        if not conflict:
            status["acceptedNames"] = names
        else:
            status.setdefault("acceptedNames", {"kind": "", "plural": ""})
        stored = list(status.get("storedVersions") or [])
        version = storage_version(obj)
        if version and version not in stored:
            stored.append(version)
        status["storedVersions"] = stored

    def _name_conflict(self, obj: dict[str, Any]) -> str:
        spec = obj.get("spec") or {}
        names = spec.get("names") or {}
        mine = {names.get("plural"), names.get("singular"), *(names.get("shortNames") or [])} - {None, ""}
        for other in self._others():
            if other["metadata"]["name"] == obj["metadata"].get("name"):
                continue
            ospec = other.get("spec") or {}
            if ospec.get("group") != spec.get("group"):
                continue
            onames = (other.get("status") or {}).get("acceptedNames") or ospec.get("names") or {}
            theirs = {onames.get("plural"), onames.get("singular"), *(onames.get("shortNames") or [])} - {None, ""}
            if mine & theirs:
                return f'"{sorted(mine & theirs)[0]}" is already in use'
            if onames.get("kind") == names.get("kind"):
                return f'"{names.get("kind")}" is already in use'
        return ""

    def prepare_for_delete(self, obj: dict[str, Any]) -> None:
        self._set_status(obj)
