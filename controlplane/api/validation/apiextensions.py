"""apiextensions.k8s.io/v1 CustomResourceDefinitions.

Where it sits: the registry looks up ``RULES["CustomResourceDefinition"]`` after
``defaults.apiextensions`` has run; once a CRD is stored, the CRD controller accepts
its names and the API server starts serving the new resource. The checks are
upstream's ``apiextensions/validation/validation.go``; each version's
``openAPIV3Schema`` goes through :func:`crdschema.validate_structural`. Two parts live
next door: :mod:`crd_subresources` (schema root, subresources, printer columns, which
a version may carry or share) and :mod:`webhooks` (``spec.conversion``).

Why errors name ``spec.validation`` for a v1 CRD, which has no such field: upstream
validates its internal type, and converting a v1 CRD to it moves a schema (and
subresources, and printer columns) that all versions share up to the spec. So a CRD
with one version, the common case, gets errors such as

    spec.validation.openAPIV3Schema.properties[spec].type: Required value: ...

and :func:`internal_spec` builds the same view to print the same paths. That
conversion also renames ``conversion.webhook.clientConfig`` to
``conversion.webhookClientConfig``, and a printer column's ``jsonPath`` to ``JSONPath``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from ..defaults import apiextensions as defaults
from ..fielderrors import FieldError, Path, invalid, not_supported, required
from .apps import immutable, semantically_equal
from .crd_subresources import check_column, check_subresources, check_validation
from .goprint import go_pointer, go_quote, go_strings, go_struct, invalid_go
from .meta import is_dns1035_label, is_dns1123_subdomain
from .rules import KindRules
from .webhooks import REVIEW_VERSIONS, check_conversion

SPEC = Path("spec")
APPROVAL = "api-approved.kubernetes.io"


@dataclasses.dataclass(frozen=True)
class Options:
    """What upstream relaxes on update so that CRDs stored by older servers stay writable."""

    require_schema: bool = True
    immutable_names: bool = False
    recognized_review_version: bool = True


# -- the internal view ------------------------------------------------------------------------

_HOISTED = (("schema", "validation"), ("subresources", "subresources"),
            ("additionalPrinterColumns", "additionalPrinterColumns"),
            ("selectableFields", "selectableFields"))


def internal_spec(spec: dict) -> dict:
    """The spec as upstream's internal type holds it (see the module docstring)."""
    out = {k: v for k, v in spec.items() if k != "versions"}
    versions = [dict(v) for v in spec.get("versions") or []]
    for field, name in _HOISTED:
        shared = versions[0].get(field) if versions else None
        if versions and all(semantically_equal(v.get(field), shared) for v in versions):
            out[name] = shared
            for version in versions:
                version.pop(field, None)
    out["versions"] = versions
    conversion = spec.get("conversion")
    if conversion is not None:
        webhook = conversion.get("webhook") or {}
        out["conversion"] = {"strategy": conversion.get("strategy", ""),
                             "webhookClientConfig": webhook.get("clientConfig"),
                             "conversionReviewVersions": webhook.get("conversionReviewVersions")}
    return out


def _go_columns(columns: list[dict] | None) -> str:
    if columns is None:
        return "[]apiextensions.CustomResourceColumnDefinition(nil)"
    return "[]apiextensions.CustomResourceColumnDefinition{" + ", ".join(go_struct(
        "apiextensions.CustomResourceColumnDefinition", Name=go_quote(c.get("name", "")),
        Type=go_quote(c.get("type", "")), Format=go_quote(c.get("format", "")),
        Description=go_quote(c.get("description", "")), Priority=str(c.get("priority") or 0),
        JSONPath=go_quote(c.get("jsonPath", ""))) for c in columns) + "}"


def go_versions(versions: list[dict]) -> str:
    """spec.versions as the internal []CustomResourceDefinitionVersion prints."""
    if not versions:
        return "[]apiextensions.CustomResourceDefinitionVersion(nil)"
    printed = []
    for v in versions:
        fields = v.get("selectableFields")
        printed.append(go_struct(
            "apiextensions.CustomResourceDefinitionVersion", Name=go_quote(v.get("name", "")),
            Served=str(bool(v.get("served"))).lower(), Storage=str(bool(v.get("storage"))).lower(),
            Deprecated=str(bool(v.get("deprecated"))).lower(),
            DeprecationWarning=go_pointer("string", v.get("deprecationWarning")),
            Schema=go_pointer("apiextensions.CustomResourceValidation", v.get("schema")),
            Subresources=go_pointer("apiextensions.CustomResourceSubresources",
                                    v.get("subresources")),
            AdditionalPrinterColumns=_go_columns(v.get("additionalPrinterColumns")),
            SelectableFields="[]apiextensions.SelectableField(nil)" if fields is None
            else "[]apiextensions.SelectableField{...}"))
    return "[]apiextensions.CustomResourceDefinitionVersion{" + ", ".join(printed) + "}"


