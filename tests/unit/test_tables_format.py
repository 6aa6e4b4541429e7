"""The cell helpers: human durations, timestamps, labels and selectors."""

from __future__ import annotations

import datetime

import pytest

from controlplane.api.tables.format import (
    format_label_selector,
    format_labels,
    human_duration,
    list_with_more,
    parse_time,
    selector_string,
    since,
)

NOW = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
S, M, H, D = 1, 60, 3600, 86400


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0s"),
        (1, "1s"),
        (70, "70s"),  # seconds up to two minutes
        (119, "119s"),
        (120, "2m"),
        (123, "2m3s"),
        (190, "3m10s"),
        (5 * M, "5m"),  # no "0s" tail
        (10 * M + 59, "10m"),  # from ten minutes on, whole minutes
        (70 * M, "70m"),
        (3 * H - 1, "179m"),
        (3 * H + 4 * M, "3h4m"),
        (5 * H, "5h"),
        (8 * H + 30 * M, "8h"),  # from eight hours on, whole hours
        (47 * H, "47h"),
        (2 * D, "2d"),
        (49 * H, "2d1h"),
        (8 * D + 2 * H, "8d"),  # from eight days on, whole days
        (367 * D, "367d"),
        (2 * 365 * D + 25 * H, "2y1d"),
        (3 * 365 * D + 12 * D, "3y12d"),
        (8 * 365 * D + 2 * H, "8y"),
        (-1, "0s"),  # one second of clock skew is forgiven
        (-2, "<invalid>"),
    ],
)
def test_human_duration_matches_upstream(seconds: int, expected: str) -> None:
    assert human_duration(datetime.timedelta(seconds=seconds)) == expected


def test_human_duration_truncates_fractions_like_go() -> None:
    assert human_duration(datetime.timedelta(seconds=125.9)) == "2m5s"
    assert human_duration(datetime.timedelta(seconds=-1.9)) == "0s"


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("2024-05-01T11:55:00Z", "5m"),
        ("2024-05-01T13:55:00+02:00", "5m"),  # offsets are honoured
        ("2024-05-01T11:59:59.500000Z", "0s"),  # MicroTime
        ("2024-05-01T12:00:10Z", "<invalid>"),  # the future
        (None, "<unknown>"),
        ("", "<unknown>"),
        ("yesterday", "<unknown>"),
    ],
)
def test_since(timestamp: str | None, expected: str) -> None:
    assert since(timestamp, NOW) == expected


def test_since_treats_a_naive_now_as_utc() -> None:
    assert since("2024-05-01T11:55:00Z", NOW.replace(tzinfo=None)) == "5m"


@pytest.mark.parametrize("text", ["2024-05-01", "2024-05-01 12:00:00Z", "2024-05-01T12:00:00", 17])
def test_parse_time_accepts_only_rfc3339(text: object) -> None:
    assert parse_time(text) is None


@pytest.mark.parametrize(
    ("labels", "expected"),
    [({"b": "2", "a": "1"}, "a=1,b=2"), ({}, "<none>"), (None, "<none>")],
)
def test_format_labels(labels: dict | None, expected: str) -> None:
    assert format_labels(labels) == expected


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({"matchLabels": {"app": "web"}}, "app=web"),
        (
            {
                "matchLabels": {"tier": "front", "app": "web"},
                "matchExpressions": [
                    {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                    {"key": "zone", "operator": "NotIn", "values": ["b"]},
                    {"key": "canary", "operator": "DoesNotExist"},
                    {"key": "owner", "operator": "Exists"},
                ],
            },
            "app=web,!canary,env in (dev,prod),owner,tier=front,zone notin (b)",
        ),
        ({}, ""),
        (None, ""),
    ],
)
def test_selector_string_sorts_requirements_and_values(
    selector: dict | None, expected: str
) -> None:
    assert selector_string(selector) == expected


@pytest.mark.parametrize(
    "expression",
    [
        {"key": "a", "operator": "In", "values": []},
        {"key": "a", "operator": "Exists", "values": ["x"]},
        {"key": "a", "operator": "Gt", "values": ["1"]},
    ],
)
def test_selector_string_rejects_what_upstream_rejects(expression: dict) -> None:
    with pytest.raises(ValueError):
        selector_string({"matchExpressions": [expression]})
    assert format_label_selector({"matchExpressions": [expression]}) == "<error>"


def test_format_label_selector_says_none_when_empty() -> None:
    assert format_label_selector({}) == "<none>"
    assert format_label_selector({"matchLabels": {"app": "db"}}) == "app=db"


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([], "<unset>"),
        (["a", "b", "c"], "a,b,c"),
        (["a", "b", "c", "d", "e"], "a,b,c + 2 more..."),
    ],
)
def test_list_with_more(items: list[str], expected: str) -> None:
    assert list_with_more(items, len(items), 3) == expected
