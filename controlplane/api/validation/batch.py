"""batch/v1 Jobs and CronJobs, as upstream's ``pkg/apis/batch/validation`` checks them.

Where it sits: the registry looks up ``RULES[kind]`` after ``defaults.batch`` has filled
the Job in and generated its selector. The checks, in upstream's order (kubectl lists
the errors in the order they come):

* the generated selector and labels are intact (``validateGeneratedSelector``);
* the spec: counts may not be negative, the completion mode's rules, the pod failure
  and success policies, a template whose pods end (``restartPolicy`` OnFailure or
  Never), a selector that matches the template;
* on update, what a running Job cannot change: its selector, its completions (unless
  Indexed), and its template (only a suspended Job that never started may move its pods
  to other nodes).

Job status writes get the counter checks. A CronJob is checked as its schedule's
surroundings (not the cron expression itself) plus the Job spec it will stamp out.
"""

from __future__ import annotations

import re

from ..defaults import batch as defaults
from ..defaults.batch import LEGACY_NAME_LABEL, LEGACY_UID_LABEL, NAME_LABEL, UID_LABEL
from ..fielderrors import (INVALID, FieldError, Path, duplicate, invalid, not_supported, required,
                           too_long, too_many)
from .apps import SPEC, immutable, nonnegative, selector_convertible, semantically_equal, template_mismatch
from .goprint import go_quote, go_selector, go_string_map, go_struct, invalid_go
from .core import validate_pod_template_spec
from .meta import (is_dns1123_label, is_dns1123_subdomain, is_qualified_name,
                   label_selector_matches, validate_label_selector)
from .rules import KindRules

TEMPLATE_META = Path("spec", "template", "metadata")
MAX_INDEXED_PARALLELISM = 100_000
FAILURE_ACTIONS = ["Count", "FailIndex", "FailJob", "Ignore"]


def _omit(path: Path, detail: str) -> FieldError:
    """An Invalid error that shows no value (upstream's field.OmitValueType)."""
    return FieldError(INVALID, str(path), detail=detail)


def _valid_values(values: list[str]) -> str:
    # Go's %q of a []string: ["a" "b"].
    return "valid values: [" + " ".join(go_quote(v) for v in values) + "]"


# -- the generated selector --------------------------------------------------------------------


def _has_label(labels: dict, key: str, expected: str) -> list[FieldError]:
    path, message = TEMPLATE_META.child("labels").key(key), f"must be '{expected}'"
    if key not in labels:
        return [required(str(path), message)]
    return [] if labels[key] == expected else [invalid_go(path, go_string_map(labels), message)]


def _generated_selector(obj: dict, prefixed_labels: bool) -> list[FieldError]:
    spec, meta = obj.get("spec") or {}, obj.get("metadata") or {}
    selector = spec.get("selector")
    if spec.get("manualSelector") is True or selector is None:
        return []
    uid, name = meta.get("uid", ""), meta.get("name", "")
    # Without a uid the selector would be "controller-uid=", which matches strangers' pods.
    errs = [] if uid else [required("metadata.uid")]
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    errs += _has_label(labels, LEGACY_UID_LABEL, uid) + _has_label(labels, LEGACY_NAME_LABEL, name)
    expected = {LEGACY_UID_LABEL: uid, LEGACY_NAME_LABEL: name}
    if prefixed_labels:
        errs += _has_label(labels, UID_LABEL, uid) + _has_label(labels, NAME_LABEL, name)
        expected |= {UID_LABEL: uid, NAME_LABEL: name}
    if selector_convertible(selector) and not label_selector_matches(selector, expected):
        errs.append(invalid_go("spec.selector", go_selector(selector),
                               "`selector` not auto-generated"))
    return errs


# -- the Job spec -------------------------------------------------------------------------------


