"""Container logs: written in the CRI log format, rotated, and read back for ``kubectl logs``.

Where it sits: the process runtime pipes each container's stdout and stderr through
:func:`pump` into a :class:`LogWriter`; the agent's ``/containerLogs`` endpoint
(:mod:`nodeagent.server`) reads them with :func:`read_logs`. Files are where kubelet
keeps them, one per container *attempt*, so ``--previous`` is simply the file before::

    <data-dir>/logs/<namespace>_<pod>_<uid>/<container>/0.log      first run
                                                        1.log      after one restart
                                                        1.log.20250131-120000.123456  rotated

Each line of a file is one record of the CRI format (what containerd writes)::

    2025-01-31T12:00:00.123456789Z stdout F hello world
    <timestamp, 9 digits>          <stream> <F: full line | P: partial> <content>

A line longer than 16 KiB is split into ``P`` records ended by an ``F`` one. When a file
passes ``max_size`` it is renamed with a timestamp and a new one started; only
``max_files`` files are kept per attempt (kubelet's containerLogMaxSize 10Mi and
containerLogMaxFiles 5).
"""

from __future__ import annotations

import dataclasses
import datetime
import glob
import os
import threading
import time
from collections.abc import Callable
from typing import BinaryIO

MAX_LINE = 16 * 1024
MAX_SIZE = 10 * 1024 * 1024
MAX_FILES = 5


def format_timestamp(ns: int, *, fixed: bool = True) -> str:
    """RFC 3339 in UTC with nanoseconds: fixed 9 digits in files (containerd), trailing
    zeros trimmed for ``--timestamps`` output (Go's RFC3339Nano, what kubelet prints)."""
    seconds, frac = divmod(ns, 1_000_000_000)
    base = datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{frac:09d}"
    if not fixed:
        digits = digits.rstrip("0")
    return f"{base}.{digits}Z" if digits else f"{base}Z"


