"""The last step before a container's program runs: enter the pod, build its view of files, exec.

Where it sits: the process runtime (:mod:`nodeagent.process`) does not start a container's
program directly. It starts this script (``python -I -S sandbox.py --spec config.json``),
which prepares the process and then *replaces itself* with the program (``execve``), so
the program keeps the pid the runtime is watching. This is the part runc plays for
containerd, reduced to what a process runtime needs (stdlib only: it runs before the
program, and fast):

1. die with the node agent (``PR_SET_PDEATHSIG``): no container outlives its supervisor;
2. join the container's cgroups (memory and CPU limits, usage accounting);
3. join the pod's network namespace (as root), so it has the pod's IP and its own ports;
4. as root, give the container its own mount and UTS namespaces: a new root directory
   that shows the host's files (bind mounts of every top-level directory), with each
   volume bound at its ``mountPath`` and the pod's ``/etc/hosts``, and the pod's hostname.
   A ``mountPath`` that does not exist on the host is created inside a tmpfs copy of its
   parent directory (snapd's "writable mimic"), never on the host itself;
5. ``chdir`` to ``workingDir``, drop to ``runAsUser``/``runAsGroup``, and ``execve``.

Any failure before ``execve`` is written to the *error pipe* whose other end the runtime
reads, like runc's: an empty pipe means the program runs; a message means it could not
start (shown as ``StartError`` with exit code 128, as containerd reports it).

For ``kubectl exec`` and exec probes the same script runs with ``join`` set: it enters
the namespaces and root directory of the container's running process instead.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import socket
import stat
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG = 1
TIOCSCTTY = 0x540E

_libc = ctypes.CDLL(None, use_errno=True)


class SandboxError(Exception):
    pass


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise SandboxError(f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(source.encode() if source else None, target.encode(),
                       fstype.encode() if fstype else None, ctypes.c_ulong(flags),
                       data.encode() if data else None),
           f'error mounting "{source}" to rootfs at "{target}"')


def _setns(path: str, nstype: int) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        _check(_libc.setns(fd, nstype), f"cannot join namespace {path}")
    finally:
        os.close(fd)


# -- the container's root directory ------------------------------------------------------------


class RootBuilder:
    """Builds the container's root in ``rootfs``: binds of the host's top-level entries, then
    volumes at their mount paths. ``owned`` are directories whose content is our own tmpfs,
    where creating a mount point changes nothing on the host."""

    def __init__(self, rootfs: str) -> None:
        self.rootfs = rootfs
        self.owned: set[str] = set()

    def build(self, mounts: list[dict]) -> None:
        _mount("tmpfs", self.rootfs, "tmpfs", 0, "mode=755")
        self.owned.add(self.rootfs)
        for entry in sorted(os.listdir("/")):
            self._place("/" + entry, os.path.join(self.rootfs, entry))
        for m in sorted(mounts, key=lambda m: m["target"].rstrip("/").count("/")):
            is_dir = os.path.isdir(m["source"])
            target = self.resolve(m["target"], create=True, is_dir=is_dir)
            _mount(m["source"], target, None, MS_BIND | MS_REC)
            if m.get("readOnly"):
                _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY)

    def _place(self, source: str, target: str) -> None:
        """An entry in an owned directory that shows ``source``."""
        st = os.lstat(source)
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(source), target)
            return
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(target, stat.S_IMODE(st.st_mode))
        else:
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
        _mount(source, target, None, MS_BIND | MS_REC)

    def _make_writable(self, directory: str) -> None:
        """Cover a host-backed directory with a tmpfs that still shows all its entries."""
        if directory in self.owned:
            return
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)  # keeps the covered directory reachable
        try:
            mode = stat.S_IMODE(os.fstat(fd).st_mode)
            _mount("tmpfs", directory, "tmpfs", 0, f"mode={mode:o}")
            covered = f"/proc/self/fd/{fd}"
            for entry in os.listdir(covered):
                self._place(os.path.join(covered, entry), os.path.join(directory, entry))
        finally:
            os.close(fd)
        self.owned.add(directory)

    def resolve(self, path: str, *, create: bool = False, is_dir: bool = True, depth: int = 0) -> str:
        """The host path of the container path ``path``; symlinks are followed inside the
        container's root. With ``create``, missing components are made (directories, or a
        file for the last component when ``is_dir`` is false)."""
        if depth > 40:
            raise SandboxError(f"too many levels of symbolic links in {path}")
        parts = [p for p in os.path.normpath("/" + path).split("/") if p]
        current, inside = self.rootfs, "/"
        for i, part in enumerate(parts):
            candidate = os.path.join(current, part)
            last = i == len(parts) - 1
            if os.path.islink(candidate):
                link = os.readlink(candidate)
                rest = "/".join(parts[i + 1:])
                base = link if link.startswith("/") else os.path.join(inside, link)
                return self.resolve(os.path.join(base, rest) if rest else base, create=create,
                                    is_dir=is_dir, depth=depth + 1)
            if not os.path.lexists(candidate):
                if not create:
                    raise SandboxError(f"{path}: no such file or directory")
                self._make_writable(current)
                if last and not is_dir:
                    os.close(os.open(candidate, os.O_CREAT | os.O_WRONLY, 0o644))
                else:
                    os.mkdir(candidate, 0o755)
                    self.owned.add(candidate)
            elif not last and not os.path.isdir(candidate):
                raise SandboxError(f"{path}: not a directory")
            current, inside = candidate, os.path.join(inside, part)
        return current


# -- the steps ------------------------------------------------------------------------------


def prepare(spec: dict) -> None:
    if spec.get("parent"):
        _libc.prctl(PR_SET_PDEATHSIG, 9)  # SIGKILL when the agent's supervising thread goes
        if os.getppid() != spec["parent"]:
            raise SandboxError("the node agent exited while starting the container")
    for procs in spec.get("cgroups") or []:
        with open(procs, "w") as f:
            f.write(str(os.getpid()))
    if spec.get("join"):
        _join(int(spec["join"]))
    else:
        if spec.get("netns"):
            _setns(spec["netns"], CLONE_NEWNET)
        if spec.get("rootfs"):
            _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWUTS), "cannot create mount and UTS namespaces")
            _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we mount leaks to the host
            builder = RootBuilder(spec["rootfs"])
            builder.build(spec.get("mounts") or [])
            if spec.get("cwd"):
                builder.resolve(spec["cwd"], create=True)  # runc creates a missing working directory
            if spec.get("hostname"):
                socket.sethostname(spec["hostname"])
            os.chroot(spec["rootfs"])
    if spec.get("tty"):
        import fcntl
        fcntl.ioctl(0, TIOCSCTTY, 0)
    user = spec.get("user") or {}
    if user.get("gid") is not None:
        os.setgroups([int(user["gid"])])
        os.setgid(int(user["gid"]))
    if user.get("uid") is not None:
        os.setuid(int(user["uid"]))
    cwd = spec.get("cwd") or "/"
    try:
        os.chdir(cwd)
    except OSError as e:
        raise SandboxError(f'chdir to cwd ("{cwd}") set in config.json failed: {e.strerror.lower()}') from None


def _join(pid: int) -> None:
    """Enter the namespaces and root directory of a running container process."""
    root = os.open(f"/proc/{pid}/root", os.O_RDONLY | os.O_DIRECTORY)
    for ns, flag in (("net", CLONE_NEWNET), ("uts", CLONE_NEWUTS), ("mnt", CLONE_NEWNS)):
        theirs, ours = f"/proc/{pid}/ns/{ns}", f"/proc/self/ns/{ns}"
        if os.stat(theirs).st_ino != os.stat(ours).st_ino:
            _setns(theirs, flag)
    os.fchdir(root)
    os.chroot(".")
    os.close(root)


def _exec(spec: dict) -> None:
    argv, env = spec["argv"], spec.get("env") or {}
    if not argv:
        raise SandboxError("no command specified")
    try:
        os.execvpe(argv[0], argv, env)
    except FileNotFoundError:
        detail = "executable file not found in $PATH" if "/" not in argv[0] else "no such file or directory"
        raise SandboxError(f'exec: "{argv[0]}": {detail}') from None
    except PermissionError:
        raise SandboxError(f'exec: "{argv[0]}": permission denied') from None
    except OSError as e:
        raise SandboxError(f'exec: "{argv[0]}": {e.strerror}') from None


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] not in ("--spec", "--spec-fd"):
        print("usage: sandbox.py --spec FILE | --spec-fd N", file=sys.stderr)
        sys.exit(2)
    if argv[0] == "--spec":
        with open(argv[1]) as f:
            spec = json.load(f)
    else:
        with os.fdopen(int(argv[1])) as f:
            spec = json.load(f)
    error_fd = spec.get("error_fd")
    if error_fd is not None:
        os.set_inheritable(error_fd, False)  # closes by itself when execve succeeds
    try:
        prepare(spec)
        _exec(spec)
    except (SandboxError, OSError) as e:
        message = str(e) if isinstance(e, SandboxError) else f"{e.strerror}: {e.filename or ''}".rstrip(": ")
        if error_fd is not None:
            os.write(error_fd, message.encode()[:4000])
        else:
            print(message, file=sys.stderr)
        os._exit(127 if getattr(e, "errno", None) == errno.ENOENT else 128)


if __name__ == "__main__":
    main(sys.argv[1:])
