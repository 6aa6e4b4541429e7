"""``kubeclass backup`` and ``kubeclass restore``: the cluster's whole state, to a file and back.

Where it sits: beside ``local.py``, as an administrator's tool that works on the store
itself, the way ``etcdctl snapshot save|restore`` does on a real cluster (it does not go
through the API server: a backup is of the store, not of the objects one can list).

* SQLite: SQLite's own online backup, a consistent copy taken while the API servers
  write; restoring swaps the file while the cluster is stopped.
* etcd: ``etcdctl snapshot save`` from a member; restoring is the classic exercise:
  stop the cluster, ``etcdctl snapshot restore`` a fresh data directory for every member
  (same names, peer URLs and cluster token), start again.

A restore never deletes what it replaces: the old state moves aside, named
``*.before-restore-<time>``, and the message says where.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .local import LocalCluster

Progress = Callable[[str], None]


class BackupError(Exception):
    """A problem the user can act on; the message says what to do."""


def etcdctl() -> str:
    found = shutil.which("etcdctl") or ("/usr/bin/etcdctl" if os.access("/usr/bin/etcdctl", os.X_OK) else None)
    if not found:
        raise BackupError("etcdctl is needed for an etcd cluster's backups: `apt-get install etcd-client`")
    return found


def _run(argv: list[str], what: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "ETCDCTL_API": "3"})
    if result.returncode != 0:
        raise BackupError(f"{what} failed: {(result.stderr or result.stdout).strip().splitlines()[-1:]}")
    return result.stdout


def backup(cluster: LocalCluster, path: str, progress: Progress) -> str:
    """Write the cluster's state to ``path`` (the cluster keeps running); returns a summary."""
    path = os.path.abspath(path)
    if os.path.exists(path):
        raise BackupError(f"{path} exists already: choose another file (a backup never overwrites one)")
    if cluster.topology.store == "etcd":
        if not cluster.running():
            raise BackupError("the cluster is not running: `kubeclass up` first (a snapshot is taken from etcd)")
        errors = []
        for name, client, _ in cluster.topology.etcd_members():  # a snapshot comes from one member
            progress(f"Taking an etcd snapshot from {name}'s member")
            try:
                _run([etcdctl(), "--endpoints", client, "snapshot", "save", path], "etcdctl snapshot save")
                break
            except BackupError as e:
                errors.append(f"{name}: {e}")
        else:
            raise BackupError("no etcd member could take a snapshot: " + "; ".join(errors))
        status = _run([etcdctl(), "snapshot", "status", path, "-w", "simple"], "etcdctl snapshot status")
        _hash, revision, keys, _size = status.strip().split(", ")
        return f"etcd snapshot at revision {revision}, {keys} keys"
    db = cluster.path("store", "cluster.db")
    if not os.path.exists(db):
        raise BackupError(f"there is no state to back up yet ({db}): `kubeclass up` first")
    progress("Copying the SQLite store")
    source = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    target = sqlite3.connect(path)
    try:
        source.backup(target)  # consistent, even while the API servers write
        revision = target.execute("SELECT COALESCE(MAX(id), 0) FROM log").fetchone()[0]
    finally:
        source.close()
        target.close()
    return f"SQLite copy at revision {revision}"


def restore(cluster: LocalCluster, path: str, progress: Progress) -> str:
    """Replace the cluster's state by the backup at ``path``: stop, swap, start again.
    Returns where the replaced state went."""
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise BackupError(f"no backup file {path}")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if cluster.topology.store == "etcd":
        _run([etcdctl(), "snapshot", "status", path], f"{path} is not an etcd snapshot; etcdctl snapshot status")
    else:
        _check_sqlite(path)
    progress("Stopping the cluster")
    cluster.down(progress)
    if cluster.topology.store == "etcd":
        aside = cluster.path(f"etcd.before-restore-{stamp}")
        if os.path.exists(cluster.path("etcd")):
            os.rename(cluster.path("etcd"), aside)
        members = cluster.topology.etcd_members()
        initial = ",".join(f"{name}={peer}" for name, _, peer in members)
        for name, _, peer in members:
            progress(f"Restoring the snapshot into {name}'s etcd member")
            _run([etcdctl(), "snapshot", "restore", path, "--name", name, "--data-dir", cluster.path("etcd", name),
                  "--initial-cluster", initial, "--initial-cluster-token", f"kubeclass-{cluster.topology.id}",
                  "--initial-advertise-peer-urls", peer], "etcdctl snapshot restore")
    else:
        db = cluster.path("store", "cluster.db")
        aside = f"{db}.before-restore-{stamp}"
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db + suffix):
                os.rename(db + suffix, aside + suffix)
        os.makedirs(os.path.dirname(db), exist_ok=True)
        shutil.copyfile(path, db)
    progress("Starting the cluster again")
    cluster.up(progress)
    return aside


def _check_sqlite(path: str) -> None:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        db.execute("SELECT COUNT(*) FROM log").fetchone()
    except sqlite3.DatabaseError as e:
        raise BackupError(f"{path} is not a kubeclass SQLite backup ({e})") from None
    finally:
        db.close()
