"""The Deployment controller's arithmetic: hashes, revisions, fenceposts, conditions.

Where it sits: pure functions used by :mod:`.deployment` and :mod:`.deployment_rollout`
(upstream's ``pkg/controller/deployment/util/deployment_util.go``). Nothing here reads a
cache or writes to the API server, so each rule can be read, and tested, on its own.
``kubectl rollout status|history|undo`` read what these functions write (the revision
annotations, the ``Progressing`` and ``Available`` conditions); they must say what
upstream's say.

A Deployment's spec as the API server defaults it: ``replicas`` 1, ``strategy``
RollingUpdate with ``maxSurge`` and ``maxUnavailable`` 25%, ``revisionHistoryLimit`` 10,
``progressDeadlineSeconds`` 600. The accessors below apply the same defaults, so a
Deployment written without them (in a unit test, say) behaves the same.
"""

from __future__ import annotations

import copy
import datetime
import json
import math
import struct
from typing import Any

from .base import meta
from .replicaset_util import format_time, parse_time, replicas

Obj = dict[str, Any]

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
# Deployment annotations not copied onto its ReplicaSets (everything else is, e.g.
# kubernetes.io/change-cause, which is how `rollout history` shows CHANGE-CAUSE).
ANNOTATIONS_TO_SKIP = frozenset({LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS,
                                 ROLLBACK_TO})
MAX_REVISION_HISTORY_CHARS = 2000

# Condition reasons, as kubectl and users read them.
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
FAILED_RS_CREATE = "ReplicaSetCreateError"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"

MAX_INT32 = 2**31 - 1
HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


# -- the spec, with the API server's defaults ------------------------------------------------


def strategy_type(d: Obj) -> str:
    return ((d.get("spec") or {}).get("strategy") or {}).get("type") or "RollingUpdate"


def is_rolling_update(d: Obj) -> bool:
    return strategy_type(d) == "RollingUpdate"


def revision_history_limit(d: Obj) -> int | None:
    value = (d.get("spec") or {}).get("revisionHistoryLimit", 10)
    return None if value is None or value == MAX_INT32 else int(value)


def progress_deadline(d: Obj) -> int | None:
    """``progressDeadlineSeconds``, or None when progress is not checked (MaxInt32)."""
    value = (d.get("spec") or {}).get("progressDeadlineSeconds", 600)
    return None if value is None or value == MAX_INT32 else int(value)


def min_ready_seconds(obj: Obj) -> int:
    return int((obj.get("spec") or {}).get("minReadySeconds") or 0)


def template(obj: Obj) -> Obj:
    return (obj.get("spec") or {}).get("template") or {}


# -- maxSurge and maxUnavailable --------------------------------------------------------------


