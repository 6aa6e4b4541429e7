"""Keep one cluster process running, as systemd's ``Restart=always`` does on a real machine.

Where it sits: ``processes.py`` starts every component of a local cluster through
``python -m controlplane.cli.supervisor NAME -- ARGV...``. A controller manager or a
scheduler that loses its leader Lease exits on purpose (upstream's do the same and count
on their supervisor), a node agent may crash: the supervisor starts it again, after
1 s, then 2, 4, up to 10 s while it keeps failing (back to 1 s once it has run for a
minute), and says so in the component's log.

Two exceptions, so that mistakes show instead of looping: a process that fails within
its first few seconds the first time it starts is not restarted (its configuration is
wrong; ``kubeclass up`` reports its log), and SIGTERM (``kubeclass down``/``stop``) is
passed on and ends the supervisor once the process has exited. The process dies with
its supervisor (``PR_SET_PDEATHSIG``), so killing the supervisor is killing the component.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import threading
import time

FIRST_START_GRACE = 5.0  # a first run shorter than this is a failure to start
BACKOFF_MIN, BACKOFF_MAX = 1.0, 10.0
BACKOFF_RESET = 60.0  # running this long means it is healthy again
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def say(name: str, message: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} supervisor: {name} {message}", file=sys.stderr, flush=True)


def supervise(name: str, argv: list[str]) -> int:
    stopping = threading.Event()
    child: list[subprocess.Popen[bytes]] = []

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()
        if child and child[0].poll() is None:
            child[0].send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    backoff, first = BACKOFF_MIN, True
    while True:
        started = time.monotonic()
        child[:] = [subprocess.Popen(argv, preexec_fn=_die_with_parent)]
        code = child[0].wait()
        ran = time.monotonic() - started
        if stopping.is_set():
            return code
        if first and ran < FIRST_START_GRACE:
            say(name, f"exited with status {code} {ran:.1f}s after starting: not restarting it")
            return code or 1
        first = False
        backoff = BACKOFF_MIN if ran >= BACKOFF_RESET else backoff
        say(name, f"exited with status {code} after {ran:.1f}s; restarting it in {backoff:.0f}s")
        if stopping.wait(backoff):
            return code
        backoff = min(backoff * 2, BACKOFF_MAX)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 3 or args[1] != "--":
        print("usage: python -m controlplane.cli.supervisor NAME -- PROGRAM [ARGS...]", file=sys.stderr)
        return 2
    return supervise(args[0], args[2:])


if __name__ == "__main__":
    sys.exit(main())
