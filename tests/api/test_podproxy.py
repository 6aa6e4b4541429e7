"""pods/log, pods/exec and pods/attach, relayed to a node agent: errors, options, streaming.

The node agent here is a test double (:class:`FakeNodeAgent`): a small HTTPS server with
the endpoints of docs/workloads.md (canned logs, an exec that echoes over a WebSocket, a
summary), a certificate the cluster CA signed for its node, and client certificates
required, as the real agent will have. The metrics tests and the live kubectl tests
use it too.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import select
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import pytest
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping
from wsproto.utilities import generate_accept_token

import pki
from controlplane.api.app import create_app
from controlplane.api.auth import User
from controlplane.api.config import APIConfig
from tests.conftest import TOKEN, Api

NS = "/api/v1/namespaces/default"
STAMP = "2025-01-31T12:00:00.000000000Z"


# -- the node agent double -------------------------------------------------------------------


@dataclasses.dataclass
class CA:
    cert: bytes
    key: bytes
    path: str


def new_ca(directory: Path) -> CA:
    cert, key = pki.new_ca()
    path = directory / "ca.crt"
    path.write_bytes(cert)
    return CA(cert, key, str(path))


def kubelet_client_cert(ca: CA, directory: Path) -> tuple[str, str]:
    """What `kubeclass up` makes: pki/apiserver-kubelet-client.crt and .key."""
    cert, key = pki.new_cert(ca.cert, ca.key, "kube-apiserver-kubelet-client", client=True)
    (directory / "apiserver-kubelet-client.crt").write_bytes(cert)
    (directory / "apiserver-kubelet-client.key").write_bytes(key)
    return str(directory / "apiserver-kubelet-client.crt"), str(directory / "apiserver-kubelet-client.key")


class FakeNodeAgent:
    """The node agent's HTTPS endpoint for one node, with canned answers.

    ``logs[(ns, pod, container)]`` are the lines served; a follow request gets them, then
    waits for ``release`` and sends ``follow_lines`` (or notes in ``abandoned`` that the API
    server hung up first). ``waiting[(ns, pod, container)]`` is a
    reason the container has not started. ``usage[(ns, pod)] = (uid, {container: (nanocores,
    bytes)})`` feeds the summary. Exec runs ``echo ARGS``, ``cat`` (stdin back to stdout),
    ``bytes N`` (N bytes of output) and ``fail CODE``; attach behaves as ``cat``. Every request is recorded in ``requests``.
    """

    def __init__(self, ca: CA, node: str, directory: Path, *, host: str = "127.0.0.1",
                 cert_name: str | None = None) -> None:
        self.node = node
        self.host = host
        self.logs: dict[tuple[str, str, str], list[str]] = {}
        self.follow_lines: list[str] = []
        self.release = threading.Event()
        self.waiting: dict[tuple[str, str, str], str] = {}
        self.usage: dict[tuple[str, str], tuple[str, dict[str, tuple[int, int]]]] = {}
        self.node_usage = (250_000_000, 123456 * 1024)
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.abandoned: list[tuple[str, str, str]] = []  # follow streams the API server hung up on
        cert, key = pki.new_cert(ca.cert, ca.key, cert_name or f"system:node:{node}", ips=[host], server=True)
        (directory / f"{node}.crt").write_bytes(cert)
        (directory / f"{node}.key").write_bytes(key)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(directory / f"{node}.crt", directory / f"{node}.key")
        context.load_verify_locations(ca.path)
        context.verify_mode = ssl.CERT_REQUIRED  # as kubelet: only the API server may ask
        self.server = ThreadingHTTPServer((host, 0), _AgentHandler)
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True,
                                                 do_handshake_on_connect=False)
        self.server.agent = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self.server.serve_forever, name=f"agent-{node}", daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def summary(self) -> dict[str, Any]:
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

        def stats(cpu: int, memory: int) -> dict[str, Any]:
            return {"cpu": {"time": now, "usageNanoCores": cpu, "usageCoreNanoSeconds": cpu * 100},
                    "memory": {"time": now, "workingSetBytes": memory, "usageBytes": memory * 2}}

        pods = [{"podRef": {"namespace": ns, "name": name, "uid": uid},
                 "containers": [{"name": c, **stats(*u)} for c, u in containers.items()]}
                for (ns, name), (uid, containers) in self.usage.items()]
        return {"node": {"nodeName": self.node, **stats(*self.node_usage)}, "pods": pods}


def node_object(name: str, host: str, port: int, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}}}


def node_status(host: str, port: int) -> dict[str, Any]:
    """What an agent reports about its node: where it listens, what the node holds."""
    resources = {"cpu": "2", "memory": "4Gi", "pods": "110"}
    addresses = [{"type": "InternalIP", "address": host}, {"type": "Hostname", "address": host}]
    return {"status": {"addresses": addresses,
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
                       "capacity": resources, "allocatable": resources,
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                       "message": "the fake node agent is ready"}]}}


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _AgentHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        agent: FakeNodeAgent = self.server.agent  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        parts = url.path.strip("/").split("/")
        agent.requests.append((url.path, query))
        if parts == ["healthz"]:
            self._text(200, "ok")
        elif parts == ["stats", "summary"]:
            self._text(200, json.dumps(agent.summary()), "application/json")
        elif parts[0] == "containerLogs" and len(parts) == 4:
            self._logs(agent, (parts[1], parts[2], parts[3]), query)
        elif parts[0] in ("exec", "attach") and len(parts) == 4:
            self._stream(parts[0], (parts[1], parts[2], parts[3]), query)
        else:
            self._text(404, "404 page not found")

    def _text(self, code: int, text: str, content_type: str = "text/plain") -> None:
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _waiting(self, agent: FakeNodeAgent, key: tuple[str, str, str]) -> None:
        """kubelet's words for a container that has not started (it answers logs and exec alike)."""
        self._text(400, f'container "{key[2]}" in pod "{key[1]}" is waiting to start: {agent.waiting[key]}')

    def _logs(self, agent: FakeNodeAgent, key: tuple[str, str, str], query: dict[str, list[str]]) -> None:
        if key in agent.waiting:
            return self._waiting(agent, key)
        if key not in agent.logs:
            return self._text(404, f'container "{key[2]}" of pod "{key[1]}" is not on this node')
        lines = agent.logs[key]
        if "tailLines" in query:
            tail = int(query["tailLines"][0])
            lines = lines[-tail:] if tail else []
        stamp = query.get("timestamps") == ["true"]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        for line in lines:
            chunk(f"{STAMP} {line}\n".encode() if stamp else f"{line}\n".encode())
        if query.get("follow") == ["true"]:
            while not agent.release.wait(0.05):
                if select.select([self.connection], [], [], 0)[0]:  # it sends nothing more: it hung up
                    agent.abandoned.append(key)
                    return
            for line in agent.follow_lines:
                chunk(f"{line}\n".encode())
        chunk(b"")

    def _stream(self, what: str, key: tuple[str, str, str], query: dict[str, list[str]]) -> None:
        agent: FakeNodeAgent = self.server.agent  # type: ignore[attr-defined]
        if key in agent.waiting:
            return self._waiting(agent, key)
        offered = [p.strip() for p in self.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        protocol = next((p for p in ("v5.channel.k8s.io", "v4.channel.k8s.io") if p in offered), None)
        if self.headers.get("Upgrade", "").lower() != "websocket" or protocol is None:
            return self._text(400, "exec needs a WebSocket with v5.channel.k8s.io or v4.channel.k8s.io")
        accept = generate_accept_token(self.headers["Sec-WebSocket-Key"].encode()).decode()
        self.wfile.write(f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         f"Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: {protocol}\r\n\r\n".encode())
        self.close_connection = True
        try:
            self._run(_ExecSession(self.connection), query.get("command", []) if what == "exec" else ["cat"])
        except OSError:
            pass  # the API server hung up (kubectl killed): nothing left to tell

    def _run(self, session: _ExecSession, command: list[str]) -> None:
        if command[:1] == ["echo"]:
            session.send(1, (" ".join(command[1:]) + "\n").encode())
            session.finish(0)
        elif command[:1] == ["bytes"]:  # a large output, in many messages
            size = int(command[1])
            for start in range(0, size, 32 * 1024):
                session.send(1, b"x" * min(32 * 1024, size - start))
            session.finish(0)
        elif command[:1] == ["fail"]:
            session.send(2, b"failing on purpose\n")
            session.finish(int(command[1]))
        elif command[:1] == ["cat"]:
            for message in session.messages():
                if message[:1] == b"\x00":
                    session.send(1, message[1:])
                elif message[:2] == b"\xff\x00":  # v5: the client closed stdin
                    break
            session.finish(0)
        else:
            session.send(2, f"{command[0]}: command not found\n".encode())
            session.finish(127)


class _ExecSession:
    """The agent's end of the channel protocol, framed by wsproto."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.ws = Connection(ConnectionType.SERVER)

    def send(self, channel: int, data: bytes) -> None:
        self.sock.sendall(self.ws.send(BytesMessage(data=bytes([channel]) + data)))

    def messages(self) -> Iterator[bytes]:
        """Whole messages from the client, until it closes."""
        partial = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            self.ws.receive_data(data)
            for event in self.ws.events():
                if isinstance(event, BytesMessage):
                    partial += event.data
                    if event.message_finished:
                        yield partial
                        partial = b""
                elif isinstance(event, Ping):
                    self.sock.sendall(self.ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    if self.ws.state is ConnectionState.REMOTE_CLOSING:
                        self.sock.sendall(self.ws.send(event.response()))
                    return

    def finish(self, code: int) -> None:
        """The exit status on the error channel, as kubelet sends it, then a close."""
        status: dict[str, Any] = {"metadata": {}, "status": "Success"}
        if code:
            status = {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                      "message": f"command terminated with non-zero exit code: exit status {code}",
                      "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
        self.send(3, json.dumps(status).encode())
        self.sock.sendall(self.ws.send(CloseConnection(code=1000)))
        self.sock.settimeout(5)
        for _ in self.messages():  # until the client's close answers ours
            pass


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def ca(tmp_path) -> CA:
    return new_ca(tmp_path)


@pytest.fixture
def proxy_api(store, tmp_path, ca) -> Iterator[Api]:
    """The API server with its kubelet client certificate, as `kubeclass up` starts it."""
    cert, key = kubelet_client_cert(ca, tmp_path)
    config = APIConfig(tokens={TOKEN: User("admin", ("system:masters",))}, compaction_interval=3600,
                       kubelet_client_certificate=cert, kubelet_client_key=key,
                       kubelet_certificate_authority=ca.path, kubelet_timeout=2.0, metrics_timeout=1.0)
    app = create_app(config, store)
    yield Api(app)
    app.extensions["kubeclass"].close()


@pytest.fixture
def agent(ca, tmp_path) -> Iterator[FakeNodeAgent]:
    with FakeNodeAgent(ca, "node-a", tmp_path) as a:
        yield a


def register(api: Api, name: str, host: str, port: int, labels: dict[str, str] | None = None) -> None:
    assert api.post("/api/v1/nodes", node_object(name, host, port, labels)).status_code == 201
    assert api.patch(f"/api/v1/nodes/{name}/status", node_status(host, port)).status_code == 200


def run_pod(api: Api, name: str, node: str, containers: tuple[str, ...] = ("c",), ns: str = "default",
            labels: dict[str, str] | None = None, waiting: str = "") -> dict[str, Any]:
    """A pod on ``node`` whose containers run (or wait to start, for ``waiting`` reasons)."""
    spec = {"containers": [{"name": c, "image": "kubeclass/hello:1"} for c in containers]}
    if node:
        spec["nodeName"] = node
    body = {"metadata": {"name": name, "labels": labels or {}}, "spec": spec}
    r = api.post(f"/api/v1/namespaces/{ns}/pods", body)
    assert r.status_code == 201, r.json
    status = {"status": pod_status(containers, waiting)}
    return api.patch(f"/api/v1/namespaces/{ns}/pods/{name}/status", status).json


def pod_status(containers: tuple[str, ...], waiting: str = "") -> dict[str, Any]:
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {"startedAt": "2025-01-31T12:00:00Z"}}
    return {"phase": "Pending" if waiting else "Running", "containerStatuses": [
        {"name": c, "ready": not waiting, "restartCount": 0, "image": "kubeclass/hello:1", "imageID": "",
         "state": state} for c in containers]}


# -- logs ------------------------------------------------------------------------------------


def test_log_errors_before_the_request_reaches_an_agent(proxy_api):
    api = proxy_api
    run_pod(api, "unscheduled", node="")
    r = api.get(f"{NS}/pods/unscheduled/log")
    assert r.status_code == 400 and r.json["message"] == "pod unscheduled does not have a host assigned"
    run_pod(api, "two", node="node-a", containers=("a", "b"))
    r = api.get(f"{NS}/pods/two/log")
    assert r.status_code == 400
    assert r.json["message"] == "a container name must be specified for pod two, choose one of: [a b]"
    r = api.get(f"{NS}/pods/two/log?container=z")
    assert r.status_code == 400 and r.json["message"] == "container z is not valid for pod two"
    r = api.get(f"{NS}/pods/two/log?container=a")  # bound to a node nobody registered
    assert r.status_code == 400
    assert r.json["message"] == ('pod two is bound to node "node-a", but no node agent runs on node "node-a": '
                                 "there is no Node of that name")
    api.post("/api/v1/nodes", node_object("node-a", "", 0))  # registered, but no address yet
    r = api.get(f"{NS}/pods/two/log?container=a")
    assert (r.status_code, r.json["reason"]) == (503, "ServiceUnavailable")
    assert r.json["message"].startswith('no node agent runs on node "node-a" yet')


def test_an_agent_that_does_not_answer_is_named(proxy_api):
    port = closed_port()
    register(proxy_api, "node-a", "127.0.0.1", port)
    run_pod(proxy_api, "web", node="node-a")
    r = proxy_api.get(f"{NS}/pods/web/log")
    assert (r.status_code, r.json["reason"]) == (503, "ServiceUnavailable")
    assert r.json["message"] == (f'the node agent on node "node-a" did not answer '
                                 f"(https://127.0.0.1:{port}: connection refused)")


def test_log_is_relayed_with_its_options(proxy_api, agent):
    register(proxy_api, "node-a", agent.host, agent.port)
    run_pod(proxy_api, "web", node="node-a")
    agent.logs[("default", "web", "c")] = ["one", "two", "three"]
    r = proxy_api.get(f"{NS}/pods/web/log")
    assert r.status_code == 200 and r.text == "one\ntwo\nthree\n"
    assert r.headers["Content-Type"].startswith("text/plain")
    r = proxy_api.get(f"{NS}/pods/web/log?container=c&tailLines=2&timestamps=true&limitBytes=500&pretty=true")
    assert r.text == f"{STAMP} two\n{STAMP} three\n"
    path, query = agent.requests[-1]
    assert path == "/containerLogs/default/web/c"
    assert query == {"tailLines": ["2"], "timestamps": ["true"], "limitBytes": ["500"]}
    r = proxy_api.get(f"{NS}/pods/web/log?previous=true&sinceTime=2025-01-31T11:00:00Z")
    assert agent.requests[-1][1] == {"previous": ["true"], "sinceTime": ["2025-01-31T11:00:00Z"]}


def test_follow_streams_each_piece_as_it_arrives(proxy_api, agent):
    register(proxy_api, "node-a", agent.host, agent.port)
    run_pod(proxy_api, "web", node="node-a")
    agent.logs[("default", "web", "c")] = ["first"]
    agent.follow_lines = ["later", "last"]
    r = proxy_api.client.get(f"{NS}/pods/web/log?follow=true", headers={"Authorization": f"Bearer {TOKEN}"},
                             buffered=False)
    assert r.status_code == 200
    body = iter(r.response)
    assert next(body) == b"first\n"  # before the agent has sent the rest
    agent.release.set()
    assert b"".join(body) == b"later\nlast\n"
    r.close()


def test_the_agents_refusal_keeps_its_words(proxy_api, agent):
    register(proxy_api, "node-a", agent.host, agent.port)
    run_pod(proxy_api, "starting", node="node-a")
    agent.waiting[("default", "starting", "c")] = "ContainerCreating"
    r = proxy_api.get(f"{NS}/pods/starting/log")
    assert (r.status_code, r.json["reason"]) == (400, "BadRequest")
    assert r.json["message"] == 'container "c" in pod "starting" is waiting to start: ContainerCreating'


def test_an_agent_with_another_nodes_certificate_is_not_trusted(proxy_api, ca, tmp_path):
    with FakeNodeAgent(ca, "node-a", tmp_path, cert_name="system:node:node-b") as impostor:
        register(proxy_api, "node-a", impostor.host, impostor.port)
        run_pod(proxy_api, "web", node="node-a")
        impostor.logs[("default", "web", "c")] = ["secret"]
        r = proxy_api.get(f"{NS}/pods/web/log")
    assert r.status_code == 503
    assert 'it presented a certificate for "system:node:node-b", not for "system:node:node-a"' in r.json["message"]


def test_without_a_kubelet_client_certificate_the_server_says_so(api):
    api.post("/api/v1/nodes", node_object("node-a", "127.0.0.1", 1))
    api.patch("/api/v1/nodes/node-a/status", node_status("127.0.0.1", closed_port()))
    run_pod(api, "web", node="node-a")
    r = api.get(f"{NS}/pods/web/log")
    assert r.status_code == 500 and "--kubelet-client-certificate" in r.json["message"]


@pytest.mark.parametrize("query, message", [
    ("tailLines=-1", ('PodLogOptions "web" is invalid: tailLines: Invalid value: -1: '
                      "must be greater than or equal to 0")),
    ("limitBytes=0", 'PodLogOptions "web" is invalid: limitBytes: Invalid value: 0: must be greater than 0'),
    ("sinceSeconds=0", 'PodLogOptions "web" is invalid: sinceSeconds: Invalid value: 0: must be greater than 0'),
    ("sinceSeconds=5&sinceTime=2025-01-31T11:00:00Z",
     'PodLogOptions "web" is invalid: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified'),
])
def test_log_options_are_validated_as_upstream(proxy_api, query, message):
    run_pod(proxy_api, "web", node="node-a")
    r = proxy_api.get(f"{NS}/pods/web/log?{query}")
    assert (r.status_code, r.json["reason"], r.json["message"]) == (422, "Invalid", message)
    r = proxy_api.get(f"{NS}/pods/web/log?tailLines=x")
    assert r.status_code == 400 and "strconv.ParseInt" in r.json["message"]


# -- exec and attach -------------------------------------------------------------------------

WEBSOCKET = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
             "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "v5.channel.k8s.io"}
SPDY = {"Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": "v4.channel.k8s.io"}


def test_exec_checks_the_pod_first(proxy_api):
    api = proxy_api
    run_pod(api, "unscheduled", node="")
    for headers in (WEBSOCKET, SPDY):
        method = "GET" if headers is WEBSOCKET else "POST"
        r = api.call(method, f"{NS}/pods/unscheduled/exec?command=ls&stdout=true", headers=headers)
        assert r.status_code == 400 and r.json["message"] == "pod unscheduled does not have a host assigned"
    run_pod(api, "web", node="node-a")
    r = api.get(f"{NS}/pods/web/exec?stdout=true", headers=WEBSOCKET)
    assert r.status_code == 400 and r.json["message"] == "you must specify at least 1 command"
    r = api.get(f"{NS}/pods/web/exec?command=ls", headers=WEBSOCKET)
    assert r.status_code == 400 and r.json["message"] == "you must specify at least 1 of stdin, stdout, stderr"
    r = api.get(f"{NS}/pods/web/exec?command=ls&stdout=true&container=nope", headers=WEBSOCKET)
    assert r.status_code == 400 and r.json["message"] == "container nope is not valid for pod web"


def test_spdy_is_refused_only_after_the_real_problems(proxy_api, agent):
    port = closed_port()
    register(proxy_api, "node-down", "127.0.0.1", port)
    run_pod(proxy_api, "stranded", node="node-down")
    # kubectl falls back to SPDY after a failed WebSocket upgrade: the fallback must show why.
    r = proxy_api.post(f"{NS}/pods/stranded/exec?command=ls&stdout=true", headers=SPDY)
    assert r.status_code == 503
    assert r.json["message"].startswith('the node agent on node "node-down" did not answer')
    register(proxy_api, "node-a", agent.host, agent.port)
    run_pod(proxy_api, "web", node="node-a")
    r = proxy_api.post(f"{NS}/pods/web/exec?command=ls&stdout=true", headers=SPDY)
    assert (r.status_code, r.json["reason"]) == (400, "BadRequest")
    assert r.json["message"].startswith("kubeclass serves exec only over WebSocket (v5.channel.k8s.io")
    assert not [p for p, _ in agent.requests if p.startswith("/exec")]  # nothing was started
    run_pod(proxy_api, "starting", node="node-a", waiting="ContainerCreating")
    r = proxy_api.post(f"{NS}/pods/starting/exec?command=ls&stdout=true", headers=SPDY)
    assert r.status_code == 400
    assert r.json["message"] == 'container "c" in pod "starting" is waiting to start: ContainerCreating'
    r = proxy_api.get(f"{NS}/pods/web/attach?stdout=true")
    assert r.status_code == 400 and r.json["message"].startswith("Upgrade request required: attach is a WebSocket")


def test_exec_and_attach_are_published(proxy_api):
    v1 = proxy_api.get("/api/v1").json
    names = {r["name"]: r for r in v1["resources"]}
    assert names["pods/exec"]["kind"] == "PodExecOptions" and names["pods/exec"]["verbs"] == ["create", "get"]
    assert names["pods/attach"]["kind"] == "PodAttachOptions"
    assert names["pods/log"]["verbs"] == ["get"]
