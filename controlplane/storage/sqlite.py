"""The embedded store: a kine-style append-only log in one SQLite table.

Where it sits: the default backend behind :class:`controlplane.storage.Storage`,
used by every API server process of a local cluster. Several processes may open
the same database file; each runs its own poll loop, so a watch served by one
process sees writes made through another.

How it works (after k3s-io/kine):

* One table, ``log``. Every write is an INSERT; the row id *is* the revision
  (``AUTOINCREMENT`` so ids are never reused). A row records the key, the new value,
  the previous value, the previous row of the same key, and whether it created or
  deleted the key.
* The current state of a key is its newest row (unless that row is a deletion).
* Compare-and-swap: a write names the row it replaces (``prev_revision``). The
  ``UNIQUE(name, prev_revision)`` index makes a second write on top of the same row
  fail, and the write transaction re-checks that the row it read is still the newest.
* Durability: WAL journal with ``synchronous=FULL``: a write is acknowledged only
  after its commit reached the disk.
* Watch: a poll loop notices new rows (``PRAGMA data_version`` changes whenever any
  connection, in any process, commits) and hands them, in revision order, to a
  broadcaster. SQLite has a single writer, so rows become visible strictly in id
  order and the loop never has to wait for a gap to fill, unlike kine on MySQL.
* Compaction keeps a bounded history: rows superseded at or before the compacted
  revision are deleted; watches or lists from before it get CompactedError (410).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from .. import codec
from .broadcast import Broadcaster, Subscription
from .interface import (
    ADDED,
    DELETED,
    MODIFIED,
    CompactedError,
    Event,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    ListResult,
    Object,
    Preconditions,
    TryUpdate,
)

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,  -- the revision
    name            TEXT    NOT NULL,                   -- the key
    created         INTEGER NOT NULL DEFAULT 0,         -- 1: this row creates the key
    deleted         INTEGER NOT NULL DEFAULT 0,         -- 1: this row deletes the key
    create_revision INTEGER NOT NULL,                   -- the row that created the key
    prev_revision   INTEGER NOT NULL,                   -- the row this one replaces (0: none)
    value           BLOB,                               -- JSON (UTF-8) of the object after this write
    old_value       BLOB                                -- JSON (UTF-8) of the object before it
);
CREATE UNIQUE INDEX IF NOT EXISTS log_name_prev_revision ON log (name, prev_revision);
CREATE INDEX IF NOT EXISTS log_name_id ON log (name, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('compact_revision', 0);
"""

# How long the poll loop sleeps when nothing wakes it. Local writes wake it at once;
# writes from other processes are noticed within this interval.
POLL_INTERVAL = 0.005


def _encode(obj: Object) -> bytes:
    # resourceVersion is derived from the row id on every read, so it is never stored.
    meta = obj.get("metadata")
    if meta and "resourceVersion" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "resourceVersion"}}
    return codec.dumps(obj)


