"""``kubeclass``: the command line. Parses arguments, shows progress, prints what to do next.

Where it sits: the user's entry point (console script ``kubeclass``). The work is in
``local.py``; this module only talks to the user: one line per step while things
happen, one line with what to do when something goes wrong, never a stack trace
for a mistake the user can fix.
"""

from __future__ import annotations

import argparse
import sys
import time

from rich.console import Console

from .local import ClusterError, LocalCluster, default_home

console = Console(stderr=True, highlight=False, soft_wrap=True)

NEXT_STEPS = """
[bold green]kubeclass is up.[/] The [bold]kubeclass[/] context is now current in your kubeconfig.

Try:
  kubectl get namespaces
  kubectl api-resources
  kubectl create deployment web --image=nginx --dry-run=client -o yaml | kubectl apply -f -

Stop it with [bold]kubeclass down[/]. The cluster keeps its state in {home}.
"""


def cmd_up(args: argparse.Namespace) -> int:
    cluster = LocalCluster(args.home, port=args.port)
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
        console.print(f"[red]error:[/] {e}")
        return 1
    if not started:
        console.print(f"kubeclass is already running ({cluster.server}); `kubeclass down` stops it.")
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


def cmd_status(args: argparse.Namespace) -> int:
    cluster = LocalCluster(args.home)
    running = cluster.running()
    if not running:
        console.print("kubeclass is not running. Start it with `kubeclass up`.")
        return 1
    for name, pid in running.items():
        console.print(f"{name:<20} running (pid {pid})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubeclass", description="A Kubernetes-compatible teaching cluster.")
    parser.add_argument("--home", default=None, help=f"the cluster's data directory (default {default_home()})")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start a local cluster and point kubectl at it")
    up.add_argument("--port", type=int, default=6443, help="the API server's port on 127.0.0.1 (default 6443)")
    up.add_argument("--foreground", action="store_true", help="stay attached; Ctrl-C stops the cluster")
    up.set_defaults(run=cmd_up)
    down = sub.add_parser("down", help="stop the local cluster")
    down.add_argument("--delete", action="store_true", help="also delete its data and kubeconfig entries")
    down.set_defaults(run=cmd_down)
    status = sub.add_parser("status", help="show the local cluster's processes")
    status.set_defaults(run=cmd_status)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
