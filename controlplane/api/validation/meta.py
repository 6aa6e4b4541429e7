"""Names, labels, selectors and object metadata: the checks every kind shares.

Where it sits: the registry calls :func:`validate_object_meta` on every create and
:func:`validate_object_meta_update` on every update, before the kind's own rules; the
per-group validators (``core``, ``apps``, ``rbac``...) import the name checks, label
and selector checks from here. Together they are apimachinery's
``util/validation``, ``api/validation/objectmeta.go`` and ``apis/meta/v1/validation``.

What it promises: every message is upstream's, word for word, because kubectl prints
it to the user. The name checks live in ``names`` and are re-exported here: an
``is_*`` check returns the list of problems with a value (empty when the value is
fine); a ``validate_*`` check returns :class:`FieldError` objects that already carry
the field path.
"""

from __future__ import annotations

from typing import Any

from ..fielderrors import FieldError, Path, forbidden, invalid, required, too_long
from .goprint import NULL, go_quote, go_strings, go_time, invalid_go
from .names import (byte_len, empty_error, format_errors, inclusive_range_error, is_dns1035_label,
                    is_dns1123_label, is_dns1123_subdomain, is_path_segment_name, is_qualified_name,
                    is_valid_label_value, mask_trailing_dash, max_len_error, regex_error)
from .rules import NameCheck

__all__ = [
    "NameCheck", "is_dns1123_subdomain", "is_dns1123_label", "is_dns1035_label",
    "is_qualified_name", "is_valid_label_value", "is_path_segment_name", "validate_labels",
    "validate_annotations", "validate_label_selector", "label_selector_matches",
    "selector_to_string", "validate_object_meta", "validate_object_meta_update",
    # the message builders and helpers of ``names``, for the other validators
    "empty_error", "format_errors", "inclusive_range_error", "mask_trailing_dash",
    "max_len_error", "regex_error",
]

FIELD_IMMUTABLE = "field is immutable"
IS_NEGATIVE = "must be greater than or equal to 0"
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024

# -- labels, annotations ----------------------------------------------------------------


