"""Talking to an etcd v3 cluster over its JSON gateway, with failover between members.

Where it sits: under :class:`~controlplane.storage.etcd.EtcdStore` (and its watches in
``etcd_watch``). The store builds etcd requests (range, txn, compaction, watch) as
dicts; this module sends them to one member of the cluster as HTTP/JSON (etcd's
grpc-gateway: ``POST /v3/kv/range`` and so on, keys and values in base64, 64-bit
integers as strings) and turns failures into :class:`UnavailableError`.

What it promises:

* Every request goes to the *current* member. When that member cannot be reached, or
  refuses before doing anything (it has no leader), the request moves on to the next
  member, round and round, until it succeeds or ``timeout`` seconds have passed.
* A read is safe to send twice, so it also moves on after a timeout or a broken
  connection. A write is not: once a member may have received it, a second attempt
  could apply it twice (an increment done twice), so such a failure is reported at
  once, as "the outcome is unknown", like etcd's own client does.
* Every request carries etcd's "require a leader" metadata (gRPC metadata travels as
  ``Grpc-Metadata-*`` headers through the gateway): a member cut off from its cluster
  answers "no leader" at once instead of waiting, and ends its watch streams, so the
  caller moves to a member that can still serve.
* When it gives up, the error says how many members answered and whether that is a
  quorum: ``etcd has lost quorum: 1 of 3 members reachable, 2 needed``.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
import urllib3.exceptions

from .. import codec
from .interface import UnavailableError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 1.0  # a member on this network that does not accept within 1 s is down
STATUS_TIMEOUT = (0.5, 1.0)  # (connect, read) when asking members how they are, for a message
HEADERS = {"Content-Type": "application/json", "Grpc-Metadata-hasleader": "true"}

# Errors a member returns before it has proposed anything: always safe to send elsewhere.
REFUSED = ("no leader", "not capable", "too many requests", "server stopped", "not leader")
UNAVAILABLE_CODES = (4, 14)  # gRPC DeadlineExceeded and Unavailable


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def unb64(data: str) -> bytes:
    return base64.b64decode(data)


@dataclass(frozen=True)
class TLS:
    """How to reach members that serve HTTPS: the CA to verify them with, and our client
    certificate and key when the members ask for one (``--client-cert-auth``)."""
    cacert: str
    cert: str | None = None
    key: str | None = None


class EtcdError(Exception):
    """etcd answered with an error that is about the request, not about availability
    (a compacted or future revision, an invalid request, a full database)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Retry(Exception):
    """This member could not serve the request; another one may."""


class _Unknown(Exception):
    """A write reached a member, which then failed: it may or may not have been applied."""


