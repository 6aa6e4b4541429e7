"""The node agent's HTTPS endpoint on ``<node address>:10250``: what the API server calls.

Where it sits: the API server relays ``kubectl logs`` (``pods/log``), ``kubectl exec``
(``pods/exec``) and ``kubectl top`` (``metrics.k8s.io``, from ``/stats/summary``) to the
node that runs the pod, as kube-apiserver does with kubelet. Serving is stdlib
``http.server`` with a thread per connection, wrapped in TLS:

* the server certificate is ``--tls-cert-file`` (signed by the cluster CA, CN
  ``system:node:<name>``); without it the agent makes a self-signed one, as kubelet does;
* every request needs a client certificate signed by ``--client-ca-file`` (default: the
  CA of the agent's kubeconfig); without one the answer is ``401 Unauthorized``;
* errors are plain text with upstream's wording, as kubelet's endpoints answer.

==========================================================  ===========================================
``GET /healthz``                                            ``ok``
``GET /containerLogs/{ns}/{pod}/{container}``               the log; query ``follow``, ``tailLines``,
                                                            ``timestamps``, ``previous``,
                                                            ``sinceSeconds``, ``sinceTime``, ``limitBytes``
``GET|POST /exec/{ns}/{pod}[/{uid}]/{container}``           WebSocket, see :mod:`nodeagent.execws`
``GET /stats/summary``                                      see :mod:`nodeagent.stats`
``GET /pods``                                               the PodList this node runs
==========================================================  ===========================================
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import logging
import os
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, Protocol

from . import logs
from .execws import ExecSession, accept_key, choose_protocol
from .runtime import ProcessRuntime
from .sync import PodSync

log = logging.getLogger(__name__)


class Host(Protocol):
    """What the endpoint needs from the agent."""

    runtime: ProcessRuntime

    def find_pod(self, namespace: str, name: str) -> PodSync | None: ...
    def summary(self) -> dict[str, Any]: ...
    def pods(self) -> list[dict[str, Any]]: ...


class LogError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


def log_options(query: dict[str, list[str]]) -> logs.LogOptions:
    def one(name: str) -> str | None:
        return query.get(name, [None])[-1]

    def integer(name: str) -> int | None:
        value = one(name)
        if value in (None, ""):
            return None
        try:
            return int(value)
        except ValueError:
            raise LogError(400, f"{name}: invalid value {value!r}: must be an integer") from None

    since_ns = None
    if (seconds := integer("sinceSeconds")) is not None:
        if seconds < 1:
            raise LogError(400, "sinceSeconds: Invalid value: must be greater than 0")
        since_ns = time.time_ns() - seconds * 1_000_000_000
    elif one("sinceTime"):
        try:
            since_ns = logs.parse_timestamp(one("sinceTime") or "")
        except ValueError:
            raise LogError(400, f"sinceTime: invalid value {one('sinceTime')!r}") from None
    tail, limit = integer("tailLines"), integer("limitBytes")
    if tail is not None and tail < 0:
        raise LogError(400, "tailLines: Invalid value: must be greater than or equal to 0")
    if limit is not None and limit < 1:
        raise LogError(400, "limitBytes: Invalid value: must be greater than 0")
    return logs.LogOptions(follow=_truthy(one("follow")), tail_lines=tail, timestamps=_truthy(one("timestamps")),
                           since_ns=since_ns, limit_bytes=limit)


def log_target(sync: PodSync, container: str, previous: bool) -> tuple[str, Callable[[], bool]]:
    """The log file to read and "is its container still running?", after kubelet's
    ``validateContainerLogStatus``; raises LogError with upstream's messages."""
    spec = sync.spec
    names = [c["name"] for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])]
    if container not in names:
        raise LogError(404, f'container "{container}" not found in pod "{sync.name}"')
    status = sync.status or {}
    statuses = (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or [])
    cs = next((s for s in statuses if s.get("name") == container), None)
    if cs is None:
        raise LogError(400, f'container "{container}" in pod "{sync.name}" is not available')
    state, last = cs.get("state") or {}, (cs.get("lastState") or {}).get("terminated")
    restarts = int(cs.get("restartCount") or 0)
    if previous:
        if not last or not last.get("containerID"):
            raise LogError(400, f'previous terminated container "{container}" in pod "{sync.name}" not found')
        cid, attempt = last["containerID"], restarts - 1 if state.get("running") or state.get("terminated") else restarts
    elif state.get("running"):
        cid, attempt = cs.get("containerID", ""), restarts
    elif state.get("terminated"):
        cid, attempt = state["terminated"].get("containerID") or cs.get("containerID", ""), restarts
    elif last and last.get("containerID"):
        cid, attempt = last["containerID"], restarts
    elif state.get("waiting"):
        raise LogError(400, f'container "{container}" in pod "{sync.name}" is waiting to start: '
                            f'{state["waiting"].get("reason", "")}')
    else:
        raise LogError(400, f'container "{container}" in pod "{sync.name}" is waiting to start - no logs yet')
    rec = sync.records.get(container)
    for cp in (rec.current, rec.previous) if rec else ():
        if cp is not None and cid.endswith(cp.id):
            return cp.config.log_path, lambda cp=cp: cp.running
    path = logs.attempt_path(sync.ctx.runtime.logs_dir, sync.namespace, sync.name, sync.uid, container, max(0, attempt))
    return path, lambda: False


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kubeclass-nodeagent"
    server: KubeletHTTPServer

    def setup(self) -> None:
        self.request.settimeout(10)
        self.request.do_handshake()  # here, not in the accepting thread: a slow client blocks only itself
        self.request.settimeout(None)
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # http.server's signature
        log.debug("%s - %s", self.client_address[0], format % args)

    def reply(self, code: int, body: str | bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # http.server names it so
        url = urllib.parse.urlsplit(self.path)
        if not self.request.getpeercert():
            return self.reply(401, "Unauthorized")
        parts = [urllib.parse.unquote(p) for p in url.path.strip("/").split("/")]
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        host = self.server.host
        try:
            if parts == ["healthz"]:
                return self.reply(200, "ok")
            if parts == ["stats", "summary"]:
                return self.reply(200, json.dumps(host.summary()), "application/json")
            if parts == ["pods"]:
                return self.reply(200, json.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": {},
                                                   "items": host.pods()}), "application/json")
            if parts[0] == "containerLogs" and len(parts) == 4:
                return self.container_logs(parts[1], parts[2], parts[3], query)
            if parts[0] == "exec" and len(parts) in (4, 5):
                return self.exec(parts[1], parts[2], parts[-1], query)
        except LogError as e:
            return self.reply(e.code, str(e))
        return self.reply(404, "404 page not found")

    do_POST = do_GET  # exec may come as POST

    # -- logs ----------------------------------------------------------------------

    def container_logs(self, namespace: str, pod: str, container: str, query: dict[str, list[str]]) -> None:
        if not container:
            raise LogError(400, '{"message": "Missing container name."}')
        sync = self.server.host.find_pod(namespace, pod)
        if sync is None:
            raise LogError(404, f'pod "{pod}" does not exist')
        opts = log_options(query)
        path, running = log_target(sync, container, _truthy(query.get("previous", [""])[-1]))
        if not opts.follow:
            chunks: list[bytes] = []
            logs.read_logs(path, opts, chunks.append)
            return self.reply(200, b"".join(chunks))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        stop = threading.Event()

        def write(data: bytes) -> None:
            try:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            except OSError:
                stop.set()  # the client hung up: stop following

        logs.read_logs(path, opts, write, running=lambda: running() and not self.server.stopping.is_set(),
                       stop=stop)
        if not stop.is_set():
            try:
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass
        self.close_connection = True

    # -- exec ----------------------------------------------------------------------

    def exec(self, namespace: str, pod: str, container: str, query: dict[str, list[str]]) -> None:
        if "websocket" not in (self.headers.get("Upgrade") or "").lower():
            raise LogError(400, "Upgrade request required: this node agent speaks WebSocket "
                                "(v5.channel.k8s.io, v4.channel.k8s.io), not SPDY")
        command = query.get("command") or []
        if not command:
            raise LogError(400, "you must specify at least 1 command")
        sync = self.server.host.find_pod(namespace, pod)
        if sync is None:
            raise LogError(404, f'pod "{pod}" does not exist')
        rec = sync.records.get(container)
        names = [c["name"] for c in (sync.spec.get("containers") or []) + (sync.spec.get("initContainers") or [])]
        if container not in names:
            raise LogError(404, f'container "{container}" not found in pod "{pod}"')
        if rec is None or rec.current is None or not rec.current.running:
            raise LogError(400, f'container "{container}" in pod "{pod}" is not running')
        protocol = choose_protocol(self.headers.get("Sec-WebSocket-Protocol") or "")
        key = self.headers.get("Sec-WebSocket-Key")
        if protocol is None or not key:
            raise LogError(400, "unable to upgrade: none of the offered protocols is supported; "
                                "use v5.channel.k8s.io or v4.channel.k8s.io")
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept_key(key))
        self.send_header("Sec-WebSocket-Protocol", protocol)
        self.end_headers()
        self.wfile.flush()
        session = ExecSession(self.request, protocol, stdin=_truthy(query.get("stdin", [""])[-1]),
                              stdout=_truthy(query.get("stdout", ["true"])[-1]),
                              stderr=_truthy(query.get("stderr", ["true"])[-1]), tty=_truthy(query.get("tty", [""])[-1]))
        session.run(self.server.host.runtime, rec.current, command)
        if session.keep_open:
            self.server.held.add(self.request)
        self.close_connection = True


class KubeletHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], host: Host, context: ssl.SSLContext) -> None:
        self.host = host
        self.context = context
        self.stopping = threading.Event()
        self.held: set[Any] = set()  # sockets a stray thread may still read: never closed (see execws)
        super().__init__(address, Handler)

    def shutdown_request(self, request: Any) -> None:
        if request not in self.held:
            super().shutdown_request(request)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("request from %s failed", client_address, exc_info=True)  # noqa: LOG014 - called from an except


def tls_context(cert: str, key: str, client_ca: str | None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if client_ca:
        ctx.load_verify_locations(client_ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL  # so a request without one gets a 401, not a TLS alert
    return ctx


def self_signed(directory: str, node_name: str, address: str) -> tuple[str, str]:
    """A serving certificate for when none was given (kubelet does the same)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_path, key_path = os.path.join(directory, "kubelet.crt"), os.path.join(directory, "kubelet.key")
    if os.path.exists(cert_path) and os.path.exists(key_path):
        return cert_path, key_path
    os.makedirs(directory, mode=0o700, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{address}@{int(time.time())}")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(node_name),
                                                        x509.IPAddress(ipaddress.ip_address(address))]), False)
            .sign(key, hashes.SHA256()))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


class KubeletServer:
    def __init__(self, address: str, port: int, host: Host, context: ssl.SSLContext) -> None:
        self.httpd = KubeletHTTPServer((address, port), host, context)
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="kubelet-server", daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.stopping.set()  # ends follow streams
        self.httpd.shutdown()
        self.httpd.server_close()
