"""``kubeclass labhosts|provision|bundle``: the provisioning side of the command line.

Where it sits: `controlplane.cli.main` adds these subcommands to `kubeclass`; the work is
in `provision.labhosts`, `provision.executor` and `provision.bundle`. This module only
talks to the user: progress while things happen, a table or a recap at the end, one
line with what to do when something goes wrong, never a stack trace for a mistake the
user can fix.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from provision import bundle as bundles
from provision import labhosts
from provision.bundle import target as bundle_target

console = Console(stderr=True, highlight=False, soft_wrap=True)


def _lab(args: argparse.Namespace) -> labhosts.Lab:
    return labhosts.Lab(labhosts.default_home(args.lab))


def cmd_labhosts_up(args: argparse.Namespace) -> int:
    lab = _lab(args)
    try:
        with console.status("Starting lab hosts") as status:
            started = lab.up(masters=args.masters, workers=args.workers, subnet=args.subnet,
                             progress=lambda message: status.update(escape(message)))
    except (labhosts.LabError, labhosts.ImageError) as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        return 1
    except KeyboardInterrupt:
        console.print("Interrupted: `kubeclass labhosts down` removes what was made.")
        return 130
    _print_status(lab)
    verb = f"started {', '.join(started)}" if started else "all hosts were already running"
    console.print(f"\nLab {lab.name!r}: {verb}. Inventory: [bold]{lab.inventory_path}[/]\n"
                  f"Provision a cluster onto it: [bold]kubeclass provision -i {lab.inventory_path}[/]\n"
                  f"Log in to a host: ssh -i {lab.key_path} vagrant@{lab.hosts()[0].address}")
    return 0


def cmd_labhosts_down(args: argparse.Namespace) -> int:
    lab = _lab(args)
    if not lab.exists():
        console.print(f"no lab {lab.name!r} here ({lab.home}): nothing to do")
        return 0
    with console.status("Removing lab hosts") as status:
        lab.down(progress=lambda message: status.update(escape(message)))
    console.print(f"Lab {lab.name!r} removed: hosts, disks and bridge.")
    return 0


def cmd_labhosts_status(args: argparse.Namespace) -> int:
    lab = _lab(args)
    if not lab.exists():
        console.print(f"no lab {lab.name!r} here ({lab.home}): `kubeclass labhosts up` makes one")
        return 1
    _print_status(lab)
    return 0


def cmd_labhosts_stop(args: argparse.Namespace) -> int:
    lab = _lab(args)
    try:
        for name in args.names:
            stopped = lab.stop(name, kill=args.kill)
            how = "power cut" if args.kill else "powered off"
            console.print(f"{name}: {how}" if stopped else f"{name}: was not running")
    except labhosts.LabError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        return 1
    console.print("`kubeclass labhosts up` starts stopped hosts again, with their disks as they were.")
    return 0


NAMED_HOSTS_ONLY = ("remove-node", "reset-host")  # never on every host by accident


def _default_inventory() -> Path:
    return labhosts.default_home().joinpath("inventory.yaml")


def cmd_provision(args: argparse.Namespace) -> int:
    from provision import cluster, executor
    from provision.inventory import InventoryError
    from provision.playbook import PlaybookError
    from pki import kubeconfig

    if args.playbook in NAMED_HOSTS_ONLY and not args.limit:
        console.print(f"[red]error:[/] {args.playbook} acts on the hosts you name: add --limit HOST "
                      f"(e.g. kubeclass provision {args.playbook} --limit worker-3)")
        return 1
    inventory = Path(args.inventory) if args.inventory else _default_inventory()
    if not inventory.exists():
        console.print(f"[red]error:[/] no inventory at {inventory}: pass -i FILE, or make lab hosts "
                      "with `kubeclass labhosts up`")
        return 1
    try:
        with console.status("Preparing on this machine") as status:
            prepared = cluster.prepare(
                inventory, args.playbook, cluster_dir=Path(args.cluster_dir) if args.cluster_dir else None,
                bundle=Path(args.bundle) if args.bundle else None,
                reference_status=lambda: labhosts.reference_status(lambda m: status.update(escape(m))),
                progress=lambda message: status.update(escape(message)))
    except (cluster.ProvisionError, InventoryError, PlaybookError, ValueError,
            labhosts.ImageError, bundles.BundleError) as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        return 1
    options = executor.Options(check=args.check, diff=args.diff,
                               limit=args.limit.split(",") if args.limit else None,
                               tags=set(args.tags.split(",")) if args.tags else None,
                               skip_tags=set(args.skip_tags.split(",")) if args.skip_tags else None,
                               log_path=args.log or prepared.cluster_dir / "last-run.json")
    recap = executor.Executor(prepared.inventory, options).run(prepared.playbook)
    failed = sorted(h for h, c in recap.items() if c.failed or c.unreachable)
    fetched = prepared.cluster_dir / "admin.kubeconfig"
    if args.playbook == "cluster" and not args.check and fetched.exists() and not args.no_kubeconfig:
        kubeconfig.merge(kubeconfig.user_kubeconfig_path(), yaml.safe_load(fetched.read_text()))
        console.print(f"\nThe [bold]{prepared.cluster['cluster_name']}[/] context is now current in "
                      f"your kubeconfig (fetched to {fetched}). Try: kubectl get nodes -o wide")
    if failed:
        console.print(f"\n[red]{len(failed)} host(s) did not converge:[/] {', '.join(failed)}. "
                      "Fix what the recap says and run the same command again; the others stay as they are.")
        return 2
    return 0


def cmd_bundle_build(args: argparse.Namespace) -> int:
    output = Path(args.output)
    try:
        with console.status("Building the bundle") as status:
            step = lambda message: status.update(escape(message))  # noqa: E731
            reference = (Path(args.reference_status) if args.reference_status
                         else labhosts.reference_status(step))
            manifest = bundles.build(output, reference_status=reference, progress=step,
                                     compression=args.compression)
    except (bundles.BundleError, labhosts.ImageError) as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        return 1
    path = output / bundles.default_name(manifest.kubeclass_version, args.compression) if output.is_dir() else output
    size = sum(f.size for f in manifest.files)
    console.print(f"{path}: {path.stat().st_size / 1e6:.1f} MB ({len(manifest.files)} files, "
                  f"{size / 1e6:.1f} MB of content; target {bundle_target.SIZE_TARGET / 1e6:.0f} MB). "
                  f"Check it anywhere with `kubeclass bundle verify {path}`; use it with "
                  f"`kubeclass provision --bundle {path}`.")
    return 0


def cmd_bundle_verify(args: argparse.Namespace) -> int:
    with console.status("Verifying the bundle (offline)"):
        report = bundles.verify(Path(args.file))
    for note in report.notes if args.verbose else []:
        console.print(f"  {escape(note)}")
    for problem in report.problems:
        console.print(f"[red]problem:[/] {escape(problem)}")
    Console(highlight=False).print(report.summary())
    return 0 if report.ok else 1


def _print_status(lab: labhosts.Lab) -> None:
    table = Table(title=f"lab {lab.name} (virtual IP {lab.vip()})", title_justify="left")
    for column in ("HOST", "GROUP", "ADDRESS", "STATE", "SSH"):
        table.add_column(column)
    for row in lab.status():
        table.add_row(row["name"], row["group"], row["address"],
                      "running" if row["running"] else "[red]stopped[/]",
                      "yes" if row["ssh"] else "no")
    Console(highlight=False).print(table)


def add_commands(sub: argparse._SubParsersAction) -> None:
    lab = sub.add_parser("labhosts", help="machine-like hosts on this machine (systemd-nspawn, sshd) "
                                          "to provision a cluster onto")
    lab.add_argument("--lab", default="lab", help="which lab (default: lab); several can run at once")
    verbs = lab.add_subparsers(dest="verb", required=True)
    up = verbs.add_parser("up", help="make the hosts (the first time builds a Debian 12 image, ~1 min) "
                                     "and start them; starts stopped ones")
    up.add_argument("--masters", type=int, default=None, help="master hosts (a new lab: 3)")
    up.add_argument("--workers", type=int, default=None,
                    help="worker hosts (a new lab: 2); more on an existing lab adds hosts")
    up.add_argument("--subnet", default=None, help="the lab network (default: a free 10.231.x.0/24)")
    up.set_defaults(run=cmd_labhosts_up)
    down = verbs.add_parser("down", help="stop the hosts and delete them, their disks and the bridge")
    down.set_defaults(run=cmd_labhosts_down)
    status = verbs.add_parser("status", help="show the hosts, their addresses and whether sshd answers")
    status.set_defaults(run=cmd_labhosts_status)
    stop = verbs.add_parser("stop", help="power hosts off (`up` starts them again)")
    stop.add_argument("names", nargs="+", metavar="HOST")
    stop.add_argument("--kill", action="store_true", help="cut the power instead: nothing shuts down cleanly")
    stop.set_defaults(run=cmd_labhosts_stop)

    prov = sub.add_parser("provision", help="install a cluster onto SSH hosts (lab hosts, VMs, machines) "
                                            "from an inventory, Ansible-style")
    prov.add_argument("playbook", nargs="?", default="cluster",
                      help="cluster (the default), add-worker, remove-node, reset-host, or a playbook file")
    prov.add_argument("-i", "--inventory", default=None,
                      help=f"the hosts (default: the lab's, {_default_inventory()})")
    prov.add_argument("--bundle", default=None, help="install from this offline bundle: no network "
                                                     "on this machine or the hosts")
    prov.add_argument("--check", action="store_true", help="only report what would change")
    prov.add_argument("--diff", action="store_true", help="show what changes in files")
    prov.add_argument("--limit", default=None, help="only these hosts or groups (comma-separated)")
    prov.add_argument("--tags", default=None, help="only tasks with these tags (comma-separated)")
    prov.add_argument("--skip-tags", default=None, help="not tasks with these tags")
    prov.add_argument("--log", default=None, help="write the machine-readable result here "
                                                  "(default: last-run.json in the cluster folder)")
    prov.add_argument("--cluster-dir", default=None, help="where the cluster's PKI, bundle and "
                                                          "kubeconfig live (default: cluster/ next to the inventory)")
    prov.add_argument("--no-kubeconfig", action="store_true", help="do not touch ~/.kube/config")
    prov.set_defaults(run=cmd_provision)

    bundle = sub.add_parser("bundle", help="the offline bundle: everything the hosts install, in one file")
    bverbs = bundle.add_subparsers(dest="verb", required=True)
    build = bverbs.add_parser("build", help="gather packages and wheels here (needs the package "
                                            "registries) into one file")
    build.add_argument("-o", "--output", default=".", help="a file, or a folder for the default name")
    build.add_argument("--compression", choices=["", "gz", "xz"], default="")
    build.add_argument("--reference-status", default=None,
                       help="the hosts' /var/lib/dpkg/status (default: the lab image's)")
    build.set_defaults(run=cmd_bundle_build)
    verify = bverbs.add_parser("verify", help="check a bundle is whole and complete, offline")
    verify.add_argument("file")
    verify.add_argument("-v", "--verbose", action="store_true", help="say what was checked")
    verify.set_defaults(run=cmd_bundle_verify)

