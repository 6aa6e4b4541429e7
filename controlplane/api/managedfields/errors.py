"""What can go wrong in server-side apply, with upstream's own words.

Where it sits: raised by ``manager.apply`` (conflicts) and by the schema-aware
walkers (an object or applied configuration that cannot be walked). The API layer
turns :class:`ApplyConflictError` into a ``409 Conflict`` Status whose
``details.causes`` is :meth:`ApplyConflictError.causes`; kubectl prints the
message and adds its advice about ``--force-conflicts``::

    error: Apply failed with 1 conflict: conflict with "kubectl" using apps/v1: .spec.replicas

The texts follow apimachinery's ``util/managedfields/internal/conflict.go``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Conflict:
    """One field the applier wants to change that another manager owns.

    ``manager`` and ``path`` say who and what; the other fields identify the
    manager's entry the way upstream prints it (an ``Apply`` entry is named by
    its manager alone, an ``Update`` entry also by the apiVersion it wrote).
    """

    manager: str
    path: str
    operation: str = "Update"
    api_version: str = ""
    subresource: str = ""

    def who(self, api_version: str = "") -> str:
        """``"kubectl" using apps/v1``; ``api_version`` stands in when the conflict has none."""
        text = _quote(self.manager)
        if self.subresource:
            text += f" with subresource {_quote(self.subresource)}"
        if self.operation == "Update":
            text += f" using {self.api_version or api_version}"
        return text

    def identity(self) -> str:
        # Upstream groups and sorts conflicts by the manager's JSON identifier.
        return identifier(self.manager, self.operation, self.api_version, self.subresource)


class ApplyConflictError(Exception):
    """An apply that would change fields other managers own (and was not forced)."""

    def __init__(self, conflicts: Iterable[Conflict], api_version: str = "") -> None:
        self.conflicts: list[Conflict] = list(conflicts)
        self.api_version = api_version
        super().__init__(self.message(api_version))

    def message(self, api_version: str = "") -> str:
        version = api_version or self.api_version
        if len(self.conflicts) == 1:
            c = self.conflicts[0]
            return f"Apply failed with 1 conflict: conflict with {c.who(version)}: {c.path}"
        groups: dict[str, list[Conflict]] = {}
        for c in self.conflicts:
            groups.setdefault(c.identity(), []).append(c)
        lines: list[str] = []
        for identity in sorted(groups):
            first = groups[identity][0]
            lines.append(f"conflicts with {first.who(version)}:")
            lines.extend(f"- {c.path}" for c in groups[identity])
        return f"Apply failed with {len(self.conflicts)} conflicts: " + "\n".join(lines)

    def causes(self) -> list[dict[str, Any]]:
        return [
            {
                "reason": "FieldManagerConflict",
                "message": f"conflict with {c.who(self.api_version)}",
                "field": c.path,
            }
            for c in self.conflicts
        ]


class InvalidObjectError(ValueError):
    """An object the schema cannot walk: a list-map item without its keys, a duplicate key.

    Upstream reports these while converting the object to its typed form, e.g.
    ``.spec.template.spec.containers: duplicate entries for key [name="nginx"]``.
    """


def identifier(manager: str, operation: str, api_version: str, subresource: str) -> str:
    """Upstream's manager identifier: ``{"manager":"kubectl","operation":"Apply"}``.

    An applier is the same manager at every apiVersion, so Apply identifiers leave it out.
    """
    entry: dict[str, str] = {"manager": manager, "operation": operation}
    if operation == "Update" and api_version:
        entry["apiVersion"] = api_version
    if subresource:
        entry["subresource"] = subresource
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=False)


def _quote(text: str) -> str:
    # Go's %q; JSON string syntax agrees with it for every printable character.
    return json.dumps(text, ensure_ascii=False)
