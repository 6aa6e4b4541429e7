"""Tables for the workload controllers: deployments, replica sets, daemon sets, stateful
sets, controller revisions and jobs.

Where it sits: ``build_table`` looks these printers up in :data:`PRINTERS`. Columns and
cells follow upstream's ``pkg/printers/internalversion/printers.go``. Most cells are
plain counters from ``status``, so these tables are how a student watches a controller
converge: READY "1/3" becoming "3/3" as pods start.
"""

from __future__ import annotations

import datetime
from typing import Any

from controlplane.api.tables.columns import AGE, CONTAINERS, IMAGES, NAME, Printer, column, doc
from controlplane.api.tables.format import (
    NONE,
    age,
    aware,
    container_cells,
    dig,
    format_label_selector,
    format_labels,
    human_duration,
    name_of,
    parse_time,
    selector_string,
)

# The API defaults spec.replicas to 1; objects in storage should carry it, but a table
# must not break on one that does not.
DEFAULT_REPLICAS = 1


def _template_containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return dig(obj, "spec", "template", "spec", "containers", default=[])


def _replicas(obj: dict[str, Any]) -> int:
    return dig(obj, "spec", "replicas", default=DEFAULT_REPLICAS)


def _status(obj: dict[str, Any], field: str) -> int:
    return dig(obj, "status", field, default=0)


# -- deployments ----------------------------------------------------------------------------

DEPLOYMENT_COLUMNS = (
    NAME,
    column("Ready", "Number of the pod with ready state"),
    column("Up-to-date", doc("DeploymentStatus.updatedReplicas")),
    column("Available", doc("DeploymentStatus.availableReplicas")),
    AGE,
    CONTAINERS,
    IMAGES,
    column("Selector", doc("DeploymentSpec.selector"), priority=1),
)


def deployment_cells(deployment: dict[str, Any], now: datetime.datetime) -> list[Any]:
    names, images = container_cells(_template_containers(deployment))
    try:
        selector = selector_string(dig(deployment, "spec", "selector"))
    except ValueError:
        selector = "<invalid>"
    return [
        name_of(deployment),
        f"{_status(deployment, 'readyReplicas')}/{_replicas(deployment)}",
        _status(deployment, "updatedReplicas"),
        _status(deployment, "availableReplicas"),
        age(deployment, now),
        names,
        images,
        selector,
    ]


# -- replica sets ---------------------------------------------------------------------------

REPLICASET_COLUMNS = (
    NAME,
    column("Desired", doc("ReplicaSetSpec.replicas"), type="integer"),
    column("Current", doc("ReplicaSetStatus.replicas"), type="integer"),
    column("Ready", doc("ReplicaSetStatus.readyReplicas"), type="integer"),
    AGE,
    CONTAINERS,
    IMAGES,
    column("Selector", doc("ReplicaSetSpec.selector"), priority=1),
)


def replicaset_cells(replicaset: dict[str, Any], now: datetime.datetime) -> list[Any]:
    names, images = container_cells(_template_containers(replicaset))
    return [
        name_of(replicaset),
        _replicas(replicaset),
        _status(replicaset, "replicas"),
        _status(replicaset, "readyReplicas"),
        age(replicaset, now),
        names,
        images,
        format_label_selector(dig(replicaset, "spec", "selector")),
    ]


# -- daemon sets ----------------------------------------------------------------------------

DAEMONSET_COLUMNS = (
    NAME,
    column("Desired", doc("DaemonSetStatus.desiredNumberScheduled"), type="integer"),
    column("Current", doc("DaemonSetStatus.currentNumberScheduled"), type="integer"),
    column("Ready", doc("DaemonSetStatus.numberReady"), type="integer"),
    column("Up-to-date", doc("DaemonSetStatus.updatedNumberScheduled"), type="integer"),
    column("Available", doc("DaemonSetStatus.numberAvailable"), type="integer"),
    column("Node Selector", doc("PodSpec.nodeSelector")),
    AGE,
    CONTAINERS,
    IMAGES,
    column("Selector", doc("DaemonSetSpec.selector"), priority=1),
)


def daemonset_cells(daemonset: dict[str, Any], now: datetime.datetime) -> list[Any]:
    names, images = container_cells(_template_containers(daemonset))
    node_selector = dig(daemonset, "spec", "template", "spec", "nodeSelector")
    return [
        name_of(daemonset),
        _status(daemonset, "desiredNumberScheduled"),
        _status(daemonset, "currentNumberScheduled"),
        _status(daemonset, "numberReady"),
        _status(daemonset, "updatedNumberScheduled"),
        _status(daemonset, "numberAvailable"),
        format_labels(node_selector),
        age(daemonset, now),
        names,
        images,
        format_label_selector(dig(daemonset, "spec", "selector")),
    ]


