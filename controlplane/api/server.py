"""Run the API server: the Flask app under gunicorn's threaded workers, over TLS.

Where it sits: the process ``kubeclass up`` starts (``python -m controlplane.api.server``)
and that systemd runs on a master. Never Flask's development server: gunicorn's
``gthread`` workers serve many connections each, keep idle keep-alive connections
out of the thread pool, and stream watch responses with chunked encoding. ``pods/exec``
takes the client's connection over from gunicorn after the WebSocket upgrade
(``handlers/podproxy.py``), which relies on gunicorn's ``environ["gunicorn.socket"]``.

Each worker process opens its own handle on the store after the fork (a SQLite
connection must not cross a fork); the workers share the database file, and each
one's poll loop feeds its own watches.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import ssl
import sys
from typing import Any

from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication

from .. import codec
from ..storage import open_store
from .app import create_app
from .auth import parse_token_file
from .config import APIConfig
from .defaults.core import set_default_toleration_seconds
from .registry import Registry
from .registry.services import DEFAULT_SERVICE_CIDR, set_service_cidr


class APIServer(BaseApplication):
    def __init__(self, options: dict[str, Any], store_url: str, config: APIConfig) -> None:
        self.options = options
        self.store_url = store_url
        self.config = config
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if value is not None:
                self.cfg.set(key, value)

    def load(self):
        # Runs in each worker after fork: every worker has its own store handle.
        return create_app(dataclasses.replace(self.config, bootstrap=False), open_store(self.store_url))

    def bootstrap(self) -> None:
        """Create the default objects once, in the master, before any worker starts."""
        if not self.config.bootstrap:
            return
        store = open_store(self.store_url)
        try:
            registry = Registry(store)
            registry.bootstrap(self.config.advertise_host, self.config.advertise_port)
            registry.close()
        finally:
            store.close()


_REASONS = {400: "BadRequest", 403: "Forbidden", 414: "RequestURITooLong", 417: "ExpectationFailed",
            431: "RequestHeaderFieldsTooLarge", 500: "InternalError", 501: "NotImplemented"}


def _status_error(sock: Any, status: int, reason: str, message: str) -> None:
    """gunicorn itself answers requests it cannot parse (a request line over 8 KiB, a
    malformed header): with an HTML page. Clients of a Kubernetes API expect a Status."""
    body = codec.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": message or reason, "reason": _REASONS.get(status, "BadRequest"), "code": status})
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


# gunicorn's error handler calls this function through its module: answer a Status instead.
gunicorn_util.write_error = _status_error

_contexts: dict[int, ssl.SSLContext] = {}


def _reused_ssl_context(conf: Any, default_factory: Any) -> ssl.SSLContext:
    """One TLS context per worker: gunicorn would build one (reading the key and
    certificate files) for every new connection."""
    context = _contexts.get(os.getpid())
    if context is None:
        context = _contexts[os.getpid()] = default_factory()
    return context


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="kubeclass-apiserver", description=__doc__.split("\n\n")[0])
    p.add_argument("--store", required=True, help="sqlite:///path/to/cluster.db")
    p.add_argument("--bind", action="append", required=True, help="host:port to listen on (repeatable)")
    p.add_argument("--tls-cert-file", help="serving certificate (PEM); without it the server speaks plain HTTP")
    p.add_argument("--tls-private-key-file")
    p.add_argument("--client-ca-file", help="CA that signs client certificates (CN = user, O = groups)")
    p.add_argument("--token-auth-file", help="static tokens: token,user,uid,\"group1,group2\"")
    p.add_argument("--kubelet-client-certificate",
                   help="client certificate (PEM) the API server presents to node agents (logs, exec, metrics)")
    p.add_argument("--kubelet-client-key", help="its private key")
    p.add_argument("--kubelet-certificate-authority",
                   help="CA that signs the node agents' serving certificates (default: --client-ca-file)")
    p.add_argument("--kubelet-timeout", type=float, default=5.0, help="seconds to wait for a node agent to answer")
    p.add_argument("--advertise-address", default="127.0.0.1")
    p.add_argument("--service-cluster-ip-range", default=DEFAULT_SERVICE_CIDR,
                   help=f"where ClusterIPs are allocated (default {DEFAULT_SERVICE_CIDR})")
    p.add_argument("--default-not-ready-toleration-seconds", type=int, default=300,
                   help="tolerationSeconds of the not-ready:NoExecute toleration added to every pod")
    p.add_argument("--default-unreachable-toleration-seconds", type=int, default=300,
                   help="tolerationSeconds of the unreachable:NoExecute toleration added to every pod")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=100, help="threads per worker (each open watch holds one)")
    p.add_argument("--bookmark-interval", type=float, default=10.0)
    p.add_argument("--compaction-keep", type=int, default=10_000)
    p.add_argument("--no-bootstrap", action="store_true", help="do not create the default namespaces")
    p.add_argument("--access-log", default=None, help="file for gunicorn's access log ('-' for stderr)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tokens = {}
    if args.token_auth_file:
        with open(args.token_auth_file) as f:
            tokens = parse_token_file(f.read())
    port = int(args.bind[0].rsplit(":", 1)[1])
    # Process-wide settings, made before gunicorn forks its workers.
    set_service_cidr(args.service_cluster_ip_range)
    set_default_toleration_seconds(args.default_not_ready_toleration_seconds,
                                   args.default_unreachable_toleration_seconds)
    config = APIConfig(tokens=tokens, bookmark_interval=args.bookmark_interval, bootstrap=not args.no_bootstrap,
                       advertise_host=args.advertise_address, advertise_port=port,
                       compaction_keep=args.compaction_keep,
                       kubelet_client_certificate=args.kubelet_client_certificate or "",
                       kubelet_client_key=args.kubelet_client_key or "",
                       kubelet_certificate_authority=args.kubelet_certificate_authority or args.client_ca_file or "",
                       kubelet_timeout=args.kubelet_timeout)
    options: dict[str, Any] = {
        "bind": args.bind,
        "workers": args.workers,
        "worker_class": "gthread",
        "threads": args.threads,
        "timeout": 120,
        "graceful_timeout": 3,  # open watches would otherwise hold a shutdown for their whole timeout
        "keepalive": 75,
        "limit_request_line": 8190,  # gunicorn's most: long label selectors are legitimate
        "accesslog": args.access_log,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "kubeclass-apiserver",
        # gunicorn's control socket is one path per user: several API servers would share it.
        "control_socket_disable": True,
    }
    if args.tls_cert_file:
        options.update(certfile=args.tls_cert_file, keyfile=args.tls_private_key_file,
                       ssl_context=_reused_ssl_context)
        if args.client_ca_file:
            options.update(ca_certs=args.client_ca_file, cert_reqs=ssl.CERT_OPTIONAL)
    server = APIServer(options, args.store, config)
    server.bootstrap()
    server.run()


if __name__ == "__main__":
    main()
