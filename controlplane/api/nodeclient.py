"""How the API server reaches a node agent: HTTPS to ``<InternalIP>:<kubelet port>``.

Where it sits: ``pods/log``, ``pods/exec``, ``pods/attach`` (handlers/podproxy.py) and
``metrics.k8s.io`` (handlers/metrics.py) are answered by the node agent that runs the
pod; this module finds that agent from the Node object and talks to it. The agent's
side of the contract is in docs/workloads.md.

What it promises, as kube-apiserver does with kubelets:

* the address is the Node's ``status.addresses`` InternalIP and the port its
  ``status.daemonEndpoints.kubeletEndpoint.Port`` (10250 when the Node does not say);
* the API server presents its own client certificate (``--kubelet-client-certificate``),
  and trusts only an agent whose certificate the cluster CA signed for that very node
  (CN ``system:node:<name>``): another node's certificate is refused;
* an agent that cannot be reached, or cannot be trusted, is a ``503 ServiceUnavailable``
  Status naming the node; an error the agent answers (``container "c" in pod "p" is
  waiting to start: ContainerCreating``) is passed on with its code and its words.

HTTP/1.1 is spoken with h11 (wsproto's own HTTP layer) on a plain socket, because the
callers need the socket itself: a log stream watches the client's socket next to it,
and an exec session takes it over after the WebSocket upgrade.
"""

from __future__ import annotations

import dataclasses
import json
import select
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import h11
from wsproto.utilities import generate_accept_token, generate_nonce

from . import errors

DEFAULT_KUBELET_PORT = 10250
BUFFER = 64 * 1024
ERROR_BODY_LIMIT = 64 * 1024

_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
            409: "Conflict", 410: "Gone", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
            503: "ServiceUnavailable", 504: "Timeout"}


@dataclasses.dataclass(frozen=True)
class NodeEndpoint:
    """Where the node agent of one node listens."""

    node: str
    host: str
    port: int

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 address
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"https://{self.authority}"


def endpoint(node: dict[str, Any]) -> NodeEndpoint:
    """The node agent's address, from the Node object its agent registered."""
    name = node["metadata"]["name"]
    status = node.get("status") or {}
    host = next((a.get("address") for a in status.get("addresses") or []
                 if a.get("type") == "InternalIP" and a.get("address")), None)
    if not host:
        raise errors.APIError(503, "ServiceUnavailable",
                              f'no node agent runs on node "{name}" yet: the Node has no InternalIP address '
                              f"in its status.addresses")
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    return NodeEndpoint(name, host, int(port) if port else DEFAULT_KUBELET_PORT)


def unreachable(ep: NodeEndpoint, why: str) -> errors.APIError:
    return agent_unavailable(ep, "did not answer", why)


def agent_unavailable(ep: NodeEndpoint, what: str, why: str) -> errors.APIError:
    """503, naming the node: kubectl prints ``Error from server (ServiceUnavailable): ...``."""
    return errors.APIError(503, "ServiceUnavailable", f'the node agent on node "{ep.node}" {what} ({ep.url}: {why})')