class EtcdClient:
    """HTTP/JSON requests to one member at a time of an etcd cluster."""

    def __init__(self, endpoints: list[str], timeout: float, tls: TLS | None = None) -> None:
        if not endpoints:
            raise ValueError("an etcd store needs at least one endpoint")
        self.endpoints = [e if "://" in e else f"http://{e}" for e in endpoints]
        self.timeout = timeout
        self.tls = tls
        self._current = 0
        self._lock = threading.Lock()
        self._local = threading.local()  # a thread's session goes with the thread

    @property
    def session(self) -> requests.Session:
        """This thread's session: a requests.Session is not meant to be shared between
        threads, and a watch stream must never share a connection with a unary call."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            # etcd is reached directly: no proxy from the environment, no ~/.netrc (which
            # requests would otherwise look up again on every request).
            session.trust_env = False
            if self.tls:
                session.verify = self.tls.cacert
                if self.tls.cert and self.tls.key:
                    session.cert = (self.tls.cert, self.tls.key)
            adapter = requests.adapters.HTTPAdapter(pool_connections=len(self.endpoints), pool_maxsize=4)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        return session

    @property
    def current(self) -> int:
        return self._current

    def moved_to(self, index: int) -> None:
        if index != self._current:
            with self._lock:
                if index != self._current:
                    log.info("etcd: now talking to %s", self.endpoints[index])
                    self._current = index

    # -- unary requests -----------------------------------------------------------

    def call(self, path: str, body: dict[str, Any], *, key: str, idempotent: bool) -> dict[str, Any]:
        """POST ``body`` to ``path`` on a member; the decoded answer, or EtcdError, or
        UnavailableError after ``timeout`` seconds (at once for a write of unknown outcome)."""
        data = codec.dumps(body)
        deadline = time.monotonic() + self.timeout
        start, n = self._current, len(self.endpoints)
        attempt, why = 0, "no member tried"
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self.unavailable(key, f"{path} failed: {why}")
            index = (start + attempt) % n
            try:
                answer = self._post(self.endpoints[index], path, data, remaining, idempotent)
            except _Retry as e:
                why = f"{self.endpoints[index]}: {e}"
                attempt += 1
                if attempt % n == 0:  # every member refused: an election, or no quorum; wait a bit
                    time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
                continue
            except _Unknown as e:
                raise self.unavailable(key, f"{path} on {self.endpoints[index]}: {e}; "
                                            "the write may or may not have been applied") from None
            self.moved_to(index)
            return answer

    def _post(self, endpoint: str, path: str, data: bytes, remaining: float,
              idempotent: bool) -> dict[str, Any]:
        try:
            resp = self.session.post(endpoint + path, data=data, headers=HEADERS,
                                     timeout=(min(CONNECT_TIMEOUT, remaining), remaining))
        except requests.ConnectionError as e:
            if _never_sent(e) or idempotent:
                raise _Retry(describe(e)) from None
            raise _Unknown(describe(e)) from None
        except requests.Timeout as e:  # a read timeout: the member got the request
            if idempotent:
                raise _Retry(describe(e)) from None
            raise _Unknown(describe(e)) from None
        try:
            answer = codec.loads(resp.content)
        except ValueError:
            raise _Retry(f"HTTP {resp.status_code}: not a JSON answer") from None
        if resp.status_code == 200:
            return answer
        code, message = int(answer.get("code", 2)), str(answer.get("message") or answer.get("error"))
        if any(word in message for word in REFUSED):
            raise _Retry(message)
        if code in UNAVAILABLE_CODES:
            if idempotent:
                raise _Retry(message)
            raise _Unknown(message)
        raise EtcdError(code, message)

    # -- streams ------------------------------------------------------------------

    def open_stream(self, path: str, body: dict[str, Any], index: int) -> requests.Response:
        """Open a streaming POST (a watch) on member ``index``; requests errors propagate."""
        resp = self.session.post(self.endpoints[index] + path, data=codec.dumps(body),
                                 headers=HEADERS, stream=True, timeout=(CONNECT_TIMEOUT, self.timeout))
        if resp.status_code != 200:
            message = resp.text[:200]
            resp.close()
            raise requests.ConnectionError(f"HTTP {resp.status_code}: {message}")
        return resp

    # -- health -------------------------------------------------------------------

    def unavailable(self, key: str, why: str) -> UnavailableError:
        """An UnavailableError that says how many members answer and whether they have a leader."""
        reachable, leaders = 0, 0
        for endpoint in self.endpoints:
            try:
                resp = self.session.post(endpoint + "/v3/maintenance/status", data=b"{}",
                                         timeout=STATUS_TIMEOUT)
                status = codec.loads(resp.content) if resp.status_code == 200 else None
            except (requests.RequestException, ValueError):
                status = None
            if status is not None:
                reachable += 1
                leaders += int(status.get("leader", "0")) != 0
        total = len(self.endpoints)
        need = total // 2 + 1
        count = f"{reachable} of {total} members reachable"
        if reachable < need:
            message = f"etcd has lost quorum: {count}, {need} needed ({why})"
        elif not leaders:
            message = f"etcd has no leader (an election may be under way): {count} ({why})"
        else:
            message = f"etcd did not answer within {self.timeout:g}s: {count} ({why})"
        return UnavailableError(key, message)

    def close(self) -> None:
        """Close this thread's connections (other threads' go when those threads end)."""
        self.session.close()


def _never_sent(error: requests.ConnectionError) -> bool:
    """True if the connection was refused or never set up, so the member saw nothing."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def describe(error: Exception) -> str:
    """What went wrong, without urllib3's connection-pool reprs."""
    if isinstance(error, requests.ConnectTimeout):
        return f"no connection within {CONNECT_TIMEOUT:g}s"
    if isinstance(error, requests.ReadTimeout):
        return "no answer in time"
    reason = error.args[0] if error.args else error
    reason = getattr(reason, "reason", None) or reason  # a MaxRetryError wraps the real one
    return re.sub(r"HTTPS?Connection(Pool)?\([^)]*\): ", "", str(reason))
