"""How a Deployment moves between ReplicaSets: rolling update, recreate, scaling, history.

Where it sits: the second half of the Deployment controller (:mod:`.deployment` holds
the first: the event handlers, finding the ReplicaSets, status writes). These are
upstream's ``rolling.go``, ``recreate.go``, ``sync.go`` (``scale``, ``cleanupDeployment``)
and ``progress.go``, as methods of a mixin the controller inherits. Each method takes one
step and returns; the ReplicaSet controller then creates or deletes pods, their status
changes bring the Deployment back to the queue, and the next step follows.

**RollingUpdate**, with ``maxSurge`` (rounded up) and ``maxUnavailable`` (rounded down)
resolved against ``spec.replicas``:

1. scale the new ReplicaSet up, as far as ``replicas + maxSurge`` pods in total allow;
2. otherwise scale old ReplicaSets down: first their unavailable pods, then as many as
   keep ``replicas - maxUnavailable`` pods available, oldest ReplicaSet first;
3. once complete, delete old ReplicaSets beyond ``revisionHistoryLimit``.

**Recreate**: scale every old ReplicaSet to 0, wait until none of their pods runs, then
create (or scale up) the new one.

**Scaling** (``spec.replicas`` changed while several ReplicaSets are active, or while
paused): the difference is shared among the active ReplicaSets in proportion to their
size, so a rollout in progress keeps its balance.

**Progress**: while a rollout is under way the ``Progressing`` condition's
``lastUpdateTime`` moves on each time pods get updated or become available; if it has not
moved for ``progressDeadlineSeconds`` the condition turns False with reason
``ProgressDeadlineExceeded``, which ``kubectl rollout status`` reports as a failure.
"""

from __future__ import annotations

import copy
import datetime
import logging
from typing import Any

from ..client import errors
from ..client import resources as r
from ..client.events import NORMAL
from . import deployment_util as du
from .base import RequeueAfter, meta
from .replicaset_util import same_status

log = logging.getLogger(__name__)

Obj = dict[str, Any]


