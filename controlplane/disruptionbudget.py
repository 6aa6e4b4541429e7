"""PodDisruptionBudget arithmetic, shared by the eviction subresource and the disruption controller.

Where it sits: beside :mod:`.codec` and :mod:`.profiles`, importing nothing from
``controlplane.api`` or ``controlplane.controllers``, so that both may use it. The API
server's ``pods/eviction`` (``controlplane/api/registry/subresources.py``) asks it
whether one more pod may go; the disruption controller
(``controlplane/controllers/disruption.py``) publishes the same numbers in each
budget's ``status``, which is what ``kubectl get pdb`` shows. Everything here is a
pure function over the JSON-shaped dicts the API serves; nothing does I/O or mutates
its arguments. Each caller selects the budget's pods (by its label selector) and
finds workload objects (``lookup``) in its own way: the API server in storage, the
controller in its informer caches.

The numbers, as upstream's ``pkg/controller/disruption`` computes them:

* **expectedPods**: for an integer ``minAvailable``, the number of selected pods; for
  ``maxUnavailable`` or a percentage ``minAvailable``, the sum of ``spec.replicas`` of
  the pods' controllers, each counted once. The controller of a pod is found through
  its controller ownerReference: a ReplicaSet that a Deployment controls counts as
  that Deployment; otherwise a ReplicaSet, StatefulSet or ReplicationController
  counts itself. Pods with no controller reference are *unmanaged*: left out of the
  sum (upstream warns about them). A pod whose controller cannot be found (not one of
  these kinds, or gone) makes the budget uncomputable: :class:`NoController`;
* **desiredHealthy**: the integer ``minAvailable``; or the percentage of expectedPods,
  rounded up; or expectedPods minus ``maxUnavailable`` (a percentage rounded up),
  never below 0. With neither field set both are 0;
* **currentHealthy**: selected pods that are Ready, not terminating (no
  ``deletionTimestamp``) and not in ``disruptedPods``;
* **disruptionsAllowed**: currentHealthy - desiredHealthy, but 0 when negative or when
  no pods are expected (a budget that selects nothing yet must not let the first
  evictions through before anyone has counted);
* **disruptedPods**: pod name -> time of an eviction the API server allowed and whose
  pod has not been seen terminating yet. An entry is dropped once its pod is
  terminating or gone, or after :data:`DELETION_TIMEOUT` (the delete never happened).
  The eviction subresource adds an entry in the same compare-and-swap write that
  allows the eviction, so two concurrent evictions cannot both spend the last
  disruption.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Obj = dict[str, Any]
# (kind, namespace, name) -> the workload object, or None if it is not there.
Lookup = Callable[[str, str, str], Obj | None]

DISRUPTION_ALLOWED = "DisruptionAllowed"
SUFFICIENT_PODS = "SufficientPods"
INSUFFICIENT_PODS = "InsufficientPods"
SYNC_FAILED = "SyncFailed"

DELETION_TIMEOUT = datetime.timedelta(minutes=2)

# The controller kinds whose scale counts, and the API groups they may be in.
WORKLOAD_GROUPS: dict[str, tuple[str, ...]] = {
    "ReplicaSet": ("apps", "extensions"),
    "Deployment": ("apps", "extensions"),
    "StatefulSet": ("apps",),
    "ReplicationController": ("",),
}


class NoController(Exception):
    """A selected pod names a controller whose scale cannot be found."""

    def __init__(self, pod_name: str) -> None:
        super().__init__(f'found no controllers for pod "{pod_name}"')
        self.pod_name = pod_name


@dataclasses.dataclass(frozen=True)
class Budget:
    """A budget's numbers at one moment."""

    expected: int
    desired: int
    healthy: int
    disrupted: dict[str, str]  # pending disruptions: pod name -> RFC 3339 time
    unmanaged: list[str] = dataclasses.field(default_factory=list)  # selected pods with no controller
    recheck_at: datetime.datetime | None = None  # when the oldest pending disruption expires

    @property
    def allowed(self) -> int:
        return disruptions_allowed(self.healthy, self.desired, self.expected)


# -- time -----------------------------------------------------------------------------

def format_time(at: datetime.datetime) -> str:
    return at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> datetime.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