# -- the spec ---------------------------------------------------------------------------------


def _group(group: str) -> list[FieldError]:
    path = str(SPEC.child("group"))
    if not group:
        return [required(path)]
    problems = is_dns1123_subdomain(group)
    if problems:
        return [invalid(path, group, ",".join(problems))]
    # Resources of a dotless group could collide with the built-in ones ("apps", "batch").
    if "." not in group:
        return [invalid(path, group, "should be a domain with at least one dot")]
    return []


def _enum(path: Path, value: str, accepted: list[str]) -> list[FieldError]:
    if not value:
        return [required(str(path))]
    return [] if value in accepted else [not_supported(str(path), value, accepted)]


def _schemas(schema: Any) -> Iterator[dict]:
    """Every schema node under (and including) ``schema``."""
    if not isinstance(schema, dict):
        return
    yield schema
    for key in ("properties", "patternProperties", "definitions", "dependencies"):
        for child in (schema.get(key) or {}).values():
            yield from _schemas(child)
    for key in ("items", "allOf", "oneOf", "anyOf"):
        children = schema.get(key)
        for child in children if isinstance(children, list) else [children]:
            yield from _schemas(child)
    for key in ("not", "additionalProperties", "additionalItems"):
        yield from _schemas(schema.get(key))


def _has_defaults(spec: dict) -> bool:
    schemas = [spec.get("validation")] + [v.get("schema") for v in spec["versions"]]
    roots = [s.get("openAPIV3Schema") for s in schemas if s]
    return any("default" in node for root in roots for node in _schemas(root))


def _spec(spec: dict, opts: Options) -> list[FieldError]:
    """validateCustomResourceDefinitionSpec, on the internal view."""
    errs = _group(spec.get("group", ""))
    errs += _enum(SPEC.child("scope"), spec.get("scope", ""), ["Cluster", "Namespaced"])
    versions, preserve = spec["versions"], bool(spec.get("preserveUnknownFields"))
    if not (spec.get("validation") or {}).get("openAPIV3Schema"):
        for i, version in enumerate(versions):
            schema_path = str(SPEC.child("versions").index(i).child("schema", "openAPIV3Schema"))
            if (version.get("schema") or {}).get("openAPIV3Schema"):
                continue
            if opts.require_schema:
                errs.append(required(schema_path, "schemas are required"))
            elif not preserve and version.get("served"):
                errs.append(required(schema_path, "because otherwise all fields are pruned"))
    if _has_defaults(spec) and preserve:
        errs.append(invalid(str(SPEC.child("preserveUnknownFields")), True,
                            "must be false in order to use defaults in the schema"))
    errs += _versions(spec)
    errs += _names_required(spec.get("names") or {})
    errs += check_names(spec.get("names") or {}, SPEC.child("names"))
    any_status = _status_enabled(spec.get("subresources")) or any(
        _status_enabled(v.get("subresources")) for v in versions)
    errs += check_validation(spec.get("validation"), any_status, SPEC.child("validation"))
    errs += check_subresources(spec.get("subresources"), SPEC.child("subresources"))
    for i, column in enumerate(spec.get("additionalPrinterColumns") or []):
        errs += check_column(column, SPEC.child("additionalPrinterColumns").index(i))
    conversion = spec.get("conversion")
    if conversion is not None and conversion.get("strategy") != "None" and preserve:
        errs.append(invalid(str(SPEC.child("conversion", "strategy")), conversion.get("strategy"),
                            "must be None if spec.preserveUnknownFields is true"))
    return errs + check_conversion(conversion, SPEC.child("conversion"),
                                  opts.recognized_review_version)