class Rollouts:
    """Mixin: the rollout steps. The controller provides the attributes below."""

    client: Any
    recorder: Any

    def now(self) -> datetime.datetime:
        raise NotImplementedError

    def get_all_replica_sets_and_sync_revision(self, d: Obj, rs_list: list[Obj],
                                               create: bool) -> tuple[Obj | None, list[Obj]]:
        raise NotImplementedError

    def update_deployment_status(self, d: Obj) -> Obj:
        raise NotImplementedError

    # -- rolling update ----------------------------------------------------------------------

    def rollout_rolling(self, d: Obj, rs_list: list[Obj]) -> None:
        new, old = self.get_all_replica_sets_and_sync_revision(d, rs_list, create=True)
        assert new is not None  # create=True: created, or an error was raised
        all_rss: list[Obj | None] = [*old, new]
        if self.reconcile_new_replica_set(all_rss, new, d):
            return self.sync_rollout_status(all_rss, new, d)
        if self.reconcile_old_replica_sets(all_rss, du.active(old), new, d):
            return self.sync_rollout_status(all_rss, new, d)
        if du.deployment_complete(d, d.get("status") or {}):
            self.cleanup_deployment(old, d)
        return self.sync_rollout_status(all_rss, new, d)

    def reconcile_new_replica_set(self, all_rss: list[Obj | None], new: Obj, d: Obj) -> bool:
        if du.replicas(new) == du.replicas(d):
            return False
        if du.replicas(new) > du.replicas(d):
            return self.scale_replica_set(new, du.replicas(d), d)[0]
        return self.scale_replica_set(new, du.new_rs_new_replicas(d, all_rss, new), d)[0]

    def reconcile_old_replica_sets(self, all_rss: list[Obj | None], old: list[Obj], new: Obj, d: Obj) -> bool:
        """Scale old ReplicaSets down as far as availability allows; True if any was."""
        if du.spec_replicas_sum(old) == 0:
            return False
        # What may go now: everything beyond the minimum available, minus the new pods not
        # yet available (they may never become so: a broken template must not take the old,
        # working pods down with it).
        min_available = du.replicas(d) - du.max_unavailable(d)
        new_unavailable = du.replicas(new) - int((new.get("status") or {}).get("availableReplicas") or 0)
        max_scaled_down = du.spec_replicas_sum(all_rss) - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        try:
            old, cleaned = self.cleanup_unhealthy_replicas(old, d, max_scaled_down)
            scaled = self.scale_down_old_replica_sets(old + [new], old, d)
        except errors.ApiError as e:
            log.info("scaling down old ReplicaSets of %s: %s (next pass retries)", meta(d)["name"], e)
            return False
        return cleaned + scaled > 0

    def cleanup_unhealthy_replicas(self, old: list[Obj], d: Obj, max_cleanup: int) -> tuple[list[Obj], int]:
        """Scale old ReplicaSets down by their unavailable pods first: losing those costs nothing."""
        old = du.by_creation(old)
        total = 0
        for i, rs in enumerate(old):
            if total >= max_cleanup:
                break
            available = int((rs.get("status") or {}).get("availableReplicas") or 0)
            if du.replicas(rs) == 0 or du.replicas(rs) == available:
                continue
            count = min(max_cleanup - total, du.replicas(rs) - available)
            old[i] = self.scale_replica_set(rs, du.replicas(rs) - count, d)[1]
            total += count
        return old, total

    def scale_down_old_replica_sets(self, all_rss: list[Obj], old: list[Obj], d: Obj) -> int:
        """Scale old ReplicaSets down (oldest first) while more than the minimum is available."""
        min_available = du.replicas(d) - du.max_unavailable(d)
        available = du.status_sum(list(all_rss), "availableReplicas")
        if available <= min_available:
            return 0
        total, allowed = 0, available - min_available
        for rs in du.by_creation(old):
            if total >= allowed:
                break
            if du.replicas(rs) == 0:
                continue
            count = min(du.replicas(rs), allowed - total)
            self.scale_replica_set(rs, du.replicas(rs) - count, d)
            total += count
        return total

    # -- recreate ----------------------------------------------------------------------------

    def rollout_recreate(self, d: Obj, rs_list: list[Obj], pod_map: dict[str, list[Obj]]) -> None:
        new, old = self.get_all_replica_sets_and_sync_revision(d, rs_list, create=False)
        all_rss: list[Obj | None] = [*old, new]
        scaled_down = False
        for rs in du.active(old):
            self.scale_replica_set(rs, 0, d)
            scaled_down = True
        if scaled_down or old_pods_running(new, old, pod_map):
            return self.sync_rollout_status(all_rss, new, d)  # wait until they are all gone
        if new is None:
            new, old = self.get_all_replica_sets_and_sync_revision(d, rs_list, create=True)
            all_rss = [*old, new]
        assert new is not None
        self.scale_replica_set(new, du.replicas(d), d)
        if du.deployment_complete(d, d.get("status") or {}):
            self.cleanup_deployment(old, d)
        return self.sync_rollout_status(all_rss, new, d)

    # -- scaling (a replicas change, or a paused Deployment) ---------------------------------

    def sync(self, d: Obj, rs_list: list[Obj]) -> None:
        new, old = self.get_all_replica_sets_and_sync_revision(d, rs_list, create=False)
        self.scale(d, new, old)
        if (d.get("spec") or {}).get("paused"):
            self.cleanup_deployment(old, d)
        self.sync_deployment_status([*old, new], new, d)

    def scale(self, d: Obj, new: Obj | None, old: list[Obj]) -> None:
        target = du.find_active_or_latest(new, old)
        if target is not None:
            if du.replicas(target) != du.replicas(d):
                self.scale_replica_set(target, du.replicas(d), d)
            return
        if du.is_saturated(d, new):
            for rs in du.active(old):
                self.scale_replica_set(rs, 0, d)
            return
        if not du.is_rolling_update(d):
            return
        # Several ReplicaSets have pods (a rollout is under way): share the change among them.
        live = du.active([*old, new])
        allowed = du.replicas(d) + du.max_surge(d) if du.replicas(d) > 0 else 0
        to_add = allowed - du.spec_replicas_sum(live)
        live = du.by_size(live, newer_first=to_add > 0)
        sizes, added = {}, 0
        for rs in live:
            share = du.proportion(rs, d, to_add, added) if to_add else 0
            sizes[meta(rs)["uid"]] = du.replicas(rs) + share
            added += share
        for i, rs in enumerate(live):
            size = sizes[meta(rs)["uid"]]
            if i == 0 and to_add:
                size = max(0, size + to_add - added)  # leftovers (rounding) go to the largest
            self.scale_replica_set(rs, size, d)

    def scale_replica_set(self, rs: Obj, size: int, d: Obj) -> tuple[bool, Obj]:
        """Set a ReplicaSet's replicas (and its desired/max-replicas annotations); returns
        (whether its size changed, the ReplicaSet as written)."""
        desired, maximum = du.replicas(d), du.replicas(d) + du.max_surge(d)
        resize = du.replicas(rs) != size
        if not resize and not du.replicas_annotations_need_update(rs, desired, maximum):
            return False, rs
        body = copy.deepcopy(rs)
        old_size = du.replicas(rs)
        body.setdefault("spec", {})["replicas"] = size
        du.set_replicas_annotations(body, desired, maximum)
        updated = self.client.update(r.REPLICASETS, body)
        if resize:
            self.recorder.eventf(d, NORMAL, "ScalingReplicaSet", "Scaled %s replica set %s from %d to %d",
                                 "up" if size > old_size else "down", meta(rs)["name"], old_size, size)
        return resize, updated

    # -- history -----------------------------------------------------------------------------

    def cleanup_deployment(self, old: list[Obj], d: Obj) -> None:
        """Delete the oldest revisions beyond ``revisionHistoryLimit`` that have no pods left."""
        limit = du.revision_history_limit(d)
        if limit is None:
            return
        cleanable = [rs for rs in old if not meta(rs).get("deletionTimestamp")]
        excess = len(cleanable) - limit
        for rs in du.by_revision(cleanable)[:max(0, excess)]:
            status = rs.get("status") or {}
            if (status.get("replicas") or du.replicas(rs)
                    or meta(rs).get("generation", 0) > status.get("observedGeneration", 0)):
                continue  # still has pods, or its last scale-down is not yet seen through
            log.info("deleting old ReplicaSet %s of %s (revision history limit %d)", meta(rs)["name"],
                     meta(d)["name"], limit)
            try:
                self.client.delete(r.REPLICASETS, meta(rs)["name"], meta(rs)["namespace"])
            except errors.ApiError as e:
                if not errors.is_not_found(e):
                    raise

    # -- status ------------------------------------------------------------------------------

    def calculate_status(self, all_rss: list[Obj | None], new: Obj | None, d: Obj) -> dict[str, Any]:
        available = du.status_sum(all_rss, "availableReplicas")
        old_status = d.get("status") or {}
        status: dict[str, Any] = {
            "observedGeneration": meta(d).get("generation", 0),
            "replicas": du.status_sum(all_rss, "replicas"),
            "updatedReplicas": du.status_sum([new], "replicas"),
            "readyReplicas": du.status_sum(all_rss, "readyReplicas"),
            "availableReplicas": available,
            "unavailableReplicas": max(0, du.spec_replicas_sum(all_rss) - available),
        }
        if old_status.get("collisionCount") is not None:
            status["collisionCount"] = old_status["collisionCount"]
        if old_status.get("conditions"):
            status["conditions"] = copy.deepcopy(old_status["conditions"])
        if available >= du.replicas(d) - du.max_unavailable(d):
            du.set_condition(status, du.new_condition("Available", "True", du.MIN_AVAILABLE,
                                                      "Deployment has minimum availability.", self.now()))
        else:
            du.set_condition(status, du.new_condition("Available", "False", du.MIN_UNAVAILABLE,
                                                      "Deployment does not have minimum availability.", self.now()))
        return status

    def sync_deployment_status(self, all_rss: list[Obj | None], new: Obj | None, d: Obj) -> None:
        status = self.calculate_status(all_rss, new, d)
        if not same_status(d.get("status"), status):
            d["status"] = status
            self.update_deployment_status(d)

    def sync_rollout_status(self, all_rss: list[Obj | None], new: Obj | None, d: Obj) -> None:
        """Status during a rollout: counts, Available, and whether it progresses."""
        status = self.calculate_status(all_rss, new, d)
        deadline = du.progress_deadline(d)
        if deadline is None:
            du.remove_condition(status, "Progressing")
        current = du.get_condition(d.get("status"), "Progressing")
        complete_before = (status["replicas"] == status["updatedReplicas"] and current is not None
                           and current.get("reason") == du.NEW_RS_AVAILABLE)
        subject = f'ReplicaSet "{meta(new)["name"]}"' if new is not None else f'Deployment "{meta(d)["name"]}"'
        if deadline is not None and not complete_before:
            if du.deployment_complete(d, status):
                du.set_condition(status, du.new_condition("Progressing", "True", du.NEW_RS_AVAILABLE,
                                                          f"{subject} has successfully progressed.", self.now()))
            elif du.deployment_progressing(d, status):
                # Progress moves lastUpdateTime on (set_condition would keep an equal one as is).
                cond = du.new_condition("Progressing", "True", du.RS_UPDATED, f"{subject} is progressing.",
                                        self.now())
                if current is not None and current.get("status") == "True":
                    cond["lastTransitionTime"] = current.get("lastTransitionTime")
                du.remove_condition(status, "Progressing")
                du.set_condition(status, cond)
            elif du.deployment_timed_out(d, status, self.now()):
                du.set_condition(status, du.new_condition("Progressing", "False", du.TIMED_OUT,
                                                          f"{subject} has timed out progressing.", self.now()))
        failure = self.replica_failure(all_rss, new)
        if failure is not None:
            du.set_condition(status, failure)
        else:
            du.remove_condition(status, "ReplicaFailure")
        if same_status(d.get("status"), status):
            delay = self.progress_check_delay(d, status)
            if delay is not None:
                raise RequeueAfter(delay, f"checking the progress of deployment {meta(d)['name']} then")
            return
        d["status"] = status
        self.update_deployment_status(d)

    @staticmethod
    def replica_failure(all_rss: list[Obj | None], new: Obj | None) -> dict[str, Any] | None:
        """A ReplicaSet's ReplicaFailure condition (the new one's first), as a Deployment condition."""
        for rs in [new] + [rs for rs in all_rss if rs is not new]:
            for c in ((rs or {}).get("status") or {}).get("conditions") or []:
                if c.get("type") == "ReplicaFailure":
                    return {"type": "ReplicaFailure", "status": c.get("status"),
                            "lastUpdateTime": c.get("lastTransitionTime"),
                            "lastTransitionTime": c.get("lastTransitionTime"),
                            "reason": c.get("reason"), "message": c.get("message")}
        return None

    def progress_check_delay(self, d: Obj, status: dict[str, Any]) -> float | None:
        """When to look again to see whether a rollout missed its deadline (None: no need)."""
        deadline = du.progress_deadline(d)
        current = du.get_condition(d.get("status"), "Progressing")
        if deadline is None or current is None:
            return None
        if du.deployment_complete(d, status) or current.get("reason") == du.TIMED_OUT:
            return None
        since = du.parse_time(current.get("lastUpdateTime"))
        if since is None:
            return None
        after = (since + datetime.timedelta(seconds=deadline) - self.now()).total_seconds()
        return max(after, 0.0) + 1.0  # a second more, so the deadline has surely passed


def old_pods_running(new: Obj | None, old: list[Obj], pod_map: dict[str, list[Obj]]) -> bool:
    """Whether any pod of an old ReplicaSet may still be running (Recreate waits for none)."""
    if du.status_sum(list(old), "replicas") > 0:
        return True
    for uid, pods in pod_map.items():
        if new is not None and uid == meta(new)["uid"]:
            continue
        if any((p.get("status") or {}).get("phase") not in ("Failed", "Succeeded") for p in pods):
            return True
    return False
