"""The generic store: create, update, patch, apply and delete, once for every kind.

Where it sits: between the HTTP handlers and ``controlplane.storage``, like
upstream's ``registry/generic/registry.Store``. A write goes through these steps,
each of which may refuse it with a Kubernetes-style error:

1. decode: the kind/apiVersion must be the endpoint's; unknown fields are refused,
   warned about or dropped per ``fieldValidation``;
2. namespace lifecycle: the namespace must exist and not be terminating;
3. system fields: uid, creationTimestamp, generation, generateName (create) or
   carried over from the stored object (update);
4. the kind's strategy: what a client may not change (status, or all but status);
5. defaulting, then validation (metadata + the kind's rules) -> 422 with causes;
6. managedFields bookkeeping (server-side apply);
7. compare-and-swap in storage (409 Conflict on a stale resourceVersion).

Reads and watches live in ``reads.py``; deletion in ``deletion.py``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ... import storage as st
from .. import errors, managedfields
from .. import meta as objmeta
from ..fielderrors import FieldError
from ..patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from ..resources import ResourceInfo
from ..validation import meta as metavalidation
from .deletion import Deletion
from .options import WriteOptions
from .reads import Reads
from .strategy import Strategy

NamespaceLookup = Callable[[str], dict[str, Any] | None]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
GENERATE_NAME_ATTEMPTS = 8  # upstream retries a generated name that collides
_OMIT_EMPTY_META = ("labels", "annotations", "finalizers", "ownerReferences", "managedFields")


class Outcome:
    """What a write produced: the object, whether it was created, and warnings for the client."""

    def __init__(self, obj: dict[str, Any], created: bool = False, warnings: list[str] | None = None):
        self.obj = obj
        self.created = created
        self.warnings = warnings or []


class RESTStore(Reads, Deletion):
    """One resource's REST storage: the writes are here, reads and deletion in their mixins."""

    def __init__(
        self, storage: st.Storage, info: ResourceInfo, strategy: Strategy, namespaces: NamespaceLookup
    ) -> None:
        self.storage = storage
        self.info = info
        self.strategy = strategy
        self._namespace = namespaces

    # -- helpers -------------------------------------------------------------------

    def key(self, namespace: str, name: str) -> str:
        return self.info.key(namespace, name)

    def not_found(self, name: str) -> errors.APIError:
        return errors.not_found(self.info.resource, self.info.group, name)

    def conflict(self, name: str, why: str = "") -> errors.APIError:
        return errors.conflict(self.info.resource, self.info.group, name, why)

    def out(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The object as the client sees it: the strategy's conversion, apiVersion and kind first.

        Objects are stored in that order, so most come back as they are (no copy: callers
        only read what this returns; watch events are shared by every watcher)."""
        obj = self.strategy.from_storage(obj)
        keys = iter(obj)
        if next(keys, None) == "apiVersion" and next(keys, None) == "kind" \
                and obj["apiVersion"] == self.info.api_version and obj["kind"] == self.info.kind:
            return obj
        return _in_order(obj, self.info.api_version, self.info.kind)

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        try:
            return self.out(self.storage.get(self.key(namespace, name)))
        except st.KeyNotFoundError:
            raise self.not_found(name) from None

    # -- decode --------------------------------------------------------------------

    def decode(self, obj: Any, duplicates: list[str], validation: str) -> tuple[dict[str, Any], list[str]]:
        """Check a request body against the kind; returns the (pruned) object and warnings."""
        kind, version = self.info.kind, self.info.version
        if not isinstance(obj, dict):
            raise errors.bad_request(f'{kind} in version "{version}" cannot be handled as a {kind}: '
                                     "the body must be a JSON object")
        api_version, body_kind = obj.get("apiVersion"), obj.get("kind")
        if api_version not in (None, "") and api_version != self.info.api_version:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({self.info.api_version})")
        if body_kind not in (None, "") and body_kind != kind:
            raise errors.bad_request(
                f"the kind in the data ({body_kind}) does not match the expected kind ({kind})")
        # No copy: every caller hands over an object of its own (a parsed body, a patch result).
        findings = self.strategy.check_fields(obj)
        if findings.type_errors:
            raise errors.bad_request(
                f'{kind} in version "{version}" cannot be handled as a {kind}: {findings.type_errors[0]}')
        warnings: list[str] = []
        if validation == "Strict" and (findings.unknown or duplicates):
            raise errors.bad_request(self.strategy.strict_message(findings, duplicates))
        if validation == "Warn":
            warnings = self.strategy.unknown_warnings(findings, duplicates)
        self.strategy.prune(obj)
        obj["apiVersion"], obj["kind"] = self.info.api_version, kind
        return obj, warnings

    def _check_namespace(self, obj: dict[str, Any], namespace: str) -> None:
        meta = objmeta.metadata(obj)
        if not self.info.namespaced:
            meta.pop("namespace", None)  # as upstream: cluster-scoped objects have no namespace
            return
        given = meta.get("namespace")
        if given and namespace and given != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request")
        meta["namespace"] = namespace or given or ""

    def _at(self, obj: dict[str, Any], namespace: str, name: str) -> None:
        """Place a body sent to an object's URL there: its name must be the URL's (or absent)."""
        body_name = objmeta.name_of(obj)
        if body_name and body_name != name:
            raise errors.bad_request(
                f"the name of the object ({body_name}) does not match the name on the URL ({name})")
        objmeta.metadata(obj)["name"] = name
        self._check_namespace(obj, namespace)

    def _check_namespace_lifecycle(self, namespace: str, name: str) -> None:
        """Admission's NamespaceLifecycle: no new content in a missing or terminating namespace."""
        if not self.info.namespaced:
            return
        ns = self._namespace(namespace)
        if ns is None:
            raise errors.not_found("namespaces", "", namespace)
        if ns.get("metadata", {}).get("deletionTimestamp") or ns.get("status", {}).get("phase") == "Terminating":
            why = f"unable to create new content in namespace {namespace} because it is being terminated"
            raise errors.forbidden(
                self.info.resource, self.info.group, name, why,
                [{"reason": "NamespaceTerminating", "message": why, "field": "metadata.namespace"}])

    def _invalid(self, obj: dict[str, Any], problems: list[FieldError]) -> errors.APIError:
        return errors.invalid(self.info.kind, self.info.group, objmeta.name_of(obj), problems)

    def _validate_meta(self, obj: dict[str, Any]) -> list[FieldError]:
        return metavalidation.validate_object_meta(
            obj, namespaced=self.info.namespaced, name_check=self.strategy.rules.name)

    def _track(self, old: dict[str, Any] | None, new: dict[str, Any], opts: WriteOptions, sub: str) -> None:
        managedfields.update(
            old, new, manager=opts.field_manager, api_version=self.info.api_version,
            schema=self.strategy.schema, now=objmeta.timestamp(), subresource=sub,
            has_status_subresource=self.strategy.status_subresource)

    # -- create --------------------------------------------------------------------

    def create(self, namespace: str, body: Any, duplicates: list[str], opts: WriteOptions) -> Outcome:
        obj, warnings = self.decode(body, duplicates, opts.field_validation)
        return self._create(namespace, obj, opts, warnings, track=True)

    def _create(self, namespace: str, obj: dict[str, Any], opts: WriteOptions, warnings: list[str],
                *, track: bool) -> Outcome:
        self._check_namespace(obj, namespace)
        meta = obj["metadata"]
        namespace = meta.get("namespace", "")
        self._check_namespace_lifecycle(namespace, meta.get("name", ""))
        for stale in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion", "selfLink"):
            meta.pop(stale, None)
        meta["uid"] = objmeta.new_uid()
        meta["creationTimestamp"] = objmeta.timestamp()
        if self.strategy.generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        self.strategy.prepare_for_create(obj)
        self.strategy.default(obj)
        generated = not meta.get("name") and bool(meta.get("generateName"))
        if generated:
            meta["name"] = objmeta.generate_name(meta["generateName"])
        problems = self._validate_meta(obj) + self.strategy.validate(obj)
        if problems:
            raise self._invalid(obj, problems)
        if track:
            self._track(None, obj, opts, "")
        for attempt in range(GENERATE_NAME_ATTEMPTS if generated else 1):
            if opts.dry_run:
                self.strategy.before_create(obj, dry_run=True)
                return Outcome(self.out(obj), True, warnings)
            try:
                self.strategy.before_create(obj, dry_run=False)
                stored = self.storage.create(self.key(namespace, meta["name"]), self._stored_form(obj))
                return Outcome(self.out(stored), True, warnings)
            except st.KeyExistsError:
                self.strategy.create_failed(obj)
                if not generated or attempt == GENERATE_NAME_ATTEMPTS - 1:
                    raise errors.already_exists(self.info.resource, self.info.group, meta["name"]) from None
                meta["name"] = objmeta.generate_name(meta["generateName"])
            except BaseException:
                self.strategy.create_failed(obj)
                raise
        raise AssertionError("unreachable")

    # -- update --------------------------------------------------------------------

    def update(self, namespace: str, name: str, body: Any, duplicates: list[str], opts: WriteOptions,
               subresource: str = "") -> Outcome:
        obj, warnings = self.decode(body, duplicates, opts.field_validation)
        self._at(obj, namespace, name)

        def try_update(current: dict[str, Any]) -> dict[str, Any]:
            return self.prepare_update(copy.deepcopy(obj), current, opts, subresource)

        try:
            return Outcome(self._guaranteed_update(namespace, name, try_update, opts), False, warnings)
        except st.KeyNotFoundError:
            if not (self.strategy.allow_create_on_update and not subresource):
                raise self.not_found(name) from None
        return self._create(namespace, obj, opts, warnings, track=True)

    def prepare_update(self, new: dict[str, Any], old_stored: dict[str, Any], opts: WriteOptions,
                       subresource: str, *, track: bool = True, track_as: str | None = None) -> dict[str, Any]:
        """Turn a client's new version of an object into what will be stored (steps 3-6).

        ``track_as`` names the subresource managedFields records (``scale`` writes the
        parent object but is recorded as a scale write, as upstream does)."""
        old = self.strategy.from_storage(old_stored)
        meta, old_meta = objmeta.metadata(new), old["metadata"]
        rv = meta.get("resourceVersion")
        if rv and rv != old_meta.get("resourceVersion"):
            raise self.conflict(old_meta["name"])
        new["apiVersion"], new["kind"] = self.info.api_version, self.info.kind
        # Fields only the server sets are carried over, whatever the client sent.
        meta["name"] = old_meta["name"]
        if self.info.namespaced:
            meta["namespace"] = old_meta.get("namespace", "")
        if not meta.get("uid"):
            meta["uid"] = old_meta.get("uid")
        meta["creationTimestamp"] = old_meta.get("creationTimestamp")
        for key in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        meta["resourceVersion"] = old_meta.get("resourceVersion")
        if "generation" in old_meta:
            meta["generation"] = old_meta["generation"]
        if subresource:
            new = self.strategy.prepare_for_subresource(subresource, new, old)
            meta = new["metadata"]
        else:
            self.strategy.prepare_for_update(new, old)
            self.strategy.default(new)
            if self.strategy.generation and self.strategy.spec_changed(new, old):
                meta["generation"] = old_meta.get("generation", 1) + 1
        problems = metavalidation.validate_object_meta_update(new, old)
        if subresource == "status":
            problems += self.strategy.validate_status_update(new, old)
        else:
            problems += self.strategy.validate_update(new, old)
        if problems:
            raise self._invalid(new, problems)
        if track:
            self._track(old, new, opts, subresource if track_as is None else track_as)
        self.strategy.before_update(new, old, opts.dry_run)
        return self._stored_form(new)

    def _stored_form(self, obj: dict[str, Any]) -> dict[str, Any]:
        # Every collection in ObjectMeta is `omitempty` upstream: an empty one is not stored.
        meta = obj.get("metadata") or {}
        for key in _OMIT_EMPTY_META:
            if key in meta and not meta[key]:
                del meta[key]
        stored = self.strategy.to_storage(obj)
        return _in_order(stored, stored.get("apiVersion", ""), stored.get("kind", ""))

    def _guaranteed_update(self, namespace: str, name: str,
                           try_update: Callable[[dict[str, Any]], dict[str, Any]], opts: WriteOptions) -> dict[str, Any]:
        key = self.key(namespace, name)
        if opts.dry_run:
            return self.out(try_update(self.storage.get(key)))
        try:
            stored = self.storage.guaranteed_update(key, try_update)
        except st.ConflictError as e:
            raise self.conflict(name, str(e)) from None
        return self.out(self._finish_deletion(key, stored))

    def _finish_deletion(self, key: str, stored: dict[str, Any]) -> dict[str, Any]:
        """An update that removed the last finalizer of a deleted object deletes it for real."""
        meta = stored.get("metadata", {})
        if (meta.get("deletionTimestamp") and not meta.get("finalizers")
                and not meta.get("deletionGracePeriodSeconds") and not self.strategy.blocks_deletion(stored)):
            pre = st.Preconditions(resource_version=meta.get("resourceVersion"))
            try:
                gone = self.storage.delete(key, preconditions=pre)
            except (st.KeyNotFoundError, st.ConflictError):
                return stored  # someone else finished it, or changed it again: theirs to decide
            self.strategy.after_delete(gone)
        return stored

    # -- patch and apply -----------------------------------------------------------

    def patch(self, namespace: str, name: str, patch_type: str, patch: Any, duplicates: list[str],
              opts: WriteOptions, subresource: str = "") -> Outcome:
        if patch_type == APPLY_PATCH:
            return self.apply(namespace, name, patch, duplicates, opts, subresource)
        if patch_type == STRATEGIC_PATCH and self.info.is_custom:
            raise errors.unsupported_media_type(patch_type, [JSON_PATCH, MERGE_PATCH, APPLY_PATCH])
        warnings: list[str] = []

        def try_update(current_stored: dict[str, Any]) -> dict[str, Any]:
            current = self.out(current_stored)
            patched = self._apply_patch(patch_type, current, patch)
            checked, found = self.decode(patched, duplicates, opts.field_validation)
            warnings[:] = found
            return self.prepare_update(checked, current_stored, opts, subresource)

        try:
            obj = self._guaranteed_update(namespace, name, try_update, opts)
        except st.KeyNotFoundError:
            raise self.not_found(name) from None
        return Outcome(obj, False, warnings)

    def _apply_patch(self, patch_type: str, current: dict[str, Any], patch: Any) -> Any:
        try:
            if patch_type == JSON_PATCH:
                return json_patch(current, patch)
            if not isinstance(patch, dict):
                raise errors.bad_request("the body of a merge patch must be a JSON object")
            if patch_type == MERGE_PATCH:
                return merge_patch(current, patch)
            if patch_type == STRATEGIC_PATCH:
                if self.strategy.schema is None:
                    raise errors.unsupported_media_type(patch_type, [JSON_PATCH, MERGE_PATCH, APPLY_PATCH])
                return strategic_merge_patch(current, patch, self.strategy.schema)
        except PatchError as e:
            if e.code == 400:
                raise errors.bad_request(e.message) from None
            raise errors.APIError(422, "Invalid", e.message) from None
        raise errors.unsupported_media_type(patch_type, [JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH])

    def apply(self, namespace: str, name: str, body: Any, duplicates: list[str], opts: WriteOptions,
              subresource: str = "") -> Outcome:
        """Server-side apply: merge the applied configuration, tracking who owns which field."""
        if not opts.field_manager or opts.field_manager == "unknown":
            raise errors.bad_request("PATCH, application/apply-patch+yaml requires fieldManager parameter")
        applied, warnings = self.decode(body, duplicates, opts.field_validation)
        self._at(applied, namespace, name)
        args = dict(manager=opts.field_manager, force=opts.force, api_version=self.info.api_version,
                    schema=self.strategy.schema, now=objmeta.timestamp(), subresource=subresource)

        def try_update(current_stored: dict[str, Any]) -> dict[str, Any]:
            current = self.out(current_stored)
            merged = self._ssa(current, applied, args)
            return self.prepare_update(merged, current_stored, opts, subresource, track=False)

        try:
            return Outcome(self._guaranteed_update(namespace, name, try_update, opts), False, warnings)
        except st.KeyNotFoundError:
            if subresource:
                raise self.not_found(name) from None
        created = self._ssa(None, applied, args)
        return self._create(namespace, created, opts, warnings, track=False)

    def _ssa(self, live: dict[str, Any] | None, applied: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
        try:
            return managedfields.apply(live, applied, **args)
        except managedfields.InvalidObjectError as e:
            raise errors.bad_request(str(e)) from None
        except managedfields.ApplyConflictError as e:
            raise errors.APIError(409, "Conflict", e.message(self.info.api_version),
                                  {"name": objmeta.name_of(applied), "group": self.info.group,
                                   "kind": self.info.resource, "causes": e.causes()}) from None


def _in_order(obj: dict[str, Any], api_version: str, kind: str) -> dict[str, Any]:
    """The object with apiVersion and kind first, as the apiserver writes them."""
    return {"apiVersion": api_version, "kind": kind, **{k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}}