def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """An IntOrString: an int as is, "25%" of ``total`` rounded up or down."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        raise ValueError(f"invalid value for IntOrString: {text!r} is not a percentage")
    fraction = int(text[:-1]) * total / 100
    return math.ceil(fraction) if round_up else math.floor(fraction)


def resolve_fenceposts(d: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as numbers: surge rounds up, unavailability down, and both
    zero would never make progress, so unavailability becomes 1."""
    rolling = ((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    surge = scaled_value(rolling.get("maxSurge", "25%"), replicas(d), True)
    unavailable = scaled_value(rolling.get("maxUnavailable", "25%"), replicas(d), False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(d: Obj) -> int:
    return resolve_fenceposts(d)[0] if is_rolling_update(d) else 0


def max_unavailable(d: Obj) -> int:
    if not is_rolling_update(d) or replicas(d) == 0:
        return 0
    return min(resolve_fenceposts(d)[1], replicas(d))


# -- the pod template hash ---------------------------------------------------------------------


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def compute_hash(pod_template: Obj, collision_count: int | None = None) -> str:
    """The ``pod-template-hash`` of a template: FNV-1a (32 bit) over the template, then the
    collision count (if any), printed in decimal and each digit mapped to a consonant or
    digit, as upstream's ``controller.ComputeHash``. Upstream hashes Go's printout of the
    struct; we hash the template's canonical JSON, so the names differ from a real
    cluster's but are just as stable: the same template always gives the same hash."""
    data = json.dumps(pod_template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count is not None:
        data += struct.pack("<I", collision_count & 0xFFFFFFFF) + b"\0" * 4
    return "".join(HASH_ALPHABET[ord(c) % len(HASH_ALPHABET)] for c in str(fnv32a(data)))


def _semantic(value: Any) -> Any:
    """``value`` with nulls and empty maps or lists dropped: Go treats them as unset."""
    if isinstance(value, dict):
        out = {k: _semantic(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


def without_hash(pod_template: Obj) -> Obj:
    copied = copy.deepcopy(pod_template)
    labels = (copied.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return copied


def equal_ignore_hash(t1: Obj, t2: Obj) -> bool:
    """Whether two pod templates are the same but for the ``pod-template-hash`` label."""
    return _semantic(without_hash(t1)) == _semantic(without_hash(t2))


# -- revisions and annotations ------------------------------------------------------------


def revision(obj: Obj) -> int:
    try:
        return int((meta(obj).get("annotations") or {}).get(REVISION, 0))
    except ValueError:
        return 0


def max_revision(rss: list[Obj]) -> int:
    return max((revision(rs) for rs in rss), default=0)


def set_new_rs_annotations(d: Obj, rs: Obj, new_revision: int, exists: bool) -> bool:
    """Copy the Deployment's annotations onto its new ReplicaSet and raise the RS's revision
    to ``new_revision`` if lower (an undo re-stamps an old RS: its old number goes into
    ``revision-history``). Modifies ``rs``; True if anything changed."""
    annotations = meta(rs).setdefault("annotations", {})
    changed = False
    for k, v in (meta(d).get("annotations") or {}).items():
        if k not in ANNOTATIONS_TO_SKIP and annotations.get(k) != v:
            annotations[k] = v
            changed = True
    old = annotations.get(REVISION)
    try:
        old_revision = int(old) if old else 0
    except ValueError:
        return changed  # not a number: leave it alone, as upstream
    if old_revision < new_revision:
        annotations[REVISION] = str(new_revision)
        changed = True
        if old:
            history = [h for h in annotations.get(REVISION_HISTORY, "").split(",") if h] + [old]
            while len(",".join(history)) > MAX_REVISION_HISTORY_CHARS and len(history) > 1:
                history.pop(0)
            annotations[REVISION_HISTORY] = ",".join(history)
    if not exists and set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)):
        changed = True
    return changed


def set_replicas_annotations(rs: Obj, desired: int, maximum: int) -> bool:
    annotations = meta(rs).setdefault("annotations", {})
    changed = annotations.get(DESIRED_REPLICAS) != str(desired) or annotations.get(MAX_REPLICAS) != str(maximum)
    annotations[DESIRED_REPLICAS] = str(desired)
    annotations[MAX_REPLICAS] = str(maximum)
    return changed


def replicas_annotations_need_update(rs: Obj, desired: int, maximum: int) -> bool:
    annotations = meta(rs).get("annotations") or {}
    return annotations.get(DESIRED_REPLICAS) != str(desired) or annotations.get(MAX_REPLICAS) != str(maximum)


def int_annotation(rs: Obj, key: str) -> int | None:
    try:
        return int((meta(rs).get("annotations") or {})[key])
    except (KeyError, ValueError):
        return None


# -- finding and ordering ReplicaSets ---------------------------------------------------------


def _created(rs: Obj) -> datetime.datetime:
    return parse_time(meta(rs).get("creationTimestamp")) or datetime.datetime.min.replace(tzinfo=datetime.UTC)


def by_creation(rss: list[Obj], newest_first: bool = False) -> list[Obj]:
    """Oldest first (ties by name), as upstream's ReplicaSetsByCreationTimestamp."""
    return sorted(rss, key=lambda rs: (_created(rs), meta(rs).get("name", "")), reverse=newest_first)


def by_size(rss: list[Obj], newer_first: bool) -> list[Obj]:
    """Largest first; equal sizes newest first (scaling up) or oldest first (scaling down)."""
    ordered = by_creation(rss, newest_first=newer_first)
    return sorted(ordered, key=lambda rs: -replicas(rs))  # sorted() is stable: ties keep that order


def by_revision(rss: list[Obj]) -> list[Obj]:
    return sorted(by_creation(rss), key=revision)


def active(rss: list[Obj | None]) -> list[Obj]:
    """The ReplicaSets that should have pods."""
    return [rs for rs in rss if rs is not None and replicas(rs) > 0]


def find_new_rs(d: Obj, rss: list[Obj]) -> Obj | None:
    """The oldest ReplicaSet whose template is the Deployment's (ignoring the hash label)."""
    return next((rs for rs in by_creation(rss) if equal_ignore_hash(template(rs), template(d))), None)


def find_old_rss(d: Obj, rss: list[Obj]) -> list[Obj]:
    new = find_new_rs(d, rss)
    return [rs for rs in rss if new is None or meta(rs)["uid"] != meta(new)["uid"]]


def find_active_or_latest(new: Obj | None, old: list[Obj]) -> Obj | None:
    """The only active ReplicaSet; or, with none active, the new one (else the newest old one);
    None when several are active."""
    if new is None and not old:
        return None
    old = by_creation(old, newest_first=True)
    live = active(old + [new])
    if len(live) == 1:
        return live[0]
    if not live:
        return new if new is not None else old[0]
    return None


def spec_replicas_sum(rss: list[Obj | None]) -> int:
    return sum(replicas(rs) for rs in rss if rs is not None)


def status_sum(rss: list[Obj | None], field: str) -> int:
    return sum(int((rs.get("status") or {}).get(field) or 0) for rs in rss if rs is not None)


def new_rs_new_replicas(d: Obj, all_rss: list[Obj | None], new: Obj) -> int:
    """How far the new ReplicaSet may grow now: to the full count (Recreate), or as far as
    ``replicas + maxSurge`` pods in total allow (RollingUpdate)."""
    if not is_rolling_update(d):
        return replicas(d)
    max_total = replicas(d) + scaled_value(
        (((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}).get("maxSurge", "25%"),
        replicas(d), True)
    current = spec_replicas_sum(all_rss)
    if current >= max_total:
        return replicas(new)
    return replicas(new) + min(max_total - current, replicas(d) - replicas(new))


def is_saturated(d: Obj, rs: Obj | None) -> bool:
    """The ReplicaSet has all the Deployment's replicas, and all of them are available."""
    if rs is None:
        return False
    return (replicas(rs) == replicas(d) and int_annotation(rs, DESIRED_REPLICAS) == replicas(d)
            and int((rs.get("status") or {}).get("availableReplicas") or 0) == replicas(d))


def proportion(rs: Obj, d: Obj, to_add: int, added: int) -> int:
    """This ReplicaSet's share of ``to_add`` more (or fewer) replicas, by its share of the
    size the Deployment had (its max-replicas annotation), never past what is left."""
    if replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    if replicas(d) == 0:
        fraction = -replicas(rs)
    else:
        annotated = int_annotation(rs, MAX_REPLICAS)
        if annotated is None:
            annotated = int((d.get("status") or {}).get("replicas") or 0)
        if annotated == 0:
            return 0
        size = replicas(rs) * (replicas(d) + max_surge(d)) / annotated
        fraction = int(size + 0.5) - replicas(rs)  # rounded half away from zero (size >= 0)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


# -- conditions ----------------------------------------------------------------------------


def new_condition(type: str, status: str, reason: str, message: str, now: datetime.datetime) -> dict[str, Any]:
    at = format_time(now)
    return {"type": type, "status": status, "lastUpdateTime": at, "lastTransitionTime": at,
            "reason": reason, "message": message}


def get_condition(status: dict[str, Any] | None, type: str) -> dict[str, Any] | None:
    return next((c for c in (status or {}).get("conditions") or [] if c.get("type") == type), None)


def set_condition(status: dict[str, Any], cond: dict[str, Any]) -> None:
    """Put ``cond`` in; a condition with the same status and reason is left as it was, and one
    with the same status keeps its lastTransitionTime."""
    current = get_condition(status, cond["type"])
    if current is not None and current.get("status") == cond["status"] and current.get("reason") == cond["reason"]:
        return
    if current is not None and current.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime")}
    remove_condition(status, cond["type"])
    status.setdefault("conditions", []).append(cond)


def remove_condition(status: dict[str, Any], type: str) -> None:
    kept = [c for c in status.get("conditions") or [] if c.get("type") != type]
    if kept:
        status["conditions"] = kept
    else:
        status.pop("conditions", None)


def deployment_complete(d: Obj, status: dict[str, Any]) -> bool:
    """Every replica updated and available, no old ones left, and the spec observed."""
    want = replicas(d)
    return (status.get("updatedReplicas", 0) == want and status.get("replicas", 0) == want
            and status.get("availableReplicas", 0) == want
            and status.get("observedGeneration", 0) >= meta(d).get("generation", 0))


def deployment_progressing(d: Obj, new: dict[str, Any]) -> bool:
    """Whether ``new`` status shows progress over the Deployment's current one."""
    old = d.get("status") or {}

    def old_replicas(s: dict[str, Any]) -> int:
        return int(s.get("replicas") or 0) - int(s.get("updatedReplicas") or 0)

    return (new.get("updatedReplicas", 0) > old.get("updatedReplicas", 0) or old_replicas(new) < old_replicas(old)
            or new.get("readyReplicas", 0) > old.get("readyReplicas", 0)
            or new.get("availableReplicas", 0) > old.get("availableReplicas", 0))


def deployment_timed_out(d: Obj, new: dict[str, Any], now: datetime.datetime) -> bool:
    """No progress for ``progressDeadlineSeconds`` since the Progressing condition's last update."""
    deadline = progress_deadline(d)
    cond = get_condition(new, "Progressing")
    if deadline is None or cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    since = parse_time(cond.get("lastUpdateTime"))
    return since is not None and since + datetime.timedelta(seconds=deadline) < now
