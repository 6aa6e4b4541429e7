"""Client-side apply's annotation, as server-side apply treats it for ``kubectl``.

Where it sits: two small hooks around ``manager.apply``, used only when the
manager is ``kubectl`` (kubectl's default for ``apply --server-side``); any other
manager name opts out, as upstream.

* :func:`allowed_conflicts` — an object last written by ``kubectl apply``
  (client-side) carries ``kubectl.kubernetes.io/last-applied-configuration``.
  Fields that annotation names *and* that still hold the annotated value were put
  there by the same user, so switching to ``--server-side`` may take them over
  without a conflict (upstream ``lastappliedmanager.go``).
* :func:`sync_annotation` — while the annotation exists, server-side apply keeps
  it equal to the latest applied configuration, so that going back to
  client-side apply still works (upstream ``lastappliedupdater.go``).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from ..schema import Schema
from .errors import InvalidObjectError
from .fieldpath import FieldSet, go_json
from .typed import compare, field_set

ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
KUBECTL = "kubectl"


def allowed_conflicts(live: dict[str, Any], api_version: str,
                      schema: Schema | None) -> FieldSet | None:
    """The fields ``kubectl`` may take over without conflict; None if the annotation cannot say."""
    text = (live.get("metadata", {}).get("annotations") or {}).get(ANNOTATION)
    if not text:
        return None
    try:
        last_applied = json.loads(text)
    except ValueError:
        return None
    if not isinstance(last_applied, dict) or last_applied.get("apiVersion") != api_version:
        return None
    try:
        claimed = field_set(last_applied, schema)
        drift = compare(last_applied, live, schema)
    except InvalidObjectError:
        return None
    # A field that changed since the last client-side apply was changed by someone else.
    return claimed - drift.added - drift.modified - drift.removed


def sync_annotation(result: dict[str, Any], applied: dict[str, Any]) -> None:
    """Rewrite the annotation in ``result`` from ``applied``, if ``result`` still has one."""
    annotations = result.get("metadata", {}).get("annotations")
    if not isinstance(annotations, dict) or not annotations.get(ANNOTATION):
        return
    body = copy.deepcopy(applied)
    applied_annotations = body.get("metadata", {}).get("annotations")
    if isinstance(applied_annotations, dict):
        applied_annotations.pop(ANNOTATION, None)
    # Encoded as kubectl encodes it: compact, keys sorted, one trailing newline.
    annotations[ANNOTATION] = go_json(body) + "\n"
