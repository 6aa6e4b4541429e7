"""``pods/log``, ``pods/exec`` and ``pods/attach``: relayed to the node agent that runs the pod.

Where it sits: the resource dispatcher (handlers/resources.py) hands these subresources
here. The API server holds no logs and runs no processes; like kube-apiserver it finds
the pod's node (``spec.nodeName`` -> Node -> InternalIP and kubelet port, see
``nodeclient.py``) and relays the request to that node's agent:

    kubectl logs -f web     GET .../pods/web/log?follow=true     -> GET  /containerLogs/<ns>/web/<c>?follow=true
    kubectl exec web -- ls  GET .../pods/web/exec?command=ls     -> GET  /exec/<ns>/web/<c>?command=ls  (WebSocket)

**Logs** are streamed through as they arrive, each piece flushed at once (chunked), so
``kubectl logs -f`` shows a line as soon as the container writes it. The stream ends
when the agent ends it, or when the client goes away (its socket becomes readable:
an HTTP/1.1 client sends nothing while it waits for a response).

**Exec and attach** are WebSockets (``v5.channel.k8s.io``: the first byte of every
frame names the stream, stdin, stdout, stderr, error or resize). The API server opens
a WebSocket to the agent first, offering the subprotocols kubectl offered; only when
the agent accepts does it answer kubectl ``101 Switching Protocols`` with the same
subprotocol. From then on both connections carry the same frames in the same roles
(kubectl -> API server -> agent is client -> server twice: masked frames go one way,
unmasked the other), so the relay copies bytes, as an HTTP proxy does after an upgrade.

Under gunicorn a WSGI application cannot answer 101 the normal way: gunicorn would
frame the body and keep the connection for the next request. So the 101 is written
straight to the client's socket (``environ["gunicorn.socket"]``) and, when the session
is over, the response raises ``StopIteration``, which gunicorn's worker takes to mean
"close this connection, write nothing" (flask-sock/simple-websocket do the same).

kubectl 1.31+ tries WebSocket first and falls back to SPDY (a POST with
``Upgrade: SPDY/3.1``) after *any* failed upgrade, and prints only the fallback's answer.
That request is therefore checked like the first one, so that kubectl prints the real
problem (no node, the agent down, the container still waiting to start); only when
none is found is it told that kubeclass does not speak SPDY.
"""

from __future__ import annotations

import datetime
import logging
import socket
import ssl
import time
from typing import Any
from urllib.parse import quote, urlencode

from flask import Response, current_app, request
from wsproto.utilities import generate_accept_token

from .. import errors, nodeclient
from ..fielderrors import forbidden, invalid
from ..registry import RESTStore
from ..registry import subresources as sub
from ..registry.options import parse_bool, parse_int

log = logging.getLogger(__name__)

LOG_PARAMS = ("follow", "tailLines", "timestamps", "previous", "sinceSeconds", "sinceTime", "limitBytes")
LOG_IDLE_TIMEOUT = 60.0  # a log without follow arrives in one go; silence this long means a stuck agent
WRITE_TIMEOUT = 60.0  # a peer that takes nothing for this long is gone
SUBPROTOCOLS = "v5.channel.k8s.io, v4.channel.k8s.io"


def _node_client() -> nodeclient.NodeClient:
    return current_app.extensions["kubeclass"].nodes


def _endpoint(nodes: RESTStore, pod: str, node: str) -> nodeclient.NodeEndpoint:
    try:
        obj = nodes.get("", node)
    except errors.APIError as e:
        if e.code != 404:
            raise
        raise errors.bad_request(f'pod {pod} is bound to node "{node}", but no node agent runs on node "{node}": '
                                 f"there is no Node of that name") from None
    return nodeclient.endpoint(obj)


# -- logs ----------------------------------------------------------------------------------


def log_response(pods: RESTStore, nodes: RESTStore, namespace: str, name: str) -> Response:
    args = request.args
    container, node = sub.pod_log(pods, namespace, name, args.get("container", ""))
    _check_log_options(name)
    ep = _endpoint(nodes, name, node)
    query = urlencode([(k, args[k]) for k in LOG_PARAMS if args.get(k)])
    target = f"/containerLogs/{_path(namespace, name, container)}" + (f"?{query}" if query else "")
    upstream = _node_client().get(ep, target)
    if upstream.status != 200:
        raise upstream.error()
    follow = parse_bool("follow", args.get("follow"))
    client = request.environ.get("gunicorn.socket")

    def body():
        try:
            yield from upstream.chunks(None if follow else LOG_IDLE_TIMEOUT, watch=client)
        except (OSError, errors.APIError) as e:
            # The status line is long gone: all we can do is end the stream.
            log.warning("log of %s/%s/%s from node %s ended early: %s", namespace, name, container, node, e)
        finally:
            upstream.close()

    return Response(body(), mimetype="text/plain", direct_passthrough=True)


def _check_log_options(name: str) -> None:
    """PodLogOptions, checked as upstream's ValidatePodLogOptions does (422 Invalid)."""
    args = request.args
    for flag in ("follow", "timestamps", "previous"):
        parse_bool(flag, args.get(flag))
    tail, limit, since = (parse_int(k, args.get(k)) for k in ("tailLines", "limitBytes", "sinceSeconds"))
    problems = []
    if tail is not None and tail < 0:
        problems.append(invalid("tailLines", tail, "must be greater than or equal to 0"))
    if limit is not None and limit < 1:
        problems.append(invalid("limitBytes", limit, "must be greater than 0"))
    if since is not None and args.get("sinceTime"):
        problems.append(forbidden("", "at most one of `sinceTime` or `sinceSeconds` may be specified"))
    elif since is not None and since < 1:
        problems.append(invalid("sinceSeconds", since, "must be greater than 0"))
    if problems:
        raise errors.invalid("PodLogOptions", "", name, problems)
    if args.get("sinceTime"):
        try:
            datetime.datetime.fromisoformat(args["sinceTime"])
        except ValueError:
            raise errors.bad_request(f'invalid value for sinceTime: "{args["sinceTime"]}" is not an RFC 3339 '
                                     f"time (like 2025-01-31T12:00:00Z)") from None


