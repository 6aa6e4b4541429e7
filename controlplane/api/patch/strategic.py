"""Strategic merge patch: ``application/strategic-merge-patch+json``, for built-in kinds.

Where it sits: the PATCH handler calls :func:`strategic_merge_patch` with the live object,
the request body and the kind's schema (:func:`controlplane.api.schema.builtin_schema`).
``kubectl apply`` (client-side), ``set image|env``, ``rollout pause|resume|restart``,
``cordon`` and ``patch`` (its default type) all send one.

Why it exists: a JSON merge patch replaces lists whole, so changing one container's image
would mean resending every container. Here the schema says, field by field, how to merge
(upstream's ``x-kubernetes-patch-strategy`` and ``x-kubernetes-patch-merge-key``):

* maps merge key by key; ``null`` deletes a key;
* a list with strategy ``merge`` and a merge key (``containers`` on ``name``, container
  ``ports`` on ``containerPort``) is a keyed set: a patch item merges into the live item
  with the same key, or is added;
* a list of scalars with strategy ``merge`` (``metadata.finalizers``) is a union;
* any other list (``tolerations``, ``args``) is replaced whole, as in a merge patch;
* where the schema says nothing (free-form fields) this is just a merge patch.

The patch may also carry directives, ``$`` keys that never reach the result:
``$patch`` (``replace``, ``delete`` or ``merge``, in a map or as a list item),
``$retainKeys`` (keep only these keys of the live map), ``$deleteFromPrimitiveList/<list>``
and ``$setElementOrder/<list>``. Each is explained where it is carried out.

What it promises: upstream's server-side semantics (apimachinery ``pkg/util/strategicpatch``,
``StrategicMergeMapPatch``), including the order of merged lists, which follows in turn:

1. ``$setElementOrder`` when given (``kubectl apply`` sends it for every merged list it changes);
2. the order of the items in the patch;
3. the order of the live list for the items the patch does not mention, each placed
   before the first patch item that followed it in the live list. A new item has no
   place in the live list, so it goes before any live items still waiting: adding
   finalizer ``b`` to ``[a]`` with a bare patch gives ``[b, a]``, as it does upstream.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from controlplane.api.schema import Schema

from . import PatchError

PATCH = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ELEMENT_ORDER = "$setElementOrder"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"


def strategic_merge_patch(original: dict, patch: dict, schema: Schema | None) -> dict:
    """Apply a strategic merge ``patch`` to ``original`` using the kind's ``schema``.

    Neither argument is changed. Raises :class:`PatchError` (400 for a malformed patch,
    422 for one that does not apply).
    """
    if not isinstance(patch, dict):
        raise PatchError("invalid JSON document: a strategic merge patch must be an object", 400)
    # The merge below edits in place, as upstream's does: give it private copies.
    return _merge_map(copy.deepcopy(original), copy.deepcopy(patch), schema)


# -- what the schema says about a field -------------------------------------------


@dataclass(frozen=True)
class _Field:
    schema: Schema | None  # the field's own schema; None where the schema says nothing
    strategy: str  # "merge", "replace" or "" (a "retainKeys" part is handled by $retainKeys)
    merge_key: str

    @property
    def item_schema(self) -> Schema | None:
        return self.schema.items if self.schema is not None else None


def _field(schema: Schema | None, key: str) -> _Field:
    node = None
    if schema is not None:
        node = schema.prop(key) or schema.additional_properties
    if node is None:
        return _Field(None, "", "")
    strategies = [s for s in node.patch_strategy.split(",") if s and s != "retainKeys"]
    return _Field(node, strategies[0] if strategies else "", node.patch_merge_key)


def _is_known_directive(key: str) -> bool:
    return key in (PATCH, RETAIN_KEYS) or key.startswith(
        (SET_ELEMENT_ORDER + "/", DELETE_FROM_PRIMITIVE_LIST + "/"))


def _is_directive(key: str, schema: Schema | None) -> bool:
    """True for a ``$`` key that is not a real field (``$ref`` is one in a CRD schema)."""
    return key.startswith("$") and (schema is None or schema.prop(key) is None)


# -- maps -------------------------------------------------------------------------


def _merge_map(original: dict, patch: dict, schema: Schema | None) -> dict:
    """Merge a patch map into a live map. ``"$patch": "replace"`` makes the patch the whole
    map; ``"$patch": "delete"`` leaves it empty (the field itself stays, as upstream)."""
    if PATCH in patch:
        directive = patch.pop(PATCH)
        if directive == "replace":
            return _clean(patch, schema)
        if directive == "delete":
            return {}
        if directive != "merge":
            raise _unknown_patch_type(directive, patch)
    _retain_keys(original, patch)
    _set_element_orders(original, patch, schema)
    for key, value in patch.items():
        _merge_field(original, key, value, schema)
    return original


def _merge_field(original: dict, key: str, value: Any, schema: Schema | None) -> None:
    if key.startswith(DELETE_FROM_PRIMITIVE_LIST):
        _delete_from_primitive_list(original, _directive_target(key), value)
        return
    if _is_directive(key, schema):
        raise PatchError(f"unknown patch directive {key!r}", 400)
    if value is None:
        original.pop(key, None)
        return
    field = _field(schema, key)
    current = original.get(key)
    if isinstance(current, dict) and isinstance(value, dict) and field.strategy != "replace":
        original[key] = _merge_map(current, value, field.schema)
    elif isinstance(current, list) and isinstance(value, list):
        original[key] = _merge_list(current, value, field)
    else:
        # A new field, a scalar, or a value whose type changed: the patch value wins.
        cleaned = _clean(value, field.schema)
        if cleaned is None:
            original.pop(key, None)
        else:
            original[key] = cleaned


def _retain_keys(original: dict, patch: dict) -> None:
    """``$retainKeys``: drop every live key not listed (kubectl sends it when a union
    field such as ``strategy.type`` or a volume's source changes)."""
    if RETAIN_KEYS not in patch:
        return
    keep = patch.pop(RETAIN_KEYS)
    if not isinstance(keep, list):
        raise PatchError("invalid patch format of retainKeys", 400)
    for key, value in patch.items():
        if value is not None and not _is_known_directive(key) and key not in keep:
            raise PatchError(f"invalid patch format of retainKeys: {key!r} is not listed", 400)
    for key in [key for key in original if key not in keep]:
        del original[key]


def _delete_from_primitive_list(original: dict, key: str, values: Any) -> None:
    """``$deleteFromPrimitiveList/finalizers: [x]``: how a patch removes ``x`` from a union."""
    if not isinstance(values, list) or any(isinstance(v, (dict, list)) for v in values):
        raise PatchError("invalid patch format of primitive list", 400)
    current = original.get(key)
    if isinstance(current, list):
        original[key] = [item for item in current if not any(_same(item, v) for v in values)]


def _directive_target(key: str) -> str:
    """``"$setElementOrder/containers"`` -> ``"containers"``."""
    prefix, slash, target = key.partition("/")
    if not slash or prefix not in (SET_ELEMENT_ORDER, DELETE_FROM_PRIMITIVE_LIST):
        name = "setElementOrder list" if key.startswith(SET_ELEMENT_ORDER) else "primitive list"
        raise PatchError(f"invalid patch format of {name}", 400)
    return target


# -- lists ------------------------------------------------------------------------


def _merge_list(current: list, patch: list, field: _Field) -> list:
    if field.strategy != "merge":
        return _clean(patch, field.schema)
    if not current and not patch:
        return current
    if _element_kind(current, patch) == "scalar":
        merged = _dedupe(current + patch)
        return _order(merged, patch, current, "")
    if not field.merge_key:
        raise PatchError(f"cannot merge lists without merge key for {field.schema!r}", 422)
    current, patch = _apply_list_directives(current, patch, field)
    merged = _merge_items(current, patch, field)
    return _order(merged, patch, current, field.merge_key)


def _apply_list_directives(current: list, patch: list, field: _Field) -> tuple[list, list]:
    """Carry out the ``$patch`` items of a keyed list: ``{"name": "x", "$patch": "delete"}``
    deletes every live item named x; ``{"$patch": "replace"}`` makes the other patch items
    the whole list. Returns (live list, plain patch items left to merge)."""
    plain: list = []
    replace = False
    for item in patch:
        if PATCH not in item:
            plain.append(item)
            continue
        directive = item[PATCH]
        if directive == "delete":
            current = [live for live in current if not _same_entry(live, item, field.merge_key)]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            rest = {k: v for k, v in item.items() if k != PATCH}
            if rest:
                plain.append(rest)
        else:
            raise _unknown_patch_type(directive, item)
    if replace:
        # The plain items become the whole list; nothing is left to merge into it.
        return _clean(plain, field.schema), []
    return current, plain


def _merge_items(current: list, patch: list, field: _Field) -> list:
    merged = list(current)
    for item in patch:
        _merge_key_value(item, field.merge_key)  # even the first item must carry its key
        at = _index(merged, item, field.merge_key)
        if at < 0:
            merged.append(_clean(item, field.item_schema))
        else:
            merged[at] = _merge_map(merged[at], item, field.item_schema)
    return merged


def _set_element_orders(original: dict, patch: dict, schema: Schema | None) -> None:
    """Merge each list named by a ``$setElementOrder/<list>`` and put it in that order.

    kubectl sends the full list of merge keys (``[{"name": "nginx"}, ...]``) next to the
    items that changed, so the server can restore the order of the user's manifest.
    """
    for directive in [key for key in patch if key.startswith(SET_ELEMENT_ORDER)]:
        order = patch.pop(directive)
        key = _directive_target(directive)
        in_live, in_patch = key in original, key in patch
        current, change = original.get(key), patch.pop(key, None)
        if not isinstance(order, list) or (in_patch and not isinstance(change, list)):
            raise PatchError("invalid patch format of setElementOrder list", 400)
        if in_live and not isinstance(current, list):
            raise PatchError(f"cannot order {key!r}: the object's value is not a list", 422)
        field = _field(schema, key)
        _check_order(change or [], order, field.merge_key)
        if in_live and in_patch:
            merged = _merge_list(current, change, field)
        elif in_patch:
            merged = _clean(change, field.schema)
        elif in_live:
            merged = current
        else:
            continue
        original[key] = _put_in_element_order(merged, order, current or [], change or [], field)


def _put_in_element_order(merged: list, order: list, current: list, change: list,
                          field: _Field) -> list:
    kind = _element_kind(current, change)
    if kind == "map" and not field.merge_key:
        return merged  # a list of objects without merge key has no identities to order by
    merge_key = field.merge_key if kind == "map" else ""
    for entry in order:
        _merge_key_value(entry, merge_key)
    live = current
    replaced = any(isinstance(item, dict) and item.get(PATCH) == "replace" for item in change)
    if field.strategy == "merge" and not replaced:
        live = _live_after_merge(current, merged, merge_key)
    return _order(merged, order, live, merge_key)


def _live_after_merge(live: list, merged: list, merge_key: str) -> list:
    """The live order that upstream places unordered items by, after a merge.

    Upstream's Go code deletes items from the live list in place and appends new items to
    what is left, in the same memory: it then reads the live list back with its old length.
    So the items after a deleted one move up, and new items fill the places the deleted
    ones freed. The result is deterministic and upstream's own tests depend on it.
    """
    survivors = [item for item in live if _index(merged, item, merge_key) >= 0]
    added = [item for item in merged if _index(live, item, merge_key) < 0]
    return (survivors + added)[: len(live)]


def _check_order(patch: list, order: list, merge_key: str) -> None:
    """The patch's items must appear in ``$setElementOrder``, and in the same order."""
    if not order:
        return
    position = 0
    for item in patch:
        if isinstance(item, dict) and PATCH in item:
            continue  # deletions and markers are not part of the order
        while position < len(order) and not _same_entry(item, order[position], merge_key):
            position += 1
        if position == len(order):
            raise PatchError(
                f"the order in patch list {_show(patch)} doesn't match "
                f"$setElementOrder list {_show(order)}", 400)
        position += 1


# -- ordering a merged list -------------------------------------------------------


def _order(merged: list, patch_order: list, live_order: list, merge_key: str) -> list:
    """Order ``merged``: the items named in ``patch_order`` in that order, the others in
    their live order, slotted in among them (rule 3 of the module docstring)."""
    in_patch = [item for item in merged if _index(patch_order, item, merge_key) >= 0]
    live_only = [item for item in merged if _index(patch_order, item, merge_key) < 0]
    in_patch = _sorted_by(in_patch, patch_order, merge_key)
    live_only = _sorted_by(live_only, live_order, merge_key)
    result: list = []
    i = j = 0
    while i < len(live_only) and j < len(in_patch):
        live_at = _index(live_order, live_only[i], merge_key)
        patch_at = _index(live_order, in_patch[j], merge_key)
        if live_at >= 0 and patch_at >= 0 and live_at < patch_at:
            result.append(live_only[i])
            i += 1
        else:
            result.append(in_patch[j])
            j += 1
    return result + live_only[i:] + in_patch[j:]


def _sorted_by(items: list, order: list, merge_key: str) -> list:
    def position(item: Any) -> int:
        at = _index(order, item, merge_key)
        return at if at >= 0 else len(order)

    return sorted(items, key=position)  # stable: equal positions keep their order


def _index(order: list, item: Any, merge_key: str) -> int:
    return next((i for i, entry in enumerate(order) if _same_entry(item, entry, merge_key)), -1)


# -- small helpers ----------------------------------------------------------------


def _clean(value: Any, schema: Schema | None) -> Any:
    """A patch value that lands where nothing was, without its directives and nulls;
    None when a ``"$patch": "delete"`` removes it altogether.

    Upstream stores such a value as it is and decoding into Go structs drops the
    directives and nulls; objects here stay JSON dicts, so the cleaning is done now.
    """
    if isinstance(value, list):
        items = schema.items if schema is not None else None
        return [_clean(item, items) for item in value if not _is_list_directive(item)]
    if not isinstance(value, dict):
        return value
    directive = value.get(PATCH, "merge")
    if directive == "delete":
        return None
    if directive not in ("replace", "merge"):
        raise _unknown_patch_type(directive, value)
    result: dict = {}
    for key, item in value.items():
        if _is_known_directive(key):
            continue
        if _is_directive(key, schema):
            raise PatchError(f"unknown patch directive {key!r}", 400)
        cleaned = None if item is None else _clean(item, _field(schema, key).schema)
        if cleaned is not None:
            result[key] = cleaned
    return result


def _is_list_directive(item: Any) -> bool:
    """``{"$patch": "replace"}`` and ``{"name": "x", "$patch": "delete"}`` are not items."""
    return isinstance(item, dict) and (item.get(PATCH) == "delete" or set(item) == {PATCH})


def _element_kind(*lists: list) -> str:
    """"map" or "scalar"; the items of a merged list must all be one or the other."""
    kinds = set()
    for item in (item for items in lists for item in items):
        if isinstance(item, list):
            raise PatchError("lists of lists are not supported", 422)
        kinds.add("map" if isinstance(item, dict) else "scalar")
    if len(kinds) > 1:
        raise PatchError("list element types are not identical: objects mixed with scalars", 422)
    return kinds.pop() if kinds else "scalar"


def _merge_key_value(item: Any, merge_key: str) -> Any:
    if not merge_key:
        return item
    if not isinstance(item, dict) or merge_key not in item:
        raise PatchError(
            f"map: {_show(item)} does not contain declared merge key: {merge_key}", 422)
    return item[merge_key]


def _same_entry(item: Any, entry: Any, merge_key: str) -> bool:
    """Whether two list entries are the same entry: same merge key, or same scalar."""
    if not merge_key:
        return _same(item, entry)
    return _same(_merge_key_value(item, merge_key), _merge_key_value(entry, merge_key))


def _same(a: Any, b: Any) -> bool:
    # JSON's true is not the number 1, although Python says True == 1.
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def _dedupe(items: list) -> list:
    unique: list = []
    for item in items:
        if not any(_same(item, seen) for seen in unique):
            unique.append(item)
    return unique


def _unknown_patch_type(directive: Any, where: dict) -> PatchError:
    return PatchError(f"unknown patch type: {directive} in map: {_show(where)}", 400)


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
