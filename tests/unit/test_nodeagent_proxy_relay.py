"""The service proxy on real local sockets: the byte relay, and a sync converging listeners.

No root needed: "ClusterIPs" here are loopback addresses (all of 127/8 is local on
Linux), backends are little servers on 127.0.0.1, and the services interface is a fake
that records what it was asked to do.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from nodeagent.proxy_relay import Listener, Relays
from nodeagent.proxy_rules import Backend, Route
from nodeagent.proxy_userspace import UserspaceProxy


class Server:
    """A backend: runs ``handle(conn)`` for every connection, on a thread each."""

    def __init__(self, handle: Callable[[socket.socket], None]) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.handle = handle
        self.accepted = 0
        threading.Thread(target=self._loop, daemon=True).start()

    @property
    def backend(self) -> Backend:
        return Backend("127.0.0.1", self.port)

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        with conn:
            try:
                self.handle(conn)
            except OSError:
                pass

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def upper_echo(conn: socket.socket) -> None:
    """Reads until the client half-closes, then answers everything in capitals and closes."""
    conn.sendall(read_all(conn).upper())


def namer(name: bytes) -> Callable[[socket.socket], None]:
    return lambda conn: conn.sendall(name)


def free_port(ip: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def loopback_ip() -> str:
    """A loopback address of our own, so concurrent tests never share listeners."""
    return f"127.{random.randint(60, 90)}.{random.randint(0, 255)}.{random.randint(2, 254)}"


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    made: list[Server] = []
    yield made
    for s in made:
        s.close()


@pytest.fixture
def relays() -> Iterator[Relays]:
    r = Relays(dial_timeouts=(0.25, 0.25))
    yield r
    r.close_all()


def listen(route: Route, relays: Relays, listeners: list[Listener]) -> tuple[str, int]:
    ip = loopback_ip()
    listener = Listener(ip, 0, route, relays, reuse_port=True)
    listeners.append(listener)
    return ip, listener.sock.getsockname()[1]


@pytest.fixture
def listeners() -> Iterator[list[Listener]]:
    made: list[Listener] = []
    yield made
    for listener in made:
        listener.close()


def expect_reset(addr: tuple[str, int]) -> None:
    """The proxy accepts, then resets: on loopback the reset may already be there when connect() returns."""
    with pytest.raises(ConnectionResetError), socket.create_connection(addr, timeout=5) as c:
        c.recv(10)


def wait_for(what: str, cond: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


# -- the relay ---------------------------------------------------------------------------------


def test_bytes_go_through_and_a_half_close_passes_on(servers, relays, listeners):
    servers.append(Server(upper_echo))
    addr = listen(Route("shop/web", (servers[0].backend,)), relays, listeners)
    with socket.create_connection(addr, timeout=5) as c:
        c.sendall(b"hello through the proxy")
        c.shutdown(socket.SHUT_WR)  # the backend answers only after this EOF reaches it
        assert read_all(c) == b"HELLO THROUGH THE PROXY"
    wait_for("the relay to finish", lambda: relays.count() == 0)


def test_megabytes_both_ways_at_once_do_not_stall(servers, relays, listeners):
    def echo_as_it_comes(conn: socket.socket) -> None:  # writes while the client still writes
        while data := conn.recv(65536):
            conn.sendall(data)

    servers.append(Server(echo_as_it_comes))
    addr = listen(Route("shop/web", (servers[0].backend,)), relays, listeners)
    payload = random.randbytes(8 * 1024 * 1024)
    with socket.create_connection(addr, timeout=10) as c:
        sender = threading.Thread(target=lambda: (c.sendall(payload), c.shutdown(socket.SHUT_WR)))
        sender.start()
        received = read_all(c)
        sender.join()
    assert received == payload


def test_connections_take_the_backends_in_turn(servers, relays, listeners):
    servers.extend([Server(namer(b"a")), Server(namer(b"b"))])
    addr = listen(Route("shop/web", tuple(sorted(s.backend for s in servers))), relays, listeners)
    answers = []
    for _ in range(4):
        with socket.create_connection(addr, timeout=5) as c:
            answers.append(read_all(c))
    assert sorted(answers) == [b"a", b"a", b"b", b"b"] and answers[0] != answers[1]


def test_a_dead_backend_is_skipped_for_the_next_one(servers, relays, listeners):
    servers.append(Server(namer(b"alive")))
    dead = Backend("127.0.0.1", free_port())
    addr = listen(Route("shop/web", tuple(sorted([dead, servers[0].backend]))), relays, listeners)
    for _ in range(3):
        with socket.create_connection(addr, timeout=5) as c:
            assert read_all(c) == b"alive"


def test_no_backend_to_reach_resets_the_client_at_once(relays, listeners):
    addr = listen(Route("shop/web", (Backend("127.0.0.1", free_port()),)), relays, listeners)
    started = time.monotonic()
    expect_reset(addr)
    assert time.monotonic() - started < 2


def test_a_backend_reset_ends_the_clients_connection(servers, relays, listeners):
    def rude(conn: socket.socket) -> None:
        conn.recv(10)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = reset

    servers.append(Server(rude))
    addr = listen(Route("shop/web", (servers[0].backend,)), relays, listeners)
    with socket.create_connection(addr, timeout=5) as c:
        c.sendall(b"x")
        try:
            assert read_all(c) == b""  # ended (not hanging until the timeout) ...
        except ConnectionResetError:
            pass  # ... or reset
    wait_for("the relay to finish", lambda: relays.count() == 0)


def test_over_the_limit_new_connections_are_reset(servers, listeners):
    relays = Relays(limit=1)
    servers.append(Server(upper_echo))
    addr = listen(Route("shop/web", (servers[0].backend,)), relays, listeners)
    try:
        first = socket.create_connection(addr, timeout=5)
        wait_for("the first relay", lambda: relays.count() == 1)
        expect_reset(addr)
        first.sendall(b"still fine")
        first.shutdown(socket.SHUT_WR)
        assert read_all(first) == b"STILL FINE"
        first.close()
    finally:
        relays.close_all()


def test_close_all_breaks_open_connections(servers, relays, listeners):
    servers.append(Server(upper_echo))  # never answers: waits for an EOF that does not come
    addr = listen(Route("shop/web", (servers[0].backend,)), relays, listeners)
    with socket.create_connection(addr, timeout=5) as c:
        wait_for("the relay", lambda: relays.count() == 1)
        relays.close_all()
        assert c.recv(10) == b""  # ended, not hanging
    wait_for("the relay threads to finish", lambda: relays.count() == 0)


def test_a_closed_listener_refuses_connections(relays):
    ip = loopback_ip()
    listener = Listener(ip, 0, Route("shop/web", ()), relays, reuse_port=True)
    port = listener.sock.getsockname()[1]
    listener.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((ip, port), timeout=2)


def test_balancer_affinity_holds_through_the_listener(servers, relays, listeners):
    servers.extend([Server(namer(b"a")), Server(namer(b"b"))])
    addr = listen(Route("shop/web", tuple(sorted(s.backend for s in servers)), affinity_seconds=60),
                  relays, listeners)
    answers = set()
    for _ in range(4):
        with socket.create_connection(addr, timeout=5) as c:
            answers.add(read_all(c))
    assert len(answers) == 1


# -- a sync, converging listeners and addresses --------------------------------------------------


class FakeInterface:
    name = "kcfakes1"

    def __init__(self) -> None:
        self.owned: set[str] = set()
        self.calls: list[str] = []

    def ensure(self) -> None:
        self.calls.append("ensure")

    def addresses(self) -> set[str]:
        return set(self.owned)

    def add(self, ip: str) -> None:
        self.owned.add(ip)
        self.calls.append(f"add {ip}")

    def remove(self, ip: str) -> None:
        self.owned.discard(ip)
        self.calls.append(f"remove {ip}")

    def delete(self) -> None:
        self.owned.clear()
        self.calls.append("delete")


def svc(ip: str, port: int, node_port: int | None = None, name: str = "web") -> dict:
    p = {"name": "http", "port": port}
    spec = {"clusterIP": ip, "clusterIPs": [ip], "ports": [p]}
    if node_port:
        p["nodePort"] = node_port
        spec["type"] = "NodePort"
    return {"metadata": {"name": name, "namespace": "shop"}, "spec": spec}


def eslice(server_ports: list[int], ready: bool = True, name: str = "web") -> dict:
    return {"kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": f"{name}-x", "namespace": "shop", "labels": {"kubernetes.io/service-name": name}},
            "ports": [{"name": "http", "port": server_ports[0]}],
            "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": ready}}]}


def answer(addr: tuple[str, int]) -> bytes | str:
    try:
        with socket.create_connection(addr, timeout=2) as c:
            return read_all(c)
    except ConnectionRefusedError:
        return "refused"


@pytest.fixture
def proxy() -> Iterator[tuple[UserspaceProxy, FakeInterface]]:
    iface = FakeInterface()
    p = UserspaceProxy(node_name="worker-1", node_address=loopback_ip(), cluster_ips=True, interface=iface,  # type: ignore[arg-type]
                       service_cidr="127.0.0.0/8", relays=Relays(dial_timeouts=(0.25,)))
    yield p, iface
    p.stop()


def test_a_sync_owns_the_cluster_ip_and_listens_while_there_are_ready_endpoints(servers, proxy):
    p, iface = proxy
    servers.append(Server(namer(b"pod-a")))
    ip, port, node_port = loopback_ip(), free_port(), free_port()
    p.sync([svc(ip, port, node_port)], [eslice([servers[0].port])])
    p.converge()
    assert iface.owned == {ip}
    assert answer((ip, port)) == b"pod-a"
    assert answer((p.node_address, node_port)) == b"pod-a"

    p.sync([svc(ip, port, node_port)], [eslice([servers[0].port], ready=False)])
    p.converge()
    assert answer((ip, port)) == "refused" and answer((p.node_address, node_port)) == "refused"
    assert iface.owned == {ip}  # still owned: refused here rather than sent anywhere else

    p.sync([svc(ip, port, node_port)], [eslice([servers[0].port])])
    p.converge()
    assert answer((ip, port)) == b"pod-a"

    p.sync([], [])
    p.converge()
    assert iface.owned == set() and f"remove {ip}" in iface.calls
    assert answer((ip, port)) == "refused" and p.listeners == {}


def test_new_endpoints_reach_an_open_listener(servers, proxy):
    p, _ = proxy
    servers.extend([Server(namer(b"old")), Server(namer(b"new"))])
    ip, port = loopback_ip(), free_port()
    p.sync([svc(ip, port)], [eslice([servers[0].port])])
    p.converge()
    listener = p.listeners[(ip, port)]
    p.sync([svc(ip, port)], [eslice([servers[1].port])])
    p.converge()
    assert p.listeners[(ip, port)] is listener  # the same socket, new backends
    assert answer((ip, port)) == b"new"


def test_a_port_in_use_is_retried_on_the_next_sync(servers, proxy):
    p, _ = proxy
    servers.append(Server(namer(b"pod-a")))
    node_port = free_port(p.node_address)
    squatter = socket.create_server((p.node_address, node_port))
    p.sync([svc(loopback_ip(), free_port(), node_port)], [eslice([servers[0].port])])
    p.converge()
    assert (p.node_address, node_port) not in p.listeners
    squatter.close()
    p.converge()
    assert answer((p.node_address, node_port)) == b"pod-a"


def test_unprivileged_only_node_ports_are_served(servers):
    servers.append(Server(namer(b"pod-a")))
    p = UserspaceProxy(node_name="worker-1", node_address=loopback_ip(), cluster_ips=False)
    ip, port, node_port = loopback_ip(), free_port(), free_port()
    try:
        p.start()
        p.sync([svc(ip, port, node_port)], [eslice([servers[0].port])])
        wait_for("the sync loop to listen", lambda: (p.node_address, node_port) in p.listeners)
        assert answer((p.node_address, node_port)) == b"pod-a"
        assert answer((ip, port)) == "refused"
    finally:
        p.stop()
    assert p.listeners == {}


def test_start_creates_the_interface_and_stop_removes_it(servers):
    iface = FakeInterface()
    p = UserspaceProxy(node_name="worker-1", node_address=loopback_ip(), cluster_ips=True, interface=iface)  # type: ignore[arg-type]
    servers.append(Server(namer(b"pod-a")))
    ip, port = loopback_ip(), free_port()
    p.sync([svc(ip, port)], [eslice([servers[0].port])])
    p.start()
    try:
        wait_for("the listener", lambda: (ip, port) in p.listeners)
        assert answer((ip, port)) == b"pod-a"
    finally:
        p.stop()
    assert iface.calls[0] == "ensure" and iface.calls[-1] == "delete"
    assert answer((ip, port)) == "refused"
