"""The downward API: what a pod may learn about itself (``fieldRef``, ``resourceFieldRef``).

Where it sits: shared by environment variables (:mod:`nodeagent.envvars`) and by
``downwardAPI`` volumes (:mod:`nodeagent.volumes`). Both resolve the same selectors
the same way kubelet does (``podFieldSelectorRuntimeValue`` and
``ExtractResourceValueByContainerName``):

* ``fieldRef``: ``metadata.name``, ``metadata.namespace``, ``metadata.uid``,
  ``metadata.labels['k']``, ``metadata.annotations['k']`` (and, in volumes only, all
  ``metadata.labels`` / ``metadata.annotations`` as ``k="v"`` lines), ``spec.nodeName``,
  ``spec.serviceAccountName``, ``status.hostIP(s)``, ``status.podIP(s)``;
* ``resourceFieldRef``: ``limits.cpu|memory|ephemeral-storage`` and ``requests.*`` of a
  container, divided by ``divisor`` and rounded up. A limit that is not set reads as the
  node's allocatable amount.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from . import quantity

_SUBSCRIPT = re.compile(r"^(metadata\.(?:labels|annotations))\['(.+)'\]$")


class FieldError(ValueError):
    """A selector the downward API does not support; the message is upstream's."""


def format_map(values: dict[str, str]) -> str:
    """All labels or annotations, one ``key="value"`` a line, sorted (upstream's FormatMap)."""
    return "".join(f'{k}="{_escape(v)}"\n' for k, v in sorted(values.items())).rstrip("\n")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def field_value(pod: dict[str, Any], field_path: str, *, pod_ip: str = "", host_ip: str = "",
                whole_maps: bool = False) -> str:
    """The value of a ``fieldRef`` for ``pod``; ``pod_ip``/``host_ip`` are what the agent
    knows even before the API status says so (the container starts before status is written)."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    m = _SUBSCRIPT.match(field_path)
    if m:
        which, key = m.groups()
        values = meta.get(which.split(".")[1]) or {}
        return str(values.get(key, ""))
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
    }
    if field_path in simple:
        return str(simple[field_path] or "")
    if whole_maps and field_path in ("metadata.labels", "metadata.annotations"):
        return format_map(meta.get(field_path.split(".")[1]) or {})
    raise FieldError(f'unsupported fieldPath: {field_path}')


def resource_value(pod: dict[str, Any], container_name: str, resource: str, divisor: str | None,
                   allocatable: dict[str, str]) -> str:
    """The value of a ``resourceFieldRef``: a container's limit or request, in units of ``divisor``."""
    container = next((c for c in (pod.get("spec") or {}).get("containers") or []
                      if c.get("name") == container_name), None)
    if container is None:
        container = next((c for c in (pod.get("spec") or {}).get("initContainers") or []
                          if c.get("name") == container_name), None)
    if container is None:
        raise FieldError(f"container {container_name!r} not found in pod")
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or name not in ("cpu", "memory", "ephemeral-storage"):
        raise FieldError(f"unsupported container resource: {resource}")
    resources = container.get("resources") or {}
    raw = (resources.get(kind) or {}).get(name)
    if raw is None and kind == "requests":
        raw = (resources.get("limits") or {}).get(name)  # a request defaults to the limit
    if raw is None:
        raw = allocatable.get(name, "0") if kind == "limits" else "0"
    value = quantity.parse(raw)
    div = quantity.parse(divisor) if divisor not in (None, "", "0") else Decimal(1)
    if name == "cpu":
        # CPU goes through millicores first, so "1m" of a 0.25 CPU limit reads 250.
        return str(quantity.divide_ceil(Decimal(quantity.millicores(value)), div * 1000))
    return str(quantity.divide_ceil(value, div))
