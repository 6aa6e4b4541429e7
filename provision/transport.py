"""The SSH transport: the one door between the provisioning engine and a host.

Data flow (B): executor ─▶ modules ─▶ **transport** ─▶ host. A module never talks to
Fabric, paramiko or subprocess directly; it calls the four verbs of `Transport`
(`run`, `put`, `get`, `close`). Three implementations keep that promise:

* `FabricTransport` – the real thing: a `fabric.Connection` (paramiko under it);
  `sudo=True` runs the command through `sudo -n` (passwordless sudo, as on Vagrant boxes).
* `LocalTransport` – the same verbs on this machine through `subprocess`, for
  `connection: local` inventory entries and for tests on a temporary directory.
* `FakeTransport` (in `provision.fake`) – an in-memory host for unit tests.

`Become` wraps any transport so that every command runs as root and every upload lands
as root: modules never need to know whether the play asked for `become`.

Connection problems raise `Unreachable`; the executor reports the host as unreachable
instead of crashing. `run(check=True)` raises `CommandError` on a non-zero exit.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class RunResult:
    stdout: str
    stderr: str
    exit_code: int

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class TransportError(Exception):
    """Base class of everything a transport raises on purpose."""


class Unreachable(TransportError):
    """The host could not be reached (DNS, refused, timeout, authentication)."""


class CommandError(TransportError):
    """`run(..., check=True)` saw a non-zero exit code."""

    def __init__(self, command: str, result: RunResult) -> None:
        detail = (result.stderr or result.stdout).strip().splitlines()
        super().__init__(
            f"command {command!r} exited {result.exit_code}" + (f": {detail[-1]}" if detail else "")
        )
        self.command = command
        self.result = result


Data = str | bytes | Path


@runtime_checkable
class Transport(Protocol):
    host: str

    def run(
        self, command: str, *, sudo: bool = False, check: bool = False, input: str | None = None
    ) -> RunResult: ...

    def put(self, local: Data, remote_path: str, mode: int | None = None) -> None:
        """Upload a local file (`Path`) or in-memory content (`bytes`/`str`) to `remote_path`."""

    def get(self, remote_path: str) -> bytes:
        """The remote file's content; FileNotFoundError when it does not exist."""

    def close(self) -> None: ...


def as_bytes(local: Data) -> bytes:
    """A `put` argument as bytes: a `Path` is read, text is UTF-8 encoded."""
    if isinstance(local, Path):
        return local.read_bytes()
    return local.encode() if isinstance(local, str) else local


def sudo_wrap(command: str) -> str:
    """`command` run as root by a shell; `-n` makes a password prompt an error, not a hang."""
    return f"sudo -n -- sh -c {shlex.quote(command)}"


def checked(command: str, result: RunResult, check: bool) -> RunResult:
    if check and not result.ok:
        raise CommandError(command, result)
    return result


class LocalTransport:
    """Runs on this machine; `host` is only a label for the output."""

    def __init__(self, host: str = "localhost") -> None:
        self.host = host

    def run(
        self, command: str, *, sudo: bool = False, check: bool = False, input: str | None = None
    ) -> RunResult:
        # As root already, sudo would only add a dependency on the sudo binary.
        wrapped = sudo_wrap(command) if sudo and os.geteuid() != 0 else command
        proc = subprocess.run(
            ["sh", "-c", wrapped], input=input if input is not None else "",
            capture_output=True, text=True, check=False,
        )
        return checked(command, RunResult(proc.stdout, proc.stderr, proc.returncode), check)

    def put(self, local: Data, remote_path: str, mode: int | None = None) -> None:
        path = Path(remote_path)
        path.write_bytes(as_bytes(local))
        if mode is not None:
            path.chmod(mode)

    def get(self, remote_path: str) -> bytes:
        return Path(remote_path).read_bytes()

    def close(self) -> None:
        pass