def validate_job_spec(spec: dict, path: Path) -> list[FieldError]:
    """Everything about a Job spec but its selector (CronJobs check their jobTemplate with it)."""
    errs: list[FieldError] = []
    for name in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit",
                 "ttlSecondsAfterFinished", "backoffLimitPerIndex"):
        errs += nonnegative(spec.get(name), path.child(name))
    if spec.get("maxFailedIndexes") is not None:
        errs += nonnegative(spec["maxFailedIndexes"], path.child("maxFailedIndexes"))
        if spec.get("backoffLimitPerIndex") is None:
            errs.append(required(str(path.child("backoffLimitPerIndex")),
                                 "when maxFailedIndexes is specified"))
    if spec.get("managedBy") is not None:
        errs += _domain_prefixed_path(spec["managedBy"], path.child("managedBy"))
        if len(spec["managedBy"]) > 63:
            errs.append(too_long(str(path.child("managedBy")), 63))
    errs += _completion_mode(spec, path)
    if spec.get("podFailurePolicy") is not None:
        errs += _pod_failure_policy(spec, path.child("podFailurePolicy"))
    if spec.get("successPolicy") is not None:
        errs += _success_policy(spec, path.child("successPolicy"))
    errs += _pod_replacement_policy(spec, path.child("podReplacementPolicy"))
    template = spec.get("template") or {}
    errs += validate_pod_template_spec(template, path.child("template"))
    return errs + _restart_policy(spec, path.child("template", "spec", "restartPolicy"))


def _restart_policy(spec: dict, path: Path) -> list[FieldError]:
    # A Job's pods must end; "Always" would restart them forever (it is also the pod default).
    policy = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy", "")
    if policy in ("Always", ""):
        return [required(str(path), 'valid values: "OnFailure", "Never"')]
    if policy not in ("OnFailure", "Never"):
        return [not_supported(str(path), policy, ["OnFailure", "Never"])]
    if spec.get("podFailurePolicy") is not None and policy != "Never":
        return [invalid(str(path), policy,
                        'only "Never" is supported when podFailurePolicy is specified')]
    return []


def _completion_mode(spec: dict, path: Path) -> list[FieldError]:
    mode, errs = spec.get("completionMode"), []
    if mode is not None and mode not in ("NonIndexed", "Indexed"):
        errs.append(not_supported(str(path.child("completionMode")), mode,
                                  ["NonIndexed", "Indexed"]))
    if mode == "Indexed":
        completions, parallelism = spec.get("completions"), spec.get("parallelism")
        max_failed = spec.get("maxFailedIndexes")
        if completions is None:
            errs.append(required(str(path.child("completions")), "when completion mode is Indexed"))
        if parallelism is not None and parallelism > MAX_INDEXED_PARALLELISM:
            errs.append(invalid(str(path.child("parallelism")), parallelism, "must be less than "
                                "or equal to 100000 when completion mode is Indexed"))
        if completions is not None and max_failed is not None and max_failed > completions:
            errs.append(invalid(str(path.child("maxFailedIndexes")), max_failed,
                                "must be less than or equal to completions"))
        if max_failed is not None and max_failed > 100_000:
            errs.append(invalid(str(path.child("maxFailedIndexes")), max_failed,
                                "must be less than or equal to 100000"))
    else:
        for name in ("backoffLimitPerIndex", "maxFailedIndexes"):
            if spec.get(name) is not None:
                errs.append(invalid(str(path.child(name)), spec[name],
                                    "requires indexed completion mode"))
    return errs


def _pod_replacement_policy(spec: dict, path: Path) -> list[FieldError]:
    policy = spec.get("podReplacementPolicy")
    if policy is None:
        return []
    if spec.get("podFailurePolicy") is not None:
        return [] if policy == "Failed" else [not_supported(str(path), policy, ["Failed"])]
    allowed = ["Failed", "TerminatingOrFailed"]
    return [] if policy in allowed else [not_supported(str(path), policy, allowed)]


