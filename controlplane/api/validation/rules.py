"""What the registry needs from each kind: its defaulting and its validation.

Where it sits: the generic registry store (``controlplane/api/registry``) calls, for
every write of a kind, ``default`` and then ``validate`` (create) or
``validate_update`` (update, patch, apply), and ``validate_status_update`` for
writes to the ``/status`` subresource. Object metadata is validated by the store
itself (``validation.meta``); these rules cover what is particular to the kind.

Every function is pure apart from ``default``, which fills defaults in place, and
returns a list of :class:`~controlplane.api.fielderrors.FieldError` (empty = valid),
as upstream's ``pkg/apis/<group>/validation`` does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ..fielderrors import FieldError

Validate = Callable[[dict], list[FieldError]]
ValidateUpdate = Callable[[dict, dict], list[FieldError]]  # (new, old)
NameCheck = Callable[[str], list[str]]  # problems with a name, as upstream's messages


def _nothing(*_: dict) -> list[FieldError]:
    return []


def _no_defaults(_: dict) -> None:
    return None


@dataclasses.dataclass(frozen=True)
class KindRules:
    """Defaulting and validation for one kind (all optional; the defaults accept anything)."""

    default: Callable[[dict], None] = _no_defaults
    validate: Validate = _nothing
    validate_update: ValidateUpdate = _nothing
    validate_status_update: ValidateUpdate = _nothing
    # How metadata.name is checked; None means a DNS-1123 subdomain (the most common rule).
    name: NameCheck | None = None
