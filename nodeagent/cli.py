"""``python -m nodeagent``: the node agent's command line (kubelet's flags, where they exist).

Where it sits: ``kubeclass up`` and the provisioning playbooks start one agent per node
with these flags (systemd on real machines); everything else reads the resulting
:class:`~nodeagent.config.AgentConfig`. Examples::

    # a worker of a local cluster, as root: network namespaces and cgroups
    python -m nodeagent --kubeconfig worker-1.kubeconfig --node-name worker-1 \\
        --address 127.0.1.11 --pod-cidr 10.244.11.0/24 \\
        --tls-cert-file worker-1.crt --tls-private-key-file worker-1.key

    # a master: also a node, labelled and tainted as kubeadm does
    python -m nodeagent ... --node-name master-1 --address 127.0.1.1 \\
        --labels node-role.kubernetes.io/control-plane= \\
        --taints node-role.kubernetes.io/control-plane:NoSchedule

    # two hundred simulated nodes in one process (nothing runs; pods turn Running)
    python -m nodeagent --kubeconfig admin.kubeconfig --simulated --count 200 --node-name-prefix sim-

SIGTERM (or Ctrl-C) stops the agent cleanly: every pod's processes, network namespaces
and cgroups go. A second SIGTERM cuts the containers' grace periods short.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from controlplane.client import load_kubeconfig

from . import config as cfg
from .daemon import Daemon, run


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m nodeagent", description="kubeclass node agent (a kubelet)")
    p.add_argument("--kubeconfig", required=True, help="credentials of this node (CN system:node:<name>)")
    p.add_argument("--server", action="append", default=[], metavar="URL",
                   help="another API server to fail over to (repeatable); the kubeconfig's comes first")
    p.add_argument("--node-name", default="", help="the Node's name (default: this host's name)")
    p.add_argument("--address", default="127.0.0.1", help="the node's address: InternalIP, and where :10250 listens")
    p.add_argument("--port", type=int, default=10250, help="port of the HTTPS endpoint (logs, exec, stats)")
    p.add_argument("--pod-cidr", default="", help="this node's pod range (default 10.244.<last byte of address>.0/24)")
    p.add_argument("--cluster-id", default="", help="4 hex characters prefixing network names (default: from the API server URL)")
    p.add_argument("--cluster-cidr", default="10.244.0.0/16", help="the whole cluster's pod range")
    p.add_argument("--service-cidr", default="10.96.0.0/16", help="the cluster's service range")
    p.add_argument("--cpu", default="", help="CPUs to claim (default: the machine's)")
    p.add_argument("--memory", default="", help="memory to claim, e.g. 4Gi (default: the machine's)")
    p.add_argument("--max-pods", type=int, default=110)
    p.add_argument("--labels", default="", help="k=v,... added to the Node's labels")
    p.add_argument("--taints", default="", help="key=value:Effect,... registered with the Node")
    p.add_argument("--data-dir", default="", help="pods, volumes and logs (default ~/.kubeclass/local/nodes/<node>)")
    p.add_argument("--profile", default="classroom", choices=["classroom", "kubernetes"], help="timing profile")
    p.add_argument("--network", default="auto", choices=["auto", "netns", "loopback"],
                   help="pod networking: network namespaces (root) or loopback addresses")
    p.add_argument("--pod-routes", action="store_true",
                   help="keep a route to every other node's pod CIDR via its address (nodes on "
                        "separate hosts of one network, as provisioned; flannel's host-gw)")
    p.add_argument("--proxy-mode", default="userspace", choices=["userspace", "none"],
                   help="the service proxy: serve ClusterIPs (as root) and NodePorts, or nothing")
    p.add_argument("--tls-cert-file", default="")
    p.add_argument("--tls-private-key-file", default="")
    p.add_argument("--client-ca-file", default="", help="CA for callers' client certificates (default: the kubeconfig's)")
    p.add_argument("--simulated", action="store_true", help="register node(s) and mark their pods Running without running them")
    p.add_argument("--count", type=int, default=1, help="with --simulated: how many nodes")
    p.add_argument("--node-name-prefix", default="sim-", help="with --simulated --count: node names are <prefix><i>")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def build_config(args: argparse.Namespace) -> cfg.AgentConfig:
    name = args.node_name or os.uname().nodename.lower()
    server = load_kubeconfig(args.kubeconfig).servers[0]
    pod_cidr = args.pod_cidr or cfg.default_pod_cidr(args.address, args.cluster_cidr)
    return cfg.AgentConfig(
        kubeconfig=args.kubeconfig, servers=tuple(args.server), node_name=name, address=args.address, port=args.port, pod_cidr=pod_cidr,
        cluster_id=args.cluster_id or cfg.default_cluster_id(server), cluster_cidr=args.cluster_cidr,
        service_cidr=args.service_cidr, cpu=args.cpu, memory=args.memory, max_pods=args.max_pods,
        labels=cfg.parse_labels(args.labels), taints=cfg.parse_taints(args.taints),
        data_dir=os.path.abspath(args.data_dir) if args.data_dir else cfg.default_data_dir(name),
        profile=args.profile, network=args.network, proxy_mode=args.proxy_mode, pod_routes=args.pod_routes,
        tls_cert_file=args.tls_cert_file, tls_private_key_file=args.tls_private_key_file,
        client_ca_file=args.client_ca_file)


def install_signals(stop: threading.Event, daemon: Daemon) -> None:
    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            logging.getLogger("nodeagent").warning("second signal: stopping containers without grace")
            daemon.cold = True
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = build_config(args)
    except (ValueError, OSError) as e:
        sys.exit(f"nodeagent: {e}")
    daemon: Daemon
    if args.simulated:
        from .simulated import SimulatedNodes
        daemon = SimulatedNodes(config, count=args.count, prefix=args.node_name_prefix if args.count > 1 or
                                not args.node_name else "")
    else:
        from .agent import NodeAgent
        daemon = NodeAgent(config)
    stop = threading.Event()
    install_signals(stop, daemon)
    run(daemon, stop)
