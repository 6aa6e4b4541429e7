"""Errors the client raises: the API server's ``metav1.Status``, and "no server answered".

Where it sits: between :mod:`controlplane.client.rest` and everybody who calls it
(controllers, scheduler, node agents). A Kubernetes API server answers every failed
request with a ``Status`` object::

    {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
     "message": "pods \\"web\\" not found", "code": 404, "details": {"name": "web", "kind": "pods"}}

:class:`ApiError` carries that object unchanged. Callers decide what to do with the
predicates below (apimachinery's ``errors.IsNotFound`` and friends) instead of
comparing numbers: "already gone" is success for a deleter, "already exists" is
success for a creator, a conflict means "read again and retry".
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """The API server refused a request; ``status`` is its ``metav1.Status`` body."""

    def __init__(self, status: dict[str, Any]) -> None:
        self.status = status
        self.code: int = int(status.get("code") or 0)
        self.reason: str = str(status.get("reason") or "")
        self.message: str = str(status.get("message") or "")
        super().__init__(f"{self.code} {self.reason}: {self.message}" if self.reason else f"{self.code}: {self.message}")

    @property
    def details(self) -> dict[str, Any]:
        return dict(self.status.get("details") or {})

    @property
    def causes(self) -> list[dict[str, Any]]:
        return list(self.details.get("causes") or [])

    @classmethod
    def from_body(cls, code: int, body: Any, fallback: str = "") -> ApiError:
        """Build from a response body; a body that is not a Status (an HTML 502 from a proxy,
        say) is classified by its HTTP code alone, as client-go does."""
        if isinstance(body, dict) and body.get("kind") == "Status":
            status = dict(body)
            status.setdefault("code", code)
            return cls(status)
        return cls({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
                    "reason": _REASONS.get(code, "Unknown"), "message": fallback or _REASONS.get(code, "error")})


class ServerUnavailable(ConnectionError):
    """None of the configured API server endpoints could be reached."""


class Expired(Exception):
    """A watch (or paged list) started from a resourceVersion the server no longer keeps (410)."""


# What client-go's errors.FromObject assumes when a body is not a Status.
_REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
    406: "NotAcceptable", 409: "Conflict", 410: "Expired", 415: "UnsupportedMediaType", 422: "Invalid",
    429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
}


def _api(err: BaseException) -> ApiError | None:
    return err if isinstance(err, ApiError) else None


def is_not_found(err: BaseException) -> bool:
    e = _api(err)
    return e is not None and (e.reason == "NotFound" or (e.code == 404 and not e.reason))


def is_already_exists(err: BaseException) -> bool:
    e = _api(err)
    return e is not None and e.reason == "AlreadyExists"


def is_conflict(err: BaseException) -> bool:
    """An optimistic-concurrency failure: resourceVersion or a precondition did not match."""
    e = _api(err)
    return e is not None and e.code == 409 and e.reason != "AlreadyExists"


def is_invalid(err: BaseException) -> bool:
    """422: validation failed, or a JSON-patch ``test`` operation did not hold."""
    e = _api(err)
    return e is not None and e.code == 422


def is_forbidden(err: BaseException) -> bool:
    e = _api(err)
    return e is not None and e.code == 403


def is_gone(err: BaseException) -> bool:
    """410 Expired/Gone: the resourceVersion asked for has been compacted away."""
    e = _api(err)
    return e is not None and e.code == 410


def has_cause(err: BaseException, reason: str) -> bool:
    """Whether the Status lists a cause with this reason (e.g. ``NamespaceTerminating``)."""
    e = _api(err)
    return e is not None and any(c.get("reason") == reason for c in e.causes)
