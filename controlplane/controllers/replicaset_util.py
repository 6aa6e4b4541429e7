"""What the ReplicaSet and Deployment controllers share: selectors, pods, and ownership.

Where it sits: helpers for :mod:`.replicaset` and :mod:`.deployment` (upstream's
``pkg/controller/controller_utils.go`` and ``controller_ref_manager.go``). Nothing here
talks to the API server except :class:`ControllerRefManager`, which adopts and releases.

* :class:`Selector`: a ``metav1.LabelSelector`` (``matchLabels`` and
  ``matchExpressions``) that can say whether it matches a set of labels;
* pod predicates: active, ready, available (ready for ``minReadySeconds``);
* :func:`rank_pods_for_deletion`: the order in which a ReplicaSet gives up pods when it
  has too many: the least useful first;
* :class:`ControllerRefManager`: **ControllerRef management**. An object belongs to
  the controller named by its ``ownerReferences`` entry with ``controller: true``. A
  controller *adopts* orphans its selector matches (adds itself as controller) and
  *releases* objects it owns that its selector no longer matches (removes itself), so
  that relabelling a pod takes it out of its ReplicaSet, as ``kubectl label`` users
  expect.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import functools
import math
import random
from collections.abc import Callable, Iterable
from typing import Any

from ..client import errors
from ..client.resources import Resource
from ..client.rest import Client
from .base import meta

Obj = dict[str, Any]

NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the API server's generateName characters: no vowels
MAX_GENERATED_PREFIX = 58  # 63 - 5 random characters


class SelectorError(ValueError):
    """A label selector that cannot be evaluated (an unknown operator, say)."""


class Selector:
    """A label selector. ``Selector(None)`` matches nothing; ``Selector({})`` matches everything."""

    def __init__(self, selector: dict[str, Any] | None) -> None:
        self.nothing = selector is None
        self.labels: dict[str, str] = dict((selector or {}).get("matchLabels") or {})
        self.expressions: list[dict[str, Any]] = list((selector or {}).get("matchExpressions") or [])
        for expr in self.expressions:
            op = expr.get("operator")
            if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
                raise SelectorError(f"{op!r} is not a valid label selector operator")
            if op in ("In", "NotIn") and not expr.get("values"):
                raise SelectorError(f"operator {op} needs values")

    @property
    def empty(self) -> bool:
        """Selects everything: upstream refuses to act on such a selector."""
        return not self.nothing and not self.labels and not self.expressions

    def matches(self, labels: dict[str, str] | None) -> bool:
        if self.nothing:
            return False
        labels = labels or {}
        if any(labels.get(k) != v for k, v in self.labels.items()):
            return False
        for expr in self.expressions:
            key, op, values = expr["key"], expr["operator"], expr.get("values") or []
            present = key in labels
            if op == "In" and not (present and labels[key] in values):
                return False
            if op == "NotIn" and present and labels[key] in values:
                return False
            if op == "Exists" and not present:
                return False
            if op == "DoesNotExist" and present:
                return False
        return True


def replicas(obj: Obj) -> int:
    """``spec.replicas`` of a ReplicaSet or Deployment, defaulted to 1 as the API server does."""
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def same_status(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Whether two status blocks say the same, a missing field being equal to its zero value
    (the API server may leave out ``readyReplicas: 0``; comparing naively would rewrite
    status on every pass, and every write triggers another pass)."""
    def significant(status: dict[str, Any] | None) -> dict[str, Any]:
        return {k: v for k, v in (status or {}).items() if v not in (None, 0, "", [], {})}
    return significant(a) == significant(b)


# -- time ------------------------------------------------------------------------------


def parse_time(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value)
    except ValueError:
        return None


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def format_time(at: datetime.datetime) -> str:
    """A metav1.Time: "2026-11-22T18:28:02Z"."""
    return at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- pods ------------------------------------------------------------------------------


