"""The scheduler process, started on every master like kube-scheduler::

    python -m controlplane.scheduler --kubeconfig PATH [--server URL ...]
        [--scoring-strategy least|most] [--leader-elect] [--profile classroom|kubernetes]

It builds one REST client from the kubeconfig (plus any ``--server`` endpoints to fail
over to), the default profile's plugins (``--scoring-strategy most`` packs pods onto
the fullest nodes instead of spreading them), informers on pods and nodes, and runs
the scheduling loop.

With ``--leader-elect`` it competes for the Lease ``kube-system/kube-scheduler``
(timings from ``--profile``) and schedules only while it holds it, so three masters can
each run one; a standby watches all along, so its caches are full when it takes over.
Losing the Lease ends the process with status 1, as kube-scheduler does, for its
supervisor to start it again as a candidate. SIGTERM or SIGINT stops it cleanly: no
new cycles, bindings in flight get a few seconds, the Lease is released, exit status 0.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable

from .. import profiles
from ..client.events import EventRecorder
from ..client.informer import InformerFactory
from ..client.leaderelection import LeadershipLost, LeaseElector
from ..client.rest import Client
from .plugins import DEFAULT_SCHEDULER_NAME, STRATEGIES, build_framework, default_profile
from .scheduler import TIMINGS, Scheduler

log = logging.getLogger("controlplane.scheduler")

LEASE_NAMESPACE, LEASE_NAME = "kube-system", "kube-scheduler"
SHUTDOWN_TIMEOUT = 3.0
SYNC_LOG_EVERY = 10.0


class AlwaysLeader:
    """Without ``--leader-elect``: this process schedules from the start."""

    def run(self, lead: Callable[[threading.Event], None], stop: threading.Event) -> None:
        lead(stop)


class SchedulerProcess:
    """The scheduler with its informers and event recorder: started before the election, so
    that a standby's caches are already full when it takes over."""

    def __init__(self, client: Client, args: argparse.Namespace) -> None:
        self.args = args
        self.recorder = EventRecorder(client, args.scheduler_name)
        framework = build_framework(default_profile(args.scoring_strategy, args.scheduler_name), client)
        framework.percentage_of_nodes_to_score = args.percentage_of_nodes_to_score
        self.scheduler = Scheduler(client, framework, self.recorder, scheduler_name=args.scheduler_name,
                                   timings=TIMINGS[args.profile], bind_workers=args.bind_workers)
        self.informers = InformerFactory(client)
        self.scheduler.watch(self.informers)
        self.informers.start()

    def lead(self, leading: threading.Event) -> None:
        """Wait for the caches, then schedule until ``leading`` is set."""
        while not self.scheduler.wait_for_sync(SYNC_LOG_EVERY, leading):
            if leading.is_set():
                return
            log.info("waiting for the pod and node informers to list (is the API server up?)")
        log.info("scheduling pods with schedulerName %s (scoring strategy %s, %d nodes known)",
                 self.args.scheduler_name, STRATEGIES[self.args.scoring_strategy],
                 len(self.scheduler.cache.node_names()))
        self.scheduler.run(leading)

    def shutdown(self) -> None:
        """No new cycles; bindings in flight, queued events and watches get a few seconds."""
        log.info("shutting down")
        deadline = time.monotonic() + SHUTDOWN_TIMEOUT
        self.scheduler.shutdown(SHUTDOWN_TIMEOUT / 2)
        self.informers.stop()
        self.recorder.stop(max(0.1, deadline - time.monotonic()))
        self.informers.join(max(0.0, deadline - time.monotonic()))
        log.info("stopped")


def elector_for(client: Client, args: argparse.Namespace) -> LeaseElector | AlwaysLeader:
    if not args.leader_elect:
        return AlwaysLeader()
    profile = profiles.get(args.profile)
    # Its own client, whose requests give up by the renew deadline: a renewal stuck on a hung
    # connection must not keep us "leading" after a successor may have taken over.
    election_client = Client(client.config, timeout=profile.leader_renew_deadline,
                             user_agent=f"{client.user_agent}/leader-election")
    return LeaseElector(election_client, args.leader_elect_resource_namespace, args.leader_elect_resource_name,
                        lease_duration=profile.leader_lease_seconds, renew_deadline=profile.leader_renew_deadline,
                        retry_period=profile.leader_retry_period)


def _bool(value: str) -> bool:
    """Go's flag syntax: ``--leader-elect``, ``--leader-elect=true``, ``--leader-elect=false``."""
    if value.lower() in ("true", "t", "1", "yes"):
        return True
    if value.lower() in ("false", "f", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {value!r}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="kubeclass-scheduler", description="Assign pending pods to nodes.")
    p.add_argument("--kubeconfig", required=True, help="kubeconfig with the cluster and the scheduler's credentials")
    p.add_argument("--context", help="kubeconfig context (default: its current-context)")
    p.add_argument("--server", action="append", default=[],
                   help="another API server endpoint to fail over to (repeatable)")
    p.add_argument("--scoring-strategy", choices=sorted(STRATEGIES), default="least",
                   help="NodeResourcesFit scoring: least (spread pods, the default) or most (bin packing)")
    p.add_argument("--percentage-of-nodes-to-score", type=int, default=0, metavar="PERCENT",
                   help="in clusters of 100 nodes or more, stop filtering once this share of the nodes "
                        "is found feasible (default 0: adaptive, as upstream)")
    p.add_argument("--scheduler-name", default=DEFAULT_SCHEDULER_NAME,
                   help="schedule the pods whose spec.schedulerName is this (default: default-scheduler)")
    p.add_argument("--leader-elect", type=_bool, nargs="?", const=True, default=False,
                   help="schedule only while holding the Lease kube-system/kube-scheduler")
    p.add_argument("--leader-elect-resource-namespace", default=LEASE_NAMESPACE)
    p.add_argument("--leader-elect-resource-name", default=LEASE_NAME)
    p.add_argument("--profile", default="classroom", choices=sorted(profiles.PROFILES),
                   help="timing profile: leader election and retry timings (default: classroom)")
    p.add_argument("--bind-workers", type=int, default=4, help="threads sending Bindings (default: 4)")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    if args.bind_workers < 1:
        p.error("--bind-workers must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    client = Client.from_kubeconfig(args.kubeconfig, context=args.context, extra_servers=args.server,
                                    user_agent="kubeclass-scheduler")
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    process = SchedulerProcess(client, args)
    try:
        elector_for(client, args).run(process.lead, stop)
    except LeadershipLost as e:
        # A scheduler that may have missed what the new leader did must not carry on.
        log.error("%s; exiting", e)
        return 1
    finally:
        process.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
