"""``kubectl exec`` on the node: a WebSocket carrying the channel protocol of Kubernetes.

Where it sits: the agent's HTTPS endpoint (:mod:`nodeagent.server`) hands
``/exec/{namespace}/{pod}/{container}?command=...`` requests here; the API server relays
``pods/exec`` to it. After the HTTP upgrade every binary WebSocket frame starts with one
byte naming its channel (``v4.channel.k8s.io`` and ``v5.channel.k8s.io``)::

    0  stdin    client -> server    bytes for the command's stdin
    1  stdout   server -> client
    2  stderr   server -> client    (with tty=true everything comes on stdout)
    3  error    server -> client    at the end: {"metadata":{},"status":"Success"}, or a
                                    Failure with reason NonZeroExitCode and the exit code
                                    in details.causes[{"reason":"ExitCode","message":"3"}]
    4  resize   client -> server    {"Width":80,"Height":24}: the pty's new size
    255 close   client -> server    (v5 only) [255, 0]: the client closed stdin

The command runs in the container's context - its network namespace, root directory,
environment, working directory and cgroup - through the same sandbox helper that started
the container (``join`` mode). With ``tty=true`` it gets a pseudo-terminal.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import signal
import socket
import struct
import subprocess
import termios
import threading
from typing import Any, BinaryIO

from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.utilities import LocalProtocolError

from .runtime import ContainerProcess, ProcessRuntime, StartError

log = logging.getLogger(__name__)

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
CLOSE_WAIT_SECONDS = 1.0  # for the client's answer to our close frame
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def choose_protocol(offered: str) -> str | None:
    """The first protocol the client offers that we speak (clients list their favourite first)."""
    for proto in (p.strip() for p in offered.split(",")):
        if proto in PROTOCOLS:
            return proto
    return None


def success_status() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def exit_status(code: int) -> dict[str, Any]:
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: exit status {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def error_status(message: str) -> dict[str, Any]:
    return {"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError",
            "code": 500, "details": {"causes": [{"message": message}]}}


def frame(channel: int, data: bytes) -> bytes:
    """A channel message (the payload of one binary WebSocket frame)."""
    return bytes([channel]) + data


class ExecSession:
    """One exec, from the upgraded socket to the final status."""

    def __init__(self, sock: socket.socket, protocol: str, *, stdin: bool, stdout: bool, stderr: bool,
                 tty: bool) -> None:
        self.sock = sock
        self.protocol = protocol
        self.want = {"stdin": stdin, "stdout": stdout, "stderr": stderr}
        self.tty = tty
        self.ws = Connection(ConnectionType.SERVER)
        self._send_lock = threading.Lock()
        self._closed = threading.Event()
        self.popen: subprocess.Popen[bytes] | None = None
        # The pty's master side, as a file object: threads read, write and resize through
        # it, never through its bare descriptor number, which the kernel gives to the next
        # connection the moment it is closed (a late write would land in a stranger's TLS).
        self.term: BinaryIO | None = None
        self.keep_open = False  # True: a thread may still use the socket, so never close it

    def send(self, channel: int, data: bytes) -> None:
        with self._send_lock:
            if self._closed.is_set():
                return
            try:
                self.sock.sendall(self.ws.send(BytesMessage(data=frame(channel, data))))
            except (OSError, LocalProtocolError):  # the client closed or went away
                self._closed.set()

    def close(self) -> None:
        with self._send_lock:
            if not self._closed.is_set():
                try:
                    self.sock.sendall(self.ws.send(CloseConnection(code=1000)))
                except Exception:  # noqa: BLE001 S110 - the client may be gone already
                    pass
                self._closed.set()

    def run(self, runtime: ProcessRuntime, cp: ContainerProcess, command: list[str]) -> None:
        try:
            self.popen, master, err_r = runtime.exec_popen(cp, command, tty=self.tty, stdin=self.want["stdin"])
        except (StartError, OSError) as e:
            self.send(ERROR, json.dumps(error_status(str(e))).encode())
            self.close()
            return
        with os.fdopen(err_r, "rb") as f:
            start_error = f.read().decode(errors="replace")
        if master is not None:
            self.term = os.fdopen(master, "r+b", buffering=0)
        if start_error:
            self.popen.wait()
            self._close_term()
            self.send(ERROR, json.dumps(error_status(
                f"failed to exec in container: failed to start exec: {start_error}")).encode())
            self.close()
            return
        pumps = []
        if self.term is not None:
            pumps.append(self._pump(self.term, STDOUT))
        else:
            if self.popen.stdout is not None:
                pumps.append(self._pump(self.popen.stdout, STDOUT if self.want["stdout"] else None))
            if self.popen.stderr is not None:
                pumps.append(self._pump(self.popen.stderr, STDERR if self.want["stderr"] else None))
        reader = threading.Thread(target=self._read_client, name="exec-stdin", daemon=True)
        reader.start()
        code = self.popen.wait()
        for t in pumps:
            t.join(timeout=5)
        code = 128 - code if code < 0 else code
        self.send(ERROR, json.dumps(success_status() if code == 0 else exit_status(code)).encode())
        self.close()
        self._close_term()
        self._stop_reading(reader)

    def _stop_reading(self, reader: threading.Thread) -> None:
        """Wait for the client reader to end, before the server closes the socket.

        TLS reads run without the GIL on the descriptor's bare number: a reader still inside
        one when the socket is closed would read from whichever connection the kernel hands
        that number to next, and swallow a stranger's handshake (their client sees "bad
        record mac"). A client answers our close frame, which ends the reader; one that does
        not gets its socket shut down, which ends the read with end-of-file.
        """
        reader.join(timeout=CLOSE_WAIT_SECONDS)
        if reader.is_alive():
            with contextlib.suppress(OSError):  # socket.socket's own: keeps the TLS object for the reader
                socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
            reader.join(timeout=10)
        if reader.is_alive():
            log.warning("exec: the client reader did not stop; the connection stays open")
            self.keep_open = True

    def _close_term(self) -> None:
        if self.term is not None:
            with contextlib.suppress(OSError):
                self.term.close()  # a pump still reading gets ValueError next time, never a stranger's bytes

    def _pump(self, source: BinaryIO, channel: int | None) -> threading.Thread:
        read = getattr(source, "read1", source.read)

        def copy() -> None:
            while True:
                try:
                    data = read(32768)
                except (OSError, ValueError):  # EIO on a pty once the command has exited; closed
                    break
                if not data:
                    break
                if channel is not None:
                    self.send(channel, data)

        t = threading.Thread(target=copy, name="exec-output", daemon=True)
        t.start()
        return t

    def _read_client(self) -> None:
        """Frames from the client: stdin, resize, close; ends when the socket does."""
        stdin_open = True
        while not self._closed.is_set():
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            self.ws.receive_data(data or None)
            for event in self.ws.events():
                if isinstance(event, Ping):
                    with self._send_lock:
                        try:
                            self.sock.sendall(self.ws.send(event.response()))
                        except (OSError, LocalProtocolError):
                            self._closed.set()
                elif isinstance(event, CloseConnection):
                    with self._send_lock:  # answer the close, and send nothing more
                        try:
                            self.sock.sendall(self.ws.send(event.response()))
                        except (OSError, LocalProtocolError):
                            pass
                        self._closed.set()
                    self._kill()
                    return
                elif isinstance(event, (BytesMessage, TextMessage)):
                    payload = event.data if isinstance(event.data, bytes) else event.data.encode()
                    if payload:
                        stdin_open = self._client_frame(payload[0], payload[1:], stdin_open)
            if not data:
                self._kill()  # the client went away: so does the command
                return

    def _client_frame(self, channel: int, data: bytes, stdin_open: bool) -> bool:
        if channel == STDIN and stdin_open:
            target = self.term if self.term is not None else (self.popen.stdin if self.popen else None)
            if target is not None:
                with contextlib.suppress(OSError, ValueError):  # ValueError: already closed
                    target.write(data)
                    target.flush()
        elif channel == RESIZE and self.term is not None:
            try:
                size = json.loads(data or b"{}")
                fcntl.ioctl(self.term.fileno(), termios.TIOCSWINSZ,
                            struct.pack("HHHH", int(size.get("Height", 24)), int(size.get("Width", 80)), 0, 0))
            except (ValueError, OSError):
                pass
        elif channel == CLOSE and data[:1] == bytes([STDIN]):
            if self.term is not None:
                with contextlib.suppress(OSError, ValueError):
                    self.term.write(b"\x04")  # end of input on a terminal
            elif self.popen and self.popen.stdin:
                with contextlib.suppress(OSError, ValueError):
                    self.popen.stdin.close()
            return False
        return stdin_open

    def _kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
