"""The in-tree plugins, a registry of their factories, and the default profile.

Where it sits: :func:`build_framework` turns a :class:`Profile` (which plugins, in
which order, with which score weights and arguments) into the
:class:`~controlplane.scheduler.framework.Framework` a scheduling cycle runs. As in
upstream's ``plugins/registry.go``, the registry maps a plugin's name to the factory
that makes it; a profile only names plugins. To add a plugin: write one file here
with a ``NAME``, a pure ``fits()`` or ``score()`` helper and a ``new(args)``
factory, register it in :data:`REGISTRY`, and name it in a profile.

Every plugin file is independent of its siblings (what they share is in
:mod:`controlplane.scheduler.matching` and :mod:`controlplane.scheduler.resources`).

The default profile follows upstream's ``getDefaultPlugins``: the filters in the
order upstream runs them, and the score weights TaintToleration 3, NodeAffinity 2,
PodTopologySpread 2, NodeResourcesFit 1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ...client.rest import Client
from ..framework import Framework
from . import (
    default_binder,
    node_affinity,
    node_name,
    node_ports,
    node_resources_fit,
    node_unschedulable,
    pod_topology_spread,
    taint_toleration,
)

Factory = Callable[[dict[str, Any] | None], Any]

REGISTRY: dict[str, Factory] = {
    node_unschedulable.NAME: node_unschedulable.new,
    node_name.NAME: node_name.new,
    taint_toleration.NAME: taint_toleration.new,
    node_affinity.NAME: node_affinity.new,
    node_ports.NAME: node_ports.new,
    node_resources_fit.NAME: node_resources_fit.new,
    pod_topology_spread.NAME: pod_topology_spread.new,
}

DEFAULT_SCHEDULER_NAME = "default-scheduler"
STRATEGIES = {"least": node_resources_fit.LEAST_ALLOCATED, "most": node_resources_fit.MOST_ALLOCATED}


@dataclasses.dataclass(frozen=True)
class Profile:
    """One scheduler profile (upstream's ``KubeSchedulerProfile``, cut down)."""

    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    filters: tuple[str, ...] = (node_unschedulable.NAME, node_name.NAME, taint_toleration.NAME,
                                node_affinity.NAME, node_ports.NAME, node_resources_fit.NAME)
    scores: tuple[tuple[str, int], ...] = ((taint_toleration.NAME, 3), (node_affinity.NAME, 2),
                                           (node_resources_fit.NAME, 1), (pod_topology_spread.NAME, 2))
    args: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)


def default_profile(scoring_strategy: str = "least", scheduler_name: str = DEFAULT_SCHEDULER_NAME) -> Profile:
    """The default plugins; ``scoring_strategy`` "least" spreads pods, "most" packs them."""
    if scoring_strategy not in STRATEGIES:
        raise ValueError(f"unknown scoring strategy {scoring_strategy!r}: choose one of {', '.join(STRATEGIES)}")
    args: dict[str, Any] = {node_resources_fit.NAME: {"scoringStrategy": {"type": STRATEGIES[scoring_strategy]}}}
    if scoring_strategy == "most":
        # Bin packing: without this, the default spreading of a workload's replicas
        # (weight 2) outvotes the few points MostAllocated gives a fuller node.
        args[pod_topology_spread.NAME] = {"defaultingType": "List", "defaultConstraints": []}
    return Profile(scheduler_name=scheduler_name, args=args)


def build_framework(profile: Profile, client: Client) -> Framework:
    """One instance per plugin name, shared by the extension points it serves."""
    made: dict[str, Any] = {}

    def plugin(name: str) -> Any:
        if name not in REGISTRY:
            raise ValueError(f"unknown plugin {name!r}; known: {', '.join(sorted(REGISTRY))}")
        if name not in made:
            made[name] = REGISTRY[name](profile.args.get(name))
        return made[name]

    return Framework(filters=[plugin(n) for n in profile.filters],
                     scores=[(plugin(n), weight) for n, weight in profile.scores],
                     binder=default_binder.new(None, client=client))
