"""Options of a request, read from the query string and body (metav1.ListOptions & co).

Where it sits: handlers build these from the HTTP request; the registry store acts
on them. Keeping them as small dataclasses keeps the store free of Flask.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

from .. import errors
from ..decoding import DecodeError, decode_as

TRUE_VALUES = ("1", "t", "T", "true", "TRUE", "True")  # Go's strconv.ParseBool
FALSE_VALUES = ("0", "f", "F", "false", "FALSE", "False")


def parse_bool(name: str, value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    raise errors.bad_request(f'invalid value for {name}: strconv.ParseBool: parsing "{value}": invalid syntax')


def parse_int(name: str, value: str | None) -> int | None:
    """An int64, as Go's strconv.ParseInt reads it."""
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise errors.bad_request(f'invalid value for {name}: strconv.ParseInt: parsing "{value}": invalid syntax') from None
    if not -2**63 <= number < 2**63:
        raise errors.bad_request(f'invalid value for {name}: strconv.ParseInt: parsing "{value}": value out of range')
    return number


@dataclasses.dataclass
class ListOptions:
    label_selector: str = ""
    field_selector: str = ""
    limit: int = 0
    continue_token: str = ""
    resource_version: str = ""
    resource_version_match: str = ""
    watch: bool = False
    allow_bookmarks: bool = False
    timeout_seconds: int | None = None
    send_initial_events: bool | None = None

    @classmethod
    def from_args(cls, args: Any) -> ListOptions:
        limit = parse_int("limit", args.get("limit")) or 0
        match = args.get("resourceVersionMatch", "")
        if match not in ("", "Exact", "NotOlderThan"):
            raise errors.bad_request(
                f'resourceVersionMatch: Unsupported value: "{match}": supported values: "Exact", "NotOlderThan"'
            )
        initial = args.get("sendInitialEvents")
        return cls(
            label_selector=args.get("labelSelector", ""),
            field_selector=args.get("fieldSelector", ""),
            limit=max(limit, 0),
            continue_token=args.get("continue", ""),
            resource_version=args.get("resourceVersion", ""),
            resource_version_match=match,
            watch=parse_bool("watch", args.get("watch")),
            allow_bookmarks=parse_bool("allowWatchBookmarks", args.get("allowWatchBookmarks")),
            timeout_seconds=parse_int("timeoutSeconds", args.get("timeoutSeconds")),
            send_initial_events=None if initial in (None, "") else parse_bool("sendInitialEvents", initial),
        )


@dataclasses.dataclass
class WriteOptions:
    """Options of create, update, patch and apply (CreateOptions/UpdateOptions/PatchOptions)."""

    dry_run: bool = False
    field_manager: str = ""
    field_validation: str = "Warn"  # Strict | Warn | Ignore (the server's default is Warn)
    force: bool = False
    user: str = ""

    @classmethod
    def from_args(cls, args: Any, user_agent: str = "", user: str = "") -> WriteOptions:
        dry_run = args.getlist("dryRun") if hasattr(args, "getlist") else [args.get("dryRun", "")]
        for value in dry_run:
            if value not in ("", "All"):
                raise errors.bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
        validation = args.get("fieldValidation", "") or "Warn"
        if validation not in ("Strict", "Warn", "Ignore"):
            raise errors.bad_request(
                f"fieldValidation: Unsupported value: \"{validation}\": supported values: "
                '"Ignore", "Strict", "Warn"'
            )
        manager = args.get("fieldManager", "")
        if len(manager) > 128:
            raise errors.bad_request("fieldManager: Too long: may not be more than 128 bytes")
        return cls(
            dry_run="All" in dry_run,
            field_manager=manager or default_manager(user_agent),
            field_validation=validation,
            force=parse_bool("force", args.get("force")),
            user=user,
        )


def default_manager(user_agent: str) -> str:
    """Upstream names the manager of a request without fieldManager after its user agent."""
    return (user_agent.split("/", 1)[0] or "unknown")[:128]


@dataclasses.dataclass
class DeleteOptions:
    propagation_policy: str = ""  # "" (the kind's default) | Orphan | Background | Foreground
    grace_period_seconds: int | None = None
    precondition_uid: str | None = None
    precondition_resource_version: str | None = None
    dry_run: bool = False

    @classmethod
    def from_request(cls, args: Any, body: dict[str, Any] | None) -> DeleteOptions:
        body = checked(body, "", "v1", "DeleteOptions") if body is not None else {}
        if body.get("kind") not in (None, "DeleteOptions"):
            raise errors.bad_request(f"expected DeleteOptions, got {body.get('kind')}")
        policy = body.get("propagationPolicy") or args.get("propagationPolicy", "")
        orphan = body.get("orphanDependents")
        if orphan is None and args.get("orphanDependents") not in (None, ""):
            orphan = parse_bool("orphanDependents", args.get("orphanDependents"))
        if orphan is not None and policy:
            raise errors.bad_request("orphanDependents and deletionPropagation cannot be both set")
        if orphan is not None:
            policy = "Orphan" if orphan else "Background"
        if policy not in ("", "Orphan", "Background", "Foreground"):
            raise errors.bad_request(
                f'propagationPolicy: Unsupported value: "{policy}": supported values: '
                '"Foreground", "Background", "Orphan"'
            )
        grace = body.get("gracePeriodSeconds")
        if grace is None:
            grace = parse_int("gracePeriodSeconds", args.get("gracePeriodSeconds"))
        pre = body.get("preconditions") or {}
        dry = body.get("dryRun") or (args.getlist("dryRun") if hasattr(args, "getlist") else [])
        return cls(
            propagation_policy=policy,
            grace_period_seconds=grace,
            precondition_uid=pre.get("uid"),
            precondition_resource_version=pre.get("resourceVersion"),
            dry_run="All" in (dry or []),
        )


def checked(body: Any, group: str, version: str, kind: str) -> dict[str, Any]:
    try:
        return decode_as(body, group, version, kind)
    except DecodeError as e:
        raise errors.bad_request(e.message) from None


# -- continue tokens ---------------------------------------------------------------


def encode_continue(revision: int, start_key: str, prefix: str) -> str:
    """An opaque token, shaped like upstream's: base64 of {"v","rv","start"}."""
    payload = {"v": "meta.k8s.io/v1", "rv": revision, "start": start_key[len(prefix):]}
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def decode_continue(token: str, prefix: str) -> tuple[int, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded))
        revision, start = int(payload["rv"]), str(payload["start"])
    except (ValueError, KeyError, TypeError, OverflowError):
        raise errors.bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)") from None
    if not 0 < revision < 2**63 or ".." in start or start.startswith("/"):
        raise errors.bad_request("continue key is not valid: ambiguous start key")
    return revision, prefix + start
