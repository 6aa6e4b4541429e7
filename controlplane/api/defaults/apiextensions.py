"""Defaults for CustomResourceDefinitions, as ``apiextensions/v1/defaults.go`` sets them.

Where it sits: the registry calls :func:`default_crd` (through
``validation.apiextensions.RULES``) on create and update, after it has dropped (on
create) or restored (on update) the status, since status belongs to the server.

* ``spec.names.singular`` is the kind in lower case, ``spec.names.listKind`` the kind
  plus ``List``: ``Widget`` gives ``widget`` and ``WidgetList``;
* ``spec.conversion`` is ``{strategy: None}``: every version is served from the same
  stored object, with only ``apiVersion`` rewritten;
* a conversion webhook's service port is 443;
* ``status.storedVersions`` lists the storage version, added the first time a version
  is marked ``storage: true`` (the registry strategy's job upstream), so the server
  remembers every version that objects may still be stored in.
"""

from __future__ import annotations

from typing import Any

from .apps import fill, section


def default_crd(obj: dict[str, Any]) -> None:
    spec = section(obj, "spec")
    names = section(spec, "names")
    kind = names.get("kind") or ""
    if not names.get("singular") and kind:
        names["singular"] = kind.lower()
    if not names.get("listKind") and kind:
        names["listKind"] = kind + "List"
    if spec.get("conversion") is None:
        spec["conversion"] = {"strategy": "None"}
    webhook = spec["conversion"].get("webhook") or {}
    service = (webhook.get("clientConfig") or {}).get("service")
    if isinstance(service, dict):
        fill(service, "port", 443)
    storage = next((v.get("name") for v in spec.get("versions") or [] if v.get("storage")), None)
    if storage:
        status = section(obj, "status")
        if not isinstance(status.get("storedVersions"), list):
            status["storedVersions"] = []
        if storage not in status["storedVersions"]:
            status["storedVersions"].append(storage)
