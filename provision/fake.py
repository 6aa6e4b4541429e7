"""FakeTransport: an in-memory host for unit tests of modules and the executor.

Data flow (B): executor ─▶ modules ─▶ **FakeTransport** (instead of SSH). Like Invoke's
`MockContext`, it answers commands from a scripted table and records every call, so a
test can assert both what a module reported and what it did to the host.

It also plays the small set of coreutils commands that `provision.remotefs` emits
(`cat`, `stat`, `mkdir -p`, `rm -rf`, `chmod`, `chown`, `mv -f`, `cp`, `touch`,
`sha256sum`, `base64`, `ls -1d` with shell globs, plus `echo` and `true`) against an
in-memory filesystem, so file modules run
unchanged against it. Anything else must be scripted with `on()`; an unscripted command
exits 127, as a shell would for a missing program.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import posixpath
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from provision.transport import CommandError, Data, RunResult, Unreachable, as_bytes

Response = RunResult | Callable[[str], RunResult]


@dataclass(frozen=True)
class Call:
    verb: str  # run | put | get | close
    arg: str  # the command, or the remote path
    sudo: bool = False
    input: str | None = None


@dataclass
class Meta:
    mode: int
    owner: str
    group: str


def ok(stdout: str = "") -> RunResult:
    return RunResult(stdout, "", 0)


def fail(stderr: str, exit_code: int = 1) -> RunResult:
    return RunResult("", stderr, exit_code)


@dataclass
class FakeTransport:
    host: str = "fake"
    files: dict[str, bytes] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=lambda: {"/", "/tmp", "/etc"})
    user: str = "root"
    unreachable: bool = False
    root_only: tuple[str, ...] = ()  # path prefixes that need sudo to change
    calls: list[Call] = field(default_factory=list)
    meta: dict[str, Meta] = field(default_factory=dict)
    _script: list[tuple[str | re.Pattern[str], Response]] = field(default_factory=list)

    # -- test helpers -------------------------------------------------------------------
    def on(self, pattern: str | re.Pattern[str], response: Response) -> FakeTransport:
        """Answer `pattern` (exact string, or regex searched) with a result or a callable."""
        self._script.append((pattern, response))
        return self

    @property
    def commands(self) -> list[str]:
        return [c.arg for c in self.calls if c.verb == "run"]

    def text(self, path: str) -> str:
        return self.files[path].decode()

    def mode(self, path: str) -> int:
        return self.meta[path].mode

    # -- the Transport protocol ---------------------------------------------------------
    def run(
        self, command: str, *, sudo: bool = False, check: bool = False, input: str | None = None
    ) -> RunResult:
        self._enter(Call("run", command, sudo, input))
        result = self._scripted(command) or self._chain(command, sudo)
        if check and not result.ok:
            raise CommandError(command, result)
        return result

    def put(self, local: Data, remote_path: str, mode: int | None = None) -> None:
        self._enter(Call("put", remote_path))
        if posixpath.dirname(remote_path) not in self.dirs:
            raise FileNotFoundError(remote_path)
        if self._denied(remote_path, sudo=False):
            raise PermissionError(remote_path)
        self._write(remote_path, as_bytes(local), mode)

    def get(self, remote_path: str) -> bytes:
        self._enter(Call("get", remote_path))
        if remote_path not in self.files:
            raise FileNotFoundError(remote_path)
        return self.files[remote_path]

    def close(self) -> None:
        self.calls.append(Call("close", ""))

    # -- internals ----------------------------------------------------------------------
    def _enter(self, call: Call) -> None:
        self.calls.append(call)
        if self.unreachable:
            raise Unreachable(f"{self.host}: connection refused")

    def _scripted(self, command: str) -> RunResult | None:
        for pattern, response in self._script:
            hit = pattern == command if isinstance(pattern, str) else pattern.search(command)
            if hit:
                return response(command) if callable(response) else response
        return None

    def _denied(self, path: str, sudo: bool) -> bool:
        return not sudo and any(path.startswith(p) for p in self.root_only)

    def _write(self, path: str, data: bytes, mode: int | None = None, sudo: bool = False) -> None:
        """Write like the kernel does: a new file belongs to the writer, an old one keeps its
        mode and owner."""
        self.files[path] = data
        if path not in self.meta:
            owner = "root" if sudo else self.user
            self.meta[path] = Meta(0o644, owner, owner)
        if mode is not None:
            self.meta[path].mode = mode

    def _chain(self, command: str, sudo: bool) -> RunResult:
        """`a && b`: each builtin in turn, outputs joined, stopping at the first failure."""
        out = ""
        for part in command.split(" && "):
            result = self._builtin(part, sudo)
            out += result.stdout
            if not result.ok:
                return RunResult(out, result.stderr, result.exit_code)
        return RunResult(out, "", 0)

    def _builtin(self, command: str, sudo: bool) -> RunResult:
        argv = shlex.split(command)
        name, args = argv[0], [a for a in argv[1:] if a != "--"]
        handler = getattr(self, f"_cmd_{name}", None)
        if handler is None:
            return fail(f"sh: 1: {name}: not found (fake: command not scripted: {command})", 127)
        paths = [a for a in args if a.startswith("/")]
        if name not in ("cat", "stat", "sha256sum", "base64", "echo", "ls") and any(
            self._denied(p, sudo) for p in paths
        ):
            return fail(f"{name}: {paths[-1]}: Permission denied")
        return handler(args, sudo) if name in ("cp", "touch", "mkdir") else handler(args)

    def _missing(self, path: str) -> bool:
        return path not in self.files and path not in self.dirs

    def _cmd_cat(self, args: list[str]) -> RunResult:
        if args[-1] not in self.files:
            return fail(f"cat: {args[-1]}: No such file or directory")
        return ok(self.files[args[-1]].decode(errors="replace"))

    def _cmd_stat(self, args: list[str]) -> RunResult:
        path = args[-1]
        if self._missing(path):
            return fail(f"stat: cannot statx '{path}': No such file or directory")
        kind = "directory" if path in self.dirs else (
            "regular file" if self.files[path] else "regular empty file")
        m = self.meta.get(path, Meta(0o755 if path in self.dirs else 0o644, "root", "root"))
        return ok(f"{kind}|{m.mode:o}|{m.owner}|{m.group}\n")

    def _cmd_mkdir(self, args: list[str], sudo: bool) -> RunResult:
        path = args[-1].rstrip("/") or "/"
        parts = path.split("/")
        for i in range(2, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub in self.files:
                return fail(f"mkdir: cannot create directory '{sub}': Not a directory")
            if sub not in self.dirs:
                self.dirs.add(sub)
                owner = "root" if sudo else self.user
                self.meta[sub] = Meta(0o755, owner, owner)
        return ok()

    def _cmd_rm(self, args: list[str]) -> RunResult:
        path = args[-1]
        for p in [p for p in (*self.files, *self.dirs) if p == path or p.startswith(path + "/")]:
            self.files.pop(p, None)
            self.dirs.discard(p)
            self.meta.pop(p, None)
        return ok()

    def _cmd_chmod(self, args: list[str]) -> RunResult:
        if self._missing(args[-1]):
            return fail(f"chmod: cannot access '{args[-1]}': No such file or directory")
        self._meta(args[-1]).mode = int(args[0], 8)
        return ok()

    def _cmd_chown(self, args: list[str]) -> RunResult:
        if self._missing(args[-1]):
            return fail(f"chown: cannot access '{args[-1]}': No such file or directory")
        owner, _, group = args[0].partition(":")
        meta = self._meta(args[-1])
        meta.owner, meta.group = owner or meta.owner, group or meta.group
        return ok()

    def _meta(self, path: str) -> Meta:
        return self.meta.setdefault(path, Meta(0o755 if path in self.dirs else 0o644, "root",
                                               "root"))

    def _cmd_mv(self, args: list[str]) -> RunResult:
        src, dst = args[-2], args[-1]
        if src not in self.files:
            return fail(f"mv: cannot stat '{src}': No such file or directory")
        self.files[dst] = self.files.pop(src)
        self.meta[dst] = self.meta.pop(src, Meta(0o644, self.user, self.user))
        return ok()

    def _cmd_cp(self, args: list[str], sudo: bool) -> RunResult:
        src, dst = args[-2], args[-1]
        if src not in self.files:
            return fail(f"cp: cannot stat '{src}': No such file or directory")
        self._write(dst, self.files[src], sudo=sudo)
        return ok()

    def _cmd_touch(self, args: list[str], sudo: bool) -> RunResult:
        if args[-1] not in self.files:
            self._write(args[-1], b"", sudo=sudo)
        return ok()

    def _cmd_sha256sum(self, args: list[str]) -> RunResult:
        if args[-1] not in self.files:
            return fail(f"sha256sum: {args[-1]}: No such file or directory")
        return ok(f"{hashlib.sha256(self.files[args[-1]]).hexdigest()}  {args[-1]}\n")

    def _cmd_ls(self, args: list[str]) -> RunResult:
        """`ls -1d -- PATTERN...`: the shell expands globs (never across `/`), ls lists them."""
        out, errors = [], []
        for pattern in (a for a in args if not a.startswith("-")):
            matches = sorted(p for p in (*self.files, *self.dirs) if _glob_match(p, pattern))
            if not matches:
                errors.append(f"ls: cannot access '{pattern}': No such file or directory")
            out += matches
        text = "".join(f"{m}\n" for m in out)
        return RunResult(text, "\n".join(errors), 2 if errors else 0)

    def _cmd_echo(self, args: list[str]) -> RunResult:
        return ok(" ".join(args) + "\n")

    def _cmd_true(self, args: list[str]) -> RunResult:
        return ok()

    def _cmd_base64(self, args: list[str]) -> RunResult:
        if args[-1] not in self.files:
            return fail(f"base64: {args[-1]}: No such file or directory")
        return ok(base64.b64encode(self.files[args[-1]]).decode())


def _glob_match(path: str, pattern: str) -> bool:
    parts, wanted = path.split("/"), pattern.split("/")
    return len(parts) == len(wanted) and all(
        fnmatch.fnmatchcase(p, w) for p, w in zip(parts, wanted, strict=True))


def linux_host(host: str = "fake", address: str = "10.0.0.10", **kwargs: object) -> FakeTransport:
    """A FakeTransport that answers fact gathering like a small Ubuntu machine."""
    fake = FakeTransport(host=host, **kwargs)  # type: ignore[arg-type]
    fake.files["/etc/os-release"] = b'ID=ubuntu\nVERSION_ID="24.04"\nPRETTY_NAME="Ubuntu 24.04"\n'
    fake.on("cat /proc/meminfo", ok("MemTotal:        2048000 kB\nMemFree: 1000 kB\n"))
    fake.on("python3 --version", ok("Python 3.12.3\n"))
    fake.on("nproc", ok("2\n"))
    fake.on("hostname", ok(f"{host}\n"))
    fake.on("ip -o -4 addr", ok(
        "1: lo    inet 127.0.0.1/8 scope host lo\n"
        f"2: eth1    inet {address}/24 brd 10.0.0.255 scope global eth1\n"))
    return fake