# -- small pieces ---------------------------------------------------------------------

def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def is_terminating(pod: Obj) -> bool:
    return bool(_meta(pod).get("deletionTimestamp"))


def is_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def is_healthy(pod: Obj, disrupted: Mapping[str, Any] | None = None) -> bool:
    """Counts towards currentHealthy: Ready, not terminating, not being disrupted."""
    return is_ready(pod) and not is_terminating(pod) and _meta(pod).get("name") not in (disrupted or {})


def scaled_value(value: int | str, total: int, *, round_up: bool) -> int:
    """An IntOrString against ``total``: an int as it is, "N%" as N% of ``total``
    (upstream's GetScaledValueFromIntOrPercent). ValueError for anything else."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%"):
        percent = int(value[:-1])
        share = percent * total / 100
        return math.ceil(share) if round_up else math.floor(share)
    raise ValueError(f"invalid value for IntOrString: {value!r} is not an integer or a percentage")


def uses_scale(spec: Obj) -> bool:
    """Whether expectedPods comes from the controllers' scale rather than a pod count."""
    if spec.get("maxUnavailable") is not None:
        return True
    return isinstance(spec.get("minAvailable"), str)


def disruptions_allowed(healthy: int, desired: int, expected: int) -> int:
    if expected <= 0:
        return 0
    return max(0, healthy - desired)


# -- expected pods --------------------------------------------------------------------

def _controller_ref(obj: Obj) -> Obj | None:
    return next((ref for ref in _meta(obj).get("ownerReferences") or [] if ref.get("controller")), None)


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def _resolve(ref: Obj, namespace: str, lookup: Lookup) -> Obj | None:
    """The workload ``ref`` names, if it is a kind that has a scale and still exists
    with the uid the reference names."""
    kind = ref.get("kind", "")
    if _group(ref.get("apiVersion", "")) not in WORKLOAD_GROUPS.get(kind, ()):
        return None
    found = lookup(kind, namespace, ref.get("name", ""))
    if found is None or _meta(found).get("uid") != ref.get("uid"):
        return None
    return found


def controller_scale(pod: Obj, lookup: Lookup) -> tuple[str, int] | None:
    """(uid, spec.replicas) of the controller whose scale covers ``pod``: the Deployment
    behind its ReplicaSet if there is one, else its ReplicaSet, StatefulSet or
    ReplicationController. None if that cannot be found."""
    namespace = _meta(pod).get("namespace", "")
    ref = _controller_ref(pod)
    owner = _resolve(ref, namespace, lookup) if ref is not None else None
    if owner is None:
        return None
    if ref is not None and ref.get("kind") == "ReplicaSet":
        above = _controller_ref(owner)
        if above is not None and above.get("kind") == "Deployment":
            # Upstream counts a Deployment's ReplicaSet only through the Deployment.
            owner = _resolve(above, namespace, lookup)
            if owner is None:
                return None
    replicas = (owner.get("spec") or {}).get("replicas")
    return _meta(owner).get("uid", ""), 1 if replicas is None else int(replicas)


def expected_scale(pods: Iterable[Obj], lookup: Lookup) -> tuple[int, list[str]]:
    """The sum of the scales of the pods' controllers, each counted once, and the names of
    the pods that have no controller (not counted). Raises :class:`NoController`."""
    scales: dict[str, int] = {}  # controller uid -> its scale
    seen: set[str] = set()  # uids of the owner references already followed
    unmanaged: list[str] = []
    for pod in pods:
        ref = _controller_ref(pod)
        if ref is None:
            unmanaged.append(_meta(pod).get("name", ""))
            continue
        if ref.get("uid") in seen:
            continue
        found = controller_scale(pod, lookup)
        if found is None:
            raise NoController(_meta(pod).get("name", ""))
        seen.add(ref.get("uid", ""))
        scales[found[0]] = found[1]
    return sum(scales.values()), unmanaged


