"""Pod helpers the workload controllers share: readiness, ownership, selectors, templates.

Where it sits: under the DaemonSet, StatefulSet, Job, Endpoints and EndpointSlice
controllers (data flow (A), between the informer caches and ``reconcile``). Everything
here is a pure function over the JSON-shaped dicts the API serves, except the two
small stateful helpers at the end. The upstream originals are ``pkg/api/v1/pod/util.go``
(ready, available), ``pkg/controller/controller_utils.go`` (which pod to delete first,
expectations, a pod from a template) and ``controller_ref_manager.go`` (adopt, release).

What it promises:

* nothing here mutates its arguments: cached objects are shared, read-only dicts;
* times are RFC 3339 strings in UTC with seconds, as ``metav1.Time`` writes them;
* :class:`Expectations` answers "have I seen in my cache every pod I asked for?",
  which is how a controller avoids creating a second pod for the same slot while its
  informer is still behind the API server.
"""

from __future__ import annotations

import copy
import datetime
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..client import errors
from ..client import informer as informers
from ..client import resources as r
from ..client.cache import NAMESPACE_INDEX, index_by_controller_uid, index_by_namespace
from ..client.rest import Client

Obj = dict[str, Any]
Clock = Callable[[], datetime.datetime]

CONTROLLER_INDEX = "controller-uid"  # pods by the uid of their managing controller


# -- time -----------------------------------------------------------------------------

def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def format_time(at: datetime.datetime) -> str:
    return at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


# -- reading a pod --------------------------------------------------------------------

def meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def phase(pod: Obj) -> str:
    return (pod.get("status") or {}).get("phase") or ""


def condition(obj: Obj, kind: str) -> Obj | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return c
    return None


def is_pod_ready(pod: Obj) -> bool:
    """The pod's ``Ready`` condition is True: every container passed its readiness probe."""
    ready = condition(pod, "Ready")
    return ready is not None and ready.get("status") == "True"


