"""Storage conformance: the behaviour every backend must have (after apiserver's store_tests.go).

These tests talk only to the :class:`controlplane.storage.Storage` interface.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import pytest

from controlplane.storage import (
    ADDED,
    DELETED,
    MODIFIED,
    CompactedError,
    ConflictError,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    Preconditions,
    Storage,
)

from .conftest import PYTHON, Backend

PODS = "/registry/pods/"


def pod(name: str, ns: str = "default", **extra) -> dict:
    return {"metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}"}, **extra}


def key(name: str, ns: str = "default") -> str:
    return f"{PODS}{ns}/{name}"


def rv(obj: dict) -> int:
    return int(obj["metadata"]["resourceVersion"])


# -- create / get ----------------------------------------------------------------------


def test_create_returns_object_with_new_revision(store: Storage) -> None:
    before = store.current_revision()
    out = store.create(key("a"), pod("a", spec={"x": 1}))
    assert out["spec"] == {"x": 1}
    assert rv(out) > before
    assert store.current_revision() == rv(out)
    assert store.get(key("a")) == out


def test_create_existing_key_fails(store: Storage) -> None:
    store.create(key("a"), pod("a"))
    with pytest.raises(KeyExistsError):
        store.create(key("a"), pod("a"))


def test_get_missing_key(store: Storage) -> None:
    with pytest.raises(KeyNotFoundError):
        store.get(key("nope"))


def test_resource_version_is_a_string_and_not_stored(store: Storage) -> None:
    out = store.create(key("a"), pod("a", metadata={"name": "a", "resourceVersion": "999"}))
    assert isinstance(out["metadata"]["resourceVersion"], str)
    assert out["metadata"]["resourceVersion"] != "999"


def test_revisions_increase_across_keys(store: Storage) -> None:
    revs = [rv(store.create(key(f"p{i}"), pod(f"p{i}"))) for i in range(5)]
    assert revs == sorted(revs) and len(set(revs)) == 5


# -- guaranteed_update -----------------------------------------------------------------


def test_update_writes_new_revision(store: Storage) -> None:
    first = store.create(key("a"), pod("a", spec={"n": 0}))

    def bump(obj: dict) -> dict:
        obj["spec"]["n"] += 1
        return obj

    out = store.guaranteed_update(key("a"), bump)
    assert out["spec"]["n"] == 1 and rv(out) > rv(first)
    assert store.get(key("a")) == out


def test_update_with_no_change_writes_nothing(store: Storage) -> None:
    first = store.create(key("a"), pod("a"))
    out = store.guaranteed_update(key("a"), lambda obj: obj)
    assert rv(out) == rv(first) == store.current_revision()
    assert rv(store.guaranteed_update(key("a"), lambda obj: None)) == rv(first)


def test_update_missing_key(store: Storage) -> None:
    with pytest.raises(KeyNotFoundError):
        store.guaranteed_update(key("nope"), lambda obj: obj)


def test_update_errors_from_try_update_reach_the_caller(store: Storage) -> None:
    store.create(key("a"), pod("a"))

    def refuse(obj: dict) -> dict:
        raise ValueError("no")

    with pytest.raises(ValueError):
        store.guaranteed_update(key("a"), refuse)


def test_concurrent_updates_lose_nothing(store: Storage) -> None:
    """Compare-and-swap: 4 threads x 25 increments must give exactly 100."""
    store.create(key("counter"), pod("counter", spec={"n": 0}))

    def bump(obj: dict) -> dict:
        obj["spec"]["n"] += 1
        return obj

    def work() -> None:
        for _ in range(25):
            store.guaranteed_update(key("counter"), bump)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert store.get(key("counter"))["spec"]["n"] == 100


def test_update_preconditions(store: Storage) -> None:
    created = store.create(key("a"), pod("a"))
    with pytest.raises(ConflictError, match="UID"):
        store.guaranteed_update(key("a"), lambda o: o, preconditions=Preconditions(uid="other"))
    with pytest.raises(ConflictError, match="ResourceVersion"):
        stale = Preconditions(resource_version=str(rv(created) + 1000))
        store.guaranteed_update(key("a"), lambda o: o, preconditions=stale)


# -- delete ----------------------------------------------------------------------------


def test_delete_returns_last_state(store: Storage) -> None:
    created = store.create(key("a"), pod("a", spec={"x": 1}))
    out = store.delete(key("a"))
    assert out["spec"] == {"x": 1} and rv(out) == rv(created)
    assert store.current_revision() > rv(created)
    with pytest.raises(KeyNotFoundError):
        store.get(key("a"))
    with pytest.raises(KeyNotFoundError):
        store.delete(key("a"))


def test_delete_preconditions_and_validation(store: Storage) -> None:
    store.create(key("a"), pod("a"))
    with pytest.raises(ConflictError):
        store.delete(key("a"), preconditions=Preconditions(uid="someone-else"))

    def refuse(obj: dict) -> None:
        raise PermissionError("protected")

    with pytest.raises(PermissionError):
        store.delete(key("a"), validate=refuse)
    store.get(key("a"))  # still there
    store.delete(key("a"), preconditions=Preconditions(uid="uid-a"))


def test_recreate_after_delete(store: Storage) -> None:
    store.create(key("a"), pod("a", spec={"v": 1}))
    store.delete(key("a"))
    again = store.create(key("a"), pod("a", spec={"v": 2}))
    assert store.get(key("a")) == again


# -- list ------------------------------------------------------------------------------


def test_list_is_ordered_and_prefix_bounded(store: Storage) -> None:
    for name in ["b", "a", "c"]:
        store.create(key(name), pod(name))
    store.create("/registry/podsx/default/z", pod("z"))  # a sibling prefix, not a child
    store.create(key("x", ns="other"), pod("x", ns="other"))
    result = store.list(PODS)
    assert [o["metadata"]["name"] for o in result.items] == ["a", "b", "c", "x"]
    assert result.revision == store.current_revision()
    assert [o["metadata"]["name"] for o in store.list(f"{PODS}default/").items] == ["a", "b", "c"]


def test_list_skips_deleted(store: Storage) -> None:
    store.create(key("a"), pod("a"))
    store.create(key("b"), pod("b"))
    store.delete(key("a"))
    assert [o["metadata"]["name"] for o in store.list(PODS).items] == ["b"]


def test_list_pages(store: Storage) -> None:
    for i in range(7):
        store.create(key(f"p{i}"), pod(f"p{i}"))
    first = store.list(PODS, limit=3)
    assert [o["metadata"]["name"] for o in first.items] == ["p0", "p1", "p2"]
    assert first.continue_key and first.remaining == 4
    # Later pages are read at the first page's revision, so writes in between don't show.
    store.create(key("p00"), pod("p00"))
    second = store.list(PODS, limit=3, start_key=first.continue_key, revision=first.revision)
    assert [o["metadata"]["name"] for o in second.items] == ["p3", "p4", "p5"]
    third = store.list(PODS, limit=3, start_key=second.continue_key, revision=first.revision)
    assert [o["metadata"]["name"] for o in third.items] == ["p6"]
    assert third.continue_key == "" and third.remaining == 0


def test_list_at_an_older_revision(store: Storage) -> None:
    a = store.create(key("a"), pod("a", spec={"v": 1}))
    store.guaranteed_update(key("a"), lambda o: {**o, "spec": {"v": 2}})
    store.create(key("b"), pod("b"))
    old = store.list(PODS, revision=rv(a))
    assert [(o["metadata"]["name"], o["spec"]["v"]) for o in old.items] == [("a", 1)]
    assert old.revision == rv(a)


def test_list_at_a_future_revision(store: Storage) -> None:
    store.create(key("a"), pod("a"))
    with pytest.raises(FutureRevisionError):
        store.list(PODS, revision=store.current_revision() + 100)


# -- watch -----------------------------------------------------------------------------


def collect(watcher, n: int, timeout: float = 5.0) -> list:
    events, deadline = [], time.monotonic() + timeout
    while len(events) < n and time.monotonic() < deadline:
        event = watcher.next(0.1)
        if event is not None:
            events.append(event)
    return events


def test_watch_sees_changes_after_revision(store: Storage) -> None:
    start = store.current_revision()
    w = store.watch(PODS, start)
    try:
        created = store.create(key("a"), pod("a", spec={"v": 1}))
        store.guaranteed_update(key("a"), lambda o: {**o, "spec": {"v": 2}})
        store.delete(key("a"))
        events = collect(w, 3)
    finally:
        w.stop()
    assert [e.type for e in events] == [ADDED, MODIFIED, DELETED]
    assert events[0].object == created and events[0].prev_object is None
    assert events[1].object["spec"] == {"v": 2} and events[1].prev_object["spec"] == {"v": 1}
    # DELETED carries the last state with the deletion's revision.
    assert events[2].object["spec"] == {"v": 2} and rv(events[2].object) == events[2].revision
    assert [e.revision for e in events] == sorted(e.revision for e in events)


def test_watch_replays_history_from_an_old_revision(store: Storage) -> None:
    start = store.current_revision()
    store.create(key("a"), pod("a"))
    store.create(key("b"), pod("b"))
    w = store.watch(PODS, start)
    try:
        store.create(key("c"), pod("c"))
        events = collect(w, 3)
    finally:
        w.stop()
    assert [e.object["metadata"]["name"] for e in events] == ["a", "b", "c"]


def test_watch_from_the_newest_revision_misses_nothing(store: Storage) -> None:
    """A client that watches from the revision of its own write sees the next write."""
    created = store.create(key("a"), pod("a"))
    w = store.watch(PODS, rv(created))
    try:
        store.create(key("b"), pod("b"))
        events = collect(w, 1)
        assert collect(w, 1, timeout=0.3) == []
    finally:
        w.stop()
    assert [e.object["metadata"]["name"] for e in events] == ["b"]


def test_watch_filters_by_prefix_and_exact_key(store: Storage) -> None:
    start = store.current_revision()
    ns_watch = store.watch(f"{PODS}other/", start)
    key_watch = store.watch(key("a"), start)
    try:
        store.create(key("a"), pod("a"))
        store.create(key("ab"), pod("ab"))
        store.create(key("x", ns="other"), pod("x", ns="other"))
        assert [e.key for e in collect(key_watch, 2, timeout=1)] == [key("a")]
        assert [e.key for e in collect(ns_watch, 2, timeout=1)] == [key("x", ns="other")]
    finally:
        ns_watch.stop()
        key_watch.stop()


def test_stopped_watch_ends_iteration(store: Storage) -> None:
    w = store.watch(PODS, store.current_revision())
    w.stop()
    w.stop()  # safe twice
    assert list(w) == []


def test_watch_sees_writes_from_another_process(backend: Backend, store: Storage) -> None:
    w = store.watch(PODS, store.current_revision())
    try:
        script = (
            "from controlplane.storage import open_store\n"
            f"s = open_store({backend.url!r})\n"
            "for i in range(3):\n"
            "    s.create(f'/registry/pods/default/remote{i}', {'metadata': {'name': f'remote{i}'}})\n"
            "s.close()\n"
        )
        subprocess.run([PYTHON, "-c", script], check=True, timeout=60)
        events = collect(w, 3)
    finally:
        w.stop()
    assert [e.object["metadata"]["name"] for e in events] == ["remote0", "remote1", "remote2"]


# -- compaction ------------------------------------------------------------------------


def test_compaction_keeps_current_state_and_expires_old_revisions(store: Storage) -> None:
    a = store.create(key("a"), pod("a", spec={"v": 0}))
    for v in range(1, 5):
        store.guaranteed_update(key("a"), lambda o, v=v: {**o, "spec": {"v": v}})
    store.create(key("gone"), pod("gone"))
    store.delete(key("gone"))
    store.create(key("b"), pod("b"))
    at = store.current_revision()
    store.compact(at - 1)

    assert store.get(key("a"))["spec"] == {"v": 4}
    assert [o["metadata"]["name"] for o in store.list(PODS).items] == ["a", "b"]
    with pytest.raises(CompactedError):
        store.watch(PODS, rv(a))
    with pytest.raises(CompactedError):
        store.list(PODS, revision=rv(a))
    # From the compacted revision onwards, history is intact.
    w = store.watch(PODS, at - 1)
    try:
        assert [e.object["metadata"]["name"] for e in collect(w, 1)] == ["b"]
    finally:
        w.stop()
    # Keys deleted before the compaction can be created again.
    store.create(key("gone"), pod("gone"))


# -- durability ------------------------------------------------------------------------


@pytest.mark.slow
def test_acknowledged_writes_survive_sigkill(backend: Backend) -> None:
    """Kill a writer mid-stream: every create it reported as done is in the store."""
    script = (
        "import sys\n"
        "from controlplane.storage import open_store\n"
        f"s = open_store({backend.url!r})\n"
        "i = 0\n"
        "while True:\n"
        "    s.create(f'/registry/configmaps/default/cm{i:06d}', {'metadata': {'name': f'cm{i}'}, 'data': {'i': str(i)}})\n"
        "    print(i, flush=True)\n"
        "    i += 1\n"
    )
    proc = subprocess.Popen([PYTHON, "-c", script], stdout=subprocess.PIPE, text=True)
    acknowledged = -1
    deadline = time.monotonic() + 30
    assert proc.stdout is not None
    while acknowledged < 300 and time.monotonic() < deadline:
        acknowledged = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    for line in proc.stdout:  # writes acknowledged before the kill landed
        if line.strip():
            acknowledged = int(line)
    proc.stdout.close()

    s = backend.open()
    try:
        names = {o["metadata"]["name"] for o in s.list("/registry/configmaps/").items}
    finally:
        s.close()
    missing = [i for i in range(acknowledged + 1) if f"cm{i}" not in names]
    assert acknowledged >= 300 and missing == []
