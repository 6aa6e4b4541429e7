"""Container logs: the CRI file format, rotation, and reading with tail, since, timestamps, limit and follow."""

from __future__ import annotations

import io
import os
import threading
import time

import pytest

from nodeagent import logs
from nodeagent.logs import LogOptions, LogWriter, format_timestamp, parse_timestamp, read_logs

BASE = 1_700_000_000 * 1_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now = BASE

    def __call__(self) -> int:
        self.now += 1_000_000_000  # one second per record
        return self.now


def write_lines(path: str, n: int, *, clock=None, max_size: int = logs.MAX_SIZE, max_files: int = logs.MAX_FILES) -> None:
    w = LogWriter(path, clock=clock or Clock(), max_size=max_size, max_files=max_files)
    for i in range(1, n + 1):
        w.write("stdout" if i % 2 else "stderr", f"line {i}".encode())
    w.close()


def read(path: str, **opts) -> str:
    out: list[bytes] = []
    read_logs(path, LogOptions(**opts), out.append)
    return b"".join(out).decode()


def test_records_are_cri_format(tmp_path):
    path = str(tmp_path / "0.log")
    write_lines(path, 2)
    lines = open(path).read().splitlines()
    assert lines == [f"{format_timestamp(BASE + 10**9)} stdout F line 1", f"{format_timestamp(BASE + 2 * 10**9)} stderr F line 2"]
    assert format_timestamp(BASE + 10**9) == "2023-11-14T22:13:21.000000000Z"


def test_timestamps_round_trip_and_print_trimmed():
    assert parse_timestamp("2023-11-14T22:13:21.5Z") == BASE + 10**9 + 500_000_000
    assert parse_timestamp("2023-11-14T22:13:21Z") == BASE + 10**9
    assert parse_timestamp("2023-11-14T23:13:21.000000001+01:00") == BASE + 10**9 + 1
    assert format_timestamp(BASE + 500_000_000, fixed=False) == "2023-11-14T22:13:20.5Z"


def test_pump_splits_lines_and_long_lines(tmp_path):
    path = str(tmp_path / "0.log")
    w = LogWriter(path)
    long = b"x" * (logs.MAX_LINE + 10)
    logs.pump(io.BufferedReader(io.BytesIO(b"one\ntwo\n" + long + b"\nno newline at end")), "stdout", w)
    w.close()
    records = [logs.parse_record(line) for line in open(path, "rb")]
    assert [(r.partial, len(r.content)) for r in records] == [(False, 3), (False, 3), (True, logs.MAX_LINE),
                                                             (False, 10), (True, 17)]
    assert read(path) == "one\ntwo\n" + long.decode() + "\nno newline at end"


def test_tail_since_timestamps_and_limit(tmp_path):
    path = str(tmp_path / "0.log")
    write_lines(path, 10)
    assert read(path) == "".join(f"line {i}\n" for i in range(1, 11))
    assert read(path, tail_lines=2) == "line 9\nline 10\n"
    assert read(path, tail_lines=0) == ""
    assert read(path, since_ns=BASE + 8 * 10**9) == "line 8\nline 9\nline 10\n"
    assert read(path, tail_lines=1, timestamps=True) == "2023-11-14T22:13:30Z line 10\n"
    assert read(path, limit_bytes=10) == "line 1\nlin"


def test_rotation_keeps_max_files_and_reads_across_them(tmp_path):
    path = str(tmp_path / "0.log")
    write_lines(path, 40, max_size=200, max_files=3)
    rotated = logs.rotated_files(path)
    assert len(rotated) == 2  # plus the current file: three in all
    text = read(path)
    assert text.endswith("line 39\nline 40\n")
    numbers = [int(line.split()[1]) for line in text.splitlines()]
    assert numbers == list(range(numbers[0], 41))  # the newest lines, in order, none missing
    assert all(os.path.getsize(f) <= 200 for f in rotated)


def test_follow_streams_until_the_container_stops(tmp_path):
    path = str(tmp_path / "0.log")
    w = LogWriter(path)
    w.write("stdout", b"before")
    running = threading.Event()
    running.set()
    got: list[bytes] = []
    t = threading.Thread(target=read_logs, args=(path, LogOptions(follow=True), got.append),
                         kwargs={"running": running.is_set, "poll": 0.02})
    t.start()
    for i in range(3):
        w.write("stdout", f"after {i}".encode())
        time.sleep(0.05)
    w.write("stderr", b"last words")
    running.clear()  # the container exits; what it wrote last is still delivered
    t.join(timeout=5)
    assert not t.is_alive()
    assert b"".join(got) == b"before\nafter 0\nafter 1\nafter 2\nlast words\n"
    w.close()


def test_follow_survives_rotation(tmp_path):
    path = str(tmp_path / "0.log")
    w = LogWriter(path, max_size=120, max_files=5)
    running = threading.Event()
    running.set()
    got: list[bytes] = []
    t = threading.Thread(target=read_logs, args=(path, LogOptions(follow=True), got.append),
                         kwargs={"running": running.is_set, "poll": 0.01})
    t.start()
    time.sleep(0.05)
    for i in range(12):  # ~50 bytes a record: rotates every couple of lines
        w.write("stdout", f"n{i}".encode())
        time.sleep(0.03)
    time.sleep(0.1)
    running.clear()
    t.join(timeout=5)
    lines = b"".join(got).decode().split()
    assert lines == [f"n{i}" for i in range(12)]
    w.close()


def test_follow_stops_when_asked(tmp_path):
    path = str(tmp_path / "0.log")
    LogWriter(path).close()
    stop = threading.Event()
    t = threading.Thread(target=read_logs, args=(path, LogOptions(follow=True), lambda b: None),
                         kwargs={"running": lambda: True, "stop": stop, "poll": 0.02})
    t.start()
    stop.set()
    t.join(timeout=2)
    assert not t.is_alive()


@pytest.mark.parametrize("line", [b"garbage\n", b"2023-11-14T22:13:21Z stdout\n"])
def test_unparseable_lines_are_skipped(line):
    assert logs.parse_record(line) is None


def test_empty_line_is_a_record():
    record = logs.parse_record(b"2023-11-14T22:13:21Z stdout F\n")
    assert record is not None and record.content == b"" and record.render(False) == b"\n"
