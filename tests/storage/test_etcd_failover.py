"""The etcd backend when members fail: what an API server sees through EtcdStore.

Each test runs its own three-member etcd cluster (not the session's shared one) and
kills members with SIGKILL, as a crashed master would lose them:

* one member down: reads, writes and watches carry on through the other two;
* two down: no quorum; requests fail within seconds with UnavailableError saying so
  (the API server answers 503), and work again once a member is back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from controlplane.storage import ADDED, EtcdStore, KeyExistsError, Storage, UnavailableError

from .conftest import EtcdCluster

CMS = "/registry/core/configmaps/default/"


def cm(name: str) -> dict:
    return {"metadata": {"name": name, "namespace": "default"}, "data": {"k": name}}


def rv(obj: dict) -> int:
    return int(obj["metadata"]["resourceVersion"])


@pytest.fixture
def cluster(tmp_path) -> Iterator[EtcdCluster]:
    with EtcdCluster(tmp_path) as c:
        yield c


def store_on(cluster: EtcdCluster, first: int) -> EtcdStore:
    """A store that talks to member ``first`` until it fails."""
    n = len(cluster.endpoints)
    order = [cluster.endpoints[(first + i) % n] for i in range(n)]
    return EtcdStore(order, prefix="/failover/")


def write_until_ok(store: Storage, key: str, obj: dict, within: float) -> dict:
    """Create ``obj``, retrying while the store is unavailable (and only then)."""
    deadline, unknown = time.monotonic() + within, False
    while True:
        try:
            return store.create(key, obj)
        except UnavailableError:
            if time.monotonic() > deadline:
                raise
            unknown = True  # that attempt may have been applied after all
            time.sleep(0.2)
        except KeyExistsError:
            current = store.get(key)
            if not unknown or current["data"] != obj["data"]:
                raise
            return current


@pytest.mark.slow
def test_one_member_down_reads_and_writes_go_to_another(cluster: EtcdCluster) -> None:
    leader = cluster.leader()
    follower = next(i for i in range(3) if i != leader)
    store = store_on(cluster, follower)
    try:
        first = store.create(f"{CMS}a", cm("a"))
        cluster.kill_member(follower)  # the very member the store talks to
        started = time.monotonic()
        assert store.get(f"{CMS}a") == first
        store.create(f"{CMS}b", cm("b"))
        store.guaranteed_update(f"{CMS}a", lambda o: {**o, "data": {"k": "changed"}})
        assert [o["data"]["k"] for o in store.list(CMS).items] == ["changed", "b"]
        assert time.monotonic() - started < 5
    finally:
        store.close()


@pytest.mark.slow
def test_leader_down_writes_resume_after_the_election(cluster: EtcdCluster) -> None:
    leader = cluster.leader()
    assert leader is not None
    store = store_on(cluster, leader)
    try:
        store.create(f"{CMS}before", cm("before"))
        cluster.kill_member(leader)
        # Until the other two elect a leader, a write may fail, but only as "unavailable".
        write_until_ok(store, f"{CMS}after", cm("after"), within=15)
        for i in range(10):
            store.create(f"{CMS}more{i}", cm(f"more{i}"))
        assert len(store.list(CMS).items) == 12
    finally:
        store.close()


@pytest.mark.slow
def test_two_members_down_is_unavailable_then_recovers(cluster: EtcdCluster) -> None:
    store = store_on(cluster, 0)
    try:
        store.create(f"{CMS}a", cm("a"))
        cluster.kill_member(0)
        cluster.kill_member(1)
        started = time.monotonic()
        with pytest.raises(UnavailableError) as failure:
            store.create(f"{CMS}b", cm("b"))
        assert time.monotonic() - started <= 10
        message = str(failure.value)
        assert "lost quorum" in message and "1 of 3 members reachable" in message, message

        started = time.monotonic()
        with pytest.raises(UnavailableError, match="lost quorum"):
            store.get(f"{CMS}a")  # reads are linearizable: no quorum, no answer
        assert time.monotonic() - started <= 10

        cluster.start_member(1, wait=False)  # no manual repair: it rejoins from its data dir
        write_until_ok(store, f"{CMS}c", cm("c"), within=20)
        names = [o["metadata"]["name"] for o in store.list(CMS).items]
        assert names == ["a", "c"] or names == ["a", "b", "c"]  # b's outcome was unknown
    finally:
        store.close()


@pytest.mark.slow
def test_watch_resumes_on_another_member_without_loss_or_duplicates(cluster: EtcdCluster) -> None:
    leader = cluster.leader()
    follower = next(i for i in range(3) if i != leader)
    watching = store_on(cluster, follower)  # its watch stream is on the member we kill
    writing = store_on(cluster, leader)
    start = writing.current_revision()
    watch = watching.watch(CMS, start)
    events: list = []

    # extend() appends each event as the watch yields it, so the test sees them arrive.
    reader = threading.Thread(target=lambda: events.extend(watch), daemon=True)
    reader.start()
    try:
        for i in range(30):
            writing.create(f"{CMS}cm{i:02d}", cm(f"cm{i:02d}"))
            if i == 10:
                cluster.kill_member(follower)
        written = writing.list(CMS).items
        deadline = time.monotonic() + 15
        while len(events) < len(written) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # any duplicate would arrive now
    finally:
        watch.stop()
        reader.join(timeout=5)
        watching.close()
        writing.close()
    assert [e.type for e in events] == [ADDED] * len(written)
    assert [(e.key, e.revision) for e in events] == [
        (f"{CMS}{o['metadata']['name']}", rv(o)) for o in sorted(written, key=rv)]