def _versions(spec: dict) -> list[FieldError]:
    versions, errs, seen = spec["versions"], [], set()
    for i, version in enumerate(versions):
        path, name = SPEC.child("versions").index(i), version.get("name", "")
        problems = is_dns1035_label(name)
        if problems:
            errs.append(invalid(str(path.child("name")), name, ",".join(problems)))
        subresources = version.get("subresources") if any(
            v.get("subresources") is not None for v in versions) else spec.get("subresources")
        errs += _version(version, path, _status_enabled(subresources))
        seen.add(name)
    printed = go_versions(versions)
    if len(seen) != len(versions):
        errs.append(invalid_go(SPEC.child("versions"), printed,
                               "must contain unique version names"))
    if sum(1 for v in versions if v.get("storage")) != 1:
        errs.append(invalid_go(SPEC.child("versions"), printed,
                               "must have exactly one version marked as storage version"))
    if versions and versions[0].get("name"):
        # The internal type repeats the first version's name in spec.version.
        first = versions[0]["name"]
        problems = is_dns1035_label(first)
        if problems:
            errs.append(invalid(str(SPEC.child("version")), first, ",".join(problems)))
    return errs


def _version(version: dict, path: Path, status_enabled: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    warning = version.get("deprecationWarning")
    if warning is not None:
        errs += [invalid(str(path.child("deprecationWarning")), warning, p)
                 for p in _warning_problems(warning, bool(version.get("deprecated")))]
    errs += check_validation(version.get("schema"), status_enabled, path.child("schema"))
    errs += check_subresources(version.get("subresources"), path.child("subresources"))
    for i, column in enumerate(version.get("additionalPrinterColumns") or []):
        errs += check_column(column, path.child("additionalPrinterColumns").index(i))
    return errs


def _warning_problems(warning: str, deprecated: bool) -> list[str]:
    if not deprecated:
        return ["can only be set for deprecated versions"]
    problems = ["must be <= 256 characters long"] if len(warning) > 256 else []
    if not warning:
        problems.append("must not be an empty string")
    if not warning.isprintable():
        problems.append("must only contain printable UTF-8 characters")
    return problems


def _names_required(names: dict) -> list[FieldError]:
    return [required(str(SPEC.child("names", n)))
            for n in ("plural", "singular", "kind", "listKind") if not names.get(n)]


def check_names(names: dict, path: Path) -> list[FieldError]:
    """ValidateCustomResourceDefinitionNames: for spec.names and status.acceptedNames alike."""
    errs: list[FieldError] = []
    for name in ("plural", "singular"):
        value = names.get(name) or ""
        problems = is_dns1035_label(value) if value else []
        if problems:
            errs.append(invalid(str(path.child(name)), value, ",".join(problems)))
    for name in ("kind", "listKind"):
        value = names.get(name) or ""
        problems = is_dns1035_label(value.lower()) if value else []
        if problems:
            errs.append(invalid(str(path.child(name)), value, "may have mixed case, but should "
                                "otherwise match: " + ",".join(problems)))
    for list_name in ("shortNames", "categories"):
        for i, value in enumerate(names.get(list_name) or []):
            problems = is_dns1035_label(value)
            if problems:
                errs.append(invalid(str(path.child(list_name).index(i)), value, ",".join(problems)))
    kind = names.get("kind") or ""
    if kind and kind == names.get("listKind"):
        # Otherwise a list response could not be told from a single object.
        errs.append(invalid(str(path.child("listKind")), kind,
                            "kind and listKind may not be the same"))
    return errs


def _status_enabled(subresources: dict | None) -> bool:
    return bool(subresources) and subresources.get("status") is not None


# -- the whole object -----------------------------------------------------------------------------


def _stored_versions(obj: dict, versions: list[dict]) -> list[FieldError]:
    path = Path("status", "storedVersions")
    stored = (obj.get("status") or {}).get("storedVersions")
    if not stored:
        return [invalid_go(path, go_strings(stored), "must have at least one stored version")]
    errs: list[FieldError] = []
    names = [v.get("name") for v in versions]
    for version in versions:
        if version.get("storage") and version.get("name") not in stored:
            errs.append(invalid_go(path, go_strings(stored),
                                   "must have the storage version " + version["name"]))
    for i, name in enumerate(stored):
        if name not in names:
            # Objects may still be stored at that version; dropping it would strand them.
            errs.append(invalid(str(path.index(i)), name, (
                f"missing from spec.versions; {name} was previously a storage version, and must "
                f"remain in spec.versions until a storage migration ensures no data remains "
                f"persisted in {name} and removes {name} from status.storedVersions")))
    return errs


def _approval_state(annotations: dict) -> tuple[str, str]:
    value = annotations.get(APPROVAL, "")
    if not value:
        return "missing", (f'protected groups must have approval annotation "{APPROVAL}", see '
                           "https://github.com/kubernetes/enhancements/pull/1111")
    if value.startswith("unapproved"):
        return "bypassed", f'not approved: "{value}"'
    parts = urlsplit(value) if "://" in value else None
    if parts and parts.scheme and parts.netloc:
        return "approved", f"approved in {value}"
    return "invalid", (f'protected groups must have approval annotation "{APPROVAL}" with either '
                       'a URL or a reason starting with "unapproved", see '
                       "https://github.com/kubernetes/enhancements/pull/1111")


def _annotations(obj: dict) -> dict:
    return (obj.get("metadata") or {}).get("annotations") or {}


def _api_approval(new: dict, old: dict | None) -> list[FieldError]:
    """Groups under k8s.io and kubernetes.io belong to the Kubernetes project: a CRD there
    must point at the approved API review (or say, in its annotation, that it has none)."""
    group = (new.get("spec") or {}).get("group", "")
    if not any(group == g or group.endswith("." + g) for g in ("k8s.io", "kubernetes.io")):
        return []
    state, reason = _approval_state(_annotations(new))
    # A state that did not change never fails, so a controller updating the spec is not stuck.
    if old is not None and _approval_state(_annotations(old))[0] == state:
        return []
    path = str(Path("metadata", "annotations").key(APPROVAL))
    if state == "missing":
        return [required(path, reason)]
    if state == "invalid":
        return [invalid(path, new["metadata"]["annotations"][APPROVAL], reason)]
    return []


def _preserve_unknown_fields(new: dict, old: dict | None) -> list[FieldError]:
    if old is not None and (old.get("spec") or {}).get("preserveUnknownFields"):
        return []  # CRDs from before pruning keep working
    if (new.get("spec") or {}).get("preserveUnknownFields"):
        return [invalid("spec.preserveUnknownFields", True, "cannot set to true, set "
                        "x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema "
                        "instead")]
    return []


def _validate(new: dict, old: dict | None, opts: Options) -> list[FieldError]:
    spec = internal_spec(new.get("spec") or {})
    errs = _spec(spec, opts)
    if old is not None:
        errs += _fixed_names(spec, old.get("spec") or {}, opts)
    errs += _accepted_names(new)
    errs += _stored_versions(new, spec["versions"])
    return errs + _api_approval(new, old) + _preserve_unknown_fields(new, old)


def _fixed_names(spec: dict, old_spec: dict, opts: Options) -> list[FieldError]:
    names, old_names = spec.get("names") or {}, old_spec.get("names") or {}
    errs: list[FieldError] = []
    if opts.immutable_names:
        # Once served, the resource's storage depends on its scope and kind.
        errs += immutable(spec.get("scope", ""), old_spec.get("scope", ""), SPEC.child("scope"))
        errs += immutable(names.get("kind", ""), old_names.get("kind", ""),
                          SPEC.child("names", "kind"))
    # Group and plural make up the CRD's own name, which can never change.
    errs += immutable(spec.get("group", ""), old_spec.get("group", ""), SPEC.child("group"))
    return errs + immutable(names.get("plural", ""), old_names.get("plural", ""),
                            SPEC.child("names", "plural"))


def _accepted_names(obj: dict) -> list[FieldError]:
    names = (obj.get("status") or {}).get("acceptedNames") or {}
    return check_names(names, Path("status", "acceptedNames"))


def validate_crd(obj: dict) -> list[FieldError]:
    spec, name = obj.get("spec") or {}, (obj.get("metadata") or {}).get("name", "")
    errs: list[FieldError] = []
    expected = f"{(spec.get('names') or {}).get('plural', '')}.{spec.get('group', '')}"
    if name != expected:
        # The CRD's name is how the server finds it from a request for <plural>.<group>.
        errs.append(invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    return errs + _validate(obj, None, Options())


def _established(obj: dict) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def validate_crd_update(new: dict, old: dict) -> list[FieldError]:
    old_spec = old.get("spec") or {}
    old_webhook = (old_spec.get("conversion") or {}).get("webhook") or {}
    old_review = old_webhook.get("conversionReviewVersions")
    opts = Options(
        # A CRD stored before schemas were required may stay schemaless.
        require_schema=all((v.get("schema") or {}).get("openAPIV3Schema")
                           for v in old_spec.get("versions") or []),
        immutable_names=_established(old),
        recognized_review_version=not old_review or bool(set(old_review) & set(REVIEW_VERSIONS)))
    return _validate(new, old, opts)


def validate_crd_status(new: dict, old: dict) -> list[FieldError]:
    return _accepted_names(new)


RULES: dict[str, KindRules] = {
    "CustomResourceDefinition": KindRules(defaults.default_crd, validate_crd, validate_crd_update,
                                          validate_crd_status),
}
