"""The StatefulSet controller: stable names, ordered creation and deletion, partitioned updates."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.client import resources as r
from controlplane.client.errors import ApiError
from controlplane.controllers.base import RequeueAfter
from controlplane.controllers.statefulset import StatefulSetController
from tests.unit.test_podutil import World

Obj = dict[str, Any]
KEY = "default/web"


def statefulset(replicas: int = 3, *, policy: str = "OrderedReady", image: str = "web:1",
                strategy: Obj | None = None, **spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "default", "generation": 1},
            "spec": {"replicas": replicas, "serviceName": "nginx", "podManagementPolicy": policy,
                     "selector": {"matchLabels": {"app": "web"}}, "revisionHistoryLimit": 10,
                     "updateStrategy": strategy or {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": image}]}}, **spec}}


class STSWorld(World):
    def __init__(self) -> None:
        super().__init__(StatefulSetController)
        self.ctl.clock = self.clock

    def live(self) -> list[str]:
        return [p["metadata"]["name"] for p in self.pods() if not p["metadata"].get("deletionTimestamp")]

    def image(self, name: str) -> str:
        return self.fake.stored(r.PODS, name, "default")["spec"]["containers"][0]["image"]

    def ready(self, *names: str) -> None:
        for name in names:
            self.run_pod(name)

    def status(self) -> Obj:
        self.sync()
        self.ctl.reconcile(KEY)
        return self.fake.stored(r.STATEFULSETS, "web", "default").get("status") or {}

    def edit_set(self, change: Any) -> None:
        def apply(sts: Obj) -> None:
            change(sts)
            sts["metadata"]["generation"] += 1
        self.edit(r.STATEFULSETS, "web", "default", apply)

    def converge(self, rounds: int = 12) -> None:
        """Reconcile, and play node agent: every pod that exists becomes Running and Ready."""
        for _ in range(rounds):
            self.reconcile(KEY)
            for p in self.pods():
                if p["metadata"].get("deletionTimestamp"):
                    continue
                if (p.get("status") or {}).get("phase") != "Running":
                    self.run_pod(p["metadata"]["name"])


@pytest.fixture
def w() -> STSWorld:
    return STSWorld()


def test_ordered_ready_creates_one_pod_at_a_time(w: STSWorld) -> None:
    w.seed(r.STATEFULSETS, statefulset(3))
    w.reconcile(KEY)
    assert w.live() == ["web-0"]
    w.reconcile(KEY)
    assert w.live() == ["web-0"], "web-1 waits until web-0 is Running and Ready"
    w.run_pod("web-0", ready=False)
    w.reconcile(KEY)
    assert w.live() == ["web-0"]
    w.ready("web-0")
    w.reconcile(KEY)
    assert w.live() == ["web-0", "web-1"]
    w.ready("web-1")
    w.reconcile(KEY)
    assert w.live() == ["web-0", "web-1", "web-2"]


def test_pods_carry_their_stable_identity(w: STSWorld) -> None:
    w.seed(r.STATEFULSETS, statefulset(1))
    w.reconcile(KEY)
    pod = w.fake.stored(r.PODS, "web-0", "default")
    labels = pod["metadata"]["labels"]
    assert labels["statefulset.kubernetes.io/pod-name"] == "web-0"
    assert labels["apps.kubernetes.io/pod-index"] == "0"
    assert labels["controller-revision-hash"].startswith("web-")
    assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == ("web-0", "nginx")
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet"
    w.sync()
    assert w.status()["updateRevision"] == labels["controller-revision-hash"]


def test_parallel_creates_every_pod_at_once(w: STSWorld) -> None:
    w.seed(r.STATEFULSETS, statefulset(3, policy="Parallel"))
    w.reconcile(KEY)
    assert w.live() == ["web-0", "web-1", "web-2"]


def test_scale_down_deletes_the_highest_ordinal_first_one_at_a_time(w: STSWorld) -> None:
    w.seed(r.STATEFULSETS, statefulset(3))
    w.converge()
    assert w.live() == ["web-0", "web-1", "web-2"]
    w.edit_set(lambda s: s["spec"].update(replicas=1))
    w.edit(r.PODS, "web-2", "default", lambda p: p["metadata"].update(finalizers=["example.com/hold"]))
    w.reconcile(KEY)
    assert w.live() == ["web-0", "web-1"], "web-2 first"
    w.reconcile(KEY)
    assert w.live() == ["web-0", "web-1"], "web-1 waits while web-2 is still terminating"
    w.edit(r.PODS, "web-2", "default", lambda p: p["metadata"].update(finalizers=[]))
    w.reconcile(KEY)
    assert w.live() == ["web-0"]


def test_scale_down_waits_for_an_unhealthy_predecessor(w: STSWorld) -> None:
    w.seed(r.STATEFULSETS, statefulset(3))
    w.converge()
    w.edit_set(lambda s: s["spec"].update(replicas=2))
    w.run_pod("web-0", ready=False)
    w.reconcile(KEY)
    assert w.live() == ["web-0", "web-1", "web-2"], "nothing goes while web-0 is not ready"


def test_a_failed_pod_is_recreated_under_the_same_name(w: STSWorld) -> None:
    w.seed(r.STATEFULSETS, statefulset(1))
    w.converge()
    old_uid = w.fake.stored(r.PODS, "web-0", "default")["metadata"]["uid"]
    w.run_pod("web-0", phase="Failed", ready=False)
    w.reconcile(KEY)
    assert w.live() == []
    assert any("RecreatingFailedPod" in e for e in w.recorder.events)
    w.reconcile(KEY)
    assert w.live() == ["web-0"]
    assert w.fake.stored(r.PODS, "web-0", "default")["metadata"]["uid"] != old_uid


def test_rolling_update_goes_from_the_highest_ordinal_down(w: STSWorld) -> None:
    w.seed(r.STATEFULSETS, statefulset(3))
    w.converge()
    w.edit_set(lambda s: s["spec"]["template"]["spec"]["containers"][0].update(image="web:2"))
    order: list[str] = []
    for _ in range(12):
        w.converge(1)
        order += [n for n in w.live() if w.image(n) == "web:2" and n not in order]
    assert order == ["web-2", "web-1", "web-0"]
    status = w.status()
    assert status["currentRevision"] == status["updateRevision"], "the rollout completed"
    assert (status["updatedReplicas"], status["currentReplicas"], status["readyReplicas"]) == (3, 3, 3)


def test_rolling_update_waits_for_the_replaced_pod_to_be_ready(w: STSWorld) -> None:
    w.seed(r.STATEFULSETS, statefulset(3))
    w.converge()
    w.edit_set(lambda s: s["spec"]["template"]["spec"]["containers"][0].update(image="web:2"))
    w.reconcile(KEY)  # deletes web-2
    w.reconcile(KEY)  # recreates it at the new revision
    for _ in range(3):
        w.reconcile(KEY)
    assert {n: w.image(n) for n in w.live()} == {"web-0": "web:1", "web-1": "web:1", "web-2": "web:2"}


def test_a_partition_keeps_lower_ordinals_on_the_current_revision(w: STSWorld) -> None:
    w.seed(r.STATEFULSETS, statefulset(3, strategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}))
    w.converge()
    w.edit_set(lambda s: s["spec"]["template"]["spec"]["containers"][0].update(image="web:2"))
    w.converge()
    assert {n: w.image(n) for n in w.live()} == {"web-0": "web:1", "web-1": "web:1", "web-2": "web:2"}
    status = w.status()
    assert status["currentRevision"] != status["updateRevision"]
    assert (status["currentReplicas"], status["updatedReplicas"]) == (2, 1)
    # A pod below the partition that is deleted comes back at the *current* revision.
    w.fake.delete(r.PODS, "web-0", "default")
    w.converge()
    assert w.image("web-0") == "web:1"


def test_on_delete_leaves_pods_alone_until_deleted(w: STSWorld) -> None:
    w.seed(r.STATEFULSETS, statefulset(2, strategy={"type": "OnDelete"}))
    w.converge()
    w.edit_set(lambda s: s["spec"]["template"]["spec"]["containers"][0].update(image="web:2"))
    w.converge()
    assert {n: w.image(n) for n in w.live()} == {"web-0": "web:1", "web-1": "web:1"}
    w.fake.delete(r.PODS, "web-1", "default")
    w.converge()
    assert w.image("web-1") == "web:2"


def test_status_reports_replicas_and_revisions(w: STSWorld) -> None:
    w.seed(r.STATEFULSETS, statefulset(2))
    w.converge()
    status = w.status()
    assert {k: status[k] for k in ("replicas", "readyReplicas", "availableReplicas", "currentReplicas",
                                   "updatedReplicas", "observedGeneration")} == {
        "replicas": 2, "readyReplicas": 2, "availableReplicas": 2, "currentReplicas": 2, "updatedReplicas": 2,
        "observedGeneration": 1}
    revisions = [o for (gr, _, _), o in w.fake.objects.items() if gr == "controllerrevisions.apps"]
    assert [rv["metadata"]["name"] for rv in revisions] == [status["currentRevision"]]


def test_min_ready_seconds_holds_the_next_pod_back(w: STSWorld) -> None:
    w.seed(r.STATEFULSETS, statefulset(2, minReadySeconds=10))
    w.reconcile(KEY)
    w.ready("web-0")
    w.reconcile(KEY)
    assert w.live() == ["web-0"]
    w.clock.advance(10)
    w.reconcile(KEY)
    assert w.live() == ["web-0", "web-1"]


def test_volume_claim_templates_become_empty_dirs_and_say_why(w: STSWorld) -> None:
    claim = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}
    sts = statefulset(1, volumeClaimTemplates=[claim])
    sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    w.seed(r.STATEFULSETS, sts)
    writes = w.reconcile(KEY)
    assert {a.resource for a in writes} <= {"pods", "controllerrevisions.apps", "statefulsets.apps"}, \
        "no PersistentVolumeClaim is created"
    pod = w.fake.stored(r.PODS, "web-0", "default")
    assert {"name": "data", "emptyDir": {}} in pod["spec"]["volumes"]
    assert any("PersistentVolumeClaimNotCreated" in e and "data-web-0" in e for e in w.recorder.events)


def test_a_lost_identity_label_is_put_back(w: STSWorld) -> None:
    w.seed(r.STATEFULSETS, statefulset(1))
    w.converge()
    w.edit(r.PODS, "web-0", "default",
           lambda p: p["metadata"]["labels"].pop("statefulset.kubernetes.io/pod-name"))
    w.reconcile(KEY)
    labels = w.fake.stored(r.PODS, "web-0", "default")["metadata"]["labels"]
    assert labels["statefulset.kubernetes.io/pod-name"] == "web-0"


def test_orphaned_members_are_adopted(w: STSWorld) -> None:
    w.seed(r.PODS, {"metadata": {"name": "web-0", "namespace": "default", "labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "web:1"}]}})
    w.seed(r.PODS, {"metadata": {"name": "other-0", "namespace": "default", "labels": {"app": "web"}},
                    "spec": {}})
    w.seed(r.STATEFULSETS, statefulset(1))
    w.reconcile(KEY)
    adopted = w.fake.stored(r.PODS, "web-0", "default")
    assert adopted["metadata"]["ownerReferences"][0]["name"] == "web"
    assert "ownerReferences" not in w.fake.stored(r.PODS, "other-0", "default")["metadata"], \
        "only pods named like members are claimed"


def test_a_name_taken_by_someone_elses_pod_is_reported(w: STSWorld) -> None:
    w.seed(r.STATEFULSETS, statefulset(1))
    w.sync()
    w.fake.seed(r.PODS, {"metadata": {"name": "web-0", "namespace": "default", "labels": {"app": "other"}},
                         "spec": {}})  # created after our informers listed
    with pytest.raises(ApiError):
        w.ctl.reconcile(KEY)
    assert any("FailedCreate" in e and "web-0" in e for e in w.recorder.events)


def test_our_own_pod_missing_from_the_cache_is_waited_for_quietly(w: STSWorld) -> None:
    w.seed(r.STATEFULSETS, statefulset(1))
    w.reconcile(KEY)
    with pytest.raises(RequeueAfter):
        w.ctl.reconcile(KEY)  # at once: the pod informer has not delivered web-0 yet
    assert not any("FailedCreate" in e for e in w.recorder.events)
