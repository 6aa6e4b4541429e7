"""Conversion webhooks of a CustomResourceDefinition: ``spec.conversion``.

Where it sits: :mod:`apiextensions` validates a CRD on its internal view (where
``conversion.webhook.clientConfig`` is ``conversion.webhookClientConfig``) and hands
``spec.conversion`` to :func:`check_conversion`. Nothing here calls a webhook; the
checks only make sure that a later call could be made: a strategy of ``None`` or
``Webhook``, for ``Webhook`` exactly one of a URL or an in-cluster service to call, and
a ``ConversionReview`` version that both sides speak.

What it promises: upstream's ``validateCustomResourceConversion`` with the client
config rules it shares with admission webhooks (``apiserver/pkg/util/webhook``:
``ValidateWebhookURL``, ``ValidateWebhookService``), the same paths and messages.
On update a CRD whose stored review versions this server no longer recognises may
keep them (``recognized_review_version=False``), so old objects stay writable.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..fielderrors import FieldError, Path, forbidden, invalid, not_supported, required
from .goprint import go_strings, invalid_go
from .meta import is_dns1035_label, is_dns1123_subdomain

REVIEW_VERSIONS = ["v1", "v1beta1"]


def _enum(path: Path, value: str, accepted: list[str]) -> list[FieldError]:
    if not value:
        return [required(str(path))]
    return [] if value in accepted else [not_supported(str(path), value, accepted)]


def check_conversion(conversion: dict | None, path: Path,
                     recognized_review_version: bool) -> list[FieldError]:
    """validateCustomResourceConversion: ``path`` is ``spec.conversion``."""
    if conversion is None:
        return []
    strategy, config = conversion.get("strategy", ""), conversion.get("webhookClientConfig")
    versions = conversion.get("conversionReviewVersions")
    errs = _enum(path.child("strategy"), strategy, ["None", "Webhook"])
    if strategy != "Webhook":
        if config is not None:
            errs.append(forbidden(str(path.child("webhookClientConfig")),
                                  "should not be set when strategy is not set to Webhook"))
        if versions:
            errs.append(forbidden(str(path.child("conversionReviewVersions")),
                                  "should not be set when strategy is not set to Webhook"))
        return errs
    if config is None:
        errs.append(required(str(path.child("webhookClientConfig")),
                             "required when strategy is set to Webhook"))
    elif (config.get("url") is None) == (config.get("service") is None):
        errs.append(required(str(path.child("webhookClientConfig")),
                             "exactly one of url or service is required"))
    elif config.get("url") is not None:
        errs += _webhook_url(config["url"], path.child("webhookClientConfig", "url"))
    else:
        errs += _webhook_service(config["service"], path.child("webhookClientConfig", "service"))
    return errs + _review_versions(versions, recognized_review_version,
                                   path.child("conversionReviewVersions"))


def _webhook_url(url: str, path: Path) -> list[FieldError]:
    form = "; desired format: https://host[/path]"
    try:
        parts = urlsplit(url)
    except ValueError as err:
        return [required(str(path), f"url must be a valid URL: {err}{form}")]
    user, _, host = parts.netloc.rpartition("@")
    errs: list[FieldError] = []
    if parts.scheme != "https":
        errs.append(invalid(str(path), parts.scheme,
                            "'https' is the only allowed URL scheme" + form))
    if not host:
        errs.append(invalid(str(path), host, "host must be specified" + form))
    if user:
        errs.append(invalid(str(path), user, "user information is not permitted in the URL"))
    if parts.fragment:
        errs.append(invalid(str(path), parts.fragment, "fragments are not permitted in the URL"))
    if parts.query:
        errs.append(invalid(str(path), parts.query,
                            "query parameters are not permitted in the URL"))
    return errs


def _webhook_service(service: dict, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    if not service.get("name"):
        errs.append(required(str(path.child("name")), "service name is required"))
    if not service.get("namespace"):
        errs.append(required(str(path.child("namespace")), "service namespace is required"))
    port = service.get("port", 443)
    if not 1 <= port <= 65535:
        errs.append(invalid(str(path.child("port")), port,
                            "port is not valid: must be between 1 and 65535, inclusive"))
    url_path = service.get("path")
    if url_path in (None, "", "/"):
        return errs
    if url_path == "//":
        return errs + [invalid(str(path.child("path")), url_path, "segment[0] may not be empty")]
    if not url_path.startswith("/"):
        errs.append(invalid(str(path.child("path")), url_path, "must start with a '/'"))
    steps = url_path[1:]
    steps = steps[:-1] if steps.endswith("/") else steps
    for i, step in enumerate(steps.split("/")):
        if not step:
            errs.append(invalid(str(path.child("path")), url_path,
                                f"segment[{i}] may not be empty"))
        errs += [invalid(str(path.child("path")), url_path, f"segment[{i}]: {p}")
                 for p in (is_dns1123_subdomain(step) if step else [])]
    return errs


def _review_versions(versions: list[str] | None, recognized: bool,
                     path: Path) -> list[FieldError]:
    if not versions:
        return [required(str(path))]
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, version in enumerate(versions):
        if version in seen:
            errs.append(invalid(str(path.index(i)), version, "duplicate version"))
            continue
        seen.add(version)
        errs += [invalid(str(path.index(i)), version, p) for p in is_dns1035_label(version)]
    if recognized and not seen & set(REVIEW_VERSIONS):
        # The webhook must understand a ConversionReview this server knows how to send.
        errs.append(invalid_go(path, go_strings(versions),
                               "must include at least one of v1, v1beta1"))
    return errs
