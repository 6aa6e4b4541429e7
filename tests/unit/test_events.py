"""The event recorder: the Events `kubectl describe` shows, written without blocking anyone."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest

from controlplane.client import errors
from controlplane.client import resources as r
from controlplane.client.events import AGGREGATE_WINDOW, EventRecorder
from controlplane.client.fake import FakeClient

Obj = dict[str, Any]
RS = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
      "metadata": {"name": "web-7d4f8", "namespace": "shop", "uid": "rs-uid", "resourceVersion": "41"}}
NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-1", "uid": "node-uid"}}
T0 = 1795370882.0  # 2026-11-22T18:08:02Z


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def events(fake: FakeClient) -> list[Obj]:
    return [o for (gr, _, _), o in sorted(fake.objects.items()) if gr == "events"]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake() -> FakeClient:
    return FakeClient()


@pytest.fixture
def recorder(fake: FakeClient, clock: Clock):  # type: ignore[no-untyped-def]
    rec = EventRecorder(fake, "replicaset-controller", clock=clock)
    yield rec
    rec.stop()


def test_an_event_has_upstreams_shape(recorder: EventRecorder, fake: FakeClient) -> None:
    recorder.eventf(RS, "Normal", "SuccessfulCreate", "Created pod: %s", "web-7d4f8-abcde")
    assert recorder.flush()
    [event] = events(fake)
    assert re.fullmatch(r"web-7d4f8\.[0-9a-f]{16}", event["metadata"]["name"]), event["metadata"]["name"]
    assert event["metadata"]["namespace"] == "shop"
    assert event["involvedObject"] == {"kind": "ReplicaSet", "namespace": "shop", "name": "web-7d4f8",
                                       "uid": "rs-uid", "apiVersion": "apps/v1", "resourceVersion": "41"}
    assert {k: event[k] for k in ("type", "reason", "message", "count", "firstTimestamp", "lastTimestamp",
                                  "source", "reportingComponent")} == {
        "type": "Normal", "reason": "SuccessfulCreate", "message": "Created pod: web-7d4f8-abcde", "count": 1,
        "firstTimestamp": "2026-11-22T18:08:02Z", "lastTimestamp": "2026-11-22T18:08:02Z",
        "source": {"component": "replicaset-controller"}, "reportingComponent": "replicaset-controller"}


def test_events_about_cluster_scoped_objects_go_to_default(recorder: EventRecorder, fake: FakeClient) -> None:
    recorder.event(NODE, "Warning", "NodeNotReady", "Node worker-1 status is now: NodeNotReady")
    assert recorder.flush()
    [event] = events(fake)
    assert event["metadata"]["namespace"] == "default" and "namespace" not in event["involvedObject"]


def test_a_repeat_counts_up_the_first_event(recorder: EventRecorder, fake: FakeClient, clock: Clock) -> None:
    recorder.event(RS, "Warning", "FailedCreate", "Error creating: quota exceeded")
    assert recorder.flush()
    clock.now += 75
    recorder.event(RS, "Warning", "FailedCreate", "Error creating: quota exceeded")
    clock.now += 5
    recorder.event(RS, "Warning", "FailedCreate", "Error creating: quota exceeded")
    assert recorder.flush()
    [event] = events(fake)
    assert (event["count"], event["firstTimestamp"], event["lastTimestamp"]) == (
        3, "2026-11-22T18:08:02Z", "2026-11-22T18:09:22Z")
    patches = [a for a in fake.actions if a.verb == "patch"]
    assert [p.details["patch"]["count"] for p in patches] == [2, 3]


def test_a_different_message_is_a_different_event(recorder: EventRecorder, fake: FakeClient) -> None:
    recorder.event(RS, "Normal", "SuccessfulCreate", "Created pod: a")
    recorder.event(RS, "Normal", "SuccessfulCreate", "Created pod: b")
    assert recorder.flush()
    assert sorted(e["message"] for e in events(fake)) == ["Created pod: a", "Created pod: b"]


def test_a_repeat_long_after_starts_a_new_event(recorder: EventRecorder, fake: FakeClient, clock: Clock) -> None:
    recorder.event(RS, "Normal", "SuccessfulCreate", "Created pod: a")
    assert recorder.flush()
    clock.now += AGGREGATE_WINDOW + 1
    recorder.event(RS, "Normal", "SuccessfulCreate", "Created pod: a")
    assert recorder.flush()
    assert [e["count"] for e in events(fake)] == [1, 1]


def test_a_repeat_of_an_expired_event_creates_it_again(recorder: EventRecorder, fake: FakeClient) -> None:
    recorder.event(RS, "Normal", "SuccessfulCreate", "Created pod: a")
    assert recorder.flush()
    [first] = events(fake)
    fake.delete(r.EVENTS, first["metadata"]["name"], "shop")  # the API server's TTL removed it
    recorder.event(RS, "Normal", "SuccessfulCreate", "Created pod: a")
    assert recorder.flush()
    [again] = events(fake)
    assert again["count"] == 1 and again["metadata"]["name"] != first["metadata"]["name"]


class BrokenClient(FakeClient):
    def create(self, *args: Any, **kwargs: Any) -> Obj:
        raise errors.ApiError({"code": 403, "reason": "Forbidden", "message": "events is forbidden"})


def test_failures_are_logged_never_raised(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    recorder = EventRecorder(BrokenClient(), "deployment-controller", clock=clock)
    recorder.event(RS, "Normal", "ScalingReplicaSet", "Scaled up")
    assert recorder.flush()
    recorder.stop()
    assert "events is forbidden" in caplog.text


class SlowClient(FakeClient):
    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def create(self, *args: Any, **kwargs: Any) -> Obj:
        self.release.wait(5)
        return super().create(*args, **kwargs)


def test_recording_never_waits_for_the_api_server(clock: Clock) -> None:
    slow = SlowClient()
    recorder = EventRecorder(slow, "deployment-controller", clock=clock)
    started = time.monotonic()
    for i in range(20):
        recorder.event(RS, "Normal", "ScalingReplicaSet", f"Scaled up to {i}")
    assert time.monotonic() - started < 0.5, "event() only queues"
    slow.release.set()
    assert recorder.flush()
    recorder.stop()
    assert len(events(slow)) == 20


def test_two_events_in_the_same_instant_get_two_names(recorder: EventRecorder, fake: FakeClient) -> None:
    recorder.event(RS, "Normal", "A", "one")
    recorder.event(RS, "Normal", "B", "two")
    assert recorder.flush()
    assert len({e["metadata"]["name"] for e in events(fake)}) == 2
