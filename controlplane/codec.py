"""JSON in and out, fast: the one codec the API server and its storage share.

Where it sits: storage encodes every object it writes and decodes every object it
reads; the API server encodes every response. That is most of the server's work, so
it uses orjson (a C library: about 1.5x the standard library's speed to parse and 7x
to serialize here), falling back to the standard library for the values orjson
refuses (integers beyond 64 bits, which a custom resource may hold).

Request bodies are *not* parsed here: ``controlplane.api.decoding`` parses them with
the standard library, which reports duplicate fields and Go-like syntax errors.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    """Compact JSON as UTF-8 bytes."""
    try:
        return orjson.dumps(value)
    except TypeError:
        # ensure_ascii keeps the text valid UTF-8 even for lone surrogates.
        return json.dumps(value, separators=(",", ":")).encode()


def dumps_str(value: Any) -> str:
    return dumps(value).decode()


def loads(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)  # what orjson refuses to read, the fallback above wrote