def is_pod_active(pod: Obj) -> bool:
    """Not finished and not being deleted: it counts towards the replicas."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not meta(pod).get("deletionTimestamp")


def ready_condition(pod: Obj) -> dict[str, Any] | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond  # type: ignore[no-any-return]
    return None


def is_pod_ready(pod: Obj) -> bool:
    cond = ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


def is_pod_available(pod: Obj, min_ready_seconds: int, now: datetime.datetime) -> bool:
    """Ready, and ready for at least ``min_ready_seconds``."""
    if not is_pod_ready(pod):
        return False
    if not min_ready_seconds:
        return True
    since = parse_time((ready_condition(pod) or {}).get("lastTransitionTime"))
    return since is not None and since + datetime.timedelta(seconds=min_ready_seconds) < now


def _ready_since(pod: Obj) -> datetime.datetime | None:
    return parse_time((ready_condition(pod) or {}).get("lastTransitionTime")) if is_pod_ready(pod) else None


def _max_restarts(pod: Obj) -> int:
    return max((int(c.get("restartCount") or 0) for c in (pod.get("status") or {}).get("containerStatuses") or []),
               default=0)


def _deletion_cost(pod: Obj) -> int:
    try:
        return int((meta(pod).get("annotations") or {}).get("controller.kubernetes.io/pod-deletion-cost", 0))
    except ValueError:
        return 0


_PHASE_ORDER = {"Pending": 0, "Unknown": 1, "Running": 2}


def _newer_first(t1: datetime.datetime | None, t2: datetime.datetime | None, now: datetime.datetime,
                 uid1: str, uid2: str) -> int:
    """Order two times "missing, then newer, then older", comparing on a log2 scale of their
    age (LogarithmicScaleDown), so pods of about the same age are chosen among at random."""
    if t1 is None or t2 is None:
        return -1 if t1 is None else 1
    r1 = int(math.log2((now - t1).total_seconds() * 1e9)) if now > t1 else -1
    r2 = int(math.log2((now - t2).total_seconds() * 1e9)) if now > t2 else -1
    if r1 != r2:
        return -1 if r1 < r2 else 1
    return -1 if uid1 < uid2 else (1 if uid1 > uid2 else 0)


def rank_pods_for_deletion(pods: list[Obj], related: Iterable[Obj], now: datetime.datetime) -> list[Obj]:
    """``pods`` sorted so the ones to delete first come first (upstream's ActivePodsWithRanks):

    1. not yet scheduled before scheduled;
    2. Pending before Unknown before Running;
    3. not ready before ready;
    4. lower ``controller.kubernetes.io/pod-deletion-cost`` first;
    5. more active pods of the same family on its node first ("doubled up");
    6. ready for less time first;
    7. more container restarts first;
    8. created more recently first.
    """
    on_node: dict[str, int] = {}
    for pod in related:
        if is_pod_active(pod):
            node = (pod.get("spec") or {}).get("nodeName") or ""
            on_node[node] = on_node.get(node, 0) + 1

    def node_of(pod: Obj) -> str:
        return (pod.get("spec") or {}).get("nodeName") or ""

    def compare(a: Obj, b: Obj) -> int:
        if node_of(a) != node_of(b) and (not node_of(a) or not node_of(b)):
            return -1 if not node_of(a) else 1
        pa, pb = (_PHASE_ORDER.get((p.get("status") or {}).get("phase", ""), 0) for p in (a, b))
        if pa != pb:
            return -1 if pa < pb else 1
        if is_pod_ready(a) != is_pod_ready(b):
            return -1 if not is_pod_ready(a) else 1
        if _deletion_cost(a) != _deletion_cost(b):
            return -1 if _deletion_cost(a) < _deletion_cost(b) else 1
        ra, rb = on_node.get(node_of(a), 0), on_node.get(node_of(b), 0)
        if ra != rb:
            return -1 if ra > rb else 1
        ua, ub = meta(a).get("uid", ""), meta(b).get("uid", "")
        if is_pod_ready(a) and is_pod_ready(b) and _ready_since(a) != _ready_since(b):
            return _newer_first(_ready_since(a), _ready_since(b), now, ua, ub)
        if _max_restarts(a) != _max_restarts(b):
            return -1 if _max_restarts(a) > _max_restarts(b) else 1
        ca, cb = parse_time(meta(a).get("creationTimestamp")), parse_time(meta(b).get("creationTimestamp"))
        if ca != cb:
            return _newer_first(ca, cb, now, ua, ub)
        return 0

    return sorted(pods, key=functools.cmp_to_key(compare))


# -- creating many ----------------------------------------------------------------------


def pod_name(owner_name: str) -> str:
    """``<owner>-<5 random characters>``, as ``generateName`` would make it."""
    return f"{owner_name}-"[:MAX_GENERATED_PREFIX] + "".join(random.choices(NAME_ALPHABET, k=5))


def slow_start_batch(count: int, initial: int, fn: Callable[[], None]) -> tuple[int, Exception | None]:
    """Call ``fn`` ``count`` times in batches of ``initial``, 2x, 4x, ... (each batch at once);
    stop after a batch with a failure. Returns (successes, the first error)."""
    successes, remaining, batch = 0, count, min(count, initial)
    while batch > 0:
        with concurrent.futures.ThreadPoolExecutor(max_workers=batch) as pool:
            results = list(pool.map(lambda _: _attempt(fn), range(batch)))
        failures = [e for e in results if e is not None]
        successes += batch - len(failures)
        if failures:
            return successes, failures[0]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


def _attempt(fn: Callable[[], None]) -> Exception | None:
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - counted and returned to the caller
        return e
    return None


# -- ownership -------------------------------------------------------------------------


def controller_of(obj: Obj) -> dict[str, Any] | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref  # type: ignore[no-any-return]
    return None


def controller_ref(owner: Obj) -> dict[str, Any]:
    """The ownerReference a controller puts on what it creates or adopts."""
    return {"apiVersion": owner.get("apiVersion", ""), "kind": owner.get("kind", ""),
            "name": meta(owner)["name"], "uid": meta(owner)["uid"], "controller": True,
            "blockOwnerDeletion": True}


class ControllerRefManager:
    """Claims objects for one owner: adopts matching orphans, releases non-matching ones.

    ``can_adopt()`` is asked (at most once per claim) before the first adoption, and
    raises if the owner must not adopt: upstream re-reads the owner from the API server
    then, because the cache may not yet show that it is being deleted, and an owner
    being deleted that adopts would take its new children down with it.
    """

    def __init__(self, client: Client, owner: Obj, selector: Selector, resource: Resource,
                 can_adopt: Callable[[], None]) -> None:
        self.client = client
        self.owner = owner
        self.selector = selector
        self.resource = resource
        self._can_adopt = can_adopt
        self._adoption_checked = False

    def claim(self, objects: Iterable[Obj]) -> list[Obj]:
        """The objects this owner owns after adopting and releasing; raises (after trying
        every object) if some adoption or release failed, so the caller retries."""
        owner_uid = meta(self.owner)["uid"]
        owner_deleting = bool(meta(self.owner).get("deletionTimestamp"))
        claimed, failures = [], []
        for obj in objects:
            ref = controller_of(obj)
            matches = self.selector.matches(meta(obj).get("labels"))
            try:
                if ref is not None:
                    if ref.get("uid") != owner_uid:
                        continue  # another controller's
                    if matches:
                        claimed.append(obj)
                    elif not owner_deleting:
                        self._release(obj)
                    continue
                if owner_deleting or not matches or meta(obj).get("deletionTimestamp"):
                    continue
                if meta(obj).get("namespace") != meta(self.owner).get("namespace"):
                    continue
                if self._adopt(obj):
                    claimed.append(obj)
            except errors.ApiError as e:
                failures.append(f"{meta(obj).get('name')}: {e}")
        if failures:
            raise RuntimeError(f"could not claim {self.resource.resource} for {meta(self.owner).get('name')}: "
                               + "; ".join(failures))
        return claimed

    def _adopt(self, obj: Obj) -> bool:
        if not self._adoption_checked:
            self._can_adopt()
            self._adoption_checked = True
        refs = meta(obj).get("ownerReferences") or []
        add = ({"op": "add", "path": "/metadata/ownerReferences/-", "value": controller_ref(self.owner)} if refs
               else {"op": "add", "path": "/metadata/ownerReferences", "value": [controller_ref(self.owner)]})
        # The tests make the patch fail (422) if the object changed since our cache saw
        # it without a controller: someone else may have adopted it meanwhile.
        patch = [{"op": "test", "path": "/metadata/uid", "value": meta(obj)["uid"]},
                 {"op": "test", "path": "/metadata/resourceVersion", "value": meta(obj)["resourceVersion"]}, add]
        try:
            self.client.patch(self.resource, meta(obj)["name"], patch, meta(obj)["namespace"], patch_type="json")
        except errors.ApiError as e:
            if errors.is_not_found(e):
                return False  # gone: nothing to adopt
            raise
        return True

    def _release(self, obj: Obj) -> None:
        refs = meta(obj).get("ownerReferences") or []
        index = next(i for i, ref in enumerate(refs) if ref.get("uid") == meta(self.owner)["uid"])
        patch = [{"op": "test", "path": "/metadata/uid", "value": meta(obj)["uid"]},
                 {"op": "test", "path": f"/metadata/ownerReferences/{index}/uid", "value": meta(self.owner)["uid"]},
                 {"op": "remove", "path": f"/metadata/ownerReferences/{index}"}]
        try:
            self.client.patch(self.resource, meta(obj)["name"], patch, meta(obj)["namespace"], patch_type="json")
        except errors.ApiError as e:
            # Gone, or changed under us (re-created, or released already): nothing to undo.
            if errors.is_not_found(e) or errors.is_invalid(e):
                return
            raise
