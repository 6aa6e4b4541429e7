"""API errors, raised anywhere in a request and answered as one ``metav1.Status``.

Where it sits: handlers raise :class:`APIError` (usually through the constructors
below); one Flask error handler turns it into the JSON body and HTTP code. The
messages copy apimachinery's ``pkg/api/errors`` so that kubectl prints what a
student would see against a real cluster, for example::

    Error from server (NotFound): deployments.apps "web" not found
    Error from server (Conflict): Operation cannot be fulfilled on pods "p1": the object has been modified; ...
"""

from __future__ import annotations

from typing import Any

from .fielderrors import FieldError, aggregate


class APIError(Exception):
    """An error answered to the client as a Status with ``code`` and ``reason``."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def qualified(resource: str, group: str) -> str:
    """``deployments.apps`` for apps/deployments, ``pods`` for the core group."""
    return f"{resource}.{group}" if group else resource


def _details(resource: str, group: str, name: str, **extra: Any) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name} if name else {}
    if group:
        details["group"] = group
    details["kind"] = resource
    details.update(extra)
    return details


def not_found(resource: str, group: str, name: str) -> APIError:
    return APIError(
        404, "NotFound", f'{qualified(resource, group)} "{name}" not found',
        _details(resource, group, name),
    )


def path_not_found() -> APIError:
    return APIError(404, "NotFound", "the server could not find the requested resource",
                    {"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]})


def already_exists(resource: str, group: str, name: str) -> APIError:
    return APIError(
        409, "AlreadyExists", f'{qualified(resource, group)} "{name}" already exists',
        _details(resource, group, name),
    )


def conflict(resource: str, group: str, name: str, why: str = "") -> APIError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return APIError(
        409, "Conflict",
        f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {why}',
        _details(resource, group, name),
    )


def invalid(kind: str, group: str, name: str, errors: list[FieldError]) -> APIError:
    qualified_kind = f"{kind}.{group}" if group else kind
    message = f'{qualified_kind} "{name}" is invalid'
    if errors:
        message += ": " + aggregate(errors)
    details: dict[str, Any] = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [e.cause() for e in errors]
    return APIError(422, "Invalid", message, details)


def bad_request(message: str) -> APIError:
    return APIError(400, "BadRequest", message)


def unauthorized(message: str = "Unauthorized") -> APIError:
    return APIError(401, "Unauthorized", message)


def forbidden(resource: str, group: str, name: str, why: str, causes: list[dict] | None = None) -> APIError:
    subject = f'{qualified(resource, group)} "{name}"' if name else qualified(resource, group)
    details = _details(resource, group, name)
    if causes:
        details["causes"] = causes
    return APIError(403, "Forbidden", f"{subject} is forbidden: {why}", details)


def method_not_supported(resource: str, group: str, verb: str) -> APIError:
    return APIError(
        405, "MethodNotAllowed",
        f"{verb} is not supported on resources of kind \"{qualified(resource, group)}\"",
        _details(resource, group, ""),
    )


def method_not_allowed() -> APIError:
    return APIError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def gone(message: str) -> APIError:
    return APIError(410, "Expired", message)


def request_entity_too_large(limit: int) -> APIError:
    return APIError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")


def unsupported_media_type(content_type: str, accepted: list[str]) -> APIError:
    return APIError(
        415, "UnsupportedMediaType",
        f"the body of the request was in an unknown format ({content_type}) - "
        f"accepted media types include: {', '.join(accepted)}",
    )


def too_many_requests(message: str, causes: list[dict] | None = None) -> APIError:
    return APIError(429, "TooManyRequests", message, {"causes": causes} if causes else None,
                    headers={"Retry-After": "1"})


def service_unavailable(message: str) -> APIError:
    """The store cannot answer (etcd without quorum): 503. No Retry-After: with it,
    client-go would retry ten times before showing the message (a minute of silence)."""
    return APIError(503, "ServiceUnavailable", message)


def internal_error(message: str) -> APIError:
    return APIError(500, "InternalError", f"Internal error occurred: {message}",
                    {"causes": [{"message": message}]})