class NodeClient:
    """Connections to node agents with the API server's kubelet client certificate."""

    def __init__(self, cert_file: str = "", key_file: str = "", ca_file: str = "", timeout: float = 5.0) -> None:
        self.timeout = timeout
        self._context: ssl.SSLContext | None = None
        if cert_file and ca_file:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
            # The agent's certificate names its node (CN system:node:<name>), which is
            # checked after the handshake; its IP addresses need not be in it.
            context.check_hostname = False
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_cert_chain(cert_file, key_file or None)
            self._context = context

    def connect(self, ep: NodeEndpoint, timeout: float | None = None) -> ssl.SSLSocket:
        """A TLS connection to the agent, its identity checked; blocking, with ``timeout``."""
        if self._context is None:
            raise errors.internal_error("the API server has no client certificate for node agents "
                                        "(start it with --kubelet-client-certificate, --kubelet-client-key "
                                        "and --kubelet-certificate-authority)")
        timeout = self.timeout if timeout is None else timeout
        try:
            raw = socket.create_connection((ep.host, ep.port), timeout=timeout)
        except OSError as e:
            raise unreachable(ep, _why(e)) from None
        try:
            sock = self._context.wrap_socket(raw)
        except ssl.SSLCertVerificationError as e:
            raw.close()
            raise agent_unavailable(ep, "is not trusted",
                                    f"its certificate is not signed by the cluster CA: {e.verify_message}") from None
        except OSError as e:
            raw.close()
            raise unreachable(ep, f"TLS handshake failed: {_why(e)}") from None
        subject = dict(pair for rdn in (sock.getpeercert() or {}).get("subject", ()) for pair in rdn)
        expected = f"system:node:{ep.node}"
        if subject.get("commonName") != expected:
            sock.close()
            raise agent_unavailable(ep, "is not trusted", f'it presented a certificate for '
                                    f'"{subject.get("commonName", "")}", not for "{expected}"')
        _keepalive(sock)
        return sock

    def get(self, ep: NodeEndpoint, target: str, timeout: float | None = None) -> AgentResponse:
        """Send ``GET target`` and read the answer's head; the body is read by the caller."""
        timeout = self.timeout if timeout is None else timeout
        response = self._send(ep, [("Host", ep.authority)], target, timeout)
        response.read_head(timeout)
        return response

    def upgrade(self, ep: NodeEndpoint, target: str, protocols: list[str]) -> Upgraded:
        """Open a WebSocket to the agent, offering the client's subprotocols.

        Raises the agent's refusal as an APIError, like any other answer that is not 101."""
        key = generate_nonce()
        headers = [("Host", ep.authority), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
                   ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]
        if protocols:
            headers.append(("Sec-WebSocket-Protocol", ", ".join(protocols)))
        response = self._send(ep, headers, target, self.timeout)
        head = response.read_head(self.timeout)
        if head.status_code != 101:
            raise response.error()
        answer = {k.decode().lower(): v.decode() for k, v in head.headers}
        problem = ""
        if answer.get("sec-websocket-accept") != generate_accept_token(key).decode():
            problem = "Sec-WebSocket-Accept does not match"
        elif protocols and answer.get("sec-websocket-protocol", "") not in protocols:
            problem = f'it chose subprotocol "{answer.get("sec-websocket-protocol", "")}", which was not offered'
        if problem:
            response.close()
            raise agent_unavailable(ep, "answered the WebSocket upgrade wrongly", problem)
        return Upgraded(response.sock, answer.get("sec-websocket-protocol", ""), response.conn.trailing_data[0])

    def _send(self, ep: NodeEndpoint, headers: list[tuple[str, Any]], target: str, timeout: float) -> AgentResponse:
        """Connect and send a bodiless GET; the socket is non-blocking from then on."""
        sock = self.connect(ep, timeout)
        conn = h11.Connection(h11.CLIENT)
        try:
            sock.sendall(conn.send(h11.Request(method="GET", target=target, headers=headers))
                         + conn.send(h11.EndOfMessage()))
        except OSError as e:
            sock.close()
            raise unreachable(ep, _why(e)) from None
        sock.setblocking(False)
        return AgentResponse(ep, sock, conn)


@dataclasses.dataclass
class Upgraded:
    """A WebSocket the agent accepted: the socket, the chosen subprotocol, and the bytes
    that arrived right behind the 101 (the first frames, already)."""

    sock: ssl.SSLSocket
    protocol: str
    pending: bytes


class AgentResponse:
    """One answer of a node agent, read from a non-blocking socket."""

    def __init__(self, ep: NodeEndpoint, sock: ssl.SSLSocket, conn: h11.Connection) -> None:
        self.ep = ep
        self.sock = sock
        self.conn = conn
        self.status = 0

    def read_head(self, timeout: float) -> h11.Response | h11.InformationalResponse:
        """The status line and headers; closes the connection if they do not come."""
        try:
            while True:
                event = self._next(timeout)
                if isinstance(event, h11.InformationalResponse) and event.status_code != 101:
                    continue  # 100 Continue and the like
                if isinstance(event, (h11.Response, h11.InformationalResponse)):
                    self.status = event.status_code
                    return event
                raise unreachable(self.ep, "the connection closed before an answer")
        except OSError as e:  # a timeout, a reset, or a TLS alert (the agent refused our certificate)
            self.close()
            raise unreachable(self.ep, _why(e)) from None
        except errors.APIError:
            self.close()
            raise

    def chunks(self, idle_timeout: float | None, watch: socket.socket | None = None) -> Iterator[bytes]:
        """The body as it arrives. Stops early, without an error, when ``watch`` (the
        client's socket) becomes readable: an HTTP/1.1 client sends nothing while it
        waits for a response, so that means it has gone (closed, or Ctrl-C)."""
        while True:
            event = self._next(idle_timeout, watch)
            if event is None:
                return
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                return

    def read_body(self, timeout: float, limit: int) -> bytes:
        """The whole body (at most ``limit`` bytes), each read waiting at most ``timeout``."""
        parts, size = [], 0
        for chunk in self.chunks(timeout):
            parts.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
        return b"".join(parts)[:limit]

    def error(self) -> errors.APIError:
        """The agent's refusal as the Status the client gets: its code and its words."""
        try:
            text = self.read_body(5.0, ERROR_BODY_LIMIT).decode("utf-8", "replace").strip()
        except (errors.APIError, OSError):
            text = ""
        finally:
            self.close()
        return agent_error(self.ep, self.status, text)

    def close(self) -> None:
        self.sock.close()

    def _next(self, timeout: float | None, watch: socket.socket | None = None) -> Any:
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as e:
                raise agent_unavailable(self.ep, "answered something that is not HTTP/1.1", str(e)) from None
            if event is not h11.NEED_DATA:
                return event
            data = recv(self.sock, timeout, watch)
            if data is None:
                return None  # the client left
            self.conn.receive_data(data)


