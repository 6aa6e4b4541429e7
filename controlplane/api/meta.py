"""Small helpers about object metadata that every part of the API server shares.

Where it sits: the registry uses these while it prepares objects for storage;
handlers use them to build list envelopes and Status bodies.
"""

from __future__ import annotations

import datetime
import random
import uuid
from typing import Any

# upstream's utilrand alphabet: no vowels (no accidental words) and no confusable 0/1/3.
_GENERATE_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
GENERATE_NAME_SUFFIX = 5
MAX_GENERATED_NAME_PREFIX = 63 - GENERATE_NAME_SUFFIX


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def timestamp(at: datetime.datetime | None = None) -> str:
    """RFC 3339 in UTC with seconds precision, as metav1.Time serializes: 2026-11-22T18:28:02Z."""
    return (at or now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_uid() -> str:
    return str(uuid.uuid4())


def generate_name(prefix: str) -> str:
    """``generateName`` + 5 random characters; the prefix is cut so the name stays a valid label."""
    suffix = "".join(random.choices(_GENERATE_NAME_ALPHABET, k=GENERATE_NAME_SUFFIX))
    return prefix[:MAX_GENERATED_NAME_PREFIX] + suffix


def metadata(obj: dict[str, Any]) -> dict[str, Any]:
    """The object's metadata dict, created if missing (objects from clients may lack it)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = obj["metadata"] = {}
    return meta


def name_of(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata")
    return meta.get("name", "") if isinstance(meta, dict) else ""


def success_status(details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        body["details"] = details
    return body
