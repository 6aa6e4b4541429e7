"""Reads: selectors, pages, resourceVersion rules, watches, server-built Tables."""

from __future__ import annotations

import json

NS = "/api/v1/namespaces/default"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"


def make(api, name: str, labels: dict | None = None, ns: str = "default") -> dict:
    body = {"metadata": {"name": name, "labels": labels or {}}, "data": {"n": name}}
    r = api.post(f"/api/v1/namespaces/{ns}/configmaps", body)
    assert r.status_code == 201, r.json
    return r.json


def names(resp) -> list[str]:
    return [i["metadata"]["name"] for i in resp.json["items"]]


def test_label_selectors(api):
    make(api, "a", {"app": "web", "tier": "front"})
    make(api, "b", {"app": "web", "tier": "back"})
    make(api, "c", {"app": "db"})
    cases = {
        "app=web": ["a", "b"], "app==web": ["a", "b"], "app!=web": ["c"],
        "tier in (front,back)": ["a", "b"], "tier notin (front)": ["b", "c"],
        "tier": ["a", "b"], "!tier": ["c"], "app=web,tier=back": ["b"],
    }
    for selector, expected in cases.items():
        r = api.client.get(f"{NS}/configmaps", query_string={"labelSelector": selector},
                           headers={"Authorization": "Bearer test-admin-token"})
        assert names(r) == expected, selector
    r = api.client.get(f"{NS}/configmaps", query_string={"labelSelector": "app in ("},
                       headers={"Authorization": "Bearer test-admin-token"})
    assert r.status_code == 400


def test_field_selectors(api):
    make(api, "a")
    make(api, "b")
    make(api, "x", ns="kube-system")
    assert names(api.get(f"{NS}/configmaps?fieldSelector=metadata.name%3Db")) == ["b"]
    assert names(api.get("/api/v1/configmaps?fieldSelector=metadata.namespace%3Dkube-system")) == ["x"]
    assert names(api.get(f"{NS}/configmaps?fieldSelector=metadata.name!%3Db")) == ["a"]
    r = api.get(f"{NS}/configmaps?fieldSelector=data.n%3Da")
    assert r.status_code == 400 and r.json["message"] == "field label not supported: data.n"


def test_pages_with_limit_and_continue(api):
    for i in range(5):
        make(api, f"p{i}")
    first = api.get(f"{NS}/configmaps?limit=2").json
    assert [i["metadata"]["name"] for i in first["items"]] == ["p0", "p1"]
    assert first["metadata"]["continue"] and first["metadata"]["remainingItemCount"] == 3
    make(api, "p00")  # written after the first page: later pages must not show it
    second = api.get(f"{NS}/configmaps?limit=2&continue={first['metadata']['continue']}").json
    assert [i["metadata"]["name"] for i in second["items"]] == ["p2", "p3"]
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    third = api.get(f"{NS}/configmaps?limit=2&continue={second['metadata']['continue']}").json
    assert [i["metadata"]["name"] for i in third["items"]] == ["p4"] and "continue" not in third["metadata"]
    assert api.get(f"{NS}/configmaps?continue=garbage").status_code == 400


def test_pages_with_a_selector(api):
    for i in range(6):
        make(api, f"s{i}", {"even": str(i % 2 == 0).lower()})
    first = api.get(f"{NS}/configmaps?limit=2&labelSelector=even%3Dtrue").json
    assert [i["metadata"]["name"] for i in first["items"]] == ["s0", "s2"]
    rest = api.get(f"{NS}/configmaps?limit=2&labelSelector=even%3Dtrue&continue={first['metadata']['continue']}")
    assert names(rest) == ["s4"]


def test_resource_version_match_exact_reads_history(api):
    a = make(api, "hist")
    api.patch(f"{NS}/configmaps/hist", {"data": {"n": "changed"}})
    rv = a["metadata"]["resourceVersion"]
    old = api.get(f"{NS}/configmaps?resourceVersion={rv}&resourceVersionMatch=Exact").json
    assert old["items"][0]["data"] == {"n": "hist"} and old["metadata"]["resourceVersion"] == rv
    now = api.get(f"{NS}/configmaps?resourceVersion={rv}").json  # NotOlderThan: the newest is fine
    assert now["items"][0]["data"] == {"n": "changed"}


def test_resource_versions_the_cluster_never_had(api):
    # Every API server reads the store itself, so a newer revision is the client's mistake.
    r = api.get(f"{NS}/configmaps?resourceVersion=99999999")
    assert r.status_code == 400 and r.json["message"].startswith("Too large resource version: 99999999, current:")
    r = api.get(f"{NS}/configmaps?resourceVersion=99999999&resourceVersionMatch=Exact")
    assert r.status_code == 400 and r.json["message"].startswith("Too large resource version: 99999999, current:")
    assert api.get(f"{NS}/configmaps?resourceVersion=99999999999999999999999").status_code == 400
    assert api.get(f"{NS}/configmaps?limit=9223372036854775808").status_code == 400
    assert api.get(f"{NS}/configmaps?limit=9223372036854775807").status_code == 200