def _pod_failure_policy(spec: dict, path: Path) -> list[FieldError]:
    rules = (spec.get("podFailurePolicy") or {}).get("rules") or []
    errs = [too_many(str(path.child("rules")), len(rules), 20)] if len(rules) > 20 else []
    pod = (spec.get("template") or {}).get("spec") or {}
    every = (pod.get("containers") or []) + (pod.get("initContainers") or [])
    containers = {c.get("name") for c in every}
    for i, rule in enumerate(rules):
        errs += _failure_rule(spec, rule, path.child("rules").index(i), containers)
    return errs


def _failure_rule(spec: dict, rule: dict, path: Path, containers: set) -> list[FieldError]:
    action, errs = rule.get("action", ""), []
    if action == "":
        errs.append(required(str(path.child("action")), _valid_values(FAILURE_ACTIONS)))
    elif action == "FailIndex":
        if spec.get("backoffLimitPerIndex") is None:
            errs.append(invalid(str(path.child("action")), action,
                                "requires the backoffLimitPerIndex to be set"))
    elif action not in FAILURE_ACTIONS:
        errs.append(not_supported(str(path.child("action")), action, FAILURE_ACTIONS))
    on_codes, on_conditions = rule.get("onExitCodes"), rule.get("onPodConditions") or []
    if on_codes is not None:
        errs += _on_exit_codes(on_codes, path.child("onExitCodes"), containers)
    if on_conditions:
        errs += _on_pod_conditions(on_conditions, path.child("onPodConditions"))
    if on_codes is not None and on_conditions:
        errs.append(_omit(path, "specifying both OnExitCodes and OnPodConditions is not supported"))
    if on_codes is None and not on_conditions:
        errs.append(_omit(path, "specifying one of OnExitCodes and OnPodConditions is required"))
    return errs


def _go_int32s(values: list | None) -> str:
    return "[]int32(nil)" if values is None else "[]int32{" + ", ".join(map(str, values)) + "}"


def _on_exit_codes(req: dict, path: Path, containers: set) -> list[FieldError]:
    operator, errs = req.get("operator", ""), []
    if operator == "":
        errs.append(required(str(path.child("operator")), _valid_values(["In", "NotIn"])))
    elif operator not in ("In", "NotIn"):
        errs.append(not_supported(str(path.child("operator")), operator, ["In", "NotIn"]))
    name = req.get("containerName")
    if name is not None and name not in containers:
        errs.append(invalid(str(path.child("containerName")), name, "must be one of the "
                            "container or initContainer names in the pod template"))
    values = req.get("values")
    if not values:
        errs.append(invalid_go(path.child("values"), _go_int32s(values),
                               "at least one value is required"))
    elif len(values) > 255:
        errs.append(too_many(str(path.child("values")), len(values), 255))
    seen: set[int] = set()
    for j, value in enumerate(values or []):
        if operator == "In" and value == 0:
            errs.append(invalid(str(path.child("values").index(j)), 0,
                                "must not be 0 for the In operator"))
        if value in seen:
            errs.append(duplicate(str(path.child("values").index(j)), value))
        seen.add(value)
    if values and values != sorted(values):
        errs.append(invalid_go(path.child("values"), _go_int32s(values), "must be ordered"))
    return errs


def _on_pod_conditions(patterns: list[dict], path: Path) -> list[FieldError]:
    errs = [too_many(str(path), len(patterns), 20)] if len(patterns) > 20 else []
    statuses = ["False", "True", "Unknown"]
    for j, pattern in enumerate(patterns):
        kind, status = pattern.get("type", ""), pattern.get("status", "")
        type_path, status_path = path.index(j).child("type"), path.index(j).child("status")
        errs += [invalid(str(type_path), kind, m) for m in is_qualified_name(kind)]
        if status == "":
            errs.append(required(str(status_path), _valid_values(statuses)))
        elif status not in statuses:
            errs.append(not_supported(str(status_path), status, statuses))
    return errs


