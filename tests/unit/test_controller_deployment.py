"""The Deployment controller against the fake client: what `kubectl rollout` users see.

Each test cranks the loop by hand: ``reconcile`` once, deliver what the informers would
(:meth:`Cluster.observe`), and play the ReplicaSet controller and the node agents by
setting ReplicaSet status (:meth:`Cluster.settle`: every pod up and available at once).
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Callable
from typing import Any

import pytest

from controlplane.client import informer as informers
from controlplane.client import resources as r
from controlplane.client.events import FakeRecorder
from controlplane.client.fake import FakeClient
from controlplane.controllers import deployment_util as du
from controlplane.controllers.base import RequeueAfter
from controlplane.controllers.deployment import DeploymentController

Obj = dict[str, Any]
LABELS = {"app": "web"}
START = datetime.datetime(2026, 11, 22, 18, 0, 0, tzinfo=datetime.UTC)


def template(image: str = "nginx:1.26") -> Obj:
    return {"metadata": {"labels": dict(LABELS)}, "spec": {"containers": [{"name": "web", "image": image}]}}


class Cluster:
    def __init__(self) -> None:
        self.fake = FakeClient()
        self.recorder = FakeRecorder()
        self.now = START
        self.ctl = DeploymentController(self.fake, informers.InformerFactory(self.fake), recorder=self.recorder,
                                        clock=lambda: self.now)

    # -- the world -------------------------------------------------------------------------

    def deployment(self, replicas: int = 3, *, image: str = "nginx:1.26", strategy: Obj | None = None,
                   **spec: Any) -> Obj:
        d = self.fake.seed(r.DEPLOYMENTS, {
            "metadata": {"name": "web", "namespace": "default", "generation": 1},
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(LABELS)}, "template": template(image),
                     "strategy": strategy or {"type": "RollingUpdate",
                                              "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                     **spec}})
        self.observe()
        return d

    def edit(self, change: Callable[[Obj], None]) -> None:
        """A user's edit of the Deployment's spec (the API server bumps the generation)."""
        d = self.stored()
        change(d)
        d["metadata"]["generation"] += 1
        self.fake.update(r.DEPLOYMENTS, d)
        self.observe()

    def stored(self, name: str = "web") -> Obj:
        return self.fake.stored(r.DEPLOYMENTS, name, "default")  # type: ignore[return-value]

    def replicasets(self) -> list[Obj]:
        return sorted((copy.deepcopy(o) for (gr, _, _), o in self.fake.objects.items() if gr == "replicasets.apps"),
                      key=lambda rs: (du.revision(rs), rs["metadata"]["name"]))

    def sizes(self) -> list[int]:
        return [du.replicas(rs) for rs in self.replicasets()]

    def settle(self, available: bool = True) -> None:
        """The ReplicaSet controller and the nodes catch up: every pod exists (and is available)."""
        for rs in self.replicasets():
            n = du.replicas(rs)
            status = {"replicas": n, "fullyLabeledReplicas": n, "readyReplicas": n if available else 0,
                      "availableReplicas": n if available else 0,
                      "observedGeneration": rs["metadata"].get("generation", 1)}
            if rs.get("status") != status:
                rs["status"] = status
                self.fake.update(r.REPLICASETS, rs, subresource="status")
        self.observe()

    def observe(self) -> None:
        for inf in (self.ctl.deployments, self.ctl.replicasets, self.ctl.pods):
            current = {f"{o['metadata']['namespace']}/{o['metadata']['name']}": o
                       for (gr, _, _), o in list(self.fake.objects.items()) if gr == inf.resource.group_resource}
            for key in list(inf.cache.keys()):
                if key not in current:
                    inf._handle({"type": "DELETED", "object": inf.cache.get(key)})
            for key, obj in current.items():
                cached = inf.cache.get(key)
                if cached is None or cached["metadata"]["resourceVersion"] != obj["metadata"]["resourceVersion"]:
                    inf._handle({"type": "MODIFIED" if cached else "ADDED", "object": copy.deepcopy(obj)})

    def sync(self) -> RequeueAfter | None:
        """One reconcile, then the informers catch up."""
        try:
            self.ctl.reconcile("default/web")
        except RequeueAfter as again:
            return again
        finally:
            self.observe()
        return None

    def roll(self, steps: int = 30, check: Callable[[], None] = lambda: None) -> None:
        """Reconcile and settle until nothing changes any more."""
        for _ in range(steps):
            before = copy.deepcopy(self.fake.objects)
            self.sync()
            check()
            self.settle()
            self.sync()
            if self.fake.objects == before:
                return
        raise AssertionError("the rollout did not settle")

    def condition(self, kind: str) -> Obj | None:
        return du.get_condition(self.stored().get("status"), kind)


@pytest.fixture
def c() -> Cluster:
    return Cluster()


# -- the first ReplicaSet ------------------------------------------------------------------


def test_a_new_deployment_gets_its_replicaset(c: Cluster) -> None:
    d = c.deployment(replicas=3, )
    c.edit(lambda d: d["metadata"].setdefault("annotations", {}).update(
        {"kubernetes.io/change-cause": "first", du.LAST_APPLIED: "{}"}))
    c.sync()
    [rs] = c.replicasets()
    pod_hash = du.compute_hash(template())
    meta = rs["metadata"]
    assert meta["name"] == f"web-{pod_hash}"
    assert meta["labels"] == {**LABELS, "pod-template-hash": pod_hash}
    assert rs["spec"]["selector"] == {"matchLabels": {**LABELS, "pod-template-hash": pod_hash}}
    assert rs["spec"]["template"]["metadata"]["labels"] == {**LABELS, "pod-template-hash": pod_hash}
    assert rs["spec"]["replicas"] == 3
    assert meta["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                        "uid": d["metadata"]["uid"], "controller": True,
                                        "blockOwnerDeletion": True}]
    assert meta["annotations"] == {du.REVISION: "1", du.DESIRED_REPLICAS: "3", du.MAX_REPLICAS: "4",
                                   "kubernetes.io/change-cause": "first"}, "last-applied is not copied"
    assert c.stored()["metadata"]["annotations"][du.REVISION] == "1"
    progressing = c.condition("Progressing")
    assert progressing is not None and (progressing["status"], progressing["reason"]) == ("True", du.NEW_RS_CREATED)
    assert progressing["message"] == f'Created new replica set "web-{pod_hash}"'
    assert c.recorder.events == [f"Normal ScalingReplicaSet Scaled up replica set web-{pod_hash} from 0 to 3"]


def test_the_template_hash_is_stable_and_follows_the_template() -> None:
    assert du.compute_hash(template()) == du.compute_hash(copy.deepcopy(template()))
    assert du.compute_hash(template("nginx:1.27")) != du.compute_hash(template())
    assert du.compute_hash(template(), 1) != du.compute_hash(template())
    assert set(du.compute_hash(template())) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_a_finished_rollout_is_complete_and_available(c: Cluster) -> None:
    c.deployment(replicas=3)
    c.roll()
    status = c.stored()["status"]
    assert {k: status.get(k) for k in ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas",
                                       "availableReplicas")} == {"observedGeneration": 1, "replicas": 3,
                                                                 "updatedReplicas": 3, "readyReplicas": 3,
                                                                 "availableReplicas": 3}
    assert status.get("unavailableReplicas", 0) == 0
    available, progressing = c.condition("Available"), c.condition("Progressing")
    assert (available["status"], available["reason"]) == ("True", du.MIN_AVAILABLE)  # type: ignore[index]
    assert (progressing["status"], progressing["reason"]) == ("True", du.NEW_RS_AVAILABLE)  # type: ignore[index]


# -- rolling update ------------------------------------------------------------------------


@pytest.mark.parametrize("replicas, surge, unavailable, want", [
    (10, "25%", "25%", (3, 2)),  # surge rounds up, unavailability down
    (1, "25%", "25%", (1, 0)),
    (4, 0, 0, (0, 1)),  # both zero would never progress
    (3, "50%", "50%", (2, 1)),
    (5, 2, "10%", (2, 0)),
])
def test_max_surge_and_max_unavailable_rounding(replicas: int, surge: Any, unavailable: Any,
                                                 want: tuple[int, int]) -> None:
    d = {"spec": {"replicas": replicas, "strategy": {"type": "RollingUpdate", "rollingUpdate": {
        "maxSurge": surge, "maxUnavailable": unavailable}}}}
    assert du.resolve_fenceposts(d) == want


def test_a_rolling_update_stays_within_surge_and_unavailability(c: Cluster) -> None:
    c.deployment(replicas=4, strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1,
                                                                                   "maxUnavailable": 1}})
    c.roll()
    c.edit(lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="nginx:1.27"))
    seen: list[list[int]] = []

    def within_bounds() -> None:
        rss = c.replicasets()
        seen.append([du.replicas(rs) for rs in rss])
        assert sum(du.replicas(rs) for rs in rss) <= 5, "never more than replicas + maxSurge pods"
        still_available = sum(min(du.replicas(rs), rs.get("status", {}).get("availableReplicas", 0)) for rs in rss)
        assert still_available >= 3, "never fewer than replicas - maxUnavailable available"

    c.roll(check=within_bounds)
    assert c.sizes() == [0, 4]
    assert seen[0] == [3, 1], "one new pod (surge) and one old pod gone (unavailability) at once"
    assert seen[-1] == [0, 4], f"steps were {seen}"
    new = c.replicasets()[1]
    assert new["metadata"]["annotations"][du.REVISION] == "2"
    assert c.stored()["metadata"]["annotations"][du.REVISION] == "2"
    assert any(e.startswith("Normal ScalingReplicaSet Scaled down replica set") for e in c.recorder.events)


def test_the_first_steps_of_a_rollout(c: Cluster) -> None:
    c.deployment(replicas=10)  # 25% / 25%: surge 3, unavailable 2
    c.roll()
    c.edit(lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="nginx:1.27"))
    c.sync()
    assert c.sizes() == [8, 3], "the new ReplicaSet starts at maxSurge; maxUnavailable old pods go at once"
    c.sync()
    assert c.sizes() == [8, 5], "the freed room goes to the new ReplicaSet"
    c.sync()
    assert c.sizes() == [8, 5], "then nothing moves until new pods are available"
    progressing = c.condition("Progressing")
    assert progressing["reason"] == du.NEW_RS_CREATED  # type: ignore[index]


def test_a_broken_new_template_does_not_take_the_old_pods_down(c: Cluster) -> None:
    c.deployment(replicas=4, strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1,
                                                                                   "maxUnavailable": 1}})
    c.roll()
    c.edit(lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="nginx:broken"))
    for _ in range(5):
        c.sync()
        c.settle(available=False)  # the new pods never become available...
        for rs in c.replicasets():
            if du.revision(rs) == 1:  # ... while the old ones stay up
                rs["status"]["availableReplicas"] = rs["status"]["readyReplicas"] = du.replicas(rs)
                c.fake.update(r.REPLICASETS, rs, subresource="status")
        c.observe()
    assert c.sizes() == [3, 2], "one old pod may go (maxUnavailable), no more"


# -- recreate ------------------------------------------------------------------------------


def test_recreate_removes_every_old_pod_before_creating_new_ones(c: Cluster) -> None:
    c.deployment(replicas=3, strategy={"type": "Recreate"})
    c.roll()
    c.edit(lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="nginx:1.27"))
    old = c.replicasets()[0]
    c.fake.seed(r.PODS, {"metadata": {"name": "old-pod", "namespace": "default", "labels": dict(LABELS),
                                      "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                                           "name": old["metadata"]["name"],
                                                           "uid": old["metadata"]["uid"], "controller": True}]},
                         "status": {"phase": "Running"}})
    c.observe()
    c.sync()
    assert c.sizes() == [0], "old scaled to zero, and no new ReplicaSet yet"
    c.settle()
    c.sync()
    assert c.sizes() == [0], "an old pod still runs: wait"
    c.fake.delete(r.PODS, "old-pod", "default")
    c.observe()
    c.sync()
    assert c.sizes() == [0, 3]
    assert c.replicasets()[1]["metadata"]["annotations"][du.MAX_REPLICAS] == "3", "Recreate has no surge"


# -- pause, resume, scale --------------------------------------------------------------------


def test_a_paused_deployment_scales_but_does_not_roll_out(c: Cluster) -> None:
    c.deployment(replicas=3)
    c.roll()
    c.edit(lambda d: d["spec"].update(paused=True))
    c.sync()
    progressing = c.condition("Progressing")
    assert (progressing["status"], progressing["reason"]) == ("Unknown", du.PAUSED)  # type: ignore[index]
    c.edit(lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="nginx:1.27"))
    c.sync()
    assert len(c.replicasets()) == 1, "no new ReplicaSet while paused"
    c.edit(lambda d: d["spec"].update(replicas=5))
    c.sync()
    assert c.sizes() == [5], "scaling still happens"
    assert c.replicasets()[0]["metadata"]["annotations"][du.DESIRED_REPLICAS] == "5"

    c.edit(lambda d: d["spec"].update(paused=False))
    c.sync()
    assert len(c.replicasets()) == 2, "resumed: the rollout starts"
    assert c.condition("Progressing")["reason"] in (du.RESUMED, du.NEW_RS_CREATED)  # type: ignore[index]
    c.roll()
    assert c.sizes() == [0, 5]


def test_scaling_during_a_rollout_is_proportional(c: Cluster) -> None:
    c.deployment(replicas=10, strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3,
                                                                                    "maxUnavailable": 2}})
    c.roll()
    c.edit(lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="nginx:1.27"))
    c.sync()
    c.sync()
    c.settle(available=False)
    assert c.sizes() == [8, 5]
    c.edit(lambda d: d["spec"].update(replicas=20))
    c.sync()
    # 23 allowed (20 + 3), 13 now: 10 more, shared as the sizes were (of 13): 8 -> 14, 5 -> 9.
    assert c.sizes() == [14, 9]
    assert all(rs["metadata"]["annotations"][du.DESIRED_REPLICAS] == "20" for rs in c.replicasets())
    assert all(rs["metadata"]["annotations"][du.MAX_REPLICAS] == "23" for rs in c.replicasets())


def test_scaling_a_settled_deployment_scales_its_replicaset(c: Cluster) -> None:
    c.deployment(replicas=3)
    c.roll()
    c.edit(lambda d: d["spec"].update(replicas=1))
    c.sync()
    assert c.sizes() == [1]
    assert "Normal ScalingReplicaSet Scaled down replica set web-" in c.recorder.events[-1]


# -- revisions, undo, history ------------------------------------------------------------------


def test_undo_re_stamps_the_old_replicaset_with_the_next_revision(c: Cluster) -> None:
    c.deployment(replicas=2)
    c.roll()
    c.edit(lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="nginx:1.27"))
    c.roll()
    first, second = c.replicasets()
    assert (du.revision(first), du.revision(second)) == (1, 2)
    # `kubectl rollout undo`: the template of revision 1, without its hash label.
    c.edit(lambda d: d["spec"].update(template=du.without_hash(first["spec"]["template"])))
    c.roll()
    back = next(rs for rs in c.replicasets() if rs["metadata"]["uid"] == first["metadata"]["uid"])
    assert back["metadata"]["annotations"][du.REVISION] == "3"
    assert back["metadata"]["annotations"][du.REVISION_HISTORY] == "1"
    assert du.replicas(back) == 2 and len(c.replicasets()) == 2, "no new ReplicaSet: the old one is reused"
    assert c.stored()["metadata"]["annotations"][du.REVISION] == "3"


def test_old_replicasets_beyond_the_history_limit_are_deleted(c: Cluster) -> None:
    c.deployment(replicas=1, revisionHistoryLimit=2)
    c.roll()
    for image in ("nginx:2", "nginx:3", "nginx:4", "nginx:5"):
        c.edit(lambda d, image=image: d["spec"]["template"]["spec"]["containers"][0].update(image=image))
        c.roll()
    revisions = [du.revision(rs) for rs in c.replicasets()]
    assert revisions == [3, 4, 5], "the current one and the two newest old ones are kept"


def test_an_old_replicaset_with_pods_is_not_deleted(c: Cluster) -> None:
    c.deployment(replicas=1, revisionHistoryLimit=0)
    c.roll()
    c.edit(lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="nginx:1.27"))
    c.sync()
    c.sync()
    assert len(c.replicasets()) == 2, "the old one still has pods during the rollout"
    c.roll()
    assert [du.revision(rs) for rs in c.replicasets()] == [2]


# -- progress -----------------------------------------------------------------------------


def test_no_progress_for_the_deadline_fails_the_rollout(c: Cluster) -> None:
    c.deployment(replicas=2, progressDeadlineSeconds=60)
    c.sync()  # the ReplicaSet is created; its pods never become available
    c.settle(available=False)
    c.sync()
    c.now += datetime.timedelta(seconds=30)
    again = c.sync()
    assert again is not None and 30 < again.delay <= 32, "look again when the deadline has passed"
    assert c.condition("Progressing")["status"] == "True"  # type: ignore[index]
    c.now += datetime.timedelta(seconds=31)
    c.sync()
    progressing = c.condition("Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", du.TIMED_OUT)  # type: ignore[index]
    assert progressing["message"].endswith("has timed out progressing.")  # type: ignore[index]
    available = c.condition("Available")
    assert (available["status"], available["reason"]) == ("False", du.MIN_UNAVAILABLE)  # type: ignore[index]


def test_progress_moves_the_deadline_on(c: Cluster) -> None:
    c.deployment(replicas=2, progressDeadlineSeconds=60)
    c.sync()
    c.settle(available=False)
    c.sync()
    c.now += datetime.timedelta(seconds=50)
    c.settle()  # pods became available: progress
    c.sync()
    c.now += datetime.timedelta(seconds=50)
    c.sync()
    progressing = c.condition("Progressing")
    assert progressing["reason"] == du.NEW_RS_AVAILABLE  # type: ignore[index]


# -- ownership and odd specs ----------------------------------------------------------------


def test_orphan_replicasets_that_match_are_adopted_and_others_released(c: Cluster) -> None:
    d = c.deployment(replicas=1)
    c.fake.seed(r.REPLICASETS, {"metadata": {"name": "stray", "namespace": "default", "labels": dict(LABELS)},
                                "spec": {"replicas": 0, "selector": {"matchLabels": dict(LABELS)},
                                         "template": template("other")}})
    c.fake.seed(r.REPLICASETS, {"metadata": {"name": "mine-but-relabelled", "namespace": "default",
                                             "labels": {"app": "else"},
                                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                                                  "name": "web", "uid": d["metadata"]["uid"],
                                                                  "controller": True}]},
                                "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "else"}},
                                         "template": template("else")}})
    c.observe()
    c.sync()
    stray = c.fake.stored(r.REPLICASETS, "stray", "default")
    assert stray["metadata"]["ownerReferences"][0]["uid"] == d["metadata"]["uid"]  # type: ignore[index]
    released = c.fake.stored(r.REPLICASETS, "mine-but-relabelled", "default")
    assert released["metadata"]["ownerReferences"] == []  # type: ignore[index]


def test_a_deployment_selecting_everything_is_refused(c: Cluster) -> None:
    c.deployment(replicas=1, selector={})
    c.sync()
    assert c.replicasets() == []
    assert c.recorder.events == [
        "Warning SelectingAll This deployment is selecting all pods. A non-empty selector is required."]
    assert c.stored()["status"]["observedGeneration"] == 1


def test_a_write_from_a_stale_cache_looks_again_soon_instead_of_failing(c: Cluster) -> None:
    c.deployment(replicas=1)
    c.fake.patch(r.DEPLOYMENTS, "web", {"metadata": {"labels": {"touched": "yes"}}}, "default")  # not yet observed
    with pytest.raises(RequeueAfter) as again:
        c.ctl.reconcile("default/web")
    assert again.value.delay < 1
    c.observe()
    c.sync()
    assert c.stored()["metadata"]["annotations"][du.REVISION] == "1"


def test_a_hash_collision_is_counted_and_a_new_name_tried(c: Cluster) -> None:
    c.deployment(replicas=1)
    squatter = f"web-{du.compute_hash(template())}"
    c.fake.seed(r.REPLICASETS, {"metadata": {"name": squatter, "namespace": "default", "labels": {"other": "x"}},
                                "spec": {"replicas": 0, "selector": {"matchLabels": {"other": "x"}},
                                         "template": {"metadata": {"labels": {"other": "x"}}, "spec": {}}}})
    with pytest.raises(Exception, match="already exists"):
        c.ctl.reconcile("default/web")
    assert c.stored()["status"]["collisionCount"] == 1
    c.observe()
    c.sync()
    ours = [rs for rs in c.replicasets() if rs["metadata"]["name"] != squatter]
    assert [rs["metadata"]["name"] for rs in ours] == [f"web-{du.compute_hash(template(), 1)}"]