class FabricTransport:
    """A host over SSH with Fabric. Fabric connects lazily, on the first verb."""

    def __init__(
        self, host: str, address: str, *, user: str | None = None, port: int = 22,
        key: str | None = None, connect_timeout: float = 10.0,
    ) -> None:
        import fabric  # imported here so that unit tests never need paramiko's native parts

        self.host = host
        connect_kwargs = {"key_filename": os.path.expanduser(key)} if key else {}
        self._conn = fabric.Connection(
            address, user=user, port=port, connect_timeout=connect_timeout,
            connect_kwargs=connect_kwargs,
        )

    def _guard(self, action):  # type: ignore[no-untyped-def]
        """Run `action` on an open connection; connection failures become `Unreachable`.

        Opening is guarded broadly (refused, timeout, DNS and auth errors are all OSError or
        SSHException). After that only a dropped session counts as unreachable, so that a
        missing remote file still raises FileNotFoundError like on every other transport.
        """
        import paramiko

        if not self._conn.is_connected:
            try:
                self._conn.open()
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise Unreachable(f"{self.host}: {type(exc).__name__}: {exc}") from exc
        try:
            return action()
        except (paramiko.SSHException, EOFError, ConnectionError) as exc:
            raise Unreachable(f"{self.host}: connection lost: {exc}") from exc

    def run(
        self, command: str, *, sudo: bool = False, check: bool = False, input: str | None = None
    ) -> RunResult:
        import io

        wrapped = sudo_wrap(command) if sudo else command
        kwargs: dict = {"hide": True, "warn": True, "pty": False}
        if input is not None:
            kwargs["in_stream"] = io.StringIO(input)
        else:
            kwargs["in_stream"] = False  # never forward our own stdin to the host
        res = self._guard(lambda: self._conn.run(wrapped, **kwargs))
        return checked(command, RunResult(res.stdout, res.stderr, res.exited), check)

    def put(self, local: Data, remote_path: str, mode: int | None = None) -> None:
        import io

        source = io.BytesIO(as_bytes(local))
        self._guard(lambda: self._conn.put(source, remote_path))
        if mode is not None:
            self.run(f"chmod {mode:o} -- {shlex.quote(remote_path)}", check=True)

    def get(self, remote_path: str) -> bytes:
        import io

        sink = io.BytesIO()
        self._guard(lambda: self._conn.get(remote_path, local=sink))
        return sink.getvalue()

    def close(self) -> None:
        self._conn.close()


class Become:
    """A transport whose commands and uploads act as root (`become: true`).

    Uploads go to a private temporary file as the login user, then root copies them
    into place: SFTP itself cannot write where only root may.
    """

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.host = inner.host

    def run(
        self, command: str, *, sudo: bool = True, check: bool = False, input: str | None = None
    ) -> RunResult:
        return self.inner.run(command, sudo=True, check=check, input=input)

    def put(self, local: Data, remote_path: str, mode: int | None = None) -> None:
        staging = f"/tmp/.kubeclass-{uuid.uuid4().hex}"
        self.inner.put(local, staging, mode=0o600)
        q_stage, q_dest = shlex.quote(staging), shlex.quote(remote_path)
        try:
            # cp (not mv) so that root owns the new file, like any file root writes.
            self.inner.run(f"cp -- {q_stage} {q_dest}", sudo=True, check=True)
            if mode is not None:
                self.inner.run(f"chmod {mode:o} -- {q_dest}", sudo=True, check=True)
        finally:
            self.inner.run(f"rm -f -- {q_stage}", sudo=True)

    def get(self, remote_path: str) -> bytes:
        import base64

        res = self.inner.run(f"base64 -w0 -- {shlex.quote(remote_path)}", sudo=True)
        if not res.ok:
            if "No such file" in res.stderr:
                raise FileNotFoundError(remote_path)
            raise CommandError(f"base64 {remote_path}", res)
        return base64.b64decode(res.stdout)

    def close(self) -> None:
        self.inner.close()