def _success_policy(spec: dict, path: Path) -> list[FieldError]:
    policy = spec.get("successPolicy") or {}
    if spec.get("completionMode") != "Indexed":
        printed = go_struct("batch.SuccessPolicy", Rules="[]batch.SuccessPolicyRule{...}")
        return [invalid_go(path, printed, "requires indexed completion mode")]
    rules, errs = policy.get("rules") or [], []
    if not rules:
        errs.append(required(str(path.child("rules")), "at least one rules must be specified "
                             "when the successPolicy is specified"))
    if len(rules) > 20:
        errs.append(too_many(str(path.child("rules")), len(rules), 20))
    completions = spec.get("completions") or 0
    for i, rule in enumerate(rules):
        rule_path = path.child("rules").index(i)
        count, indexes = rule.get("succeededCount"), rule.get("succeededIndexes")
        if count is None and indexes is None:
            errs.append(required(str(rule_path), "at least one of succeededCount or "
                                 "succeededIndexes must be specified"))
        total = 0
        if indexes is not None:
            if len(indexes) > 64 * 1024:
                errs.append(too_long(str(rule_path.child("succeededIndexes")), 64 * 1024))
            total, problem = count_indexes(indexes, completions)
            if problem:
                errs.append(invalid(str(rule_path.child("succeededIndexes")), indexes,
                                    f"error parsing succeededIndexes: {problem}"))
        if count is not None:
            count_path = rule_path.child("succeededCount")
            errs += nonnegative(count, count_path)
            if count > completions:
                errs.append(invalid(str(count_path), count, f"must be less than or equal to "
                                    f"{completions} (the number of specified completions)"))
            if indexes is not None and count > total:
                errs.append(invalid(str(count_path), count, f"must be less than or equal to "
                                    f"{total} (the number of indexes in the specified "
                                    "succeededIndexes field)"))
    return errs


def count_indexes(text: str, completions: int) -> tuple[int, str]:
    """How many indexes "1,3-5" names, or a problem as upstream's validateIndexesFormat words it."""
    total, last = 0, None
    for interval in filter(None, text.split(",")) if text else []:
        parts = interval.split("-")
        if len(parts) > 2:
            return 0, (f'the fragment "{interval}" violates the requirement that an index interval '
                       "can have at most two parts separated by '-'")
        bounds = []
        for part in parts:
            if not re.fullmatch(r"[+-]?[0-9]+", part):
                return 0, f'cannot convert string to integer for index: "{part}"'
            if int(part) >= completions:
                return 0, f'too large index: "{part}"'
            bounds.append(int(part))
        low, high = bounds[0], bounds[-1]
        if len(bounds) == 2 and low >= high:
            return 0, f"non-increasing order, previous: {low}, current: {high}"
        if last is not None and last >= low:
            return 0, f"non-increasing order, previous: {last}, current: {low}"
        total, last = total + high - low + 1, high
    return total, ""


def _domain_prefixed_path(value: str, path: Path) -> list[FieldError]:
    host, slash, rest = value.partition("/")
    if not host or not slash or not rest:
        return [invalid(str(path), value, 'must be a domain-prefixed path (such as "acme.io/foo")')]
    errs = [invalid(str(path), host, m) for m in is_dns1123_subdomain(host)]
    if not re.fullmatch(r"[A-Za-z0-9/\-._~%!$&'()*+,;=:]+", rest):
        errs.append(invalid(str(path), rest, "Invalid path (regex used for validation is "
                                             "'[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+')"))
    return errs


# -- Job ----------------------------------------------------------------------------------------


def _validate_job(obj: dict, prefixed_labels: bool) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errs = _generated_selector(obj, prefixed_labels) + _job_spec_and_selector(spec)
    completions = spec.get("completions")
    if spec.get("completionMode") == "Indexed" and completions:
        # Pods of an Indexed Job are named <job>-<index>, and that must be a valid hostname.
        name = (obj.get("metadata") or {}).get("name", "")
        longest = f"{name}-{completions - 1}"
        if is_dns1123_label(longest):
            errs.append(invalid("metadata.name", name,
                                f"will not able to create pod with invalid DNS label: {longest}"))
    return errs


