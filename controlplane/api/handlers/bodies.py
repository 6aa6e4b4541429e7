"""Request bodies: read, size-checked and parsed, whatever Content-Type the client sent.

Where it sits: the resource handlers call :func:`read` before handing a body to the
registry. JSON is parsed strictly (duplicate fields are reported for
``fieldValidation``); YAML is accepted where clients send it (``apply --server-side``
and ``application/yaml``); protobuf, which kubectl's imperative ``create`` commands
send, is refused with a 415 that says what to type instead.
"""

from __future__ import annotations

from typing import Any

import yaml
from flask import request

from .. import errors
from ..decoding import DecodeError, parse_json

MAX_BODY = 3 * 1024 * 1024  # upstream's limit on a request body
PROTOBUF = "application/vnd.kubernetes.protobuf"
YAML_TYPES = ("application/yaml", "application/apply-patch+yaml", "text/yaml")

PROTOBUF_HINT = (
    "kubeclass does not decode protobuf, which kubectl's imperative `create` commands send. "
    "Generate the object on the client and apply it instead, for example: "
    "`kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f -`"
)


def content_type() -> str:
    return (request.content_type or "").split(";", 1)[0].strip().lower()


def read() -> tuple[Any, list[str]]:
    """The body as a Python value and the paths of duplicated JSON fields."""
    length = request.content_length
    if length is not None and length > MAX_BODY:
        raise errors.request_entity_too_large(MAX_BODY)
    data = request.get_data(cache=True)
    if len(data) > MAX_BODY:
        raise errors.request_entity_too_large(MAX_BODY)
    kind = content_type()
    if kind.startswith(PROTOBUF) or data[:4] == b"k8s\x00":
        raise errors.APIError(
            415, "UnsupportedMediaType",
            f"the body of the request was in an unknown format ({PROTOBUF}) - accepted media types include: "
            f"application/json, application/yaml. {PROTOBUF_HINT}")
    if not data.strip():
        raise errors.bad_request("the body of the request is empty: it must hold an object")
    if kind in YAML_TYPES:
        try:
            return yaml.safe_load(data), []
        except yaml.YAMLError as e:
            raise errors.bad_request(f"error converting YAML to JSON: {e}".replace("\n", " ")) from None
    try:
        return parse_json(data)
    except DecodeError as e:
        raise errors.bad_request(e.message) from None


def read_optional() -> tuple[Any, list[str]]:
    """A body that may be absent (DELETE's DeleteOptions)."""
    if not request.get_data(cache=True).strip():
        return None, []
    return read()
