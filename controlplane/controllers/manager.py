"""The controller manager: one process that runs the cluster's controllers.

Where it sits: started on every master (by ``kubeclass up`` or a systemd unit), like
kube-controller-manager::

    python -m controlplane.controllers.manager --kubeconfig PATH \\
        [--controllers deployment,replicaset,...] [--workers N] [--profile classroom] \\
        [--leader-elect=false] [--leader-elect-lease-duration 15s] ...

It builds one REST client from the kubeconfig (plus any ``--server`` endpoints to
fail over to), one shared informer factory and one discovery cache, and starts the
chosen controllers. Each controller logs one line per failed reconcile.

Leader election: every master runs a manager, and only one may act at a time. The
seam is :class:`Elector`: :func:`run` asks it to call ``lead`` once this process
holds leadership, and to set the event ``lead`` was given when it loses it. With
``--leader-elect`` (the default) that is a
:class:`~controlplane.client.leaderelection.LeaseElector` on the Lease
``kube-system/kube-controller-manager``, its timings taken from ``--profile`` unless
given. A manager that *loses* leadership stops its controllers and exits with status
1, as kube-controller-manager does, so that its supervisor starts it again as a
candidate; one that is told to stop (SIGTERM, SIGINT) stops its controllers, releases
the Lease for a successor, and exits 0 within a few seconds.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Protocol

from .. import profiles
from ..client import leaderelection
from ..client.leaderelection import LeadershipLost
from ..client.rest import Client
from .base import Controller
from .context import DISCOVERY_PERIOD, Context

log = logging.getLogger("controlplane.controllers.manager")

SHUTDOWN_TIMEOUT = 3.0


# Controller name -> "module:factory". Each factory takes the Context and returns a
# Controller; modules are imported only when their controller is chosen.
CONTROLLERS: dict[str, str] = {
    "daemonset": "controlplane.controllers.daemonset:make",
    "deployment": "controlplane.controllers.deployment:make",
    "disruption": "controlplane.controllers.disruption:make",
    "endpoints": "controlplane.controllers.endpoints:make",
    "endpointslice": "controlplane.controllers.endpointslice:make",
    "garbagecollector": "controlplane.controllers.garbagecollector:make",
    "horizontalpodautoscaling": "controlplane.controllers.hpa:make",
    "job": "controlplane.controllers.job:make",
    "namespace": "controlplane.controllers.namespace:make",
    "nodelifecycle": "controlplane.controllers.nodelifecycle:make",
    "replicaset": "controlplane.controllers.replicaset:make",
    "serviceaccount": "controlplane.controllers.serviceaccount:make",
    "statefulset": "controlplane.controllers.statefulset:make",
    "tainteviction": "controlplane.controllers.nodelifecycle_eviction:make",
}

LEASE_NAMESPACE = "kube-system"
LEASE_NAME = "kube-controller-manager"


def factory(name: str) -> Callable[[Context], Controller]:
    module, _, attr = CONTROLLERS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


class Elector(Protocol):
    def run(self, lead: Callable[[threading.Event], None], stop: threading.Event) -> None:
        """Block until ``stop`` is set; call ``lead(leading)`` while this process leads, where
        ``leading`` is set when that ends (``stop``, or leadership lost: then raise
        :class:`~controlplane.client.leaderelection.LeadershipLost`)."""


class AlwaysLeader:
    """The single-manager elector (``--leader-elect=false``): this process leads from the start."""

    def run(self, lead: Callable[[threading.Event], None], stop: threading.Event) -> None:
        lead(stop)


def run_controllers(ctx: Context, names: list[str], stop: threading.Event) -> None:
    """Start the named controllers, block until ``stop``, then shut them down."""
    controllers = [factory(name)(ctx) for name in names]
    for c in controllers:
        c.start()
    ctx.informers.start()  # shared informers registered by the controllers above
    log.info("started controllers: %s", ", ".join(names))
    while not stop.wait(0.5):  # a short wait keeps the main thread responsive to signals
        pass
    log.info("shutting down")
    for c in controllers:
        c.stop()
    ctx.informers.stop()
    # One deadline for everything: threads still blocked then (a watch request still
    # waiting for its response headers cannot be interrupted) are daemon threads and
    # end with the process; every write they could make is safe to repeat next start.
    deadline = time.monotonic() + SHUTDOWN_TIMEOUT
    for c in controllers:
        c.join(max(0.0, deadline - time.monotonic()))
    ctx.informers.join(max(0.0, deadline - time.monotonic()))
    log.info("stopped")


def run(client: Client, names: list[str], *, workers: int, stop: threading.Event,
        discovery_period: float = DISCOVERY_PERIOD, elector: Elector | None = None,
        profile: profiles.Profile = profiles.CLASSROOM) -> None:
    ctx = Context(client, workers, discovery_period, profile)
    (elector or AlwaysLeader()).run(lambda leading: run_controllers(ctx, names, leading), stop)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="kubeclass-controller-manager", description=__doc__.split("\n\n")[0])
    p.add_argument("--kubeconfig", required=True, help="kubeconfig with the cluster and the manager's credentials")
    p.add_argument("--context", help="kubeconfig context (default: its current-context)")
    p.add_argument("--server", action="append", default=[],
                   help="another API server endpoint to fail over to (repeatable)")
    p.add_argument("--controllers", default=",".join(CONTROLLERS),
                   help=f"comma-separated controllers to run (default: all: {', '.join(CONTROLLERS)})")
    p.add_argument("--workers", type=int, default=2, help="worker threads per controller")
    p.add_argument("--discovery-period", type=float, default=DISCOVERY_PERIOD,
                   help="seconds between discoveries of served resources (new CRDs are garbage-collected "
                        "after the next one)")
    p.add_argument("--profile", default="classroom", choices=sorted(profiles.PROFILES),
                   help="timing profile: how fast failures are noticed (default: classroom)")
    leaderelection.add_flags(p, LEASE_NAME, LEASE_NAMESPACE)
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    args.controllers = [c.strip() for c in args.controllers.split(",") if c.strip()]
    unknown = [c for c in args.controllers if c not in CONTROLLERS]
    if unknown:
        p.error(f"unknown controller(s): {', '.join(unknown)}; known: {', '.join(CONTROLLERS)}")
    if args.workers < 1:
        p.error("--workers must be at least 1")
    leaderelection.check_flags(p, args, profiles.get(args.profile))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    client = Client.from_kubeconfig(args.kubeconfig, context=args.context, extra_servers=args.server,
                                    user_agent="kubeclass-controller-manager")
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    elector: Elector = leaderelection.elector_from_flags(client, args, profiles.get(args.profile)) or AlwaysLeader()
    try:
        run(client, args.controllers, workers=args.workers, stop=stop, discovery_period=args.discovery_period,
            elector=elector, profile=profiles.get(args.profile))
    except LeadershipLost as e:
        # kube-controller-manager exits here too: a manager that may have missed what the
        # new leader did must not carry on; its supervisor starts it again as a candidate.
        log.error("%s; exiting", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