def _job_spec_and_selector(spec: dict) -> list[FieldError]:
    errs = validate_job_spec(spec, SPEC)
    selector = spec.get("selector")
    if selector is None:
        errs.append(required(str(SPEC.child("selector"))))
    else:
        errs += validate_label_selector(selector, SPEC.child("selector"))
    if selector_convertible(selector):
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
        errs += template_mismatch(selector, labels, SPEC.child("template", "metadata", "labels"))
    return errs


def validate_job(obj: dict) -> list[FieldError]:
    return _validate_job(obj, prefixed_labels=True)


def validate_job_update(new: dict, old: dict) -> list[FieldError]:
    new_spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    # Jobs created before the batch.kubernetes.io/ labels existed are not asked for them.
    old_labels = ((old_spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    prefixed = NAME_LABEL in old_labels and UID_LABEL in old_labels
    # Upstream validates the whole Job and then the update, so spec errors are listed twice.
    errs = _validate_job(new, prefixed) + _job_spec_and_selector(new_spec)
    errs += _completions_update(new_spec, old_spec)
    errs += immutable(new_spec.get("selector"), old_spec.get("selector"), SPEC.child("selector"),
                      go_selector)
    errs += _template_update(new, old)
    for name in ("completionMode", "podFailurePolicy", "backoffLimitPerIndex", "managedBy",
                 "successPolicy"):
        errs += immutable(new_spec.get(name), old_spec.get(name), SPEC.child(name))
    return errs


def _completions_update(new: dict, old: dict) -> list[FieldError]:
    path = SPEC.child("completions")
    if new.get("completionMode") != "Indexed":
        return immutable(new.get("completions"), old.get("completions"), path)
    # An Indexed Job may be resized, but only with completions and parallelism moving together.
    completions = new.get("completions")
    if completions is None or completions == old.get("completions"):
        return []
    if completions != new.get("parallelism"):
        return [invalid(str(path), completions,
                        "can only be modified in tandem with spec.parallelism")]
    return []


_SCHEDULING = ("nodeSelector", "tolerations", "schedulingGates")


def _template_update(new: dict, old: dict) -> list[FieldError]:
    template = (new.get("spec") or {}).get("template") or {}
    old_template = dict((old.get("spec") or {}).get("template") or {})
    old_status = old.get("status") or {}
    if (old.get("spec") or {}).get("suspend") is True and not old_status.get("startTime"):
        # A suspended Job that never ran may be pointed at other nodes (Kueue relies on it).
        old_template["metadata"] = template.get("metadata")
        old_pod = dict(old_template.get("spec") or {})
        pod = template.get("spec") or {}
        for name in _SCHEDULING:
            old_pod[name] = pod.get(name)
        affinity = dict(old_pod.get("affinity") or {})
        affinity["nodeAffinity"] = (pod.get("affinity") or {}).get("nodeAffinity")
        old_pod["affinity"] = affinity
        old_template["spec"] = old_pod
    if semantically_equal(template, old_template):
        return []
    # Go prints the whole core.PodTemplateSpec here, pointers and all; we abbreviate it.
    return [invalid_go(SPEC.child("template"), "core.PodTemplateSpec{...}", "field is immutable")]


def validate_job_status(new: dict, old: dict) -> list[FieldError]:
    status, old_status, path = new.get("status") or {}, old.get("status") or {}, Path("status")
    errs: list[FieldError] = []
    for name in ("active", "succeeded", "failed", "ready", "terminating"):
        errs += nonnegative(status.get(name), path.child(name))
    seen: set[str] = set()
    uncounted = status.get("uncountedTerminatedPods") or {}
    for group in ("succeeded", "failed"):
        for i, uid in enumerate(uncounted.get(group) or []):
            item = path.child("uncountedTerminatedPods", group).index(i)
            if uid == "":
                errs.append(invalid(str(item), "", "must not be empty"))
            elif uid in seen:
                errs.append(duplicate(str(item), uid))
            seen.add(uid)
    if (status.get("failed") or 0) < (old_status.get("failed") or 0):
        errs.append(invalid(str(path.child("failed")), status.get("failed") or 0,
                            "cannot decrease the failed counter"))
    errs += _succeeded_update(new, status, old_status, path)
    for kind in ("Failed", "Complete", "FailureTarget"):
        if _condition_true(old_status, kind) and not _condition_true(status, kind):
            errs.append(_omit(path.child("conditions"),
                              f"cannot disable the terminal {kind}=True condition"))
    return errs


def _succeeded_update(new: dict, status: dict, old_status: dict, path: Path) -> list[FieldError]:
    spec = new.get("spec") or {}
    # An Indexed Job scaled down with completions == parallelism may legitimately count fewer.
    indexed = spec.get("completionMode") == "Indexed"
    elastic = indexed and spec.get("completions") == spec.get("parallelism")
    if not elastic and (status.get("succeeded") or 0) < (old_status.get("succeeded") or 0):
        return [invalid(str(path.child("succeeded")), status.get("succeeded") or 0,
                        "cannot decrease the succeeded counter")]
    return []


def _condition_true(status: dict, kind: str) -> bool:
    conditions = status.get("conditions") or []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


# -- CronJob ------------------------------------------------------------------------------------


def _validate_cron_job_spec(spec: dict, old_spec: dict | None) -> list[FieldError]:
    errs: list[FieldError] = []
    schedule, time_zone = spec.get("schedule", ""), spec.get("timeZone")
    if not schedule:
        errs.append(required(str(SPEC.child("schedule"))))
    elif "TZ" in schedule:
        if old_spec is None or "TZ" not in old_spec.get("schedule", ""):
            errs.append(invalid(str(SPEC.child("schedule")), schedule,
                                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
        elif time_zone is not None:
            errs.append(invalid(str(SPEC.child("schedule")), schedule,
                                "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
    errs += nonnegative(spec.get("startingDeadlineSeconds"), SPEC.child("startingDeadlineSeconds"))
    if time_zone == "" and (old_spec is None or old_spec.get("timeZone") != time_zone):
        errs.append(invalid(str(SPEC.child("timeZone")), "",
                            "timeZone must be nil or non-empty string"))
    policy = spec.get("concurrencyPolicy", "")
    if policy == "":
        errs.append(required(str(SPEC.child("concurrencyPolicy"))))
    elif policy not in ("Allow", "Forbid", "Replace"):
        errs.append(not_supported(str(SPEC.child("concurrencyPolicy")), policy,
                                  ["Allow", "Forbid", "Replace"]))
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    path = SPEC.child("jobTemplate", "spec")
    errs += validate_job_spec(job_spec, path)
    if job_spec.get("selector") is not None:
        errs.append(invalid_go(path.child("selector"), go_selector(job_spec["selector"]),
                               "`selector` will be auto-generated"))
    if job_spec.get("manualSelector") is True:
        errs.append(not_supported(str(path.child("manualSelector")), True, ["nil", "false"]))
    for name in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        errs += nonnegative(spec.get(name), SPEC.child(name))
    return errs


def validate_cron_job(obj: dict) -> list[FieldError]:
    errs = _validate_cron_job_spec(obj.get("spec") or {}, None)
    name = (obj.get("metadata") or {}).get("name", "")
    # The controller appends an 11-character "-<timestamp>" to name each Job (max 63).
    if len(name) > 52:
        errs.append(invalid("metadata.name", name, "must be no more than 52 characters"))
    return errs


def validate_cron_job_update(new: dict, old: dict) -> list[FieldError]:
    return _validate_cron_job_spec(new.get("spec") or {}, old.get("spec") or {})


RULES: dict[str, KindRules] = {
    "Job": KindRules(defaults.default_job, validate_job, validate_job_update, validate_job_status),
    "CronJob": KindRules(defaults.default_cron_job, validate_cron_job, validate_cron_job_update),
}
