"""Indexed Jobs: each pod works on one completion index, 0 .. completions-1.

Where it sits: used by :mod:`.job` and :mod:`.job_tracking` when a Job has
``completionMode: Indexed`` (upstream's ``indexed_job_utils.go``). Such a Job is done
when every index has one succeeded pod; ``status.completedIndexes`` lists them in a
compact form (``"0,2-5"``).

A pod learns its index three ways, as upstream gives it:

* the annotation and label ``batch.kubernetes.io/job-completion-index``;
* the environment variable ``JOB_COMPLETION_INDEX`` in every container, taken from that
  annotation through the downward API;
* its hostname ``<job>-<index>`` (with a headless Service as the pod's subdomain, pods
  can reach each other by index).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from .podutil import meta, removal_order

Obj = dict[str, Any]

INDEX_KEY = "batch.kubernetes.io/job-completion-index"
INDEX_ENV = "JOB_COMPLETION_INDEX"
MAX_GENERATED_NAME = 58  # a generated name adds 5 characters and must stay a 63-character label


def is_indexed(job: Obj) -> bool:
    return (job.get("spec") or {}).get("completionMode") == "Indexed"


def completion_index(pod: Obj) -> int | None:
    """The pod's index from its annotation (the label is only a copy), or None."""
    value = (meta(pod).get("annotations") or {}).get(INDEX_KEY)
    if value is None or not value.isdigit():
        return None
    return int(value)


def valid_index(pod: Obj, completions: int) -> int | None:
    index = completion_index(pod)
    return index if index is not None and index < completions else None


def parse_indexes(text: str | None, completions: int) -> set[int]:
    """``"0,2-4"`` -> {0, 2, 3, 4}, leaving out indexes at or past ``completions``."""
    result: set[int] = set()
    for part in filter(None, (text or "").split(",")):
        first, _, last = part.partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            continue  # not ours to judge; upstream logs and skips it too
        result.update(range(low, min(high, completions - 1) + 1))
    return result


def format_indexes(indexes: Iterable[int]) -> str:
    """{0, 2, 3, 4} -> ``"0,2-4"``."""
    ordered = sorted(set(indexes))
    ranges: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        ranges.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(ranges)


def first_pending(completions: int, succeeded: set[int], active: list[Obj], count: int) -> list[int]:
    """The lowest ``count`` indexes with neither a success nor an active pod."""
    taken = set(succeeded) | {i for i in (valid_index(p, completions) for p in active) if i is not None}
    pending: list[int] = []
    for index in range(completions):
        if len(pending) >= count:
            break
        if index not in taken:
            pending.append(index)
    return pending


def duplicates_for_removal(active: list[Obj], completions: int) -> tuple[list[Obj], list[Obj]]:
    """``(to remove, to keep)``: pods without a valid index go, and of several pods with
    one index only the one furthest along (the last in removal order) stays."""
    remove: list[Obj] = []
    by_index: dict[int, list[Obj]] = {}
    for pod in active:
        index = valid_index(pod, completions)
        if index is None:
            remove.append(pod)
        else:
            by_index.setdefault(index, []).append(pod)
    keep: list[Obj] = []
    for index in sorted(by_index):
        pods = sorted(by_index[index], key=removal_order)
        remove += pods[:-1]
        keep.append(pods[-1])
    return remove, keep


def generate_name(job_name: str, index: int) -> str:
    """``<job>-<index>-``, the job name cut so the generated name stays valid."""
    suffix = f"-{index}-"
    prefix = job_name + suffix
    if len(prefix) > MAX_GENERATED_NAME:
        prefix = job_name[:MAX_GENERATED_NAME - len(suffix)] + suffix
    return prefix


def with_index(template: Obj, job_name: str, index: int) -> Obj:
    """A copy of the pod template for ``index``: annotation, label, hostname and env."""
    result = copy.deepcopy(template)
    tmeta = result.setdefault("metadata", {})
    tmeta.setdefault("annotations", {})[INDEX_KEY] = str(index)
    tmeta.setdefault("labels", {})[INDEX_KEY] = str(index)
    spec = result.setdefault("spec", {})
    spec["hostname"] = f"{job_name}-{index}"
    env_var = {"name": INDEX_ENV,
               "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{INDEX_KEY}']"}}}
    for kind in ("initContainers", "containers"):
        for container in spec.get(kind) or []:
            env = container.setdefault("env", [])
            if not any(e.get("name") == INDEX_ENV for e in env):
                env.append(copy.deepcopy(env_var))
    return result
