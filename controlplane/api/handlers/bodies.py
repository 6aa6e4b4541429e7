"""Request bodies: read, size-checked and parsed, whatever Content-Type the client sent.

Where it sits: the resource handlers call :func:`read` before handing a body to the
registry. JSON is parsed strictly (duplicate fields are reported for
``fieldValidation``); YAML is accepted where clients send it (``apply --server-side``
and ``application/yaml``); protobuf, which kubectl's imperative ``create`` commands
send, is refused with a 415 that says what to type instead.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from flask import request

from .. import errors
from ..decoding import DecodeError, parse_json

MAX_BODY = 3 * 1024 * 1024  # upstream's limit on a request body
DRAIN_LIMIT = 64 * 1024 * 1024  # an oversized body up to this size is read and dropped before the 413
MAX_DEPTH = 128  # nesting levels; real manifests stay far below (a deep CRD schema: about 40)
PROTOBUF = "application/vnd.kubernetes.protobuf"
YAML_TYPES = ("application/yaml", "application/apply-patch+yaml", "text/yaml")

PROTOBUF_HINT = (
    "kubeclass does not decode protobuf, which kubectl's imperative `create` commands send. "
    "Generate the object on the client and apply it instead, for example: "
    "`kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f -`"
)
_SURROGATE = re.compile("[\ud800-\udfff]")


def content_type() -> str:
    return (request.content_type or "").split(";", 1)[0].strip().lower()


def drain() -> None:
    """Read what the client is still sending (up to a bound) and drop it.

    Called before every response: a client that writes its whole body before it reads
    (most HTTP libraries do) would otherwise see its connection reset instead of our
    answer, whenever we answer without needing the body (a 413, a GET with a body, 401)."""
    if not request.content_length and not request.headers.get("Transfer-Encoding"):
        return
    drained = 0
    while drained < DRAIN_LIMIT:
        chunk = request.stream.read(65536)
        if not chunk:
            return
        drained += len(chunk)


def _too_large() -> errors.APIError:
    drain()
    return errors.request_entity_too_large(MAX_BODY)


def _read_bytes() -> bytes:
    length = request.content_length
    if length is not None and length > MAX_BODY:
        raise _too_large()
    data = request.stream.read(MAX_BODY + 1)
    if len(data) > MAX_BODY:
        raise _too_large()
    return data


def read() -> tuple[Any, list[str]]:
    """The body as a Python value and the paths of duplicated JSON fields."""
    data = _read_bytes()
    if not data.strip():
        raise errors.bad_request("the body of the request is empty: it must hold an object")
    return _parse(data)


def read_optional() -> tuple[Any, list[str]]:
    """A body that may be absent (DELETE's DeleteOptions)."""
    data = _read_bytes()
    return _parse(data) if data.strip() else (None, [])


def _parse(data: bytes) -> tuple[Any, list[str]]:
    kind = content_type()
    if kind.startswith(PROTOBUF) or data[:4] == b"k8s\x00":
        raise errors.APIError(
            415, "UnsupportedMediaType",
            f"the body of the request was in an unknown format ({PROTOBUF}) - accepted media types include: "
            f"application/json, application/yaml. {PROTOBUF_HINT}")
    if kind in YAML_TYPES:
        try:
            value, duplicates = yaml.load(data, Loader=_NoAliasLoader), []
        except (yaml.YAMLError, ValueError, TypeError, RecursionError) as e:
            message = str(e).replace("\n", " ")
            raise errors.bad_request(f"error converting YAML to JSON: {message}") from None
    else:
        try:
            value, duplicates = parse_json(data)
        except DecodeError as e:
            raise errors.bad_request(e.message) from None
    return _as_go_reads_it(value), duplicates


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without anchors and aliases: a few aliases can expand into billions of nodes."""

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("YAML aliases (*name) are not supported in request bodies")
        return super().compose_node(parent, index)


def _key(key: Any) -> str:
    """A YAML key as sigs.k8s.io/yaml turns it into a JSON one."""
    if isinstance(key, str):
        return key
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _clean(text: str) -> str:
    """Go's decoder turns a lone UTF-16 surrogate into U+FFFD; so do we."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def _as_go_reads_it(value: Any) -> Any:
    """The body as Go's decoder would see it: string keys, no lone surrogates, bounded
    nesting. Iterative, so that depth costs no Python stack."""
    root = {"": value}
    stack: list[tuple[Any, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise errors.bad_request(f"the object is nested too deeply: more than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            if any(not isinstance(k, str) or _SURROGATE.search(k) for k in node):
                items = [(_clean(_key(k)), v) for k, v in node.items()]
                node.clear()
                node.update(items)
            for k, v in node.items():
                if isinstance(v, str):
                    node[k] = _clean(v)
                elif isinstance(v, (dict, list)):
                    stack.append((v, depth + 1))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                if isinstance(v, str):
                    node[i] = _clean(v)
                elif isinstance(v, (dict, list)):
                    stack.append((v, depth + 1))
    return root[""]