def validate_labels(labels: Any, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    for key, value in (labels or {}).items():
        errs += format_errors(is_qualified_name, key, path)
        errs += format_errors(is_valid_label_value, value if isinstance(value, str) else str(value),
                              path)
    return errs


def validate_annotations(annotations: Any, path: Path) -> list[FieldError]:
    annotations = annotations or {}
    errs: list[FieldError] = []
    for key in annotations:
        # Annotation keys follow the qualified-name rule, but case does not matter.
        errs.extend(invalid(str(path), key, msg) for msg in is_qualified_name(key.lower()))
    size = sum(byte_len(k) + byte_len(str(v or "")) for k, v in annotations.items())
    if size > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(too_long(str(path), TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


# -- label selectors (metav1.LabelSelector) ---------------------------------------------

_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def validate_label_selector(selector: Any, path: Path) -> list[FieldError]:
    if selector is None:
        return []
    errs = validate_labels(selector.get("matchLabels"), path.child("matchLabels"))
    for i, expr in enumerate(selector.get("matchExpressions") or []):
        errs.extend(_validate_requirement(expr, path.child("matchExpressions").index(i)))
    return errs


def _validate_requirement(expr: dict, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    operator, values = expr.get("operator", ""), expr.get("values") or []
    if operator in ("In", "NotIn"):
        if not values:
            errs.append(required(str(path.child("values")),
                                 "must be specified when `operator` is 'In' or 'NotIn'"))
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            errs.append(forbidden(
                str(path.child("values")),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
    else:
        errs.append(invalid(str(path.child("operator")), operator, "not a valid selector operator"))
    errs += format_errors(is_qualified_name, expr.get("key", ""), path.child("key"))
    for j, value in enumerate(values):
        errs += format_errors(is_valid_label_value, value, path.child("values").index(j))
    return errs


def _requirements(selector: dict) -> list[tuple[str, str, list[str]]] | None:
    """The selector as (key, operator, values) triples; None when an operator is unknown."""
    reqs = [(k, "=", [v]) for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        if expr.get("operator") not in _SELECTOR_OPERATORS:
            return None
        reqs.append((expr.get("key", ""), expr["operator"], list(expr.get("values") or [])))
    return reqs


def label_selector_matches(selector: dict | None, labels: dict | None) -> bool:
    """Whether ``labels`` satisfy ``selector``, as a controller decides which pods it owns.

    A missing selector selects nothing, an empty one selects everything; a selector
    with an unknown operator selects nothing (upstream cannot convert it).
    """
    if selector is None:
        return False
    reqs = _requirements(selector)
    if reqs is None:
        return False
    labels = labels or {}
    for key, op, values in reqs:
        present = key in labels
        if op in ("=", "In") and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def selector_to_string(selector: dict | None) -> str:
    """As metav1.FormatLabelSelector prints it: ``app=web,tier in (a,b)``, ``<none>`` if empty."""
    if selector is None:
        return "<none>"
    reqs = _requirements(selector)
    if reqs is None:
        return "<error>"
    parts = []
    for key, op, values in sorted(reqs, key=lambda r: r[0]):
        if op == "=":
            parts.append(f"{key}={values[0]}")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            word = "in" if op == "In" else "notin"
            parts.append(f"{key} {word} ({','.join(sorted(set(values)))})")
    return ",".join(parts) or "<none>"


# -- ObjectMeta ---------------------------------------------------------------------------

_META = Path("metadata")
STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")
NOT_A_STANDARD_FINALIZER = "name is neither a standard finalizer name nor is it fully qualified"


def validate_object_meta(obj: dict, *, namespaced: bool,
                         name_check: NameCheck | None = None) -> list[FieldError]:
    """ObjectMeta on create, after generateName has been turned into a name."""
    meta = obj.get("metadata") or {}
    check = name_check or is_dns1123_subdomain
    errs: list[FieldError] = []
    generate_name = meta.get("generateName") or ""
    if generate_name:
        errs.extend(invalid(str(_META.child("generateName")), generate_name, msg)
                    for msg in check(mask_trailing_dash(generate_name)))
    name = meta.get("name") or ""
    if not name:
        errs.append(required(str(_META.child("name")), "name or generateName is required"))
    else:
        errs += format_errors(check, name, _META.child("name"))
    namespace = meta.get("namespace") or ""
    if namespaced:
        if not namespace:
            errs.append(required(str(_META.child("namespace"))))
        else:
            errs.extend(invalid(str(_META.child("namespace")), namespace, msg)
                        for msg in is_dns1123_label(namespace))
    elif namespace:
        errs.append(forbidden(str(_META.child("namespace")), "not allowed on this type"))
    return errs + _validate_meta_common(obj, meta)


def _validate_meta_common(obj: dict, meta: dict) -> list[FieldError]:
    """What both create and update check on the (new) metadata."""
    errs: list[FieldError] = []
    generation = meta.get("generation") or 0
    if generation < 0:
        errs.append(invalid(str(_META.child("generation")), generation, IS_NEGATIVE))
    errs += validate_labels(meta.get("labels"), _META.child("labels"))
    errs += validate_annotations(meta.get("annotations"), _META.child("annotations"))
    errs += _validate_owner_references(meta.get("ownerReferences") or [])
    errs += _validate_finalizers(meta.get("finalizers") or [], _is_builtin(obj))
    errs += _validate_managed_fields(meta.get("managedFields") or [])
    return errs


def _is_builtin(obj: dict) -> bool:
    """Whether the object belongs to a built-in group (custom resources live in dotted groups
    of their own; the built-in dotted groups all end in k8s.io)."""
    api_version = obj.get("apiVersion") or ""
    group = api_version.rpartition("/")[0]
    if group == "apiextensions.k8s.io":
        return False  # CRDs are served by the apiextensions server, with the generic rules
    return "." not in group or group.endswith(".k8s.io")


def _validate_owner_references(refs: list[dict]) -> list[FieldError]:
    # Upstream reports every problem at metadata.ownerReferences, without the index.
    path = _META.child("ownerReferences")
    errs: list[FieldError] = []
    first_controller = ""
    for ref in refs:
        api_version, kind = ref.get("apiVersion") or "", ref.get("kind") or ""
        group, _, version = api_version.rpartition("/")
        if not version or "/" in group:
            errs.append(invalid(str(path.child("apiVersion")), api_version,
                                "version must not be empty"))
        for fld in ("kind", "name", "uid"):
            if not ref.get(fld):
                errs.append(invalid(str(path.child(fld)), ref.get(fld) or "", "must not be empty"))
        if (group, version, kind) == ("", "v1", "Event"):
            errs.append(invalid(str(path), ref,
                                "/v1, Kind=Event is disallowed from being an owner"))
        if ref.get("controller") is True:
            current = f"{kind}/{ref.get('name') or ''}"
            if first_controller:
                errs.append(invalid(str(path), refs,
                                    "Only one reference can have Controller set to true. Found"
                                    f' "true" in references for {first_controller} and {current}'))
            else:
                first_controller = current
    return errs


def _validate_finalizers(finalizers: list[str], builtin: bool) -> list[FieldError]:
    path = _META.child("finalizers")
    errs: list[FieldError] = []
    for finalizer in finalizers:
        errs.extend(invalid(str(path), finalizer, msg) for msg in is_qualified_name(finalizer))
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        errs.append(invalid_go(path, go_strings(finalizers),
                               "finalizer orphan and foregroundDeletion cannot be both set"))
    if builtin:
        # Built-in kinds (core's ValidateObjectMeta) also want an unprefixed finalizer to be one
        # of the standard ones; custom resources only get a warning for this upstream.
        for i, finalizer in enumerate(finalizers):
            if "/" not in finalizer and finalizer not in STANDARD_FINALIZERS:
                errs.append(invalid(str(path.index(i)), finalizer, NOT_A_STANDARD_FINALIZER))
    return errs


def _validate_managed_fields(entries: list[dict]) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, entry in enumerate(entries):
        path = _META.child("managedFields").index(i)
        if entry.get("operation") not in ("Apply", "Update"):
            errs.append(invalid(str(path.child("operation")), entry.get("operation") or "",
                                "must be `Apply` or `Update`"))
        if entry.get("fieldsType") not in (None, "", "FieldsV1"):
            errs.append(invalid(str(path.child("fieldsType")), entry["fieldsType"],
                                "must be `FieldsV1`"))
    return errs


_IMMUTABLE_META = ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                   "deletionGracePeriodSeconds")


def validate_object_meta_update(new: dict, old: dict) -> list[FieldError]:
    """ObjectMeta on update: what may not change, then the same checks as on create.

    The update must carry a resourceVersion; for an unconditional update (a PUT without
    one) the registry copies the stored object's before it validates, as upstream does.
    """
    new_meta, old_meta = new.get("metadata") or {}, old.get("metadata") or {}
    errs: list[FieldError] = []
    if old_meta.get("deletionTimestamp"):
        added = sorted(set(new_meta.get("finalizers") or [])
                       - set(old_meta.get("finalizers") or []))
        if added:
            errs.append(forbidden(str(_META.child("finalizers")),
                                  "no new finalizers can be added if the object is being deleted,"
                                  f" found new finalizers {go_strings(added)}"))
    if not new_meta.get("resourceVersion"):
        errs.append(invalid(str(_META.child("resourceVersion")), "",
                            "must be specified for an update"))
    new_generation = new_meta.get("generation") or 0
    if new_generation < (old_meta.get("generation") or 0):
        errs.append(invalid(str(_META.child("generation")), new_generation,
                            "must not be decremented"))
    for fld in _IMMUTABLE_META:
        if new_meta.get(fld) != old_meta.get(fld):
            printed = _immutable_value(fld, new_meta.get(fld))
            errs.append(invalid_go(_META.child(fld), printed, FIELD_IMMUTABLE))
    return errs + _validate_meta_common(new, new_meta)


def _immutable_value(fld: str, value: Any) -> str:
    """How upstream prints these: strings quoted, times through time.Time.String(), and an
    unset pointer (deletionTimestamp, the grace period) as "null"."""
    if fld == "creationTimestamp" and not value:
        return "0001-01-01 00:00:00 +0000 UTC"  # a zero time.Time, not a pointer
    if fld in ("creationTimestamp", "deletionTimestamp"):
        return go_time(value)
    if fld == "deletionGracePeriodSeconds":
        return NULL if value is None else str(value)
    return go_quote(value or "")