def _decode(value: bytes | str, revision: int) -> Object:
    obj = codec.loads(value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(revision)
    return obj


def _prefix_end(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class SQLiteStore:
    """The :class:`~controlplane.storage.Storage` backend on one SQLite file."""

    def __init__(self, path: str, *, poll_interval: float = POLL_INTERVAL) -> None:
        self.path = path
        self._poll_interval = poll_interval
        self._local = threading.local()
        self._write_lock = threading.Lock()  # one writer thread at a time in this process...
        # ...and one process at a time: SQLite's own lock makes a waiting process sleep and
        # retry (1, 2, 5 ... 100 ms), which shows as long write latencies when several API
        # server workers write at once; a blocking flock wakes the next writer at once.
        self._lock_file = os.open(f"{os.path.abspath(path)}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        self._closed = threading.Event()
        self._wake = threading.Event()
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._writer = self._connect()
        self._writer.execute("PRAGMA journal_mode=WAL")
        # Every statement is idempotent, so processes opening the file together are safe.
        self._writer.executescript(SCHEMA)
        self._broadcaster = Broadcaster(self.current_revision())
        self._poller = threading.Thread(target=self._poll_loop, name="sqlite-poll", daemon=True)
        self._poller.start()

    # -- connections ---------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the write locks: this process's, then the database file's (across processes)."""
        with self._write_lock:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def _reader(self) -> sqlite3.Connection:
        """A connection for this thread's reads (WAL readers never block the writer)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    # -- reads ---------------------------------------------------------------------

    def _latest_row(self, conn: sqlite3.Connection, key: str) -> tuple[int, int, int, str] | None:
        """(id, deleted, create_revision, value) of the newest row of ``key``."""
        return conn.execute(
            "SELECT id, deleted, create_revision, value FROM log WHERE name = ? "
            "ORDER BY id DESC LIMIT 1",
            (key,),
        ).fetchone()

    def _current(self, key: str) -> tuple[int, int, Object]:
        """(revision, create_revision, object) of a live key, or KeyNotFoundError."""
        row = self._latest_row(self._reader(), key)
        if row is None or row[1]:
            raise KeyNotFoundError(key)
        return row[0], row[2], _decode(row[3], row[0])

    def get(self, key: str) -> Object:
        return self._current(key)[2]

    def current_revision(self) -> int:
        return self._revision(self._reader())

    @staticmethod
    def _revision(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'log'").fetchone()
        return row[0] if row else 0

    @staticmethod
    def _compact_revision(conn: sqlite3.Connection) -> int:
        return conn.execute("SELECT value FROM meta WHERE key = 'compact_revision'").fetchone()[0]

    def list(
        self, prefix: str, *, revision: int = 0, limit: int = 0, start_key: str = ""
    ) -> ListResult:
        conn = self._reader()
        conn.execute("BEGIN")  # one snapshot for the revision, the rows and the count
        try:
            current = self._revision(conn)
            if revision:
                if revision < self._compact_revision(conn):
                    raise CompactedError(prefix, revision, self._compact_revision(conn))
                if revision > current:
                    raise FutureRevisionError(
                        prefix, f"Too large resource version: {revision}, current: {current}"
                    )
            at = revision or current
            low = max(prefix, start_key) if start_key else prefix
            high = _prefix_end(prefix)
            newest = "SELECT MAX(id) AS id FROM log WHERE name >= ? AND name < ? AND id <= ? GROUP BY name"
            sql = (
                f"SELECT l.id, l.name, l.value FROM log l JOIN ({newest}) m ON l.id = m.id "
                "WHERE l.deleted = 0 ORDER BY l.name"
            )
            params: list[Any] = [low, high, at]
            if limit:
                sql += " LIMIT ?"
                params.append(min(limit, 2**62) + 1)  # one more tells whether another page exists
            rows = conn.execute(sql, params).fetchall()
            result = ListResult(items=[_decode(r[2], r[0]) for r in rows[:limit or None]], revision=at)
            if limit and len(rows) > limit:
                result.continue_key = rows[limit][1]
                result.remaining = conn.execute(
                    f"SELECT COUNT(*) FROM log l JOIN ({newest}) m ON l.id = m.id WHERE l.deleted = 0",
                    (result.continue_key, high, at),
                ).fetchone()[0]
            return result
        finally:
            conn.execute("COMMIT")

    # -- writes --------------------------------------------------------------------

    def _append(
        self,
        key: str,
        *,
        expect_prev: int | None,
        created: bool,
        deleted: bool,
        create_revision: int | None,
        value: str,
        old_value: str | None,
    ) -> int:
        """Insert one row if the newest row of ``key`` is still ``expect_prev``; return its id.

        ``expect_prev`` None means "the key must not exist" (a create). Returns 0 when
        somebody else wrote the key first: the caller reads again and retries.
        """
        with self._writing():
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                latest = self._latest_row(conn, key)
                if expect_prev is None:
                    if latest is not None and not latest[1]:
                        raise KeyExistsError(key)
                    prev = latest[0] if latest else 0
                else:
                    if latest is None or latest[0] != expect_prev:
                        conn.execute("ROLLBACK")
                        return 0
                    prev = expect_prev
                cur = conn.execute(
                    "INSERT INTO log (name, created, deleted, create_revision, prev_revision, value, old_value)"
                    " VALUES (?, ?, ?, COALESCE(?, 0), ?, ?, ?)",
                    (key, int(created), int(deleted), create_revision, prev, value, old_value),
                )
                rev = cur.lastrowid
                if created:
                    conn.execute("UPDATE log SET create_revision = id WHERE id = ?", (rev,))
                conn.execute("COMMIT")
            except sqlite3.IntegrityError:
                # UNIQUE(name, prev_revision): another writer appended on top of the same row.
                conn.execute("ROLLBACK")
                if expect_prev is None:
                    raise KeyExistsError(key) from None
                return 0
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        self._wake.set()
        return rev

    def create(self, key: str, obj: Object) -> Object:
        value = _encode(obj)
        rev = self._append(
            key, expect_prev=None, created=True, deleted=False, create_revision=None,
            value=value, old_value=None,
        )
        return _decode(value, rev)

    def guaranteed_update(
        self,
        key: str,
        try_update: TryUpdate,
        *,
        preconditions: Preconditions | None = None,
    ) -> Object:
        while True:
            rev, create_rev, current = self._current(key)
            if preconditions:
                preconditions.check(key, current)
            old_value = _encode(current)
            updated = try_update(_decode(old_value, rev))  # a private copy the caller may mutate
            if updated is None:
                return current
            value = _encode(updated)
            if value == old_value:
                return current
            new_rev = self._append(
                key, expect_prev=rev, created=False, deleted=False,
                create_revision=create_rev, value=value, old_value=old_value,
            )
            if new_rev:
                return _decode(value, new_rev)
            # Lost the race: somebody wrote the key since we read it. Read again.

    def delete(
        self,
        key: str,
        *,
        preconditions: Preconditions | None = None,
        validate: Callable[[Object], None] | None = None,
    ) -> Object:
        while True:
            rev, create_rev, current = self._current(key)
            if preconditions:
                preconditions.check(key, current)
            if validate:
                validate(current)
            value = _encode(current)
            new_rev = self._append(
                key, expect_prev=rev, created=False, deleted=True,
                create_revision=create_rev, value=value, old_value=value,
            )
            if new_rev:
                return current  # as upstream: the last state, at its last revision

    # -- watch ---------------------------------------------------------------------

    def watch(self, prefix: str, revision: int) -> Subscription:
        # Subscribe first, then backfill from the table, so no event falls between the two.
        sub, delivered = self._broadcaster.subscribe(prefix, after=revision)
        try:
            conn = self._reader()
            compacted = self._compact_revision(conn)
            if revision < compacted:
                raise CompactedError(prefix, revision, compacted)
            if revision < delivered:
                if prefix.endswith("/"):
                    where, params = "name >= ? AND name < ?", [prefix, _prefix_end(prefix)]
                else:
                    where, params = "name = ?", [prefix]
                rows = conn.execute(
                    f"SELECT id, name, created, deleted, prev_revision, value, old_value FROM log "
                    f"WHERE id > ? AND id <= ? AND {where} ORDER BY id",
                    [revision, delivered, *params],
                ).fetchall()
                # A compaction may have run while we read: then rows we needed may be gone.
                if revision < self._compact_revision(conn):
                    raise CompactedError(prefix, revision, self._compact_revision(conn))
                sub.backfill([_event(row) for row in rows])
        except BaseException:
            sub.stop()
            raise
        return sub

    def _poll_loop(self) -> None:
        conn = self._connect()
        last = self._broadcaster.delivered
        version = None
        while not self._closed.is_set():
            self._wake.wait(self._poll_interval)
            self._wake.clear()
            try:
                now = conn.execute("PRAGMA data_version").fetchone()[0]
                if now == version:
                    continue
                version = now
                rows = conn.execute(
                    "SELECT id, name, created, deleted, prev_revision, value, old_value "
                    "FROM log WHERE id > ? ORDER BY id",
                    (last,),
                ).fetchall()
                if rows:
                    last = rows[-1][0]
                    self._broadcaster.publish([_event(row) for row in rows], last)
            except sqlite3.Error:
                log.exception("watch poll failed; retrying")
                version = None
                time.sleep(0.1)
        conn.close()

    # -- compaction ----------------------------------------------------------------

    def compact(self, revision: int) -> int:
        """Delete rows superseded at or before ``revision``; keep every key's state as of then."""
        with self._writing():
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                revision = min(revision, self._revision(conn))
                removed = conn.execute(
                    "DELETE FROM log WHERE id <= :rev AND (deleted = 1 OR id < ("
                    "  SELECT MAX(l2.id) FROM log l2 WHERE l2.name = log.name AND l2.id <= :rev))",
                    {"rev": revision},
                ).rowcount
                conn.execute(
                    "UPDATE meta SET value = MAX(value, ?) WHERE key = 'compact_revision'",
                    (revision,),
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        return removed

    def compact_revision(self) -> int:
        return self._compact_revision(self._reader())

    def close(self) -> None:
        self._closed.set()
        self._wake.set()
        self._poller.join(timeout=5)
        self._broadcaster.close()
        os.close(self._lock_file)


def _event(row: tuple[Any, ...]) -> Event:
    rev, name, created, deleted, prev_rev, value, old_value = row
    prev = _decode(old_value, prev_rev) if old_value is not None and not created else None
    if deleted:
        return Event(DELETED, name, _decode(value, rev), prev, rev)
    return Event(ADDED if created else MODIFIED, name, _decode(value, rev), prev, rev)

