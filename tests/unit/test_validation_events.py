"""events.k8s.io/v1 Event validation; messages name upstream's internal fields."""

from __future__ import annotations

import copy

import pytest

from controlplane.api.validation import rules_for

EVENT = rules_for("events.k8s.io", "Event")


def event(**fields: object) -> dict:
    obj = {"apiVersion": "events.k8s.io/v1", "kind": "Event",
           "metadata": {"name": "web.17a", "namespace": "default"},
           "eventTime": "2026-01-05T10:00:00.123456Z", "reportingController": "kubeclass.io/scheduler",
           "reportingInstance": "scheduler-master-1", "action": "Binding", "reason": "Scheduled",
           "note": "Successfully assigned default/web to node-1", "type": "Normal",
           "regarding": {"kind": "Pod", "namespace": "default", "name": "web", "apiVersion": "v1"}}
    obj.update(fields)
    return obj


CASES = [
    ("valid", event(), []),
    ("no eventTime", event(eventTime=None), ["eventTime: Required value"]),
    ("no reporting controller", event(reportingController=""),
     ["reportingController: Required value",
      'reportingController: Invalid value: "": name part must be non-empty',
      'reportingController: Invalid value: "": name part must consist of alphanumeric characters, '
      "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or "
      "'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"]),
    ("missing action and reason", event(action=None, reason=""),
     ["action: Required value", "reason: Required value"]),
    ("long note", event(note="x" * 1025), ['message: Invalid value: "": can have at most 1024 characters']),
    ("long reason", event(reason="r" * 129), ['reason: Invalid value: "": can have at most 128 characters']),
    ("type", event(type="Info"), ['type: Invalid value: "": has invalid value: Info']),
    ("deprecated fields set", event(deprecatedCount=3, deprecatedSource={"component": "kubelet"},
                                    deprecatedFirstTimestamp="2026-01-05T10:00:00Z"),
     ['firstTimestamp: Invalid value: "": needs to be unset', 'count: Invalid value: "": needs to be unset',
      'source: Invalid value: "": needs to be unset']),
    ("series", event(series={"count": 1}),
     ['series.count: Invalid value: "": should be at least 2', "series.lastObservedTime: Required value"]),
    ("cluster-scoped object outside default", event(
        regarding={"kind": "Node", "name": "node-1"}, metadata={"name": "n.1", "namespace": "dev"}),
     ['involvedObject.namespace: Invalid value: "": does not match event.namespace']),
    ("cluster-scoped object in kube-system", event(
        regarding={"kind": "Node", "name": "node-1"}, metadata={"name": "n.1", "namespace": "kube-system"}), []),
]


@pytest.mark.parametrize("name, obj, expected", CASES, ids=[c[0] for c in CASES])
def test_event(name: str, obj: dict, expected: list[str]) -> None:
    assert [str(e) for e in EVENT.validate(obj)] == expected


def test_series_may_grow_but_the_story_may_not_change() -> None:
    old = event()
    new = copy.deepcopy(old)
    new["series"] = {"count": 2, "lastObservedTime": "2026-01-05T10:05:00.000000Z"}
    assert EVENT.validate_update(new, old) == []
    new["note"] = "something else"
    new["eventTime"] = "2026-01-05T11:00:00.5Z"
    new["regarding"] = {"kind": "Pod", "namespace": "default", "name": "api", "apiVersion": "v1"}
    assert [str(e) for e in EVENT.validate_update(new, old)] == [
        'involvedObject: Invalid value: core.ObjectReference{Kind:"Pod", Namespace:"default", Name:"api", '
        'UID:"", APIVersion:"v1", ResourceVersion:"", FieldPath:""}: field is immutable',
        'message: Invalid value: "something else": field is immutable',
        "eventTime: Invalid value: 2026-01-05 11:00:00.5 +0000 UTC: field is immutable"]


def test_event_time_noise_below_a_microsecond_is_not_a_change() -> None:
    old = event(eventTime="2026-01-05T10:00:00.123456Z")
    new = event(eventTime="2026-01-05T10:00:00.123456000Z")
    assert EVENT.validate_update(new, old) == []
