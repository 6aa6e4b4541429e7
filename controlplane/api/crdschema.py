"""Custom resources and their schemas: the apiextensions half of the API server.

Where it sits: when a CRD is created, CRD validation calls :func:`validate_structural`
on each version's ``openAPIV3Schema``. For every write of a custom resource, the
handler then runs the same pipeline as the Go apiserver:

1. :func:`prune` -- drop fields the schema does not know (their paths feed
   ``fieldValidation``: ``unknown field "spec.foo"``, a warning by default, a 400 with
   ``Strict``), and nulls the schema does not allow;
2. :func:`apply_defaults` -- fill ``default:`` values;
3. :func:`validate` -- OpenAPI v3 validation plus the registry's own checks; a
   non-empty list becomes a 422 Invalid.

Schemas arrive as :class:`~controlplane.api.schema.Schema` views of the CRD's
``openAPIV3Schema`` (plain dicts, no references).

What it promises: the messages kubectl shows against a real 1.33 apiserver. The work is
split by idea -- ``crdschema_coerce`` (pruning, defaulting), ``crdschema_validate``
(kube-openapi's validator), ``crdschema_registry`` (embedded resources, list-type
uniqueness), ``crdschema_formats`` (string formats), ``crdschema_structural`` and
``crdschema_openapi`` (what a CRD's schema may say). ``x-kubernetes-validations``
(CEL rules) are out of scope: they are neither compiled nor evaluated. Object metadata
is validated by the registry, not here.
"""

from __future__ import annotations

from . import fielderrors as fe
from .crdschema_coerce import apply_defaults, prune
from .crdschema_openapi import default_errors, openapi_errors
from .crdschema_registry import embedded_resource_errors, list_errors
from .crdschema_structural import conversion_error, structural_errors
from .crdschema_validate import validate_value
from .fielderrors import FieldError, Path
from .schema import Schema

__all__ = ["apply_defaults", "prune", "validate", "validate_structural"]


def validate(obj: dict, schema: Schema) -> list[FieldError]:
    """Everything the apiserver checks about a custom resource against its schema."""
    errors = validate_value(obj, schema.node)
    errors += embedded_resource_errors(obj, schema)
    errors += list_errors(obj, schema)
    return errors


def validate_structural(schema: dict, path: Path) -> list[FieldError]:
    """The problems of a CRD version's ``openAPIV3Schema`` at CRD creation.

    ``path`` is where that schema sits, e.g. ``spec.versions[0].schema.openAPIV3Schema``
    (upstream says ``spec.validation.openAPIV3Schema`` when all versions share one).
    As upstream: structural errors come sorted; defaults are checked only on a
    structural schema; the generic OpenAPI checks follow.
    """
    errors: list[FieldError] = []
    if schema.get("nullable") is True:
        errors.append(fe.forbidden(str(path.child("nullable")),
                                   "nullable cannot be true at the root"))
    unconvertible = conversion_error(schema)
    if not unconvertible:
        errors += structural_errors(schema, path) or default_errors(schema, path)
    errors += openapi_errors(schema, path)
    if unconvertible and not errors:
        errors.append(fe.invalid(str(path), "", unconvertible))
    return errors