# -- exec and attach -----------------------------------------------------------------------


def stream_response(pods: RESTStore, nodes: RESTStore, namespace: str, name: str, what: str) -> Response:
    """``what`` is "exec" or "attach": both are the same relay to a different agent path."""
    args = request.args
    container, node = sub.pod_log(pods, namespace, name, args.get("container", ""))
    streams = [parse_bool(k, args.get(k)) for k in ("stdin", "stdout", "stderr")]
    parse_bool("tty", args.get("tty"))
    if what == "exec" and not args.getlist("command"):
        raise errors.bad_request("you must specify at least 1 command")
    if not any(streams):
        raise errors.bad_request("you must specify at least 1 of stdin, stdout, stderr")
    ep = _endpoint(nodes, name, node)
    key, protocols = _websocket_request()
    if key is None:
        if "spdy" in request.headers.get("Upgrade", "").lower():
            _check_agent_answers(ep)
            _check_started(pods.get(namespace, name), container)
            raise errors.bad_request(
                f"kubeclass serves {what} only over WebSocket ({SUBPROTOCOLS}), not SPDY/3.1. "
                f"kubectl 1.31 and newer use WebSocket first (unless KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false) "
                f"and try SPDY only when that fails: run kubectl with -v=4 to see why "
                f"(\"RemoteCommand fallback\")")
        raise errors.bad_request(f"Upgrade request required: {what} is a WebSocket ({SUBPROTOCOLS})")
    if "gunicorn.socket" not in request.environ:
        raise errors.internal_error(f"{what} needs the API server to run under gunicorn, which lets it take "
                                    f"over the connection")
    target = f"/{what}/{_path(namespace, name, container)}?{request.query_string.decode('latin-1')}"
    upgraded = _node_client().upgrade(ep, target, protocols)
    return SwitchingProtocols(upgraded, key, f"{what} {namespace}/{name}/{container} on node {node}")


def _websocket_request() -> tuple[str | None, list[str]]:
    """(Sec-WebSocket-Key, offered subprotocols) of a WebSocket upgrade; (None, []) otherwise."""
    headers = request.headers
    if request.method != "GET" or headers.get("Upgrade", "").lower() != "websocket":
        return None, []
    if "upgrade" not in (t.strip().lower() for t in headers.get("Connection", "").split(",")):
        raise errors.bad_request('a WebSocket upgrade needs "Connection: Upgrade"')
    if headers.get("Sec-WebSocket-Version") != "13" or not headers.get("Sec-WebSocket-Key"):
        raise errors.bad_request("a WebSocket upgrade needs Sec-WebSocket-Key and Sec-WebSocket-Version: 13")
    protocols = [p.strip() for p in headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    return headers["Sec-WebSocket-Key"], protocols


def _check_agent_answers(ep: nodeclient.NodeEndpoint) -> None:
    """Raise the 503 an exec would have met if the agent is down (it is, usually, when
    kubectl falls back to SPDY); answering anything at all counts as up."""
    _node_client().get(ep, "/healthz").close()


def _check_started(pod: dict[str, Any], container: str) -> None:
    """The usual reason an agent refuses an exec, as its node agent last reported it."""
    status = pod.get("status") or {}
    for reported in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
        waiting = (reported.get("state") or {}).get("waiting")
        if reported.get("name") == container and waiting is not None:
            raise errors.bad_request(f'container "{container}" in pod "{pod["metadata"]["name"]}" is waiting to '
                                     f'start: {waiting.get("reason") or "ContainerCreating"}')


class SwitchingProtocols(Response):
    """The 101 and the session behind it, written on the client's socket by us, not by gunicorn."""

    def __init__(self, upgraded: nodeclient.Upgraded, key: str, session: str) -> None:
        super().__init__()
        self.upgraded = upgraded
        self.key = key
        self.session = session

    def __call__(self, environ, start_response):  # type: ignore[override]
        client = environ["gunicorn.socket"]
        head = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {generate_accept_token(self.key.encode()).decode()}\r\n")
        if self.upgraded.protocol:
            head += f"Sec-WebSocket-Protocol: {self.upgraded.protocol}\r\n"
        started = time.monotonic()
        try:
            client.sendall(head.encode("latin-1") + b"\r\n" + self.upgraded.pending)
            relay(client, self.upgraded.sock)
        except OSError as e:
            log.info("%s: connection lost: %s", self.session, e)
        finally:
            self.upgraded.sock.close()
        log.info("%s: session ended after %.1fs", self.session, time.monotonic() - started)
        # gunicorn's worker reads StopIteration from the application as "close this
        # connection": it neither writes a response of its own nor waits for another request.
        raise StopIteration


def relay(client: socket.socket, agent: socket.socket) -> None:
    """Copy bytes both ways until either side closes (its close frame has passed by then)."""
    peers = {client: agent, agent: client}
    for sock in peers:
        sock.setblocking(False)
    while True:
        ready = [s for s in peers if nodeclient.pending(s)] or nodeclient.wait_readable(list(peers), None)
        for src in ready:
            try:
                data = src.recv(nodeclient.BUFFER)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                continue  # only part of a TLS record so far
            except OSError:
                return
            if not data:
                return
            nodeclient.send_all(peers[src], data, WRITE_TIMEOUT)


def _path(namespace: str, name: str, container: str) -> str:
    return "/".join(quote(part, safe="") for part in (namespace, name, container))
