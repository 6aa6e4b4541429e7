"""`kubeclass backup` and `kubeclass restore` on the default SQLite store, as a student runs them.

The classic exercise: back up, delete a namespace, restore, and the namespace and its
objects are back. A small cluster of its own (one master, no worker): restoring stops and
starts it. The etcd version of the exercise is in test_etcd_ha_live.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.integration.test_classroom_e2e import generate, k, kjson
from tests.livecluster import Cluster, kubeclass, own_cluster

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def kc(tmp_path_factory) -> Iterator[Cluster]:
    with own_cluster(tmp_path_factory.mktemp("backup"), masters=1, workers=0) as cluster:
        yield cluster


def test_backup_then_delete_a_namespace_then_restore_brings_it_back(kc: Cluster) -> None:
    generate(kc, "create", "namespace", "precious")
    generate(kc, "create", "configmap", "data", "-n", "precious", "--from-literal=keep=me")
    saved = kubeclass(kc, "backup", "state.db")
    assert saved.returncode == 0 and "SQLite copy at revision" in saved.stderr, saved.stderr
    again = kubeclass(kc, "backup", "state.db")
    assert again.returncode == 1 and "exists already" in again.stderr  # never overwrites
    k(kc, "delete", "namespace", "precious", timeout=120)
    restored = kubeclass(kc, "restore", "state.db")
    assert restored.returncode == 0 and "cluster.db.before-restore-" in restored.stderr, restored.stderr
    assert kjson(kc, "get", "configmap", "data", "-n", "precious")["data"] == {"keep": "me"}
    assert "Ready" in k(kc, "get", "node", "master-1")


def test_a_file_that_is_not_a_backup_is_refused_and_nothing_is_stopped(kc: Cluster) -> None:
    with open(os.path.join(kc.home, "notes.txt"), "w") as f:
        f.write("not a database\n")
    wrong = kubeclass(kc, "restore", "notes.txt")
    assert wrong.returncode == 1 and "is not a kubeclass SQLite backup" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    assert kc.local.running(), "the cluster was left running"
