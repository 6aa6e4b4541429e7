"""Planning EndpointSlice writes: which slices to create, update and delete for one Service.

Where it sits: :mod:`.endpointslice` builds the endpoints a Service should have and the
slices it has, and asks :func:`plan` what to change (upstream's ``reconciler.go`` in
``k8s.io/endpointslice``). Pure functions: a test can give it slices and endpoints and
look at the plan.

The rules, as upstream has them:

* a slice holds endpoints that share one set of ports, at most ``max_per_slice`` (100)
  of them, so one pod joining a 5000-pod Service rewrites one small object, not a huge one;
* existing slices are kept where possible: endpoints that left are removed, changed ones
  (a pod turned ready) rewritten in place, and a slice left empty is deleted;
* new endpoints go first into slices being rewritten anyway (fullest first), then, if
  they all fit, into the one unchanged slice that ends up closest to full, and only
  then into new slices;
* a slice to create may instead take over the name of a slice to delete (one update
  instead of a delete and a create);
* a Service without endpoints keeps one empty *placeholder* slice, so there is always
  a slice saying "this Service has no endpoints".
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from .podutil import meta

Obj = dict[str, Any]

MAX_ENDPOINTS_PER_SLICE = 100


@dataclasses.dataclass
class Plan:
    create: list[Obj] = dataclasses.field(default_factory=list)
    update: list[Obj] = dataclasses.field(default_factory=list)
    delete: list[Obj] = dataclasses.field(default_factory=list)


def ports_key(ports: list[Obj] | None) -> str:
    """Slices with equal port sets (in any order) share a key."""
    return repr(sorted((p.get("name") or "", p.get("port"), p.get("protocol") or "TCP", p.get("appProtocol") or "")
                       for p in ports or []))


def endpoint_key(endpoint: Obj) -> tuple[Any, ...]:
    """What makes two endpoints "the same endpoint" (a changed condition does not)."""
    ref = endpoint.get("targetRef") or {}
    return (tuple(endpoint.get("addresses") or []), endpoint.get("hostname") or "", ref.get("namespace", ""),
            ref.get("name", ""))


def plan(new_slice: Obj, existing: list[Obj], desired: dict[str, tuple[list[Obj], list[Obj]]],
         max_per_slice: int = MAX_ENDPOINTS_PER_SLICE) -> Plan:
    """The writes that turn ``existing`` into slices holding ``desired``.

    ``new_slice`` is an empty slice for this Service (labels, owner, address type, no
    ports, no endpoints); ``desired`` maps a :func:`ports_key` to ``(ports, endpoints)``.
    Slices to write come back with ``endpoints`` and ``ports`` filled in; labels and
    annotations are the caller's.
    """
    result = Plan()
    by_key: dict[str, list[Obj]] = {}
    for s in existing:
        if s.get("addressType") != new_slice.get("addressType"):
            result.delete.append(s)  # a slice of another address type is not ours to refill
        else:
            by_key.setdefault(ports_key(s.get("ports")), []).append(s)
    for key, (ports, endpoints) in desired.items():
        part = _plan_ports(new_slice, ports, by_key.get(key, []), endpoints, max_per_slice)
        result.create += part.create
        result.update += part.update
        result.delete += part.delete
    for key, slices in by_key.items():
        if key not in desired:
            result.delete += slices  # nobody serves that port set any more
    if len(result.delete) == len(existing) and not result.create:
        placeholder = dict(copy.deepcopy(new_slice), endpoints=[], ports=[])
        if len(result.delete) == 1 and _is_placeholder(result.delete[0]):
            result.delete = []  # the placeholder we need is already there
        else:
            result.create.append(placeholder)
    _reuse_names(result)
    return result


def _plan_ports(new_slice: Obj, ports: list[Obj], slices: list[Obj], endpoints: list[Obj],
                max_per_slice: int) -> Plan:
    result = Plan()
    wanted = {endpoint_key(e): e for e in endpoints}
    pending = dict.fromkeys(endpoint_key(e) for e in endpoints)  # an ordered set: the caller's order
    to_update: list[Obj] = []
    unchanged: list[Obj] = []
    for s in slices:
        kept, changed = [], False
        for e in s.get("endpoints") or []:
            desired = wanted.get(endpoint_key(e))
            if desired is None or endpoint_key(e) not in pending:
                continue  # gone (or listed twice)
            kept.append(desired)
            changed |= desired != e
            del pending[endpoint_key(e)]
        if changed or len(kept) != len(s.get("endpoints") or []):
            if kept:
                to_update.append(dict(copy.deepcopy(s), endpoints=kept))
            else:
                result.delete.append(s)
        else:
            unchanged.append(s)
    # New endpoints fill slices we rewrite anyway, fullest first.
    for s in sorted(to_update, key=lambda x: -len(x["endpoints"])):
        while pending and len(s["endpoints"]) < max_per_slice:
            s["endpoints"].append(wanted[_pop_first(pending)])
    while pending:
        target = None
        if len(pending) < max_per_slice:
            target = _slice_to_fill(unchanged, len(pending), max_per_slice)
        if target is not None:
            unchanged.remove(target)
            target = copy.deepcopy(target)
            to_update.append(target)
        else:
            target = dict(copy.deepcopy(new_slice), endpoints=[], ports=copy.deepcopy(ports))
            result.create.append(target)
        while pending and len(target["endpoints"]) < max_per_slice:
            target["endpoints"].append(wanted[_pop_first(pending)])
    result.update = to_update
    return result


def _pop_first(pending: dict[tuple[Any, ...], None]) -> tuple[Any, ...]:
    key = next(iter(pending))
    del pending[key]
    return key


def _slice_to_fill(slices: list[Obj], count: int, max_per_slice: int) -> Obj | None:
    """The unchanged slice closest to full that still has room for ``count`` more."""
    fits = [s for s in slices if len(s.get("endpoints") or []) + count <= max_per_slice]
    return max(fits, key=lambda s: len(s.get("endpoints") or []), default=None)


def _is_placeholder(s: Obj) -> bool:
    return not s.get("endpoints") and not s.get("ports")


def _reuse_names(result: Plan) -> None:
    """Turn a delete plus a create into one update of the deleted slice's name."""
    for old in list(result.delete):
        if not result.create:
            return
        if old.get("addressType") != result.create[0].get("addressType"):
            continue  # the address type of a slice cannot change
        result.delete.remove(old)
        new = result.create.pop(0)
        reused = copy.deepcopy(new)
        reused["metadata"] = dict(copy.deepcopy(meta(old)), labels=meta(new).get("labels"),
                                  annotations=meta(new).get("annotations"))
        result.update.append(reused)
