"""batch/v1 validation: Jobs (create, update, status) and CronJobs, as kubectl prints them."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from controlplane.api.validation import rules_for

Mutation = Callable[[dict], object]
JOB = rules_for("batch", "Job")
CRON_JOB = rules_for("batch", "CronJob")
UID = "1e7d2a6f"
RESTART_REQUIRED = 'spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"'


def job() -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "pi", "namespace": "default", "uid": UID},
            "spec": {"template": {"spec": {"containers": [{"name": "pi", "image": "perl:5.34"}],
                                           "restartPolicy": "Never"}}}}


def spec(**fields: object) -> Mutation:
    return lambda obj: obj["spec"].update(fields)


def pod(**fields: object) -> Mutation:
    return lambda obj: obj["spec"]["template"]["spec"].update(fields)


def both(*mutations: Mutation) -> Mutation:
    return lambda obj: [m(obj) for m in mutations]


def errors(mutate: Mutation) -> list[str]:
    obj = job()
    mutate(obj)
    JOB.default(obj)
    return [str(e) for e in JOB.validate(obj)]


JOB_CASES = [
    ("valid", spec(), []),
    # The pod default is Always, which a Job's pods must not use.
    ("no restartPolicy", lambda o: o["spec"]["template"]["spec"].pop("restartPolicy"), [RESTART_REQUIRED]),
    ("restartPolicy Always", pod(restartPolicy="Always"), [RESTART_REQUIRED]),
    ("negative counts", spec(parallelism=-1, completions=-2, backoffLimit=-3, activeDeadlineSeconds=-4),
     ["spec.parallelism: Invalid value: -1: must be greater than or equal to 0",
      "spec.completions: Invalid value: -2: must be greater than or equal to 0",
      "spec.activeDeadlineSeconds: Invalid value: -4: must be greater than or equal to 0",
      "spec.backoffLimit: Invalid value: -3: must be greater than or equal to 0"]),
    ("manual selector missing", spec(manualSelector=True),
     ["spec.selector: Required value",
      "spec.template.metadata.labels: Invalid value: map[string]string(nil): "
      "`selector` does not match template `labels`"]),
    ("manual selector", both(spec(manualSelector=True, selector={"matchLabels": {"app": "pi"}}),
                             lambda o: o["spec"]["template"].update(metadata={"labels": {"app": "pi"}})), []),
    ("wrong job-name label",
     lambda o: o["spec"]["template"].update(metadata={"labels": {"job-name": "other"}}),
     ["spec.template.metadata.labels[job-name]: Invalid value: map[string]string{"
      f'"batch.kubernetes.io/controller-uid":"{UID}", "batch.kubernetes.io/job-name":"pi", '
      f'"controller-uid":"{UID}", "job-name":"other"}}: must be \'pi\'']),
    ("selector without manualSelector", spec(selector={"matchLabels": {"app": "pi"}}),
     ["spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"pi\", "
      f'"batch.kubernetes.io/controller-uid":"{UID}"}}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}}: '
      "`selector` not auto-generated",
      'spec.template.metadata.labels: Invalid value: map[string]string{'
      f'"batch.kubernetes.io/controller-uid":"{UID}", "batch.kubernetes.io/job-name":"pi", '
      f'"controller-uid":"{UID}", "job-name":"pi"}}: `selector` does not match template `labels`']),
    ("unknown completionMode", spec(completionMode="Sometimes"),
     ['spec.completionMode: Unsupported value: "Sometimes": supported values: "NonIndexed", "Indexed"']),
    ("indexed without completions", spec(completionMode="Indexed", parallelism=2),
     ["spec.completions: Required value: when completion mode is Indexed"]),
    ("backoffLimitPerIndex needs Indexed", spec(backoffLimitPerIndex=1),
     ["spec.backoffLimitPerIndex: Invalid value: 1: requires indexed completion mode"]),
    ("maxFailedIndexes needs backoffLimitPerIndex",
     spec(completionMode="Indexed", completions=3, maxFailedIndexes=1),
     ["spec.backoffLimitPerIndex: Required value: when maxFailedIndexes is specified"]),
    ("indexed pod hostname too long", both(lambda o: o["metadata"].update(name="n" * 62),
                                            spec(completionMode="Indexed", completions=10)),
     [f'metadata.name: Invalid value: "{"n" * 62}": will not able to create pod with invalid '
      f"DNS label: {'n' * 62}-9"]),
    ("podFailurePolicy with OnFailure",
     both(spec(podFailurePolicy={"rules": [
         {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}]}),
          pod(restartPolicy="OnFailure")),
     ['spec.template.spec.restartPolicy: Invalid value: "OnFailure": only "Never" is supported '
      "when podFailurePolicy is specified"]),
    ("podFailurePolicy rule problems", spec(podFailurePolicy={"rules": [
        {"onExitCodes": {"operator": "In", "values": [3, 0, 3], "containerName": "db"}},
        {"action": "Restart"}]}),
     ['spec.podFailurePolicy.rules[0].action: Required value: '
      'valid values: ["Count" "FailIndex" "FailJob" "Ignore"]',
      'spec.podFailurePolicy.rules[0].onExitCodes.containerName: Invalid value: "db": must be one of the '
      "container or initContainer names in the pod template",
      "spec.podFailurePolicy.rules[0].onExitCodes.values[1]: Invalid value: 0: must not be 0 for the In operator",
      "spec.podFailurePolicy.rules[0].onExitCodes.values[2]: Duplicate value: 3",
      "spec.podFailurePolicy.rules[0].onExitCodes.values: Invalid value: []int32{3, 0, 3}: must be ordered",
      'spec.podFailurePolicy.rules[1].action: Unsupported value: "Restart": supported values: '
      '"Count", "FailIndex", "FailJob", "Ignore"',
      "spec.podFailurePolicy.rules[1]: Invalid value: specifying one of OnExitCodes and OnPodConditions "
      "is required"]),
    ("podReplacementPolicy unknown", spec(podReplacementPolicy="Eventually"),
     ['spec.podReplacementPolicy: Unsupported value: "Eventually": supported values: "Failed", '
      '"TerminatingOrFailed"']),
    ("successPolicy needs Indexed", spec(successPolicy={"rules": [{"succeededCount": 1}]}),
     ["spec.successPolicy: Invalid value: batch.SuccessPolicy{Rules:[]batch.SuccessPolicyRule{...}}: "
      "requires indexed completion mode"]),
    ("successPolicy indexes", spec(completionMode="Indexed", completions=5, successPolicy={"rules": [
        {"succeededIndexes": "0-2,4", "succeededCount": 5}, {"succeededIndexes": "3-1"}]}),
     ["spec.successPolicy.rules[0].succeededCount: Invalid value: 5: must be less than or equal to 4 "
      "(the number of indexes in the specified succeededIndexes field)",
      'spec.successPolicy.rules[1].succeededIndexes: Invalid value: "3-1": error parsing succeededIndexes: '
      "non-increasing order, previous: 3, current: 1"]),
    ("managedBy not a domain path", spec(managedBy="kueue"),
     ['spec.managedBy: Invalid value: "kueue": must be a domain-prefixed path (such as "acme.io/foo")']),
]


@pytest.mark.parametrize("name, mutate, expected", JOB_CASES, ids=[c[0] for c in JOB_CASES])
def test_job(name: str, mutate: Mutation, expected: list[str]) -> None:
    assert errors(mutate) == expected


def update_errors(mutate: Mutation, prepare: Mutation = spec()) -> list[str]:
    old = job()
    prepare(old)
    JOB.default(old)
    new = copy.deepcopy(old)
    mutate(new)
    JOB.default(new)
    return [str(e) for e in JOB.validate_update(new, old)]


TEMPLATE_IMMUTABLE = "spec.template: Invalid value: core.PodTemplateSpec{...}: field is immutable"


@pytest.mark.parametrize("prepare, mutate, expected", [
    (spec(), spec(parallelism=3, activeDeadlineSeconds=60), []),
    (spec(), spec(completions=3), ["spec.completions: Invalid value: 3: field is immutable"]),
    (spec(), pod(containers=[{"name": "pi", "image": "perl:5.40"}]), [TEMPLATE_IMMUTABLE]),
    # A suspended Job that never ran may be moved to other nodes, but nothing else.
    (spec(suspend=True), pod(nodeSelector={"disk": "ssd"}), []),
    (spec(suspend=True), pod(containers=[{"name": "pi", "image": "perl:5.40"}]), [TEMPLATE_IMMUTABLE]),
    (spec(completionMode="Indexed", completions=4, parallelism=4), spec(completions=6, parallelism=6), []),
    (spec(completionMode="Indexed", completions=4, parallelism=4), spec(completions=6),
     ["spec.completions: Invalid value: 6: can only be modified in tandem with spec.parallelism"]),
    (spec(), spec(completionMode="Indexed"),
     ['spec.completionMode: Invalid value: "Indexed": field is immutable']),
])
def test_job_update(prepare: Mutation, mutate: Mutation, expected: list[str]) -> None:
    assert update_errors(mutate, prepare) == expected


def test_job_update_lists_spec_errors_twice_as_upstream() -> None:
    assert update_errors(spec(backoffLimit=-1)) == [
        "spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0",
        "spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0"]


@pytest.mark.parametrize("status, old_status, expected", [
    ({"active": 1, "failed": 2}, {"failed": 1}, []),
    ({"active": -1}, {}, ["status.active: Invalid value: -1: must be greater than or equal to 0"]),
    ({"failed": 1}, {"failed": 2}, ["status.failed: Invalid value: 1: cannot decrease the failed counter"]),
    ({"succeeded": 0}, {"succeeded": 1},
     ["status.succeeded: Invalid value: 0: cannot decrease the succeeded counter"]),
    ({"uncountedTerminatedPods": {"succeeded": ["a", ""], "failed": ["a"]}}, {},
     ['status.uncountedTerminatedPods.succeeded[1]: Invalid value: "": must not be empty',
      'status.uncountedTerminatedPods.failed[0]: Duplicate value: "a"']),
    ({"conditions": []}, {"conditions": [{"type": "Complete", "status": "True"}]},
     ["status.conditions: Invalid value: cannot disable the terminal Complete=True condition"]),
])
def test_job_status(status: dict, old_status: dict, expected: list[str]) -> None:
    new, old = job(), job()
    JOB.default(new)
    JOB.default(old)
    new["status"], old["status"] = status, old_status
    assert [str(e) for e in JOB.validate_status_update(new, old)] == expected


# -- CronJob -------------------------------------------------------------------------------------


def cron_job(**spec: object) -> dict:
    base = {"schedule": "*/5 * * * *",
            "jobTemplate": {"spec": {"template": {"spec": {
                "containers": [{"name": "hello", "image": "busybox"}], "restartPolicy": "OnFailure"}}}}}
    base.update(spec)
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "hello", "namespace": "default"}, "spec": base}


@pytest.mark.parametrize("obj, expected", [
    (cron_job(), []),
    (cron_job(schedule=""), ["spec.schedule: Required value"]),
    (cron_job(schedule="CRON_TZ=UTC 0 * * * *"),
     ['spec.schedule: Invalid value: "CRON_TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, '
      "use timeZone field instead"]),
    (cron_job(concurrencyPolicy="Never"),
     ['spec.concurrencyPolicy: Unsupported value: "Never": supported values: "Allow", "Forbid", "Replace"']),
    (cron_job(jobTemplate={"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}),
     ['spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"']),
    (cron_job(successfulJobsHistoryLimit=-1),
     ["spec.successfulJobsHistoryLimit: Invalid value: -1: must be greater than or equal to 0"]),
])
def test_cron_job(obj: dict, expected: list[str]) -> None:
    CRON_JOB.default(obj)
    assert [str(e) for e in CRON_JOB.validate(obj)] == expected


def test_cron_job_name_leaves_room_for_the_job_suffix() -> None:
    obj = cron_job()
    obj["metadata"]["name"] = "c" * 53
    CRON_JOB.default(obj)
    assert [str(e) for e in CRON_JOB.validate(obj)] == [
        f'metadata.name: Invalid value: "{"c" * 53}": must be no more than 52 characters']
