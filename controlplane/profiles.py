"""Timing profiles: how fast the cluster notices failures and reacts to them.

Where it sits: ``kubeclass up --profile NAME`` picks one; every component that waits
for something (node agents renewing their Leases, the node lifecycle controller judging
nodes, leader election, the API server's default tolerations) reads its numbers from it,
passed as command-line flags.

Kubernetes chooses its defaults for production: a node is declared unreachable after
40 seconds and its pods are moved five minutes later. In a classroom that is a long
wait to watch, so the ``classroom`` profile (the default) makes the same sequence of
events happen within seconds. ``kubernetes`` uses upstream's values, to show that it
is the same mechanism with other numbers.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Profile:
    name: str
    # Node agents: how long a node Lease lasts, and how often the agent renews it
    # (upstream: 40 s lease, renewed every 10 s).
    node_lease_seconds: int
    node_renew_seconds: float
    # Node lifecycle controller: how often it looks, and how long a node may stay
    # silent before it is NotReady/Unknown (upstream: every 5 s, after 40 s).
    node_monitor_period: float
    node_monitor_grace_period: float
    # The not-ready/unreachable NoExecute tolerations the API server adds to every pod:
    # how long pods stay on a node that went away (upstream: 300 s).
    default_toleration_seconds: int
    # Leader election of controller managers and schedulers (upstream: 15 s / 10 s / 2 s).
    leader_lease_seconds: float
    leader_renew_deadline: float
    leader_retry_period: float
    # How long an autoscaler waits before scaling down, for every recent recommendation to
    # agree (upstream: 5 minutes); a classroom waits one: long enough to watch the window work.
    hpa_downscale_stabilization: float


CLASSROOM = Profile(
    name="classroom",
    node_lease_seconds=4, node_renew_seconds=1.0,
    node_monitor_period=1.0, node_monitor_grace_period=4.0,
    default_toleration_seconds=2,
    leader_lease_seconds=2.0, leader_renew_deadline=1.5, leader_retry_period=0.5,
    hpa_downscale_stabilization=60.0,
)

KUBERNETES = Profile(
    name="kubernetes",
    node_lease_seconds=40, node_renew_seconds=10.0,
    node_monitor_period=5.0, node_monitor_grace_period=40.0,
    default_toleration_seconds=300,
    leader_lease_seconds=15.0, leader_renew_deadline=10.0, leader_retry_period=2.0,
    hpa_downscale_stabilization=300.0,
)

PROFILES = {p.name: p for p in (CLASSROOM, KUBERNETES)}


def get(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}: choose one of {', '.join(PROFILES)}") from None
