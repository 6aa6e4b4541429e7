"""``python -m benchmarks.profiled MODULE [ARGS...]``: run a gunicorn server with its workers under cProfile.

Where it sits: ``benchmarks.profiling`` starts the API server (and the trivial server)
through this wrapper instead of ``python -m MODULE``. Nothing in the server changes:
before the module runs, gunicorn's threaded worker class gets two wrappers.

* When a worker starts (after the fork), every thread it will run gets its own
  ``cProfile.Profile``: the main thread (accepting, keep-alive polling) at once, and
  every later thread (the request pool, the store's poll loop, ...) as it starts,
  through ``threading.setprofile``.
* On SIGUSR2, and when the worker stops, the worker writes the sum of its threads'
  statistics so far to ``$KUBECLASS_PROFILE_DIR/<label>-<pid>-<n>.prof`` (pstats
  format), n counting 1, 2, ... then ``exit``. The driver sends SIGUSR2 before and
  after a measurement and subtracts the two. Taking a snapshot does not stop anything:
  it reads each profiler's counters (a profiler records calls once they return).

``$KUBECLASS_PROFILE_CLOCK``: ``cpu`` (default) times each thread's own CPU use, so
threads waiting for a lock, a socket or the disk cost nothing and the figures add up
to the CPU the process used; ``wall`` times elapsed time, waits included.
"""

from __future__ import annotations

import cProfile
import marshal
import os
import pstats
import runpy
import signal
import sys
import threading
import time
from typing import Any

DIR_ENV = "KUBECLASS_PROFILE_DIR"
CLOCK_ENV = "KUBECLASS_PROFILE_CLOCK"
LABEL_ENV = "KUBECLASS_PROFILE_LABEL"

_lock = threading.Lock()
_profilers: list[tuple[int, cProfile.Profile]] = []  # (pid, profiler): a fork copies the parent's list
_dumps = 0
_main: cProfile.Profile | None = None  # the worker's main thread's profiler


def _new_profiler() -> cProfile.Profile:
    if os.environ.get(CLOCK_ENV, "cpu") == "wall":
        prof = cProfile.Profile(time.perf_counter_ns, 1e-9)
    else:
        prof = cProfile.Profile(time.thread_time_ns, 1e-9)
    with _lock:
        _profilers.append((os.getpid(), prof))
    return prof


def _profile_new_thread(frame: Any, event: str, arg: Any) -> None:
    # Called once, on the new thread's first event: swap this hook for a real profiler.
    sys.setprofile(None)
    _new_profiler().enable()


def dump(tag: str) -> str:
    """Write the sum of this process's profilers to a pstats file; its path."""
    merged: dict[Any, Any] = {}
    with _lock:
        mine = [p for pid, p in _profilers if pid == os.getpid()]
    for prof in mine:
        prof.snapshot_stats()  # reads the counters; the profiler stays enabled
        for func, (cc, nc, tt, ct, callers) in prof.stats.items():  # type: ignore[attr-defined]
            if func in merged:
                old = merged[func]
                merged[func] = pstats.add_func_stats(old, (cc, nc, tt, ct, callers))
            else:
                merged[func] = (cc, nc, tt, ct, dict(callers))
    label = os.environ.get(LABEL_ENV, "server")
    path = os.path.join(os.environ[DIR_ENV], f"{label}-{os.getpid()}-{tag}.prof")
    with open(path + ".tmp", "wb") as f:
        marshal.dump(merged, f)
    os.replace(path + ".tmp", path)  # the driver waits for the file: it must appear complete
    return path


def _on_usr2(signum: int, frame: Any) -> None:
    global _dumps
    _dumps += 1
    # Signal handlers run in the main thread: pause its profiler, or the snapshot profiles itself.
    if _main is not None:
        _main.disable()
    try:
        dump(str(_dumps))
    finally:
        if _main is not None:
            _main.enable()


def install() -> None:
    from gunicorn.workers.gthread import ThreadWorker

    init_process, run = ThreadWorker.init_process, ThreadWorker.run

    def profiled_init_process(self: ThreadWorker) -> None:
        global _main
        threading.setprofile(_profile_new_thread)
        _main = _new_profiler()
        _main.enable()
        init_process(self)

    def profiled_run(self: ThreadWorker) -> None:
        # Here, not in init_process: gunicorn resets the worker's signals in between.
        signal.signal(signal.SIGUSR2, _on_usr2)
        try:
            run(self)
        finally:
            dump("exit")

    ThreadWorker.init_process = profiled_init_process  # type: ignore[method-assign]
    ThreadWorker.run = profiled_run  # type: ignore[method-assign]


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit("usage: python -m benchmarks.profiled MODULE [ARGS...]")
    os.makedirs(os.environ[DIR_ENV], exist_ok=True)
    install()
    module = sys.argv[1]
    sys.argv = [module, *sys.argv[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
