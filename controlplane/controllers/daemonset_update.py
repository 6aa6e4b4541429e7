"""How a DaemonSet replaces its pods after a template change: RollingUpdate's arithmetic.

Where it sits: :mod:`.daemonset` calls :func:`rolling_update` once its ordinary pass
(one pod per eligible node) has nothing left to create or delete. These are pure
functions of the pods per node, so a test can table-drive them (upstream's
``rollingUpdate`` in ``pkg/controller/daemon/update.go``).

A pod is *new* when its ``controller-revision-hash`` label is the DaemonSet's current
revision hash, *old* otherwise. Two ways to get from old to new:

* ``maxSurge: 0`` (the default), delete first: delete old pods, at most
  ``maxUnavailable`` nodes without an available pod at any time; the ordinary pass
  then creates the new pod on each emptied node. Old pods that are not available
  anyway are replaced at once, without counting against the limit.
* ``maxSurge > 0``, create first: start a new pod beside the old one on at most
  ``maxSurge`` nodes; once the new pod is available, delete the old one. A node
  whose old pod is not available gets its new pod at once.

A node with more than one old or one new pod is left to the ordinary pass, which
deletes the extras first.
"""

from __future__ import annotations

import datetime
import math
import re
from typing import Any

from .podutil import is_pod_available, is_terminating, meta

Obj = dict[str, Any]

_PERCENT = re.compile(r"^(\d+)%$")


def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """An IntOrString: an int as is, ``"25%"`` as that share of ``total`` (upstream's
    GetScaledValueFromIntOrPercent). Raises ValueError for anything else."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    match = _PERCENT.match(str(value))
    if not match:
        if str(value).isdigit():
            return int(value)
        raise ValueError(f"invalid value for IntOrString: {value!r}")
    share = int(match.group(1)) * total / 100
    return math.ceil(share) if round_up else math.floor(share)


def rolling_limits(ds: Obj, desired: int) -> tuple[int, int]:
    """``(max_surge, max_unavailable)`` for ``desired`` scheduled nodes; both 0 would stall
    the update, so that case allows one unavailable node, as upstream does."""
    strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0, 0
    rolling = strategy.get("rollingUpdate") or {}
    max_surge = scaled_value(rolling.get("maxSurge"), desired, True)
    max_unavailable = scaled_value(rolling.get("maxUnavailable", 1), desired, True)
    if desired > 0 and max_surge == 0 and max_unavailable == 0:
        max_unavailable = 1
    return max_surge, max_unavailable


def allows_surge(ds: Obj) -> bool:
    """Whether a node may run an old and a new daemon pod side by side."""
    try:
        return rolling_limits(ds, 1)[0] > 0
    except ValueError:
        return False


def is_updated(pod: Obj, hash_value: str, template_generation: str | None = None) -> bool:
    labels = meta(pod).get("labels") or {}
    if template_generation is not None and labels.get("pod-template-generation") == template_generation:
        return True
    return bool(hash_value) and labels.get("controller-revision-hash") == hash_value


def new_and_old(pods: list[Obj], hash_value: str,
                template_generation: str | None = None) -> tuple[Obj | None, Obj | None, bool]:
    """The node's live new pod and old pod; False if it has two of either kind."""
    new = old = None
    for pod in pods:
        if is_terminating(pod):
            continue
        if is_updated(pod, hash_value, template_generation):
            if new is not None:
                return None, None, False
            new = pod
        else:
            if old is not None:
                return None, None, False
            old = pod
    return new, old, True


def rolling_update(ds: Obj, by_node: dict[str, list[Obj]], should_run: dict[str, bool], hash_value: str,
                   now: datetime.datetime, template_generation: str | None = None) -> tuple[list[str], list[str]]:
    """One step of a rolling update: ``(pod names to delete, node names to create a pod on)``.

    ``by_node`` has an entry (maybe empty) for every node the daemon should run on and for
    every node that has daemon pods; ``should_run`` says which nodes are eligible.
    """
    desired = sum(1 for name, runs in should_run.items() if runs)
    max_surge, max_unavailable = rolling_limits(ds, desired)
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)

    def available(pod: Obj) -> bool:
        return is_pod_available(pod, min_ready, now)

    nodes = sorted(set(by_node) | {name for name, runs in should_run.items() if runs})
    if max_surge == 0:
        return _delete_first(nodes, by_node, hash_value, template_generation, max_unavailable, available), []
    return _create_first(nodes, by_node, should_run, hash_value, template_generation, max_surge, desired,
                         available)


def _delete_first(nodes: list[str], by_node: dict[str, list[Obj]], hash_value: str, generation: str | None,
                  max_unavailable: int, available: Any) -> list[str]:
    unavailable = 0
    replace_now: list[str] = []  # old and unavailable: replacing them costs nothing
    candidates: list[str] = []  # old and available: each replacement costs one unavailable node
    for node in nodes:
        new, old, ok = new_and_old(by_node.get(node, []), hash_value, generation)
        if not ok or (new is None) == (old is None):
            unavailable += 1  # extra pods, no pod, or both: the ordinary pass is still at work here
        elif new is not None:
            unavailable += 0 if available(new) else 1
        elif not available(old):
            replace_now.append(meta(old)["name"])
            unavailable += 1
        elif unavailable < max_unavailable:
            candidates.append(meta(old)["name"])
    room = max(0, min(max_unavailable - unavailable, len(candidates)))
    return replace_now + candidates[:room]


def _create_first(nodes: list[str], by_node: dict[str, list[Obj]], should_run: dict[str, bool], hash_value: str,
                  generation: str | None, max_surge: int, desired: int,
                  available: Any) -> tuple[list[str], list[str]]:
    surging = 0
    total_available = 0
    delete: list[str] = []
    leaving: list[str] = []  # available old pods on nodes the daemon no longer belongs on
    create_now: list[str] = []
    candidates: list[str] = []
    for node in nodes:
        new, old, ok = new_and_old(by_node.get(node, []), hash_value, generation)
        if not ok:
            surging += 1
            continue
        counted = old if old is not None else new
        if counted is not None and available(counted):
            total_available += 1
        if old is None:
            continue  # nothing old here; the ordinary pass creates a pod if one is missing
        if new is None:
            if not available(old):
                if should_run.get(node):
                    create_now.append(node)
                else:
                    delete.append(meta(old)["name"])
            elif not should_run.get(node):
                leaving.append(meta(old)["name"])
            elif surging < max_surge:
                candidates.append(node)
        elif available(new):
            delete.append(meta(old)["name"])
        else:
            surging += 1  # waiting for the new pod to become available
    # With surge the owner asked for full availability: a pod leaves a node it no longer
    # belongs on only while more pods are available than are wanted.
    spare = total_available - desired
    if spare > 0:
        delete += leaving[:spare]
    room = max(0, min(max_surge - surging, len(candidates)))
    return delete, create_now + candidates[:room]