def parse_timestamp(text: str) -> int:
    """Nanoseconds since the epoch from an RFC 3339 timestamp (any number of fraction digits)."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    main, frac, zone = text, "", ""
    if "." in text:
        main, rest = text.split(".", 1)
        i = next((k for k, c in enumerate(rest) if not c.isdigit()), len(rest))
        frac, zone = rest[:i], rest[i:]
    else:
        main, zone = text[:19], text[19:]
    dt = datetime.datetime.fromisoformat(main + (zone or "+00:00"))
    return int(dt.timestamp()) * 1_000_000_000 + int((frac + "000000000")[:9] or 0)


class LogWriter:
    """Appends CRI records to one container attempt's log file, rotating it by size.

    Both pumps of a container (stdout, stderr) share one writer; a lock keeps their
    records whole."""

    def __init__(self, path: str, *, max_size: int = MAX_SIZE, max_files: int = MAX_FILES,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.path = path
        self.max_size = max_size
        self.max_files = max(1, max_files)
        self.clock = clock
        self._lock = threading.Lock()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self._file: BinaryIO | None = open(path, "ab")

    def write(self, stream: str, content: bytes, *, partial: bool = False) -> None:
        record = b"%s %s %s %s\n" % (format_timestamp(self.clock()).encode(), stream.encode(),
                                     b"P" if partial else b"F", content)
        with self._lock:
            if self._file is None:
                return
            if self._file.tell() > 0 and self._file.tell() + len(record) > self.max_size:
                self._rotate()
            self._file.write(record)
            self._file.flush()

    def _rotate(self) -> None:
        assert self._file is not None
        self._file.close()
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S.%f")
        os.rename(self.path, f"{self.path}.{stamp}")
        rotated = rotated_files(self.path)  # the current file counts as one of max_files
        for old in rotated[:max(0, len(rotated) - (self.max_files - 1))]:
            os.unlink(old)
        self._file = open(self.path, "ab")

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def rotated_files(path: str) -> list[str]:
    """The rotated files of one log, oldest first."""
    return sorted(glob.glob(glob.escape(path) + ".*"))


def pump(pipe: BinaryIO, stream: str, writer: LogWriter) -> None:
    """Copy a pipe into the log until EOF, one record per line (split past 16 KiB)."""
    pending = b""
    while True:
        chunk = pipe.read1(65536) if hasattr(pipe, "read1") else pipe.read(65536)
        if not chunk:
            break
        pending += chunk
        while True:
            newline = pending.find(b"\n")
            if newline < 0 or newline > MAX_LINE:
                if len(pending) >= MAX_LINE:
                    writer.write(stream, pending[:MAX_LINE], partial=True)
                    pending = pending[MAX_LINE:]
                    continue
                break
            writer.write(stream, pending[:newline])
            pending = pending[newline + 1:]
    if pending:
        writer.write(stream, pending, partial=True)
    pipe.close()


# -- reading ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LogOptions:
    """``PodLogOptions`` as the ``/containerLogs`` query string gives them."""

    follow: bool = False
    tail_lines: int | None = None
    timestamps: bool = False
    since_ns: int | None = None  # from sinceSeconds or sinceTime
    limit_bytes: int | None = None


@dataclasses.dataclass(frozen=True)
class Record:
    timestamp: int
    stream: str
    partial: bool
    content: bytes

    def render(self, timestamps: bool) -> bytes:
        text = self.content + (b"" if self.partial else b"\n")
        if timestamps:
            return format_timestamp(self.timestamp, fixed=False).encode() + b" " + text
        return text


def parse_record(line: bytes) -> Record | None:
    try:
        ts, stream, tag, content = line.rstrip(b"\n").split(b" ", 3)
    except ValueError:
        parts = line.rstrip(b"\n").split(b" ", 3)
        if len(parts) == 3:  # an empty line: "ts stream F"
            ts, stream, tag, content = *parts, b""
        else:
            return None
    try:
        return Record(parse_timestamp(ts.decode()), stream.decode(), tag == b"P", content)
    except ValueError:
        return None


class _Budget:
    """limitBytes: how much more may be written."""

    def __init__(self, limit: int | None) -> None:
        self.left = limit

    def take(self, data: bytes) -> bytes:
        if self.left is None:
            return data
        data = data[:self.left]
        self.left -= len(data)
        return data

    @property
    def spent(self) -> bool:
        return self.left is not None and self.left <= 0


def read_logs(path: str, opts: LogOptions, write: Callable[[bytes], None], *,
              running: Callable[[], bool] = lambda: False, stop: threading.Event | None = None,
              poll: float = 0.2) -> None:
    """Write the log of one container attempt to ``write``, as kubelet's ReadLogs does:
    ``sinceTime`` filter, then the last ``tailLines``, ``timestamps``, ``limitBytes``; with
    ``follow``, keep writing new records until the container is no longer ``running``."""
    budget = _Budget(opts.limit_bytes)
    records = []
    for file in [*rotated_files(path), path]:
        try:
            with open(file, "rb") as f:
                records.extend(r for r in map(parse_record, f) if r is not None)
        except FileNotFoundError:
            continue
    if opts.since_ns is not None:
        records = [r for r in records if r.timestamp >= opts.since_ns]
    if opts.tail_lines is not None:
        records = records[-opts.tail_lines:] if opts.tail_lines > 0 else []
    for record in records:
        data = budget.take(record.render(opts.timestamps))
        if data:
            write(data)
        if budget.spent:
            return
    if opts.follow:
        _follow(path, opts, write, budget, running, stop or threading.Event(), poll)


def _follow(path: str, opts: LogOptions, write: Callable[[bytes], None], budget: _Budget,
            running: Callable[[], bool], stop: threading.Event, poll: float) -> None:
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    f.seek(0, os.SEEK_END)
    pending = b""
    try:
        while not stop.is_set():
            alive = running()  # read the state *before* the data, so nothing written at exit is missed
            chunk = f.read()
            if chunk:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    record = parse_record(line)
                    if record is None or (opts.since_ns is not None and record.timestamp < opts.since_ns):
                        continue
                    data = budget.take(record.render(opts.timestamps))
                    if data:
                        write(data)
                    if budget.spent:
                        return
                continue
            if _rotated_away(f, path):
                f.close()
                f = open(path, "rb")  # the writer started a new file: read it from its start
                continue
            if not alive:
                return
            stop.wait(poll)
    except FileNotFoundError:
        return
    finally:
        f.close()


def _rotated_away(f: BinaryIO, path: str) -> bool:
    try:
        return os.stat(path).st_ino != os.fstat(f.fileno()).st_ino
    except FileNotFoundError:
        return False


def attempt_path(logs_dir: str, namespace: str, pod: str, uid: str, container: str, attempt: int) -> str:
    """Where the log of one container attempt lives (kubelet's /var/log/pods layout)."""
    return os.path.join(logs_dir, f"{namespace}_{pod}_{uid}", container, f"{attempt}.log")