def expected_and_desired(spec: Obj, pods: list[Obj], lookup: Lookup) -> tuple[int, int, list[str]]:
    """(expectedPods, desiredHealthy, unmanaged pod names) for a budget's ``spec``.
    Raises :class:`NoController`, or ValueError for a malformed IntOrString."""
    if spec.get("maxUnavailable") is not None:
        expected, unmanaged = expected_scale(pods, lookup)
        unavailable = scaled_value(spec["maxUnavailable"], expected, round_up=True)
        return expected, max(0, expected - unavailable), unmanaged
    min_available = spec.get("minAvailable")
    if min_available is None:
        return 0, 0, []
    if not isinstance(min_available, str):
        return len(pods), scaled_value(min_available, len(pods), round_up=True), []
    expected, unmanaged = expected_scale(pods, lookup)
    return expected, scaled_value(min_available, expected, round_up=True), unmanaged


# -- disrupted pods -------------------------------------------------------------------

def pending_disruptions(recorded: Mapping[str, Any] | None, pods: Iterable[Obj],
                        now: datetime.datetime) -> tuple[dict[str, str], datetime.datetime | None]:
    """The entries of ``status.disruptedPods`` still pending at ``now`` (their pod exists
    and is not terminating yet, and :data:`DELETION_TIMEOUT` has not passed), and when
    the first of them expires (upstream's buildDisruptedPodMap)."""
    kept: dict[str, str] = {}
    recheck_at: datetime.datetime | None = None
    if not recorded:
        return kept, recheck_at
    for pod in pods:
        name = _meta(pod).get("name", "")
        if is_terminating(pod) or name not in recorded:
            continue
        at = parse_time(recorded[name])
        if at is None:
            continue
        expires = at + DELETION_TIMEOUT
        if expires < now:
            continue  # the eviction's delete never happened
        kept[name] = recorded[name]
        if recheck_at is None or expires < recheck_at:
            recheck_at = expires
    return kept, recheck_at


# -- the whole budget -----------------------------------------------------------------

def evaluate(budget: Obj, pods: list[Obj], lookup: Lookup, now: datetime.datetime) -> Budget:
    """The numbers for ``budget`` over the ``pods`` its selector selects.
    Raises :class:`NoController`, or ValueError for a malformed IntOrString."""
    spec = budget.get("spec") or {}
    status = budget.get("status") or {}
    expected, desired, unmanaged = expected_and_desired(spec, pods, lookup)
    disrupted, recheck_at = pending_disruptions(status.get("disruptedPods"), pods, now)
    healthy = sum(1 for pod in pods if is_healthy(pod, disrupted))
    return Budget(expected, desired, healthy, disrupted, unmanaged, recheck_at)


def set_condition(conditions: list[Obj] | None, *, allowed: bool, reason: str, message: str,
                  observed_generation: int | None, now: datetime.datetime) -> list[Obj]:
    """``conditions`` with the ``DisruptionAllowed`` condition set, as apimachinery's
    SetStatusCondition does: lastTransitionTime moves only when the status changes."""
    status = "True" if allowed else "False"
    result: list[Obj] = []
    found = False
    for cond in conditions or []:
        if cond.get("type") != DISRUPTION_ALLOWED:
            result.append(cond)
            continue
        found = True
        changed = cond.get("status") != status or not cond.get("lastTransitionTime")
        result.append(_condition(status, reason, message, observed_generation,
                                 format_time(now) if changed else cond["lastTransitionTime"]))
    if not found:
        result.append(_condition(status, reason, message, observed_generation, format_time(now)))
    return result


def _condition(status: str, reason: str, message: str, observed_generation: int | None,
               transition: str) -> Obj:
    cond: Obj = {"type": DISRUPTION_ALLOWED, "status": status}
    if observed_generation:
        cond["observedGeneration"] = observed_generation
    cond.update({"lastTransitionTime": transition, "reason": reason, "message": message})
    return cond


def allowed_condition(conditions: list[Obj] | None, allowed: int, observed_generation: int | None,
                      now: datetime.datetime) -> list[Obj]:
    """SufficientPods (True) while disruptions are allowed, InsufficientPods (False) otherwise
    (upstream's UpdateDisruptionAllowedCondition)."""
    if allowed > 0:
        return set_condition(conditions, allowed=True, reason=SUFFICIENT_PODS, message="",
                             observed_generation=observed_generation, now=now)
    return set_condition(conditions, allowed=False, reason=INSUFFICIENT_PODS, message="",
                         observed_generation=observed_generation, now=now)

