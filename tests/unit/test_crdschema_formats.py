"""String formats honoured in custom resources, and Go's way of printing numbers."""

from __future__ import annotations

import pytest

from controlplane.api.crdschema_formats import effective_format, format_ok, go_float, regexp_error


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        ("date", "2024-02-29", "2023-02-29"),
        ("date-time", "2024-05-01T10:00:00Z", "2024-05-01 10:00:00Z"),
        ("date-time", "2024-05-01t10:00:00.5+02:00", "2024-05-01T24:00:00Z"),
        ("ipv4", "10.0.0.1", "10.0.0"),
        ("ipv6", "fe80::1", "10.0.0.1"),
        ("cidr", "10.0.0.0/8", "10.0.0.0"),
        ("hostname", "db-0.example.com", "-db"),
        ("uuid", "123e4567-e89b-12d3-a456-426614174000", "123e4567"),
        ("byte", "aGVsbG8=", "hello!"),
        ("duration", "1h30m", "soon"),
        ("email", "ops@example.com", "ops"),
        ("mac", "01:23:45:67:89:ab", "01:23:45"),
    ],
)
def test_formats(fmt: str, good: str, bad: str) -> None:
    assert effective_format({"format": fmt}) == fmt
    assert format_ok(fmt, good)
    assert not format_ok(fmt, bad)


@pytest.mark.parametrize("fmt", ["int32", "int64", "double", "int-or-string", "k8s-short-name", "made-up"])
def test_formats_the_apiserver_ignores_for_custom_resources(fmt: str) -> None:
    assert effective_format({"type": "string", "format": fmt}) == ""


@pytest.mark.parametrize(
    ("value", "text"),
    [(1.0, "1"), (0.5, "0.5"), (100000.0, "100000"), (1e6, "1e+06"), (1234567.0, "1.234567e+06"),
     (1e-05, "1e-05"), (0.0001, "0.0001"), (-2.5, "-2.5"), (0.0, "0")],
)
def test_go_float(value: float, text: str) -> None:
    assert go_float(value) == text


def test_regexp_errors_read_like_gos() -> None:
    assert regexp_error("^[a-z]+$") == ""
    assert regexp_error("+") == "error parsing regexp: missing argument to repetition operator: `+`"
    assert regexp_error("[a-z") == "error parsing regexp: missing closing ]: `[a-z`"
