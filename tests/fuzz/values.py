"""The fuzzer's vocabulary: odd scalars, random JSON, malformed bodies, broken names and selectors.

Where it sits: the bottom of the fuzz tier. ``mutations.py`` plants these values into
valid objects, ``strategies.py`` puts them into paths, query strings and headers. Most
are fixed lists of values that have broken Kubernetes API servers before (type
confusion, integer overflow, lone surrogates, nesting deep enough to blow a recursive
parser); hypothesis adds random JSON, text and bytes around them.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from hypothesis import strategies as st

# -- scalars and JSON ----------------------------------------------------------------


def chance(one_in: int) -> st.SearchStrategy[bool]:
    """True about once in ``one_in`` draws.

    Not ``integers(0, n) == 0``: hypothesis draws the simplest choice (the lower bound,
    the first element) far more often than its share, so the rare outcome is the last one.
    """
    return st.sampled_from(range(one_in)).map(lambda i: i == one_in - 1)


def constants(values: list[Any]) -> st.SearchStrategy[Any]:
    """One of ``values``, copied: a later mutation must never change the list it came from
    (hypothesis replays draws and insists that the same choices give the same values)."""
    return st.sampled_from(values).map(copy.deepcopy)


ODD_SCALARS: list[Any] = [
    None, True, False, 0, -1, 1, 2**31 - 1, 2**31, -(2**31) - 1, 2**53 + 1, 2**63, -(2**63) - 1, 10**40,
    0.5, -0.0, 3.0, 1e308, 1e-300, "", " ", "0", "-1", "1.5", "1e3", "true", "null", "100m", "1Gi", "0.5Ki",
    "25%", "110%", "-25%", "%", "abc", "ü漢字🙂", "\u0000", "\t\n", "\ud800", "a" * 63, "a" * 64, "a" * 253,
    "a" * 254, "x" * 5000, "$patch", "{}", "[]", "2024-13-45T99:99:99Z", "2024-05-01T10:00:00Z",
    "2024-05-01T10:00:00.123456789+02:00", "10.0.0.1", "::1", "999.1.1.1", "10.0.0.0/8", "http://x/y", "a/b",
    "-", ".", "..", "a.b", "A_B", "kube-system", "default", "$(VAR)", "${HOME}", "k8s\x00",
]

json_scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                | st.text(max_size=16))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)


# Values nested deeper than Python's own recursion limit cannot live in a dict here (copying
# or encoding one would fail in the test, not in the server), so they travel as a marker
# string that :func:`dumps` swaps for the nested text.
DEEP_DEPTHS = [(64, "dict"), (300, "dict"), (600, "dict"), (990, "list"), (2500, "dict")]
DEEP_VALUES = [f"\u0000DEEP:{n}:{kind}\u0000" for n, kind in DEEP_DEPTHS]


def _deep_text(depth: int, kind: str) -> str:
    if kind == "dict":
        return '{"a":' * depth + '"bottom"' + "}" * depth
    return "[" * depth + '"bottom"' + "]" * depth


odd_values = st.one_of(
    st.sampled_from(ODD_SCALARS),
    st.sampled_from(ODD_SCALARS),
    json_values,
    constants([[], {}, [None], [{}], [[]], {"": None}, {"$patch": "delete"}, [1, "a", None, {"b": []}]]),
    st.integers(),
    st.text(max_size=40),
)
deep_values = st.sampled_from(DEEP_VALUES)


def dumps(value: Any, ascii_only: bool = True) -> bytes:
    """JSON bytes; with ``ascii_only=False`` lone surrogates become invalid UTF-8 on the wire."""
    text = json.dumps(value, ensure_ascii=ascii_only, separators=(",", ":"))
    if "DEEP:" in text:
        for (depth, kind), marker in zip(DEEP_DEPTHS, DEEP_VALUES):
            text = text.replace(json.dumps(marker), _deep_text(depth, kind))
    return text.encode("utf-8", "surrogatepass")


# -- malformed bodies ----------------------------------------------------------------

MALFORMED: list[bytes] = [
    b"", b" ", b"{", b"}", b"[", b'{"a":}', b"{'a': 1}", b'{"a":1,}', b"\xff\xfe{}", b"\xef\xbb\xbf{}", b"\x00",
    b"null", b"true", b"1", b'"str"', b"[]", b"{}", b"{}{}", b'{"a":1} x', b"NaN", b'{"a":NaN}', b'{"a":Infinity}',
    b'{"a":1e99999}', b'{"a":-1e99999}', b'{"a":"\\ud800"}', b'{"\\udfff":1}', b'{"a":"\\u0000"}', b'{"a":"\\x"}',
    '{"a":"é"}'.encode("latin-1"), '{"kind":"Pod"}'.encode("utf-16"), b"[" * 100_000, b"{\"a\":" * 20_000,
    b'{"a":' * 3000 + b"1" + b"}" * 3000, b"[" * 3000 + b"]" * 3000, b"k8s\x00\n\x02v1\x12\x03Pod",
    b'{"metadata":{"name":"x"},"metadata":{"name":"y"}}', b'{"kind":"Pod","kind":"Service"}',
    b'{"apiVersion":1,"kind":[],"metadata":"x"}', b'{"metadata":{"name":{"$ne":1}}}',
    # YAML that parses into something JSON has no word for.
    b"---\na: b\n", b"a: b\n  c: d", b"- a\n- b", b"!!binary aGVsbG8=", b"a: !!binary aGVsbG8=",
    b"metadata:\n  name: x\n  creationTimestamp: 2024-01-01\n", b"a: 2024-01-01T10:00:00Z", b"a: !!set {x, y}",
    b"a: &x [1, 2]\nb: *x\n", b"{1: 2}", b"metadata: {1: x}", b"? [a]\n: b", b"a: .nan", b"a: .inf",
    b"a: !!python/object/apply:os.system [true]", b"%YAML 1.1\n---\na: 1", b"a: 0o17", b"a: 1_000",
    b"a: 12:30:00", b"a: !!float x", b"a: !!timestamp 2024-01-01", b"metadata:\n  labels:\n    ? [a]\n    : b\n",
    b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\ndata:\n  a: 2024-01-01\n  b: 1\n",
    b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n  labels: {a: yes, b: 0x1F}\n",
    b"---\n---\n", b"a: 1\n---\nb: 2\n", b"*x", b"&a [*a]", b"\t{}",
]

malformed_bodies = st.one_of(st.sampled_from(MALFORMED), st.sampled_from(MALFORMED), st.binary(max_size=48))

# -- names, labels, selectors ---------------------------------------------------------

ODD_NAMES = [
    "", "UPPER", "-lead", "trail-", "a..b", "a.b", "a_b", "a b", "ü", "a/b", "a%b", "%", ".", "..", "1", "0x",
    "n" * 63, "n" * 64, "n" * 253, "n" * 254, "n" * 1000, "a:b", "a\u0000b", "x\ud800", "🙂", "*", "?", "#", "~",
]
odd_names = st.one_of(st.sampled_from(ODD_NAMES), st.text(max_size=20))

ODD_LABEL_KEYS = ["", "a/b/c", "-x", "x-", "k" * 64, "example.com/", "/x", "Example.COM/x", "a" * 254 + "/x",
                  "kubernetes.io/hostname", "a b", "ü", "$patch", "app"]
ODD_LABEL_VALUES = ["", "v" * 63, "v" * 64, "a b", "-x", "x-", "ü", "a/b", "a.b_c-d", "x" * 300]

odd_labels = st.one_of(
    st.dictionaries(st.sampled_from(ODD_LABEL_KEYS) | st.text(max_size=12),
                    st.sampled_from(ODD_LABEL_VALUES) | st.text(max_size=12) | odd_values, max_size=3),
    odd_values,
)

LABEL_SELECTORS = [
    "app=fuzz", "app==fuzz", "app!=x", "app in (fuzz,other)", "app notin (x)", "app", "!app", "a=b,c!=d",
    "example.com/k=v", "app=fuzz,tier", "app in (fuzz)", "app in ()", "app in (a", "=x", "a=b=c", "a=(", "!",
    "app notin", "a=b,", ",", "a=" + "v" * 70, "a b=c", "ü=v", "a in (b c)", "a>1", "a<x", "a gt 1", "!!a",
    "a=b,,c=d", "app =fuzz", "  ", "a=b&c=d", "a!", "a=b)", "(a=b)", "x" * 5000,
]
FIELD_SELECTORS = [
    "metadata.name=x", "metadata.name==x", "metadata.name!=x", "metadata.namespace=default", "status.phase=Running",
    "spec.nodeName=", "spec.nodeName=node-1", "involvedObject.name=p", "type=Opaque", "spec.schedulerName=x",
    "status.podIP=10.0.0.1", "metadata.name", "x.y=1", "spec.replicas=1", "metadata.name in (x)", "=x", "a=b,",
    "metadata.name=x,metadata.namespace!=y", "metadata.labels.app=fuzz", "metadata.name=ü", "spec=", "!",
    "status.succeeded=1", "reason=Started", "source=fuzz", "spec.unschedulable=true", "metadata.name=" + "n" * 300,
]
label_selectors = st.sampled_from(LABEL_SELECTORS) | st.text(max_size=20)
field_selectors = st.sampled_from(FIELD_SELECTORS) | st.text(max_size=20)


def continue_tokens(real: list[str]) -> st.SearchStrategy[str]:
    """Continue tokens: real ones, real ones broken, and base64 of every wrong shape."""
    payloads: list[Any] = [
        {"v": "meta.k8s.io/v1", "rv": 1, "start": "x"}, {"v": "meta.k8s.io/v1", "rv": -5, "start": "x"},
        {"v": "meta.k8s.io/v1", "rv": 2**70, "start": "x"}, {"v": "meta.k8s.io/v1", "rv": "1", "start": "x"},
        {"v": "meta.k8s.io/v1", "rv": 1.5, "start": "x"}, {"v": "meta.k8s.io/v1", "rv": 1, "start": "../other/x"},
        {"v": "meta.k8s.io/v1", "rv": 1, "start": "/etc"}, {"v": "meta.k8s.io/v1", "rv": 1, "start": None},
        {"v": "meta.k8s.io/v1", "rv": 1, "start": ["x"]}, {"v": "meta.k8s.io/v1", "rv": 1e400},
        {"rv": 1}, {}, [], "x", 1, None, {"v": "other/v9", "rv": 1, "start": "\u0000"},
    ]
    encoded = [base64.urlsafe_b64encode(json.dumps(p).encode()).decode().rstrip("=") for p in payloads]
    broken = [t[:-2] for t in real] + [t + "x" for t in real] + [t.upper() for t in real]
    garbage = ["", "x", "====", "!!!", "eyJ", "eyJ2Ijoi", "ü", "%00", "a" * 5000, "AAAA", "_-_-", "e30"]
    return st.sampled_from(real + encoded + broken + garbage) | st.text(max_size=30)


RESOURCE_VERSIONS = ["0", "1", "", "-1", "abc", "1.5", " 1", "99999999999999999999999", "18446744073709551616",
                     "9223372036854775807", "9223372036854775808", "0x10", "1e3", "ü"]