def agent_error(ep: NodeEndpoint, status: int, text: str) -> errors.APIError:
    """An agent answers errors as plain text, as kubelet does, or as a Status."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("kind") == "Status":
        text = body.get("message") or text
    if status in (401, 403):
        # The agent refused *us*; a 401 passed on would tell the user to log in again.
        return errors.APIError(503, "ServiceUnavailable",
                               f'the node agent on node "{ep.node}" refused the API server\'s client '
                               f"certificate ({status}: {text})")
    if status >= 500:
        return errors.internal_error(f'the node agent on node "{ep.node}" failed: {text or status}')
    return errors.APIError(status, _REASONS.get(status, "BadRequest"),
                           text or f'the node agent on node "{ep.node}" answered {status}')


# -- sockets -----------------------------------------------------------------------------


def recv(sock: socket.socket, timeout: float | None, watch: socket.socket | None = None) -> bytes | None:
    """Bytes from a non-blocking (TLS) socket: b"" at its end, None if ``watch`` became
    readable first; TimeoutError after ``timeout`` seconds of silence (None: wait forever)."""
    while True:
        if not pending(sock):
            readable = wait_readable([sock] + ([watch] if watch is not None else []), timeout)
            if not readable:
                raise TimeoutError(f"nothing received for {timeout:g}s")
            if watch is not None and watch in readable:
                return None
        try:
            return sock.recv(BUFFER)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            continue  # a TLS record not complete yet, or one that carried no data (a session ticket)
        except (ConnectionError, ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return b""


def send_all(sock: socket.socket, data: bytes, timeout: float) -> None:
    """Write everything to a non-blocking socket, waiting at most ``timeout`` for room."""
    view = memoryview(data)
    while view:
        try:
            view = view[sock.send(view):]
        except (ssl.SSLWantWriteError, BlockingIOError):
            if not _poll([sock], select.POLLOUT, timeout):
                raise TimeoutError(f"could not write for {timeout:g}s") from None
        except ssl.SSLWantReadError:
            wait_readable([sock], timeout)


def wait_readable(socks: list[socket.socket], timeout: float | None) -> list[socket.socket]:
    """The sockets that can be read (or have closed), waiting at most ``timeout`` (None: forever)."""
    return _poll(socks, select.POLLIN, timeout)


def _poll(socks: list[socket.socket], events: int, timeout: float | None) -> list[socket.socket]:
    # poll(), not select(): a busy API server holds more than select()'s 1024 descriptors.
    poller = select.poll()
    by_fd = {}
    for sock in socks:
        poller.register(sock, events)
        by_fd[sock.fileno()] = sock
    return [by_fd[fd] for fd, _ in poller.poll(None if timeout is None else timeout * 1000)]


def pending(sock: socket.socket) -> int:
    """Decrypted bytes a TLS socket holds already, which select() cannot see."""
    buffered = getattr(sock, "pending", None)
    return buffered() if buffered else 0


def _keepalive(sock: socket.socket) -> None:
    """Notice a peer that vanished without closing (a laptop lid shut mid-exec) within minutes."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 15), ("TCP_KEEPCNT", 4)):
        if hasattr(socket, option):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


def _why(e: OSError) -> str:
    if isinstance(e, TimeoutError):
        return "i/o timeout"
    if isinstance(e, ssl.SSLError):
        return e.reason or str(e)
    return (e.strerror or str(e)).lower()
