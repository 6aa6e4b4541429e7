"""Defaults for batch/v1 Jobs and CronJobs, and the selector a Job generates for itself.

Where it sits: the registry calls these (through ``validation.batch.RULES``) on every
create and update, after it has set ``metadata.uid`` and before validation.

Upstream fills a Job in two places, and both happen here:

* ``pkg/apis/batch/v1/defaults.go``: one completion at a time, six retries, the
  ``NonIndexed`` completion mode, not suspended, the pod replacement policy;
* the Job strategy's ``generateSelector`` (``pkg/registry/batch/job/strategy.go``): unless
  ``spec.manualSelector`` is true, the Job labels its pods with its own uid and name
  and selects them by uid, so no two Jobs can ever claim each other's pods. The Job's
  own labels, when it has none, are a copy of its template's, generated ones included,
  which is why ``kubectl get job -o yaml`` shows ``controller-uid`` in both places.

Generating is idempotent: a label that is already there is left alone (and checked by
validation), so running these again on update changes nothing.
"""

from __future__ import annotations

from typing import Any

from .apps import default_template, fill, section

LEGACY_NAME_LABEL = "job-name"
LEGACY_UID_LABEL = "controller-uid"
NAME_LABEL = "batch.kubernetes.io/job-name"
UID_LABEL = "batch.kubernetes.io/controller-uid"
MAX_INT32 = 2**31 - 1


def default_job(obj: dict[str, Any]) -> None:
    spec = section(obj, "spec")
    # A plain Job runs one pod to completion; parallel Jobs say how many at a time.
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    fill(spec, "parallelism", 1)
    # With per-index back-off limits the global limit would only get in the way.
    fill(spec, "backoffLimit", MAX_INT32 if spec.get("backoffLimitPerIndex") is not None else 6)
    fill(spec, "completionMode", "NonIndexed")
    fill(spec, "suspend", False)
    failure_policy = spec.get("podFailurePolicy")
    for rule in (failure_policy or {}).get("rules") or []:
        for pattern in rule.get("onPodConditions") or []:
            if not pattern.get("status"):
                pattern["status"] = "True"
    # A pod failure policy must see a pod's final state, so replacements wait for it to fail.
    replacement = "Failed" if failure_policy is not None else "TerminatingOrFailed"
    fill(spec, "podReplacementPolicy", replacement)
    default_template(spec)
    if spec.get("manualSelector") is not True:
        generate_selector(obj)
    # Upstream copies the template's labels at decode time and sees the generated ones
    # when it reads the Job back from storage; copying after generating gives the same.
    template_labels = (spec["template"].get("metadata") or {}).get("labels")
    meta = section(obj, "metadata")
    if template_labels and not meta.get("labels"):
        meta["labels"] = dict(template_labels)


def generate_selector(obj: dict[str, Any]) -> None:
    """Label the template with the Job's name and uid, and select the pods by uid."""
    meta = obj.get("metadata") or {}
    name, uid = meta.get("name", ""), meta.get("uid", "")
    spec = section(obj, "spec")
    labels = section(section(section(spec, "template"), "metadata"), "labels")
    # A label the user set is kept even when it is wrong: validation then says so.
    for key, value in ((LEGACY_NAME_LABEL, name), (NAME_LABEL, name),
                       (LEGACY_UID_LABEL, uid), (UID_LABEL, uid)):
        labels.setdefault(key, value)
    match_labels = section(section(spec, "selector"), "matchLabels")
    match_labels.setdefault(UID_LABEL, uid)


def default_cron_job(obj: dict[str, Any]) -> None:
    spec = section(obj, "spec")
    if not spec.get("concurrencyPolicy"):
        spec["concurrencyPolicy"] = "Allow"
    fill(spec, "suspend", False)
    fill(spec, "successfulJobsHistoryLimit", 3)
    fill(spec, "failedJobsHistoryLimit", 1)
    # Only the pod template is defaulted here; Job defaults come when each Job is created.
    default_template(section(section(spec, "jobTemplate"), "spec"))