def is_pod_available(pod: Obj, min_ready_seconds: int, now: datetime.datetime) -> bool:
    """Ready, and has stayed Ready for ``minReadySeconds`` (a pod that crashes right after
    start is not "available" yet)."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = parse_time((condition(pod, "Ready") or {}).get("lastTransitionTime"))
    return since is not None and since + datetime.timedelta(seconds=min_ready_seconds) <= now


def is_terminal(pod: Obj) -> bool:
    """Succeeded or Failed: its containers will not run again."""
    return phase(pod) in ("Succeeded", "Failed")


def is_terminating(obj: Obj) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def is_active(pod: Obj) -> bool:
    """Neither finished nor being deleted: it counts towards what the controller wants
    (upstream's ``FilterActivePods``)."""
    return not is_terminal(pod) and not is_terminating(pod)


def ready_since(pod: Obj) -> datetime.datetime | None:
    ready = condition(pod, "Ready")
    if ready is None or ready.get("status") != "True":
        return None
    return parse_time(ready.get("lastTransitionTime"))


def restart_count(pod: Obj) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return max((s.get("restartCount") or 0 for s in statuses), default=0)


_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def removal_order(pod: Obj) -> tuple[Any, ...]:
    """Sort key: pods to delete first come first (upstream's ``ActivePods``).

    Unscheduled before scheduled, pending before running, not ready before ready, ready
    for a short while before ready for long, more restarts before fewer, newer before
    older: scaling down removes the pod whose loss hurts least.
    """
    since = ready_since(pod)
    created = parse_time(meta(pod).get("creationTimestamp"))
    return (
        bool((pod.get("spec") or {}).get("nodeName")),
        _PHASE_RANK.get(phase(pod), 0),
        is_pod_ready(pod),
        -(since.timestamp()) if since else 0.0,
        -restart_count(pod),
        -(created.timestamp()) if created else float("-inf"),
        meta(pod).get("name", ""),
    )


# -- ownership ------------------------------------------------------------------------

def controller_ref(obj: Obj) -> Obj | None:
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def new_controller_ref(owner: Obj) -> Obj:
    """An ownerReference that makes ``owner`` the object's managing controller; the
    garbage collector deletes the object after its owner."""
    return {"apiVersion": owner.get("apiVersion", ""), "kind": owner.get("kind", ""),
            "name": meta(owner)["name"], "uid": meta(owner)["uid"],
            "controller": True, "blockOwnerDeletion": True}


def is_controlled_by(obj: Obj, owner: Obj) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == meta(owner).get("uid")


# -- label selectors ------------------------------------------------------------------

def selector_matches(selector: Obj | None, labels: dict[str, str] | None) -> bool:
    """A ``metav1.LabelSelector``: every matchLabels pair and every matchExpression holds.

    An empty selector matches everything; a missing one (None) matches nothing.
    """
    if selector is None:
        return False
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def selects_everything(selector: Obj | None) -> bool:
    return selector is not None and not selector.get("matchLabels") and not selector.get("matchExpressions")


# -- pods from the informer -----------------------------------------------------------

def ensure_pod_indexes(pods: informers.Informer) -> None:
    """Index the shared pod cache by namespace and by controller uid. Several controllers
    share one pod informer; whichever comes first adds the indexes."""
    for name, fn in ((NAMESPACE_INDEX, index_by_namespace), (CONTROLLER_INDEX, index_by_controller_uid)):
        try:
            pods.cache.add_indexers({name: fn})
        except ValueError:
            pass  # added already, by another controller sharing this informer


def pods_in(pods: informers.Informer, namespace: str) -> list[Obj]:
    return pods.cache.by_index(NAMESPACE_INDEX, namespace)


def claim_pods(client: Client, owner: Obj, pods: Iterable[Obj], selector: Obj, *,
               finalizer: str | None = None) -> list[Obj]:
    """The pods ``owner`` manages, adopting orphans and releasing strays on the way.

    * controlled by ``owner`` and matching its selector: claimed;
    * controlled by ``owner`` but no longer matching (someone relabelled it): released,
      i.e. its ownerReference is removed, so it lives on as an orphan;
    * no controller at all, matching, not being deleted: adopted (the ownerReference is
      added, plus ``finalizer`` if given), as after ``kubectl delete --cascade=orphan``.

    Writes are JSON patches that first ``test`` the pod's uid, so a pod replaced meanwhile
    is left alone. Returns the claimed pods: cached objects, or the patched copies.
    """
    owner_uid, deleting = meta(owner)["uid"], is_terminating(owner)
    claimed: list[Obj] = []
    for pod in pods:
        ref = controller_ref(pod)
        matches = selector_matches(selector, meta(pod).get("labels"))
        if ref is not None:
            if ref.get("uid") != owner_uid:
                continue
            if matches:
                claimed.append(pod)
            elif not deleting and not is_terminating(pod):
                _patch_pod(client, pod, _release_patch(pod, owner_uid))
            continue
        if matches and not deleting and not is_terminating(pod):
            adopted = _patch_pod(client, pod, _adopt_patch(pod, owner, finalizer))
            if adopted is not None:
                claimed.append(adopted)
    return claimed


def _adopt_patch(pod: Obj, owner: Obj, finalizer: str | None) -> list[Obj]:
    ops: list[Obj] = [{"op": "test", "path": "/metadata/uid", "value": meta(pod)["uid"]}]
    ref = new_controller_ref(owner)
    if meta(pod).get("ownerReferences"):
        ops.append({"op": "add", "path": "/metadata/ownerReferences/-", "value": ref})
    else:
        ops.append({"op": "add", "path": "/metadata/ownerReferences", "value": [ref]})
    if finalizer and finalizer not in (meta(pod).get("finalizers") or []):
        if meta(pod).get("finalizers"):
            ops.append({"op": "add", "path": "/metadata/finalizers/-", "value": finalizer})
        else:
            ops.append({"op": "add", "path": "/metadata/finalizers", "value": [finalizer]})
    return ops


def _release_patch(pod: Obj, owner_uid: str) -> list[Obj]:
    refs = meta(pod).get("ownerReferences") or []
    index = next(i for i, ref in enumerate(refs) if ref.get("uid") == owner_uid)
    return [{"op": "test", "path": "/metadata/uid", "value": meta(pod)["uid"]},
            {"op": "test", "path": f"/metadata/ownerReferences/{index}/uid", "value": owner_uid},
            {"op": "remove", "path": f"/metadata/ownerReferences/{index}"}]


def _patch_pod(client: Client, pod: Obj, ops: list[Obj]) -> Obj | None:
    try:
        return client.patch(r.PODS, meta(pod)["name"], ops, meta(pod)["namespace"], patch_type="json")
    except errors.ApiError as e:
        if errors.is_not_found(e) or errors.is_invalid(e):
            return None  # gone, or changed under us (a failed "test"): the next sync sees the truth
        raise


def pod_from_template(template: Obj, owner: Obj, *, name: str | None = None,
                      generate_name: str | None = None) -> Obj:
    """A new pod for ``owner`` from its pod template (upstream's ``GetPodFromTemplate``):
    the template's labels, annotations, finalizers and spec, and ``owner`` as controller."""
    tmeta = template.get("metadata") or {}
    pod_meta: Obj = {"namespace": meta(owner).get("namespace", ""),
                     "labels": dict(tmeta.get("labels") or {}),
                     "ownerReferences": [new_controller_ref(owner)]}
    if tmeta.get("annotations"):
        pod_meta["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        pod_meta["finalizers"] = list(tmeta["finalizers"])
    if name:
        pod_meta["name"] = name
    else:
        pod_meta["generateName"] = generate_name or f"{meta(owner)['name']}-"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
            "spec": copy.deepcopy(template.get("spec") or {})}


def update_status(client: Client, res: r.Resource, obj: Obj, status: Obj) -> Obj | None:
    """Write ``status`` through the ``/status`` subresource.

    A conflict means our cached copy is stale: read the object again and write once more
    (upstream retries once, then leaves it to the work queue). Returns None if it is gone.
    """
    body = copy.deepcopy(obj)
    body["status"] = status
    try:
        return client.update(res, body, subresource="status")
    except errors.ApiError as e:
        if errors.is_not_found(e):
            return None
        if not errors.is_conflict(e):
            raise
    fresh = client.get(res, meta(obj)["name"], meta(obj).get("namespace"))
    if meta(fresh).get("uid") != meta(obj).get("uid"):
        return None  # deleted and re-created under the same name: not ours to write
    fresh["status"] = status
    return client.update(res, fresh, subresource="status")


# -- expectations ---------------------------------------------------------------------

class Expectations:
    """Pod creations and deletions a controller has asked for but not yet seen.

    Upstream's ``ControllerExpectations``: before creating N pods for a key the
    controller calls :meth:`expect`; the pod informer's handlers call
    :meth:`creation_observed` / :meth:`deletion_observed`. Until the counts reach zero
    the cache is known to be behind, and ``reconcile`` must not count pods to decide
    what to create (it would create them twice). A record older than ``ttl`` seconds
    counts as satisfied: a watch event may have been lost, and waiting forever is worse.
    """

    def __init__(self, ttl: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._records: dict[str, tuple[int, int, float]] = {}  # key -> (adds, deletes, when)

    def expect(self, key: str, adds: int = 0, deletes: int = 0) -> None:
        with self._lock:
            self._records[key] = (adds, deletes, self.clock())

    def lower(self, key: str, adds: int = 0, deletes: int = 0) -> None:
        with self._lock:
            if key in self._records:
                a, d, when = self._records[key]
                self._records[key] = (a - adds, d - deletes, when)

    def creation_observed(self, key: str) -> None:
        self.lower(key, adds=1)

    def deletion_observed(self, key: str) -> None:
        self.lower(key, deletes=1)

    def satisfied(self, key: str) -> bool:
        with self._lock:
            record = self._records.get(key)
        if record is None:
            return True
        adds, deletes, when = record
        return (adds <= 0 and deletes <= 0) or self.clock() - when > self.ttl

    def forget(self, key: str) -> None:
        with self._lock:
            self._records.pop(key, None)


class WrittenVersions:
    """The resourceVersions our own writes replaced, per key.

    Right after a controller writes an object, its informer still holds the version it
    wrote over. A sync that read that version would act on what it has just changed (and
    its next write would only meet a Conflict). While the cache shows a replaced version
    it is behind us: look again once the watch event arrives, without counting that as an
    error (upstream's staleEndpointsTracker does this for Endpoints).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._replaced: dict[str, set[str]] = {}

    def replaced(self, key: str, resource_version: str | None) -> None:
        if resource_version:
            with self._lock:
                self._replaced.setdefault(key, set()).add(resource_version)

    def behind(self, key: str, cached: Obj | None) -> bool:
        """Whether ``cached`` is a version we have overwritten; once it is not, forget them."""
        rv = meta(cached).get("resourceVersion") if cached is not None else None
        with self._lock:
            if rv is not None and rv in self._replaced.get(key, ()):
                return True
            self._replaced.pop(key, None)
            return False
