"""The moving parts of the userspace service proxy: listeners, the balancer, the byte relay.

Where it sits: :class:`~nodeagent.proxy_userspace.UserspaceProxy` decides which
addresses to listen on (from :mod:`nodeagent.proxy_rules`) and keeps one
:class:`Listener` for each; everything that happens to a connection happens here.
Follow one connection, as kube-proxy's old userspace mode handled it::

    curl 10.96.0.10:80          (from the host, or from a pod through its bridge)
      │  the kernel delivers it locally: 10.96.0.10 is an address of this machine
      ▼
    Listener 10.96.0.10:80      its acceptor thread accept()s the connection
      │  Balancer.pick()         round robin over the ready backends (or the client's
      │                          sticky one, with sessionAffinity ClientIP)
      ▼
    Relays.relay()              a new thread dials 10.244.11.5:8080 (250 ms; on failure
      │                          the next backend, 500 ms, 1 s, 2 s), then copies bytes:
      │                          client → backend in this thread, backend → client in a second
      ▼
    end                          one side's EOF becomes a shutdown(SHUT_WR) of the other
                                 (a half-close passes through); an error ends both sides

A connection that finds no backend to dial is reset, so the client knows at once.
Everything is bounded: at most :data:`MAX_CONNECTIONS` relayed connections (two threads
and two 64 KiB buffers each), at most :data:`MAX_STICKY_CLIENTS` remembered clients per
route, four dial attempts per connection.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from collections.abc import Callable

from .proxy_rules import Backend, Route

log = logging.getLogger(__name__)

DIAL_TIMEOUTS = (0.25, 0.5, 1.0, 2.0)  # kube-proxy userspace's endpointDialTimeouts, one per attempt
MAX_CONNECTIONS = 256  # relayed connections at once, per agent; more are reset
MAX_STICKY_CLIENTS = 4096  # clients remembered per route for sessionAffinity
BUFFER = 65536
BACKLOG = 128
WARN_EVERY = 10.0  # seconds between two "too many connections" warnings


def reset(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0) instead of a FIN: the peer sees 'connection reset'."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class Balancer:
    """Chooses the backend of each new connection to one route (kube-proxy's ``LoadBalancerRR``)."""

    def __init__(self, route: Route, clock: Callable[[], float] = time.monotonic) -> None:
        self.route = route
        self.clock = clock
        self._next = 0
        self._sticky: dict[str, tuple[Backend, float]] = {}  # client IP -> (backend, last used)
        self._lock = threading.Lock()

    def update(self, route: Route) -> None:
        """New backends (or affinity): forget clients whose backend is gone, restart the rotation."""
        with self._lock:
            if route.backends != self.route.backends:
                self._next = 0
            alive = set(route.backends) if route.affinity_seconds else set()
            self._sticky = {c: (b, t) for c, (b, t) in self._sticky.items() if b in alive}
            self.route = route

    def pick(self, client_ip: str, avoid: frozenset[Backend] | set[Backend] = frozenset()) -> Backend | None:
        """The backend for a connection from ``client_ip``, or None when none is left.

        ``avoid`` holds backends this connection already failed to reach: a sticky
        backend in it loses its client (as upstream resets affinity after a failed dial).
        """
        with self._lock:
            route = self.route
            candidates = [b for b in route.backends if b not in avoid]
            if not candidates:
                return None
            now = self.clock()
            if route.affinity_seconds:
                sticky = self._sticky.get(client_ip)
                if sticky and sticky[0] not in avoid and now - sticky[1] < route.affinity_seconds:
                    self._sticky[client_ip] = (sticky[0], now)
                    return sticky[0]
            chosen = candidates[self._next % len(candidates)]
            self._next += 1
            if route.affinity_seconds:
                self._remember(client_ip, chosen, now, route.affinity_seconds)
            return chosen

    def _remember(self, client_ip: str, backend: Backend, now: float, ttl: int) -> None:
        if len(self._sticky) >= MAX_STICKY_CLIENTS:  # full: drop the expired, then the oldest
            self._sticky = {c: (b, t) for c, (b, t) in self._sticky.items() if now - t < ttl}
            while len(self._sticky) >= MAX_STICKY_CLIENTS:
                del self._sticky[min(self._sticky, key=lambda c: self._sticky[c][1])]
        self._sticky.pop(client_ip, None)
        self._sticky[client_ip] = (backend, now)


class Relays:
    """Every connection being relayed on this node, at most ``limit`` at once."""

    def __init__(self, limit: int = MAX_CONNECTIONS, dial_timeouts: tuple[float, ...] = DIAL_TIMEOUTS) -> None:
        self.limit = limit
        self.dial_timeouts = dial_timeouts
        self._slots = threading.BoundedSemaphore(limit)
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._warned = 0.0

    def count(self) -> int:
        with self._lock:
            return len(self._open) // 2

    def relay(self, client: socket.socket, client_ip: str, balancer: Balancer) -> None:
        """Take over an accepted connection: dial a backend and copy bytes, on a thread of its own."""
        if self._closed or not self._slots.acquire(blocking=False):
            now = time.monotonic()
            if not self._closed and now - self._warned > WARN_EVERY:
                self._warned = now
                log.warning("service proxy: %d connections are being relayed already; resetting new ones",
                            self.limit)
            reset(client)
            return
        thread = threading.Thread(target=self._serve, args=(client, client_ip, balancer),
                                  name=f"proxy-relay-{balancer.route.service}", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # no thread to be had: give the slot back, refuse the client
            self._slots.release()
            reset(client)

    def close_all(self) -> None:
        """Break every relayed connection (the agent is stopping); their threads end on their own."""
        with self._lock:
            self._closed = True
            socks = list(self._open)
        for sock in socks:
            _shutdown(sock, socket.SHUT_RDWR)

    # -- one connection ------------------------------------------------------------------

    def _serve(self, client: socket.socket, client_ip: str, balancer: Balancer) -> None:
        upstream = None
        try:
            upstream = self._dial(client_ip, balancer)
            if upstream is None:
                log.info("service proxy: %s: no endpoint answered; resetting %s", balancer.route.service, client_ip)
                reset(client)
                return
            with self._lock:
                if self._closed:
                    return
                self._open.update((client, upstream))
            back = threading.Thread(target=_pump, args=(upstream, client), daemon=True,
                                    name=threading.current_thread().name + "-back")
            try:
                back.start()
            except RuntimeError:  # no second thread to be had: end the connection (finally closes)
                return
            _pump(client, upstream)
            back.join()
        finally:
            with self._lock:
                self._open.discard(client)
                if upstream is not None:
                    self._open.discard(upstream)
            client.close()
            if upstream is not None:
                upstream.close()
            self._slots.release()

    def _dial(self, client_ip: str, balancer: Balancer) -> socket.socket | None:
        tried: set[Backend] = set()
        for timeout in self.dial_timeouts:
            backend = balancer.pick(client_ip, tried)
            if backend is None:
                return None
            tried.add(backend)
            try:
                sock = socket.create_connection((backend.ip, backend.port), timeout=timeout)
            except OSError as e:
                log.info("service proxy: %s: cannot reach %s: %s", balancer.route.service, backend, e)
                continue
            sock.settimeout(None)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            log.debug("service proxy: %s: %s -> %s", balancer.route.service, client_ip, backend)
            return sock
        return None


def _pump(src: socket.socket, dst: socket.socket) -> None:
    """Copy one direction until EOF (then half-close ``dst``) or an error (then end both sides).

    After an error (a reset, a peer gone) both sides are shut down: each peer sees the
    connection end, as with kube-proxy's userspace relay, which closed both sockets.
    """
    try:
        while True:
            data = src.recv(BUFFER)
            if not data:
                break
            dst.sendall(data)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        # shutdown, not close: it wakes the other direction's thread out of recv() or sendall()
        _shutdown(src, socket.SHUT_RDWR)
        _shutdown(dst, socket.SHUT_RDWR)


def _shutdown(sock: socket.socket, how: int) -> None:
    try:
        sock.shutdown(how)
    except OSError:  # not connected any more: nothing to wake
        pass


class Listener:
    """One listening socket (``ClusterIP:port`` or ``node address:nodePort``) and its acceptor thread."""

    def __init__(self, ip: str, port: int, route: Route, relays: Relays, *, reuse_port: bool) -> None:
        self.ip, self.port = ip, port
        self.balancer = Balancer(route)
        self.relays = relays
        self._closing = False
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:  # every agent on this machine listens on the ClusterIP; the kernel spreads connections
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((ip, port))
            sock.listen(BACKLOG)
        except OSError:
            sock.close()
            raise
        self.sock = sock
        self._thread = threading.Thread(target=self._accept_loop, name=f"proxy-accept-{ip}:{port}", daemon=True)
        self._thread.start()

    @property
    def route(self) -> Route:
        return self.balancer.route

    def update(self, route: Route) -> None:
        self.balancer.update(route)

    def close(self) -> None:
        """Stop accepting. Connections already relayed go on (as conntrack entries would)."""
        self._closing = True
        _shutdown(self.sock, socket.SHUT_RDWR)  # wakes accept() with EINVAL
        self._thread.join(2.0)
        self.sock.close()

    def _accept_loop(self) -> None:
        while not self._closing:
            try:
                conn, peer = self.sock.accept()
            except OSError as e:
                if self._closing:
                    return
                log.warning("service proxy: accept on %s:%d failed: %s", self.ip, self.port, e)
                time.sleep(0.1)  # e.g. out of file descriptors: do not spin
                continue
            if self._closing:
                reset(conn)
                return
            self.relays.relay(conn, peer[0], self.balancer)
