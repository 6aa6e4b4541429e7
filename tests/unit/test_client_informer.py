"""The informer against a scripted transport: list, watch from the list's resourceVersion,
bookmarks, reconnects, relist on 410, the indexed cache and the handlers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import requests

from controlplane.client import resources as r
from controlplane.client.cache import OWNER_INDEX, Indexer, index_by_owner_uid
from controlplane.client.faketransport import FakeBody, FakeResponse, FakeTransport
from controlplane.client.informer import Informer
from controlplane.client.kubeconfig import ConnectionConfig
from controlplane.client.rest import Client

PATH = "/api/v1/namespaces/d/pods"


def pod(name: str, rv: str, owner: str | None = None) -> dict:  # type: ignore[type-arg]
    meta: dict = {"name": name, "namespace": "d", "uid": f"uid-{name}", "resourceVersion": rv}  # type: ignore[type-arg]
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "uid": owner}]
    return {"metadata": meta}


def pod_list(rv: str, *pods: dict) -> FakeResponse:  # type: ignore[type-arg]
    return FakeResponse(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": rv},
                              "items": list(pods)})


class Server:
    """Answers lists and watches on PATH from two scripts; the last watch stays open."""

    def __init__(self, lists: list[FakeResponse], watches: list[Callable[[], FakeResponse]]) -> None:
        self.transport = FakeTransport()
        self.lists = lists
        self.watches = watches
        self.held = FakeBody(hold_open=True)
        self.transport.on("GET", PATH, self._answer)

    def _answer(self, req: requests.PreparedRequest) -> FakeResponse:
        if FakeTransport.query(req).get("watch") == "true":
            return self.watches.pop(0)() if self.watches else FakeResponse(200, self.held)
        return self.lists.pop(0) if len(self.lists) > 1 else self.lists[0]

    def watch_queries(self) -> list[dict[str, str]]:
        return [q for q in map(FakeTransport.query, self.transport.calls("GET", PATH)) if q.get("watch")]

    def list_count(self) -> int:
        return sum(1 for req in self.transport.calls("GET", PATH) if "watch" not in FakeTransport.query(req))


def eventually(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


class Recorder:
    def __init__(self, inf: Informer) -> None:
        self.events: list[tuple[str, str]] = []
        inf.add_event_handler(on_add=lambda o: self.events.append(("add", o["metadata"]["name"])),
                              on_update=lambda old, new: self.events.append(("update", new["metadata"]["name"])),
                              on_delete=lambda o: self.events.append(("delete", o["metadata"]["name"])))


@pytest.fixture
def running() -> Iterator[Callable[[Server, dict], Informer]]:  # type: ignore[type-arg]
    started: list[Informer] = []

    def start(server: Server, kwargs: dict | None = None) -> Informer:  # type: ignore[type-arg]
        client = Client(ConnectionConfig(servers=("http://fake",)), transport=server.transport)
        inf = Informer(client, r.PODS, namespace="d", base_backoff=0.01, **(kwargs or {}))
        started.append(inf)
        return inf

    yield start
    for inf in started:
        inf.stop()
        inf.join(5)
        assert not inf._thread or not inf._thread.is_alive(), "the informer must stop when asked"


def test_lists_then_watches_from_the_lists_resource_version(running) -> None:  # type: ignore[no-untyped-def]
    server = Server([pod_list("10", pod("a", "8"))],
                    [lambda: FakeResponse.events(("ADDED", pod("b", "11")), ("MODIFIED", pod("a", "12")),
                                                 ("DELETED", pod("b", "13")))])
    inf = running(server)
    rec = Recorder(inf)
    assert not inf.has_synced()
    inf.start()
    assert inf.wait_for_sync(5)
    eventually(lambda: len(rec.events) == 4)
    assert rec.events == [("add", "a"), ("add", "b"), ("update", "a"), ("delete", "b")]
    assert [o["metadata"]["name"] for o in inf.cache.list()] == ["a"]
    assert inf.cache.get("d/a")["metadata"]["resourceVersion"] == "12"
    assert inf.cache.get("d/a")["kind"] == "Pod", "list items get their kind filled in"
    first = server.watch_queries()[0]
    assert first["resourceVersion"] == "10" and first["allowWatchBookmarks"] == "true"
    assert 300 <= int(first["timeoutSeconds"]) <= 600
    # The stream ended: the informer reconnects from the newest version it saw, without listing.
    eventually(lambda: len(server.watch_queries()) >= 2)
    assert server.watch_queries()[1]["resourceVersion"] == "13"
    assert server.list_count() == 1


def test_bookmarks_move_the_resource_version_without_events(running) -> None:  # type: ignore[no-untyped-def]
    bookmark = {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "50"}}
    server = Server([pod_list("10")], [lambda: FakeResponse.events(("BOOKMARK", bookmark))])
    inf = running(server)
    rec = Recorder(inf)
    inf.start()
    eventually(lambda: len(server.watch_queries()) >= 2)
    assert server.watch_queries()[1]["resourceVersion"] == "50"
    assert rec.events == [] and len(inf.cache) == 0


def test_an_expired_error_event_makes_it_list_again_and_report_the_difference(running) -> None:  # type: ignore[no-untyped-def]
    expired = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Expired", "code": 410,
               "message": "too old resource version: 10 (40)"}
    server = Server([pod_list("10", pod("a", "5"), pod("b", "6")), pod_list("45", pod("a", "44"), pod("c", "43"))],
                    [lambda: FakeResponse.events(("ERROR", expired))])
    inf = running(server)
    rec = Recorder(inf)
    inf.start()
    eventually(lambda: server.list_count() == 2 and len(server.watch_queries()) >= 2)
    # While we were not watching, b went and c came: handlers hear both.
    eventually(lambda: len(rec.events) == 5)
    assert sorted(rec.events[2:]) == [("add", "c"), ("delete", "b"), ("update", "a")]
    assert sorted(inf.cache.keys()) == ["d/a", "d/c"]
    assert server.watch_queries()[1]["resourceVersion"] == "45", "the new watch starts from the new list"


def test_a_410_answer_to_the_watch_also_relists(running) -> None:  # type: ignore[no-untyped-def]
    server = Server([pod_list("10"), pod_list("20", pod("x", "19"))],
                    [lambda: FakeResponse.status_error(410, "Expired", "too old resource version")])
    inf = running(server)
    inf.start()
    eventually(lambda: inf.cache.get("d/x") is not None)
    assert server.list_count() == 2
    eventually(lambda: len(server.watch_queries()) >= 2)
    assert server.watch_queries()[1]["resourceVersion"] == "20"


def test_failures_back_off_and_retry_from_the_same_version(running) -> None:  # type: ignore[no-untyped-def]
    server = Server([pod_list("10")], [lambda: FakeResponse.status_error(500, "InternalError", "boom")])
    inf = running(server)
    inf.start()
    eventually(lambda: len(server.watch_queries()) >= 2)
    assert [q["resourceVersion"] for q in server.watch_queries()[:2]] == ["10", "10"]
    assert server.list_count() == 1, "a failed watch is retried, not a reason to relist"


def test_metadata_only_asks_for_partial_object_metadata_on_list_and_watch(running) -> None:  # type: ignore[no-untyped-def]
    server = Server([FakeResponse(200, {"kind": "PartialObjectMetadataList", "metadata": {"resourceVersion": "3"},
                                        "items": [{"kind": "PartialObjectMetadata", **pod("a", "2")}]})], [])
    inf = running(server, {"metadata_only": True})
    inf.start()
    eventually(lambda: len(server.watch_queries()) >= 1)
    list_req, watch_req = server.transport.calls("GET", PATH)[:2]
    assert list_req.headers["Accept"] == "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
    assert watch_req.headers["Accept"] == "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
    assert inf.cache.get("d/a")["kind"] == "PartialObjectMetadata"


def test_stop_breaks_an_open_watch_promptly(running) -> None:  # type: ignore[no-untyped-def]
    server = Server([pod_list("10")], [])
    inf = running(server)
    inf.start()
    eventually(lambda: len(server.watch_queries()) == 1)
    started = time.monotonic()
    inf.stop()
    inf.join(5)
    assert time.monotonic() - started < 2
    assert not inf._thread.is_alive()  # type: ignore[union-attr]


def test_live_events_arrive_while_the_watch_stays_open(running) -> None:  # type: ignore[no-untyped-def]
    server = Server([pod_list("10")], [])
    inf = running(server, {"indexers": {OWNER_INDEX: index_by_owner_uid}})
    inf.start()
    eventually(lambda: len(server.watch_queries()) == 1)
    server.held.push_event("ADDED", pod("p1", "11", owner="rs-1"))
    server.held.push_event("ADDED", pod("p2", "12", owner="rs-1"))
    eventually(lambda: len(inf.cache) == 2)
    assert [o["metadata"]["name"] for o in inf.cache.by_index(OWNER_INDEX, "rs-1")] == ["p1", "p2"]
    assert inf.resource_version == "12"


def test_indexer_keeps_indexes_in_step_with_updates_and_deletes() -> None:
    idx = Indexer({OWNER_INDEX: index_by_owner_uid})
    idx.upsert(pod("a", "1", owner="o1"))
    idx.upsert(pod("a", "2", owner="o2"))  # re-owned
    assert idx.by_index(OWNER_INDEX, "o1") == []
    assert [o["metadata"]["resourceVersion"] for o in idx.by_index(OWNER_INDEX, "o2")] == ["2"]
    idx.delete("d/a")
    assert idx.by_index(OWNER_INDEX, "o2") == [] and len(idx) == 0
    idx.upsert({"metadata": {"name": "n1"}})
    assert idx.keys() == ["n1"], "cluster-scoped objects are keyed by name alone"
    with pytest.raises(KeyError):
        idx.by_index("nope", "x")


def test_a_failing_handler_does_not_stop_the_informer(running) -> None:  # type: ignore[no-untyped-def]
    server = Server([pod_list("10", pod("a", "1"), pod("b", "2"))], [])
    inf = running(server)
    seen: list[str] = []

    def flaky(obj: dict) -> None:  # type: ignore[type-arg]
        seen.append(obj["metadata"]["name"])
        raise RuntimeError("handler bug")

    inf.add_event_handler(on_add=flaky)
    inf.start()
    assert inf.wait_for_sync(5)
    assert seen == ["a", "b"]
    eventually(lambda: len(server.watch_queries()) == 1)
    server.held.push_event("ADDED", pod("c", "11"))
    eventually(lambda: inf.cache.get("d/c") is not None)
    assert seen == ["a", "b", "c"]
