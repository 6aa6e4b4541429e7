"""batch/v1 defaults, including the selector a Job generates from its own uid."""

from __future__ import annotations

import copy

from controlplane.api.defaults import batch

UID = "9a1c6b1e"


def job(**spec: object) -> dict:
    base = {"template": {"spec": {"containers": [{"name": "pi", "image": "perl"}], "restartPolicy": "Never"}}}
    base.update(spec)
    return {"metadata": {"name": "pi", "namespace": "default", "uid": UID}, "spec": base}


GENERATED = {"job-name": "pi", "batch.kubernetes.io/job-name": "pi",
             "controller-uid": UID, "batch.kubernetes.io/controller-uid": UID}


def test_job_defaults() -> None:
    obj = job()
    batch.default_job(obj)
    spec = obj["spec"]
    assert {k: v for k, v in spec.items() if k != "template"} == {
        "completions": 1, "parallelism": 1, "backoffLimit": 6, "completionMode": "NonIndexed",
        "suspend": False, "podReplacementPolicy": "TerminatingOrFailed",
        "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": UID}},
    }
    assert "manualSelector" not in spec
    assert spec["template"]["metadata"]["labels"] == GENERATED
    # kubectl get job -o yaml shows the generated labels on the Job as well.
    assert obj["metadata"]["labels"] == GENERATED
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert spec["template"]["spec"]["dnsPolicy"] == "ClusterFirst"


def test_parallel_job_keeps_completions_unset() -> None:
    obj = job(parallelism=3)
    batch.default_job(obj)
    assert obj["spec"]["parallelism"] == 3
    assert "completions" not in obj["spec"]


def test_job_with_own_labels_keeps_them_and_template_labels_are_added_to() -> None:
    obj = job(template={"metadata": {"labels": {"app": "pi"}}, "spec": {"containers": []}})
    obj["metadata"]["labels"] = {"team": "a"}
    batch.default_job(obj)
    assert obj["metadata"]["labels"] == {"team": "a"}
    assert obj["spec"]["template"]["metadata"]["labels"] == {"app": "pi", **GENERATED}


def test_manual_selector_generates_nothing() -> None:
    obj = job(manualSelector=True, selector={"matchLabels": {"app": "pi"}})
    batch.default_job(obj)
    assert obj["spec"]["selector"] == {"matchLabels": {"app": "pi"}}
    assert "labels" not in (obj["spec"]["template"].get("metadata") or {})


def test_labels_the_user_set_are_not_overwritten() -> None:
    obj = job(template={"metadata": {"labels": {"job-name": "mine"}}, "spec": {}})
    batch.default_job(obj)
    assert obj["spec"]["template"]["metadata"]["labels"]["job-name"] == "mine"


def test_per_index_limits_lift_the_global_backoff_limit() -> None:
    obj = job(completionMode="Indexed", completions=3, backoffLimitPerIndex=1)
    batch.default_job(obj)
    assert obj["spec"]["backoffLimit"] == 2**31 - 1


def test_pod_failure_policy_defaults() -> None:
    rules = [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]
    obj = job(podFailurePolicy={"rules": rules})
    batch.default_job(obj)
    assert obj["spec"]["podReplacementPolicy"] == "Failed"
    assert obj["spec"]["podFailurePolicy"]["rules"][0]["onPodConditions"] == [
        {"type": "DisruptionTarget", "status": "True"}]


def test_job_defaulting_is_idempotent() -> None:
    once = job()
    batch.default_job(once)
    twice = copy.deepcopy(once)
    batch.default_job(twice)
    assert twice == once


def test_cron_job_defaults() -> None:
    obj = {"spec": {"schedule": "@hourly", "jobTemplate": {"spec": {"template": {"spec": {
        "containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "OnFailure"}}}}}}
    batch.default_cron_job(obj)
    spec = obj["spec"]
    assert {k: v for k, v in spec.items() if k != "jobTemplate"} == {
        "schedule": "@hourly", "concurrencyPolicy": "Allow", "suspend": False,
        "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1}
    job_spec = spec["jobTemplate"]["spec"]
    assert "backoffLimit" not in job_spec  # Job defaults come when each Job is created
    assert job_spec["template"]["spec"]["dnsPolicy"] == "ClusterFirst"
