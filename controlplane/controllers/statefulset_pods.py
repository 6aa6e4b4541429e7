"""A StatefulSet's pods: stable identity, health, and which revision each one runs.

Where it sits: beside :mod:`.statefulset`, which decides what to create, delete or
update; this module knows what a member pod looks like (upstream's
``stateful_set_utils.go``).

A StatefulSet pod has an identity that outlives the pod:

* its name is ``<set>-<ordinal>``, ordinals counting from ``spec.ordinals.start``
  (0 by default);
* labels ``statefulset.kubernetes.io/pod-name: <name>`` (so a Service can select exactly
  one pod) and ``apps.kubernetes.io/pod-index: <ordinal>``;
* ``spec.hostname`` is its name and ``spec.subdomain`` the set's ``serviceName``, so with
  a headless Service of that name it is reachable as ``web-0.nginx.<ns>.svc``;
* label ``controller-revision-hash`` names the ControllerRevision whose template it runs.

Storage: upstream creates a PersistentVolumeClaim ``<claim>-<set>-<ordinal>`` per entry of
``volumeClaimTemplates`` and mounts it. kubeclass has no persistent volumes, so no claim is
created; the pod gets an ``emptyDir`` volume under the claim's name instead, so its
``volumeMounts`` still resolve. That data lives and dies with the pod, which the
controller says in an event each time it creates such a pod.
"""

from __future__ import annotations

import copy
import datetime
import re
from typing import Any

from . import podutil as pu
from . import podutil_revisions as rev_

Obj = dict[str, Any]

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
_MEMBER = re.compile(r"^(.*)-([0-9]+)$")


def parent_and_ordinal(pod: Obj) -> tuple[str, int]:
    """``("web", 2)`` for ``web-2``; ``("", -1)`` for a name that is no member's."""
    match = _MEMBER.match(pu.meta(pod).get("name", ""))
    return (match.group(1), int(match.group(2))) if match else ("", -1)


def is_member_of(sts: Obj, pod: Obj) -> bool:
    return parent_and_ordinal(pod)[0] == pu.meta(sts).get("name")


def start_ordinal(sts: Obj) -> int:
    return int((((sts.get("spec") or {}).get("ordinals") or {}).get("start")) or 0)


def pod_name(sts: Obj, ordinal: int) -> str:
    return f"{pu.meta(sts)['name']}-{ordinal}"


def pod_revision(pod: Obj) -> str:
    return (pu.meta(pod).get("labels") or {}).get(rev_.HASH_LABEL, "")


def identity_labels(sts: Obj, ordinal: int) -> dict[str, str]:
    return {POD_NAME_LABEL: pod_name(sts, ordinal), POD_INDEX_LABEL: str(ordinal)}


def identity_matches(sts: Obj, pod: Obj) -> bool:
    parent, ordinal = parent_and_ordinal(pod)
    labels = pu.meta(pod).get("labels") or {}
    return (ordinal >= 0 and parent == pu.meta(sts).get("name")
            and pu.meta(pod).get("namespace") == pu.meta(sts).get("namespace")
            and all(labels.get(k) == v for k, v in identity_labels(sts, ordinal).items()))


# -- health ---------------------------------------------------------------------------

def is_created(pod: Obj | None) -> bool:
    """Known to the API server (upstream checks for a phase; a uid says the same here)."""
    return pod is not None and bool(pu.meta(pod).get("uid"))


def is_running_and_ready(pod: Obj) -> bool:
    return pu.phase(pod) == "Running" and pu.is_pod_ready(pod)


def is_running_and_available(pod: Obj, min_ready_seconds: int, now: datetime.datetime) -> bool:
    return pu.phase(pod) == "Running" and pu.is_pod_available(pod, min_ready_seconds, now)


def is_healthy(pod: Obj) -> bool:
    return is_running_and_ready(pod) and not pu.is_terminating(pod)


# -- building pods ---------------------------------------------------------------------

def with_template(sts: Obj, revision: Obj) -> Obj:
    """A copy of ``sts`` running the pod template stored in ``revision`` (to create a pod
    of an older revision during a partitioned update)."""
    template = copy.deepcopy(((revision.get("data") or {}).get("spec") or {}).get("template"))
    result = copy.deepcopy(sts)
    if isinstance(template, dict):
        template.pop("$patch", None)
        result.setdefault("spec", {})["template"] = template
    return result


def new_pod(sts: Obj, ordinal: int, revision_name: str) -> Obj:
    """Pod ``<set>-<ordinal>`` of the template in ``sts``, labelled with ``revision_name``."""
    spec = sts.get("spec") or {}
    name = pod_name(sts, ordinal)
    pod = pu.pod_from_template(spec.get("template") or {}, sts, name=name)
    pod["metadata"]["labels"].update(identity_labels(sts, ordinal))
    pod["metadata"]["labels"][rev_.HASH_LABEL] = revision_name
    pod["spec"]["hostname"] = name
    if spec.get("serviceName"):
        pod["spec"]["subdomain"] = spec["serviceName"]
    claims = [c for c in spec.get("volumeClaimTemplates") or [] if (c.get("metadata") or {}).get("name")]
    if claims:
        names = {c["metadata"]["name"] for c in claims}
        volumes = [v for v in pod["spec"].get("volumes") or [] if v.get("name") not in names]
        # No persistent volumes in kubeclass: an emptyDir keeps the mounts valid (see module doc).
        volumes += [{"name": c["metadata"]["name"], "emptyDir": {}} for c in claims]
        pod["spec"]["volumes"] = volumes
    return pod


def claim_names(sts: Obj, ordinal: int) -> list[str]:
    """The PersistentVolumeClaims upstream would create for this ordinal."""
    templates = (sts.get("spec") or {}).get("volumeClaimTemplates") or []
    return [f"{(c.get('metadata') or {}).get('name')}-{pod_name(sts, ordinal)}" for c in templates]


def revision_for_new_pod(sts: Obj, ordinal: int, current: Obj, update: Obj) -> Obj:
    """Which revision a (re)created pod gets: below the partition it keeps the current
    one, so a partitioned rollout does not creep forward when old pods are recreated."""
    strategy = (sts.get("spec") or {}).get("updateStrategy") or {}
    rolling = strategy.get("rollingUpdate")
    start = start_ordinal(sts)
    current_replicas = int((sts.get("status") or {}).get("currentReplicas") or 0)
    if strategy.get("type") == "RollingUpdate" and rolling is None and ordinal < start + current_replicas:
        return current
    if rolling is not None and ordinal < start + int(rolling.get("partition") or 0):
        return current
    return update


# -- status ----------------------------------------------------------------------------

def replica_status(pods: list[Obj], min_ready_seconds: int, now: datetime.datetime, current: str,
                   update: str) -> dict[str, int]:
    """The counters of a StatefulSet's status over its pods (upstream's computeReplicaStatus)."""
    counts = dict.fromkeys(("replicas", "readyReplicas", "availableReplicas", "currentReplicas",
                            "updatedReplicas"), 0)
    for pod in pods:
        if not is_created(pod):
            continue
        counts["replicas"] += 1
        if is_running_and_ready(pod):
            counts["readyReplicas"] += 1
            if is_running_and_available(pod, min_ready_seconds, now):
                counts["availableReplicas"] += 1
        if not pu.is_terminating(pod):
            counts["currentReplicas"] += 1 if pod_revision(pod) == current else 0
            counts["updatedReplicas"] += 1 if pod_revision(pod) == update else 0
    return counts
