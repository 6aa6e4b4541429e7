"""An in-memory cluster behind the REST client's verbs, for controller unit tests.

Where it sits: in place of :class:`~controlplane.client.rest.Client` when a test calls
a controller's ``reconcile(key)`` directly (sample-controller's fixture: put objects
in the informer caches, run one sync, compare the recorded actions with the
expected ones).

It keeps the API server's object semantics that controllers depend on, and no more:

* uid, resourceVersion (one global counter) and creationTimestamp on create;
  ``AlreadyExists``, ``NotFound``, ``Conflict`` (stale resourceVersion or a failed
  uid/resourceVersion precondition), 422 for a failed JSON-patch ``test``;
* DELETE with ``propagationPolicy``: ``Orphan`` adds the ``orphan`` finalizer,
  ``Foreground`` adds ``foregroundDeletion``; an object with finalizers only gets
  ``deletionTimestamp``, and goes once an update removes its last finalizer;
* namespaces start ``Active`` with ``spec.finalizers: [kubernetes]``; deleting one
  makes it ``Terminating`` until ``finalize`` clears that and a DELETE follows; new
  content in a terminating namespace is Forbidden (cause ``NamespaceTerminating``).

Every call is recorded in :attr:`FakeClient.actions`; :meth:`FakeClient.writes` leaves
out the reads.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import itertools
import threading
import uuid
from typing import Any

import jsonpatch

from . import resources as r
from .errors import ApiError
from .kubeconfig import ConnectionConfig
from .resources import Resource
from .rest import Client

Obj = dict[str, Any]

DEFAULT_RESOURCES = [r.NAMESPACES, r.PODS, r.CONFIGMAPS, r.SECRETS, r.SERVICES, r.SERVICEACCOUNTS, r.NODES,
                     r.EVENTS, r.DEPLOYMENTS, r.REPLICASETS, r.JOBS]
READS = ("get", "list", "watch", "discover")


@dataclasses.dataclass
class Action:
    verb: str
    resource: str  # "replicasets.apps", "pods"
    namespace: str
    name: str
    details: dict[str, Any] = dataclasses.field(default_factory=dict)


def _status(code: int, reason: str, message: str, causes: list[dict[str, str]] | None = None) -> ApiError:
    details = {"causes": causes} if causes else {}
    return ApiError({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason,
                     "message": message, "details": details})


class FakeClient(Client):
    def __init__(self, resources: list[Resource] | None = None) -> None:
        super().__init__(ConnectionConfig(servers=("http://fake.invalid",)))
        self.resources = list(resources or DEFAULT_RESOURCES)
        self.objects: dict[tuple[str, str, str], Obj] = {}  # (group_resource, namespace, name)
        self.actions: list[Action] = []
        self._rv = itertools.count(100)
        self._mutex = threading.RLock()

    # -- test helpers ------------------------------------------------------------------

    def seed(self, res: Resource, obj: Obj) -> Obj:
        """Store ``obj`` as if created, without recording an action; returns the stored copy."""
        with self._mutex:
            obj = self._prepare_create(res, copy.deepcopy(obj), (obj.get("metadata") or {}).get("namespace") or "")
            self.objects[self._key(res, obj)] = obj
            return copy.deepcopy(obj)

    def stored(self, res: Resource, name: str, namespace: str = "") -> Obj | None:
        obj = self.objects.get((res.group_resource, namespace if res.namespaced else "", name))
        return copy.deepcopy(obj) if obj is not None else None

    def writes(self) -> list[Action]:
        return [a for a in self.actions if a.verb not in READS]

    # -- verbs ---------------------------------------------------------------------------

    def get(self, res: Resource, name: str, namespace: str | None = None, *, subresource: str | None = None,
            metadata_only: bool = False) -> Obj:
        with self._mutex:
            self._record("get", res, namespace, name)
            return copy.deepcopy(self._must(res, name, namespace))

    def list(self, res: Resource, namespace: str | None = None, *, label_selector: str | None = None,
             field_selector: str | None = None, limit: int | None = 500, resource_version: str | None = None,
             metadata_only: bool = False) -> Obj:
        with self._mutex:
            self._record("list", res, namespace, "")
            items = [copy.deepcopy(o) for (gr, ns, _), o in sorted(self.objects.items())
                     if gr == res.group_resource and (not namespace or ns == namespace)
                     and _matches_fields(o, field_selector)]
            return {"kind": f"{res.kind}List", "apiVersion": res.api_version,
                    "metadata": {"resourceVersion": str(next(self._rv))}, "items": items}

    def create(self, res: Resource, body: Obj, namespace: str | None = None, *, field_manager: str | None = None,
               subresource: str | None = None, name: str | None = None) -> Obj:
        with self._mutex:
            ns = (namespace or (body.get("metadata") or {}).get("namespace") or "") if res.namespaced else ""
            obj = self._prepare_create(res, copy.deepcopy(body), ns)
            self._record("create", res, ns, obj["metadata"]["name"], {"body": copy.deepcopy(body)})
            if res.namespaced:
                owner_ns = self.objects.get((r.NAMESPACES.group_resource, "", ns))
                if owner_ns is not None and owner_ns["metadata"].get("deletionTimestamp"):
                    why = f"unable to create new content in namespace {ns} because it is being terminated"
                    raise _status(403, "Forbidden", why, [{"reason": "NamespaceTerminating", "message": why}])
            key = self._key(res, obj)
            if key in self.objects:
                raise _status(409, "AlreadyExists", f'{res.group_resource} "{key[2]}" already exists')
            self.objects[key] = obj
            return copy.deepcopy(obj)

    def update(self, res: Resource, body: Obj, namespace: str | None = None, *, subresource: str | None = None,
               field_manager: str | None = None) -> Obj:
        with self._mutex:
            meta = body.get("metadata") or {}
            self._record("update", res, namespace or meta.get("namespace"), meta["name"],
                         {"body": copy.deepcopy(body), "subresource": subresource})
            current = self._must(res, meta["name"], namespace or meta.get("namespace"))
            if meta.get("resourceVersion") and meta["resourceVersion"] != current["metadata"]["resourceVersion"]:
                raise self._conflict(res, meta["name"])
            if subresource == "finalize":
                new = copy.deepcopy(current)
                new.setdefault("spec", {})["finalizers"] = list((body.get("spec") or {}).get("finalizers") or [])
            else:
                new = copy.deepcopy(body)
                for field in ("uid", "creationTimestamp", "deletionTimestamp", "namespace"):
                    if field in current["metadata"]:
                        new["metadata"][field] = current["metadata"][field]
            return self._store_update(res, new)

    def patch(self, res: Resource, name: str, patch: Any, namespace: str | None = None, *,
              patch_type: str = "merge", field_manager: str | None = None, force: bool | None = None,
              subresource: str | None = None) -> Obj:
        with self._mutex:
            self._record("patch", res, namespace, name, {"type": patch_type, "patch": copy.deepcopy(patch)})
            current = self._must(res, name, namespace)
            if patch_type == "json":
                try:
                    new = jsonpatch.apply_patch(current, patch)
                except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as e:
                    raise _status(422, "Invalid", f"the server rejected our request due to an error in our request: {e}")
            elif patch_type == "merge":
                new = _merge(copy.deepcopy(current), patch)
            else:
                raise NotImplementedError(f"FakeClient does not do {patch_type} patches")
            rv = (new.get("metadata") or {}).get("resourceVersion")
            if rv and rv != current["metadata"]["resourceVersion"]:
                raise self._conflict(res, name)
            return self._store_update(res, new)

    def delete(self, res: Resource, name: str, namespace: str | None = None, *,
               propagation_policy: str | None = None, preconditions: dict[str, str] | None = None,
               grace_period_seconds: int | None = None) -> Obj:
        with self._mutex:
            self._record("delete", res, namespace, name,
                         {k: v for k, v in (("propagationPolicy", propagation_policy),
                                             ("preconditions", preconditions)) if v})
            current = self._must(res, name, namespace)
            meta = current["metadata"]
            for field, want in (preconditions or {}).items():
                if meta.get(field) != want:
                    raise self._conflict(res, name, f"Precondition failed: {field} in precondition: {want}, "
                                                    f"{field} in object meta: {meta.get(field)}")
            finalizers = [f for f in meta.get("finalizers") or [] if f not in ("orphan", "foregroundDeletion")]
            if propagation_policy == "Orphan":
                finalizers.append("orphan")
            elif propagation_policy == "Foreground":
                finalizers.append("foregroundDeletion")
            elif not propagation_policy:
                finalizers = meta.get("finalizers") or []
            held = bool(finalizers) or bool(res.resource == "namespaces" and (current.get("spec") or {}).get("finalizers"))
            if not held:
                del self.objects[self._key(res, current)]
                return {"kind": "Status", "apiVersion": "v1", "status": "Success",
                        "details": {"name": name, "kind": res.resource, "uid": meta.get("uid")}}
            if finalizers:
                meta["finalizers"] = finalizers
            meta.setdefault("deletionTimestamp", _now())
            meta.setdefault("deletionGracePeriodSeconds", 0)
            if res.resource == "namespaces":
                current.setdefault("status", {})["phase"] = "Terminating"
            meta["resourceVersion"] = str(next(self._rv))
            return copy.deepcopy(current)

    def delete_collection(self, res: Resource, namespace: str | None = None, *, label_selector: str | None = None,
                          field_selector: str | None = None, propagation_policy: str | None = None) -> Obj:
        with self._mutex:
            self._record("deletecollection", res, namespace, "", {"propagationPolicy": propagation_policy})
            names = [n for (gr, ns, n) in list(self.objects) if gr == res.group_resource
                     and (not namespace or ns == namespace)]
            actions = len(self.actions)
            for name in names:
                self.delete(res, name, namespace, propagation_policy=propagation_policy)
            del self.actions[actions:]  # record the collection call, not one call per object
            return {"kind": f"{res.kind}List", "apiVersion": res.api_version, "metadata": {}, "items": []}

    def discover(self) -> list[Resource]:
        self.actions.append(Action("discover", "", "", ""))
        return list(self.resources)

    def request(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("FakeClient has no raw requests; use the verbs")

    # -- internals ---------------------------------------------------------------------

    def _record(self, verb: str, res: Resource, namespace: str | None, name: str,
                details: dict[str, Any] | None = None) -> None:
        self.actions.append(Action(verb, res.group_resource, (namespace or "") if res.namespaced else "", name,
                                   details or {}))

    def _key(self, res: Resource, obj: Obj) -> tuple[str, str, str]:
        meta = obj["metadata"]
        return (res.group_resource, meta.get("namespace", "") if res.namespaced else "", meta["name"])

    def _must(self, res: Resource, name: str, namespace: str | None) -> Obj:
        obj = self.objects.get((res.group_resource, (namespace or "") if res.namespaced else "", name))
        if obj is None:
            raise _status(404, "NotFound", f'{res.group_resource} "{name}" not found')
        return obj

    def _conflict(self, res: Resource, name: str, why: str = "") -> ApiError:
        return _status(409, "Conflict", f'Operation cannot be fulfilled on {res.group_resource} "{name}": '
                       + (why or "the object has been modified; please apply your changes to the latest version "
                                 "and try again"))

    def _prepare_create(self, res: Resource, obj: Obj, namespace: str) -> Obj:
        meta = obj.setdefault("metadata", {})
        if res.namespaced:
            meta["namespace"] = namespace
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", _now())
        meta["resourceVersion"] = str(next(self._rv))
        obj.setdefault("apiVersion", res.api_version)
        obj.setdefault("kind", res.kind)
        if res.resource == "namespaces":
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj.setdefault("status", {}).setdefault("phase", "Active")
        return obj

    def _store_update(self, res: Resource, new: Obj) -> Obj:
        meta = new["metadata"]
        key = self._key(res, new)
        gone = meta.get("deletionTimestamp") and not meta.get("finalizers") and not (
            res.resource == "namespaces" and (new.get("spec") or {}).get("finalizers"))
        if gone and res.resource != "namespaces":
            del self.objects[key]  # the last finalizer went: the update deletes it
            return copy.deepcopy(new)
        meta["resourceVersion"] = str(next(self._rv))
        self.objects[key] = new
        return copy.deepcopy(new)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        else:
            target[k] = _merge(target.get(k), v)
    return target


def _matches_fields(obj: Obj, selector: str | None) -> bool:
    """Only what controllers here use: ``metadata.name=x`` and ``metadata.namespace=x``."""
    for term in filter(None, (selector or "").split(",")):
        field, _, want = term.partition("=")
        if field == "metadata.name" and obj["metadata"].get("name") != want:
            return False
        if field == "metadata.namespace" and obj["metadata"].get("namespace") != want:
            return False
    return True