# -- stateful sets --------------------------------------------------------------------------

STATEFULSET_COLUMNS = (
    NAME,
    column("Ready", "Number of the pod with ready state"),
    AGE,
    CONTAINERS,
    IMAGES,
)


def statefulset_cells(statefulset: dict[str, Any], now: datetime.datetime) -> list[Any]:
    names, images = container_cells(_template_containers(statefulset))
    ready = f"{_status(statefulset, 'readyReplicas')}/{_replicas(statefulset)}"
    return [name_of(statefulset), ready, age(statefulset, now), names, images]


# -- controller revisions -------------------------------------------------------------------

CONTROLLERREVISION_COLUMNS = (
    NAME,
    column("Controller", "Controller of the object"),
    column("Revision", doc("ControllerRevision.revision")),
    AGE,
)


def revision_controller(revision: dict[str, Any]) -> str:
    """The owner with ``controller: true`` as "kind.group/name", e.g.
    "daemonset.apps/fluentd"; "<none>" for an orphan."""
    owners = dig(revision, "metadata", "ownerReferences", default=[])
    owner = next((o for o in owners if o.get("controller")), None)
    if owner is None:
        return NONE
    api_version, kind = owner.get("apiVersion", ""), owner.get("kind", "")
    group = api_version.rpartition("/")[0]
    if not kind:
        return owner.get("name", "")
    group_kind = f"{kind}.{group}" if group else kind
    return f"{group_kind.lower()}/{owner.get('name', '')}"


def controllerrevision_cells(revision: dict[str, Any], now: datetime.datetime) -> list[Any]:
    return [
        name_of(revision),
        revision_controller(revision),
        revision.get("revision", 0),
        age(revision, now),
    ]


# -- jobs -----------------------------------------------------------------------------------

JOB_COLUMNS = (
    NAME,
    column("Status", "Status of the job."),
    column("Completions", doc("JobStatus.succeeded")),
    column("Duration", "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    column("Selector", doc("JobSpec.selector"), priority=1),
)

# A finished job says so even while it is being deleted; a suspended one does not.
_JOB_CONDITIONS = ("Complete", "Failed")
_JOB_LATER_CONDITIONS = ("Suspended", "FailureTarget")


def _job_condition(job: dict[str, Any], kind: str) -> bool:
    for condition in dig(job, "status", "conditions", default=[]):
        if condition.get("type") == kind:
            return condition.get("status") == "True"
    return False


def job_status(job: dict[str, Any]) -> str:
    """Complete, Failed, Terminating, Suspended, FailureTarget, or else Running."""
    for kind in _JOB_CONDITIONS:
        if _job_condition(job, kind):
            return kind
    if dig(job, "metadata", "deletionTimestamp"):
        return "Terminating"
    for kind in _JOB_LATER_CONDITIONS:
        if _job_condition(job, kind):
            return kind
    return "Running"


def job_completions(job: dict[str, Any]) -> str:
    """Succeeded of wanted completions, "2/3"; a work queue job run 4 wide says "0/1 of 4"."""
    succeeded = _status(job, "succeeded")
    completions = dig(job, "spec", "completions")
    if completions is not None:
        return f"{succeeded}/{completions}"
    parallelism = dig(job, "spec", "parallelism", default=0)
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


def job_duration(job: dict[str, Any], now: datetime.datetime) -> str:
    """Running time so far, or start to completion once done; "" before it starts."""
    started = parse_time(dig(job, "status", "startTime"))
    if started is None:
        return ""
    completed = parse_time(dig(job, "status", "completionTime"))
    return human_duration((completed or aware(now)) - started)


def job_cells(job: dict[str, Any], now: datetime.datetime) -> list[Any]:
    names, images = container_cells(_template_containers(job))
    return [
        name_of(job),
        job_status(job),
        job_completions(job),
        job_duration(job, now),
        age(job, now),
        names,
        images,
        format_label_selector(dig(job, "spec", "selector")),
    ]


PRINTERS = {
    ("apps", "deployments"): Printer(DEPLOYMENT_COLUMNS, deployment_cells),
    ("apps", "replicasets"): Printer(REPLICASET_COLUMNS, replicaset_cells),
    ("apps", "daemonsets"): Printer(DAEMONSET_COLUMNS, daemonset_cells),
    ("apps", "statefulsets"): Printer(STATEFULSET_COLUMNS, statefulset_cells),
    ("apps", "controllerrevisions"): Printer(CONTROLLERREVISION_COLUMNS, controllerrevision_cells),
    ("batch", "jobs"): Printer(JOB_COLUMNS, job_cells),
}
