"""The exec WebSocket: channel framing, stdin and its close signal, exit status, tty and resize."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading

import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection

from nodeagent import execws
from nodeagent.execws import ExecSession, accept_key, choose_protocol, exit_status


def test_accept_key_is_rfc6455s():
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize("offered, chosen", [
    ("v5.channel.k8s.io, v4.channel.k8s.io", "v5.channel.k8s.io"),
    ("v4.channel.k8s.io", "v4.channel.k8s.io"),
    ("base64.channel.k8s.io,v4.channel.k8s.io", "v4.channel.k8s.io"),
    ("channel.k8s.io", None),
    ("", None),
])
def test_protocol_negotiation(offered, chosen):
    assert choose_protocol(offered) == chosen


def test_status_messages():
    assert execws.success_status() == {"metadata": {}, "status": "Success"}
    failure = exit_status(3)
    assert failure["status"] == "Failure" and failure["reason"] == "NonZeroExitCode"
    assert failure["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]


class LocalRuntime:
    """Stands in for the process runtime: runs the command right here, no container."""

    def exec_popen(self, cp, argv, *, tty=False, stdin=False):
        err_r, err_w = os.pipe()
        os.close(err_w)  # nothing to report: "started"
        if tty:
            master, slave = os.openpty()
            popen = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
            os.close(slave)
            return popen, master, err_r
        popen = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        return popen, None, err_r


class Client:
    """The kubectl side of an already upgraded connection."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.ws = Connection(ConnectionType.CLIENT)
        self.frames: list[tuple[int, bytes]] = []
        self.closed = False

    def send(self, channel: int, data: bytes) -> None:
        self.sock.sendall(self.ws.send(BytesMessage(data=bytes([channel]) + data)))

    def read_all(self) -> None:
        while not self.closed:
            data = self.sock.recv(65536)
            self.ws.receive_data(data or None)
            for event in self.ws.events():
                if isinstance(event, BytesMessage):
                    self.frames.append((event.data[0], bytes(event.data[1:])))
                elif isinstance(event, CloseConnection):
                    self.sock.sendall(self.ws.send(event.response()))
                    self.closed = True
            if not data:
                break

    def channel(self, n: int) -> bytes:
        return b"".join(d for c, d in self.frames if c == n)

    def status(self) -> dict:
        return json.loads(self.channel(3))


def run_exec(command, *, stdin=False, tty=False, before=None):
    server_sock, client_sock = socket.socketpair()
    session = ExecSession(server_sock, "v5.channel.k8s.io", stdin=stdin, stdout=True, stderr=True, tty=tty)
    t = threading.Thread(target=session.run, args=(LocalRuntime(), None, command))
    t.start()
    client = Client(client_sock)
    if before:
        before(client)
    client.read_all()
    t.join(timeout=10)
    server_sock.close()
    client_sock.close()
    return client


def test_stdout_stderr_and_success():
    c = run_exec(["sh", "-c", "echo out; echo err >&2"])
    assert c.channel(1) == b"out\n" and c.channel(2) == b"err\n"
    assert c.status() == {"metadata": {}, "status": "Success"}
    assert c.closed  # the server ends with a WebSocket close frame
    assert all(ch in (1, 2, 3) for ch, _ in c.frames)


def test_non_zero_exit_code():
    c = run_exec(["sh", "-c", "exit 7"])
    assert c.status()["reason"] == "NonZeroExitCode"
    assert c.status()["details"]["causes"] == [{"reason": "ExitCode", "message": "7"}]


def test_stdin_then_the_v5_close_signal_ends_input():
    def feed(client: Client) -> None:
        client.send(0, b"hello ")
        client.send(0, b"world\n")
        client.send(255, b"\x00")  # v5: the client closed stdin

    c = run_exec(["cat"], stdin=True, before=feed)
    assert c.channel(1) == b"hello world\n" and c.status()["status"] == "Success"


def test_tty_merges_output_and_honours_resize():
    def resize(client: Client) -> None:
        client.send(4, json.dumps({"Width": 123, "Height": 45}).encode())

    c = run_exec(["sh", "-c", "sleep 0.3; stty size; echo to-stderr >&2"], tty=True, before=resize)
    out = c.channel(1).replace(b"\r\n", b"\n")
    assert b"45 123\n" in out and b"to-stderr" in out and c.channel(2) == b""


def test_a_start_failure_is_reported_on_the_error_channel():
    class Failing(LocalRuntime):
        def exec_popen(self, cp, argv, *, tty=False, stdin=False):
            err_r, err_w = os.pipe()
            os.write(err_w, b'exec: "nope": executable file not found in $PATH')
            os.close(err_w)
            return subprocess.Popen(["true"]), None, err_r

    server_sock, client_sock = socket.socketpair()
    session = ExecSession(server_sock, "v4.channel.k8s.io", stdin=False, stdout=True, stderr=True, tty=False)
    t = threading.Thread(target=session.run, args=(Failing(), None, ["nope"]))
    t.start()
    client = Client(client_sock)
    client.read_all()
    t.join(timeout=10)
    status = client.status()
    assert status["status"] == "Failure" and "executable file not found" in status["message"]
    server_sock.close()
    client_sock.close()


def test_the_command_dies_when_the_client_goes_away():
    server_sock, client_sock = socket.socketpair()
    session = ExecSession(server_sock, "v5.channel.k8s.io", stdin=False, stdout=True, stderr=True, tty=False)
    t = threading.Thread(target=session.run, args=(LocalRuntime(), None, ["sleep", "30"]))
    t.start()
    client_sock.close()
    t.join(timeout=10)
    assert not t.is_alive() and session.popen is not None and session.popen.returncode is not None
    server_sock.close()
