"""``kubeclass``: the command line. Parses arguments, shows progress, prints what to do next.

Where it sits: the user's entry point (console script ``kubeclass``). The work is in
``local.py``; this module only talks to the user: one line per step while things
happen, one line with what to do when something goes wrong, never a stack trace
for a mistake the user can fix.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from rich.console import Console
from rich.markup import escape

from provision import cli as provision_cli

from .. import profiles
from . import backup, timeline
from .local import ClusterError, LocalCluster, default_home

console = Console(stderr=True, highlight=False, soft_wrap=True)

NEXT_STEPS = """
[bold green]kubeclass is up.[/] The [bold]kubeclass[/] context is now current in your kubeconfig.

Try:
  kubectl get nodes
  kubectl create deployment hello --image=kubeclass/hello:1 --replicas=3 --dry-run=client -o yaml | kubectl apply -f -
  kubectl expose deployment hello --port=80 --target-port=8080 --type=NodePort
  kubectl get pods -o wide
  kubeclass status

Stop it with [bold]kubeclass down[/]. The cluster keeps its state in {home}.
"""


def cmd_up(args: argparse.Namespace) -> int:
    cluster = LocalCluster(args.home, port=args.port, workers=args.workers, profile=args.profile,
                           scoring=args.scoring, store=args.store)
    try:
        with console.status("Starting kubeclass") as status:
            started = cluster.up(lambda message: status.update(message))
    except KeyboardInterrupt:
        # Ctrl-C while starting: take down whatever already started, leave nothing behind.
        cluster.down(lambda message: None)
        console.print("Interrupted: stopped what had started.")
        return 130
    except ClusterError as e:
        cluster.down(lambda message: None)
        console.print(f"[red]error:[/] {escape(str(e))}")
        return 1
    if not started:
        console.print(f"kubeclass is already running ({cluster.server}); `kubeclass status` shows it, "
                      "`kubeclass down` stops it.")
    else:
        console.print(NEXT_STEPS.format(home=cluster.home))
    if args.foreground:
        return _foreground(cluster)
    return 0


def _foreground(cluster: LocalCluster) -> int:
    console.print("Running in the foreground: Ctrl-C stops the cluster.")
    try:
        while len(cluster.running()) == len(cluster._processes()):
            time.sleep(1)
        console.print("[red]a cluster process exited[/]; stopping the rest. Logs: " + cluster.path("logs"))
        code = 1
    except KeyboardInterrupt:
        code = 0
    cluster.down(lambda message: console.print(message))
    return code


def cmd_down(args: argparse.Namespace) -> int:
    cluster = LocalCluster(args.home)
    stopped = cluster.down(lambda message: console.print(message))
    if args.delete:
        cluster.delete()
        console.print(f"Deleted {cluster.home} and the kubeclass entries of your kubeconfig.")
    elif not stopped:
        console.print("kubeclass was not running.")
    else:
        console.print("Stopped. `kubeclass up` starts it again with the same state.")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    cluster = LocalCluster(args.home)
    try:
        stopped = cluster.stop(args.names, lambda message: console.print(message), kill=args.kill)
    except ClusterError as e:
        console.print(f"[red]error:[/] {escape(str(e))}")
        return 1
    if not stopped:
        console.print("None of them was running.")
    else:
        console.print(f"Stopped {', '.join(stopped)}. `kubeclass up` starts {'it' if len(stopped) == 1 else 'them'} again.")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    cluster = LocalCluster(args.home)
    path = args.file or f"kubeclass-backup-{time.strftime('%Y%m%d-%H%M%S')}.{'etcd' if cluster.topology.store == 'etcd' else 'db'}"
    try:
        with console.status("Backing up") as status:
            summary = backup.backup(cluster, path, lambda message: status.update(message))
    except backup.BackupError as e:
        console.print(f"[red]error:[/] {escape(str(e))}")
        return 1
    console.print(f"Backed up to {escape(os.path.abspath(path))} ({summary}). `kubeclass restore {escape(path)}` "
                  "brings this state back.")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    cluster = LocalCluster(args.home)
    try:
        with console.status("Restoring") as status:
            aside = backup.restore(cluster, args.file, lambda message: status.update(message))
    except (backup.BackupError, ClusterError) as e:
        console.print(f"[red]error:[/] {escape(str(e))}")
        return 1
    console.print(f"Restored {escape(args.file)}; the cluster runs with that state. What it replaced is in "
                  f"{escape(aside)}.")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    cluster = LocalCluster(args.home)
    running = cluster.running()
    if not running:
        console.print("kubeclass is not running. Start it with `kubeclass up`.")
        return 1
    if args.watch:
        return _watch(cluster, args.seconds)
    t = cluster.topology
    console.print(f"[bold]cluster[/] {t.id}: {t.masters} masters, {t.workers} workers, profile {t.profile}, "
                  f"scoring {t.scoring}, store {t.store}, "
                  f"pods {t.pod_cidr}, services {t.service_cidr}")
    console.print(f"[bold]endpoint[/] {cluster.server} " + (
        f"(haproxy in front of the {t.masters} API servers)" if cluster.load_balanced
        else "(master-1's API server: install haproxy for one that survives a master)"))
    console.print("[bold]components[/]")
    for proc in cluster._processes():
        pid = running.get(proc.name)
        state = f"running (pid {pid})" if pid else "[red]not running[/]"
        console.print(f"  {proc.name:<22} {state}   log: {cluster.processes.log(proc.name)}")
    console.print("[bold]leaders[/]")
    for lease, holder in cluster.leaders().items():
        console.print(f"  {lease:<24} {holder}")
    console.print("[bold]nodes[/]")
    for name, ready, roles in cluster.nodes():
        console.print(f"  {name:<12} {'Ready' if ready else '[red]NotReady[/]':<10} {roles}")
    return 0


def _watch(cluster: LocalCluster, seconds: float | None) -> int:
    """The failover timeline on stdout, a line per change, until Ctrl-C or ``seconds``."""
    watching = timeline.Timeline(cluster)
    try:
        for line in watching.summary():
            print(line, flush=True)
        watching.start()
        print("watching: processes, etcd members, API servers, leader Leases, Nodes, Pods (Ctrl-C ends)", flush=True)
        watching.run(lambda line: print(line, flush=True), seconds)
    except (KeyboardInterrupt, BrokenPipeError):  # Ctrl-C, or `| head` has read enough
        pass
    finally:
        watching.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubeclass", description="A Kubernetes-compatible teaching cluster.")
    parser.add_argument("--home", default=None, help=f"the cluster's data directory (default {default_home()})")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start a local cluster and point kubectl at it")
    up.add_argument("--port", type=int, default=None,
                    help="kubectl's endpoint on 127.0.0.1 (haproxy); the API servers take the next "
                         "ports (default 6443)")
    up.add_argument("--workers", type=int, default=None, help="worker nodes (default 2)")
    up.add_argument("--profile", choices=sorted(profiles.PROFILES), default=None,
                    help="timing profile: classroom (failures noticed in seconds, the default) or kubernetes")
    up.add_argument("--store", choices=["sqlite", "etcd"], default=None,
                    help="where the cluster's state lives: one embedded SQLite file (the default) or a "
                         "three-member etcd, a member on each master (needs etcd-server); chosen at the first up")
    up.add_argument("--scoring", choices=["least-allocated", "most-allocated"], default=None,
                    help="how the scheduler ranks nodes: least-allocated spreads pods (the default), "
                         "most-allocated packs them (bin packing); a running cluster's schedulers restart")
    up.add_argument("--foreground", action="store_true", help="stay attached; Ctrl-C stops the cluster")
    up.set_defaults(run=cmd_up)
    down = sub.add_parser("down", help="stop the local cluster")
    down.add_argument("--delete", action="store_true", help="also delete its data and kubeconfig entries")
    down.set_defaults(run=cmd_down)
    stop = sub.add_parser("stop", help="stop machines or components of the cluster (`kubeclass up` restarts them)")
    stop.add_argument("names", nargs="+", metavar="NAME",
                      help="a machine (master-1, worker-2: all it runs) or a component (scheduler-3)")
    stop.add_argument("--kill", action="store_true", help="SIGKILL, as if the machine lost power: nothing cleans up")
    stop.set_defaults(run=cmd_stop)
    back = sub.add_parser("backup", help="save the cluster's whole state to a file (the cluster keeps running)")
    back.add_argument("file", nargs="?", default=None,
                      help="where to write it (default: kubeclass-backup-<time>.db or .etcd here)")
    back.set_defaults(run=cmd_backup)
    rest = sub.add_parser("restore", help="replace the cluster's state by a backup (stops and starts the cluster)")
    rest.add_argument("file", help="a file `kubeclass backup` wrote")
    rest.set_defaults(run=cmd_restore)
    status = sub.add_parser("status", help="show the local cluster's processes, leaders and nodes")
    status.add_argument("--watch", "-w", action="store_true",
                        help="then print every change as it happens, with times: the failover timeline")
    status.add_argument("--seconds", type=float, default=None, help="with --watch: stop after this many seconds")
    status.set_defaults(run=cmd_status)
    provision_cli.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Ctrl-C (SIGINT) must always stop what is starting and end --foreground and --watch,
    # even when we were started in the background of a script, which sets it to "ignore".
    signal.signal(signal.SIGINT, signal.default_int_handler)
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