def watch_events(api, path: str) -> list[dict]:
    r = api.get(path)
    assert r.status_code == 200, r.json
    lines = b"".join(r.response).decode().splitlines()
    r.close()
    return [json.loads(line) for line in lines if line]


def test_watch_from_a_resource_version(api):
    start = api.get(f"{NS}/configmaps").json["metadata"]["resourceVersion"]
    make(api, "w1", {"app": "x"})
    api.patch(f"{NS}/configmaps/w1", {"data": {"n": "2"}})
    api.delete(f"{NS}/configmaps/w1")
    events = watch_events(api, f"{NS}/configmaps?watch=true&resourceVersion={start}&timeoutSeconds=1")
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert events[1]["object"]["data"] == {"n": "2"} and events[0]["object"]["kind"] == "ConfigMap"


def test_watch_from_zero_starts_with_the_current_state(api):
    make(api, "there")
    events = watch_events(api, f"{NS}/configmaps?watch=1&resourceVersion=0&timeoutSeconds=1")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "there")]


def test_watch_reports_selector_transitions(api):
    start = api.get(f"{NS}/configmaps").json["metadata"]["resourceVersion"]
    make(api, "t", {"app": "no"})
    api.patch(f"{NS}/configmaps/t", {"metadata": {"labels": {"app": "yes"}}})
    api.patch(f"{NS}/configmaps/t", {"metadata": {"labels": {"app": "no"}}})
    events = watch_events(api, f"{NS}/configmaps?watch=true&resourceVersion={start}&labelSelector=app%3Dyes"
                               "&timeoutSeconds=1")
    assert [e["type"] for e in events] == ["ADDED", "DELETED"]


def test_watch_of_one_object_by_field_selector(api):
    start = api.get(f"{NS}/configmaps").json["metadata"]["resourceVersion"]
    make(api, "mine")
    make(api, "other")
    events = watch_events(api, f"{NS}/configmaps?watch=true&resourceVersion={start}"
                               "&fieldSelector=metadata.name%3Dmine&timeoutSeconds=1")
    assert [e["object"]["metadata"]["name"] for e in events] == ["mine"]


def test_watch_bookmarks(api):
    start = api.get(f"{NS}/configmaps").json["metadata"]["resourceVersion"]
    events = watch_events(api, f"{NS}/configmaps?watch=true&resourceVersion={start}&allowWatchBookmarks=true"
                               "&timeoutSeconds=2")
    bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
    assert bookmarks and bookmarks[0]["object"]["kind"] == "ConfigMap"
    assert int(bookmarks[0]["object"]["metadata"]["resourceVersion"]) >= int(start)


def test_watch_from_a_compacted_revision_is_410(api, store):
    first = make(api, "old")
    for i in range(3):
        api.patch(f"{NS}/configmaps/old", {"data": {"n": str(i)}})
    store.compact(store.current_revision())
    events = watch_events(api, f"{NS}/configmaps?watch=true&resourceVersion={first['metadata']['resourceVersion']}")
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"
    assert events[0]["object"]["message"].startswith("too old resource version:")


def test_send_initial_events(api):
    make(api, "init")
    events = watch_events(api, f"{NS}/configmaps?watch=true&sendInitialEvents=true&allowWatchBookmarks=true"
                               "&resourceVersionMatch=NotOlderThan&timeoutSeconds=1")
    assert events[0]["type"] == "ADDED"
    end = next(e for e in events if e["type"] == "BOOKMARK")
    assert end["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_table_for_a_list_and_for_one_object(api):
    make(api, "tab", {"app": "x"})
    r = api.get(f"{NS}/configmaps", headers={"Accept": TABLE})
    table = r.json
    assert table["kind"] == "Table" and [c["name"] for c in table["columnDefinitions"]] == ["Name", "Data", "Age"]
    row = next(row for row in table["rows"] if row["cells"][0] == "tab")
    assert row["object"]["kind"] == "PartialObjectMetadata" and row["object"]["metadata"]["labels"] == {"app": "x"}
    one = api.get(f"{NS}/configmaps/tab", headers={"Accept": TABLE}).json
    assert one["kind"] == "Table" and len(one["rows"]) == 1


def test_table_watch_sends_headers_once(api):
    start = api.get(f"{NS}/configmaps").json["metadata"]["resourceVersion"]
    make(api, "tw1")
    make(api, "tw2")
    r = api.get(f"{NS}/configmaps?watch=true&resourceVersion={start}&timeoutSeconds=1", headers={"Accept": TABLE})
    events = [json.loads(line) for line in b"".join(r.response).decode().splitlines()]
    assert events[0]["object"]["kind"] == "Table" and events[0]["object"]["columnDefinitions"]
    assert events[1]["object"]["columnDefinitions"] is None
    assert events[1]["object"]["rows"][0]["cells"][0] == "tw2"


def test_partial_object_metadata(api):
    make(api, "meta-only")
    accept = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"
    r = api.get(f"{NS}/configmaps", headers={"Accept": accept}).json
    assert r["kind"] == "PartialObjectMetadataList" and "data" not in r["items"][0]
