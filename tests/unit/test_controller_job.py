"""The Job controller: parallelism, completions, back-off, deadlines, Indexed mode, suspend."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from controlplane.client import resources as r
from controlplane.controllers import job_failure as jf
from controlplane.controllers import job_indexes as ix
from controlplane.controllers import podutil as pu
from controlplane.controllers.base import RequeueAfter
from controlplane.controllers.job import JobController
from controlplane.controllers.job_tracking import FINALIZER
from tests.unit.test_podutil import T0, World

Obj = dict[str, Any]
KEY = "default/pi"


def job(*, completions: int | None = 1, parallelism: int = 1, backoff_limit: int = 6, mode: str = "NonIndexed",
        restart: str = "Never", **spec: Any) -> Obj:
    body: Obj = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi", "namespace": "default"},
                 "spec": {"parallelism": parallelism, "backoffLimit": backoff_limit, "completionMode": mode,
                          "suspend": False, "podReplacementPolicy": "TerminatingOrFailed",
                          "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "job-uid"}},
                          "template": {"metadata": {"labels": {"batch.kubernetes.io/controller-uid": "job-uid",
                                                               "batch.kubernetes.io/job-name": "pi"}},
                                       "spec": {"restartPolicy": restart,
                                                "containers": [{"name": "pi", "image": "perl"}]}}, **spec}}
    if completions is not None:
        body["spec"]["completions"] = completions
    return body


class JobWorld(World):
    def __init__(self) -> None:
        super().__init__(JobController, pod_failure_backoff=(10.0, 360.0))
        self.ctl.clock = self.clock

    def active(self) -> list[str]:
        return [p["metadata"]["name"] for p in self.pods()
                if not p["metadata"].get("deletionTimestamp") and (p.get("status") or {}).get("phase")
                not in ("Succeeded", "Failed")]

    def finish(self, name: str, phase: str = "Succeeded") -> None:
        self.run_pod(name, phase=phase, ready=False)

    def job(self) -> Obj:
        return self.fake.stored(r.JOBS, "pi", "default")

    def status(self) -> Obj:
        return self.job().get("status") or {}

    def conditions(self) -> list[tuple[str, str, str]]:
        return [(c["type"], c["status"], c.get("reason", "")) for c in self.status().get("conditions") or []]


@pytest.fixture
def w() -> JobWorld:
    return JobWorld()


def test_creates_parallelism_pods_with_the_tracking_finalizer(w: JobWorld) -> None:
    w.seed(r.JOBS, job(completions=5, parallelism=2))
    w.reconcile(KEY)
    assert len(w.active()) == 2
    pod = w.pods()[0]
    assert pod["metadata"]["finalizers"] == [FINALIZER]
    assert pod["metadata"]["generateName"] == "pi-"
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Job"
    assert w.status()["active"] == 2 and w.status()["startTime"]


def test_never_more_pods_than_remaining_completions(w: JobWorld) -> None:
    w.seed(r.JOBS, job(completions=2, parallelism=5))
    w.reconcile(KEY)
    assert len(w.active()) == 2


def test_a_succeeded_pod_is_counted_once_and_released(w: JobWorld) -> None:
    w.seed(r.JOBS, job(completions=2))
    w.reconcile(KEY)
    first = w.active()[0]
    w.finish(first)
    w.reconcile(KEY)
    assert w.status()["succeeded"] == 1
    assert not any(w.status()["uncountedTerminatedPods"].values())
    assert FINALIZER not in (w.fake.stored(r.PODS, first, "default")["metadata"].get("finalizers") or [])
    w.ctl.jobs._list()  # the Job's informer has caught up, the pods' has not:
    w.ctl.reconcile(KEY)  # the cached pod still has its finalizer, and must not be counted twice
    assert w.status()["succeeded"] == 1
    w.sync()
    w.ctl.reconcile(KEY)
    assert w.status()["succeeded"] == 1


def test_completes_after_enough_successes(w: JobWorld) -> None:
    w.seed(r.JOBS, job(completions=2, parallelism=2))
    w.reconcile(KEY)
    for name in w.active():
        w.finish(name)
    w.reconcile(KEY)
    assert ("SuccessCriteriaMet", "True", "CompletionsReached") in w.conditions()
    assert ("Complete", "True", "CompletionsReached") in w.conditions()
    assert w.status()["succeeded"] == 2 and w.status()["completionTime"]
    assert "Normal Completed Job completed" in w.recorder.events
    assert w.reconcile(KEY) == [], "a finished Job is left alone"


def test_without_completions_one_success_ends_the_job_when_the_rest_finish(w: JobWorld) -> None:
    w.seed(r.JOBS, job(completions=None, parallelism=2))
    w.reconcile(KEY)
    a, b = w.active()
    w.finish(a)
    w.reconcile(KEY)
    assert w.active() == [b], "no new pod after a success"
    assert not w.conditions()
    w.finish(b)
    w.reconcile(KEY)
    assert ("Complete", "True", "CompletionsReached") in w.conditions()


def test_failed_pods_are_replaced_after_a_back_off(w: JobWorld) -> None:
    w.seed(r.JOBS, job(completions=1))
    w.reconcile(KEY)
    w.finish(w.active()[0], "Failed")
    w.reconcile(KEY)
    assert w.status()["failed"] == 1
    assert w.active() == [], "the replacement waits 10 s"
    w.clock.advance(10)
    w.reconcile(KEY)
    assert len(w.active()) == 1


def test_backoff_limit_exceeded_fails_the_job(w: JobWorld) -> None:
    w.seed(r.JOBS, job(completions=1, parallelism=1, backoff_limit=1))
    for _ in range(2):
        w.reconcile(KEY)
        w.clock.advance(60)
        w.reconcile(KEY)
        w.finish(w.active()[0], "Failed")
    w.reconcile(KEY)
    assert w.status()["failed"] == 2
    assert ("FailureTarget", "True", "BackoffLimitExceeded") in w.conditions()
    assert ("Failed", "True", "BackoffLimitExceeded") in w.conditions()
    assert "Warning BackoffLimitExceeded Job has reached the specified backoff limit" in w.recorder.events


def test_restarts_count_against_the_limit_with_restart_on_failure(w: JobWorld) -> None:
    w.seed(r.JOBS, job(backoff_limit=2, restart="OnFailure"))
    w.reconcile(KEY)
    name = w.active()[0]
    w.edit(r.PODS, name, "default", lambda p: p.update(status={
        "phase": "Running", "containerStatuses": [{"name": "pi", "restartCount": 2}]}))
    w.reconcile(KEY)
    assert ("FailureTarget", "True", "BackoffLimitExceeded") in w.conditions()
    assert w.fake.stored(r.PODS, name, "default") is None or w.active() == [], "its pod is deleted"


def test_active_deadline_fails_the_job_and_stops_its_pods(w: JobWorld) -> None:
    w.seed(r.JOBS, job(completions=3, parallelism=3, activeDeadlineSeconds=30))
    w.reconcile(KEY)
    assert len(w.active()) == 3
    w.clock.advance(31)
    w.reconcile(KEY)
    assert ("FailureTarget", "True", "DeadlineExceeded") in w.conditions()
    assert w.active() == []
    w.reconcile(KEY)
    assert ("Failed", "True", "DeadlineExceeded") in w.conditions()
    assert w.status()["failed"] == 3, "pods stopped by the deadline count as failed"
    assert w.status()["active"] == 0


def test_a_pod_deleted_by_a_user_counts_as_failed_and_is_replaced(w: JobWorld) -> None:
    w.seed(r.JOBS, job(completions=1))
    w.reconcile(KEY)
    name = w.active()[0]
    w.fake.delete(r.PODS, name, "default")  # held by the tracking finalizer
    w.reconcile(KEY)
    assert w.status()["failed"] == 1
    assert w.fake.stored(r.PODS, name, "default") is None, "released, so it could go"


def test_indexed_pods_know_their_index(w: JobWorld) -> None:
    w.seed(r.JOBS, job(completions=3, parallelism=3, mode="Indexed"))
    w.reconcile(KEY)
    pods = {p["metadata"]["annotations"][ix.INDEX_KEY]: p for p in w.pods()}
    assert sorted(pods) == ["0", "1", "2"]
    p1 = pods["1"]
    assert p1["metadata"]["labels"][ix.INDEX_KEY] == "1"
    assert p1["metadata"]["generateName"] == "pi-1-"
    assert p1["spec"]["hostname"] == "pi-1"
    assert {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
        "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}} \
        in p1["spec"]["containers"][0]["env"]


def test_indexed_job_replaces_a_failed_index_and_completes_each_index_once(w: JobWorld) -> None:
    w.seed(r.JOBS, job(completions=3, parallelism=3, mode="Indexed"))
    w.reconcile(KEY)
    by_index = {p["metadata"]["annotations"][ix.INDEX_KEY]: p["metadata"]["name"] for p in w.pods()}
    w.finish(by_index["1"])
    w.finish(by_index["2"], "Failed")
    w.reconcile(KEY)
    assert w.status()["completedIndexes"] == "1" and w.status()["succeeded"] == 1
    w.clock.advance(10)
    w.reconcile(KEY)
    active_indexes = sorted(w.fake.stored(r.PODS, n, "default")["metadata"]["annotations"][ix.INDEX_KEY]
                            for n in w.active())
    assert active_indexes == ["0", "2"], "index 2 again; index 1 is done"
    for name in w.active():
        w.finish(name)
    w.reconcile(KEY)
    assert w.status()["completedIndexes"] == "0-2"
    assert ("Complete", "True", "CompletionsReached") in w.conditions()


@pytest.mark.parametrize("text, completions, indexes", [
    ("", 5, set()), ("1", 5, {1}), ("0,2-4", 5, {0, 2, 3, 4}), ("0-9", 3, {0, 1, 2})])
def test_completed_indexes_round_trip(text, completions, indexes) -> None:
    assert ix.parse_indexes(text, completions) == indexes
    if max(indexes, default=-1) < completions and text and "9" not in text:
        assert ix.format_indexes(indexes) == text


def test_suspend_deletes_pods_and_resume_restarts_the_clock(w: JobWorld) -> None:
    w.seed(r.JOBS, job(completions=2, parallelism=2))
    w.reconcile(KEY)
    w.edit(r.JOBS, "pi", "default", lambda j: j["spec"].update(suspend=True))
    w.reconcile(KEY)
    assert w.active() == [] and w.pods() == [], "finalizer removed first: they just go"
    assert ("Suspended", "True", "JobSuspended") in w.conditions()
    assert w.status().get("failed", 0) == 0, "pods stopped on purpose are not failures"
    w.clock.advance(100)
    w.edit(r.JOBS, "pi", "default", lambda j: j["spec"].update(suspend=False))
    w.reconcile(KEY)
    assert ("Suspended", "False", "JobResumed") in w.conditions()
    assert w.status()["startTime"] == "2025-03-01T12:01:40Z"
    w.reconcile(KEY)
    assert len(w.active()) == 2


def test_ready_pods_are_counted(w: JobWorld) -> None:
    w.seed(r.JOBS, job(completions=2, parallelism=2))
    w.reconcile(KEY)
    w.run_pod(w.active()[0])
    w.reconcile(KEY)
    assert (w.status()["active"], w.status()["ready"]) == (2, 1)


def test_an_orphaned_pod_loses_its_tracking_finalizer(w: JobWorld) -> None:
    w.seed(r.PODS, {"metadata": {"name": "left", "namespace": "default", "finalizers": [FINALIZER],
                                 "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "gone",
                                                      "uid": "gone-uid", "controller": True}]}, "spec": {}})
    w.sync()
    w.ctl.reconcile("pod:default/left")
    assert w.fake.stored(r.PODS, "left", "default")["metadata"]["finalizers"] == []


def test_a_cache_behind_our_own_status_write_waits_quietly(w: JobWorld) -> None:
    w.seed(r.JOBS, job(completions=2))
    w.reconcile(KEY)
    w.fake.actions.clear()
    with pytest.raises(RequeueAfter):
        w.ctl.reconcile(KEY)  # at once: the informer still holds the Job we just overwrote
    assert w.fake.writes() == []


@pytest.mark.parametrize("failures, elapsed, wait", [
    (0, 0, 0.0), (1, 0, 10.0), (1, 4, 6.0), (3, 0, 40.0), (10, 0, 360.0), (2, 25, 0.0)])
def test_failure_back_off_doubles_up_to_its_limit(failures, elapsed, wait) -> None:
    record = jf.Backoff(failures, T0 if failures else None)
    assert jf.remaining(record, (10.0, 360.0), T0 + datetime.timedelta(seconds=elapsed)) == wait


def test_a_success_resets_the_back_off_but_not_failures_after_it() -> None:
    def finished(at: int, phase: str) -> Obj:
        return {"metadata": {}, "status": {"phase": phase, "containerStatuses": [{"state": {"terminated": {
            "finishedAt": pu.format_time(T0 + datetime.timedelta(seconds=at))}}}]}}
    record = jf.Backoff(4, T0)
    after = jf.next_backoff(record, [finished(10, "Succeeded")], [finished(5, "Failed"), finished(20, "Failed")], T0)
    assert (after.failures, after.last_failure) == (1, T0 + datetime.timedelta(seconds=20))
