"""ControllerRevisions: the history of a workload's pod template (upstream ``pkg/controller/history``).

Where it sits: used by the DaemonSet and StatefulSet controllers, which keep one
``apps/v1`` ControllerRevision per distinct pod template they have run. That history
is what ``kubectl rollout history ds/x`` lists and what ``kubectl rollout undo`` puts
back: each revision's ``data`` is a strategic-merge patch that replaces
``spec.template`` wholesale::

    {"spec": {"template": {"$patch": "replace", "metadata": {...}, "spec": {...}}}}

What it promises:

* a revision is named ``<owner>-<hash>``; the hash (FNV-32a, encoded with the same
  consonant-and-digit alphabet as upstream so it never spells a word) covers the data
  plus ``status.collisionCount``, so two different templates that happen to hash alike
  are told apart by bumping that count;
* revisions carry the template's labels (so the owner's selector finds them, as kubectl
  does), a ``controller-revision-hash`` label and the owner as controller;
* :func:`create_revision` is idempotent: an existing revision with equal data is
  returned, not duplicated.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable
from typing import Any

from ..client import errors
from ..client import resources as r
from ..client.rest import Client
from .podutil import meta, new_controller_ref

log = logging.getLogger(__name__)

Obj = dict[str, Any]

CONTROLLERREVISIONS = r.Resource("apps", "v1", "controllerrevisions", "ControllerRevision",
                                 verbs=frozenset({"create", "delete", "deletecollection", "get", "list", "patch",
                                                  "update", "watch"}))
HASH_LABEL = "controller-revision-hash"
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery's rand.SafeEncodeString
MAX_COLLISIONS = 10


def template_patch(owner: Obj) -> Obj:
    """The revision data for ``owner``: its pod template, to be applied with ``$patch: replace``."""
    template = copy.deepcopy((owner.get("spec") or {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """Map each character onto an alphabet without vowels (no accidental words)."""
    return "".join(_SAFE_ALPHABET[ord(c) % len(_SAFE_ALPHABET)] for c in text)


def compute_hash(value: Any, collision_count: int | None = None) -> str:
    """A short, stable hash of a JSON value (key order does not matter)."""
    data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += collision_count.to_bytes(4, "little")
    return safe_encode(str(fnv32a(data)))


def revision_number(rev: Obj) -> int:
    return int(rev.get("revision") or 0)


def next_revision(revisions: list[Obj]) -> int:
    return max((revision_number(rev) for rev in revisions), default=0) + 1


def new_revision(owner: Obj, data: Obj, number: int, hash_value: str) -> Obj:
    """A ControllerRevision of ``owner`` holding ``data``, named ``<owner>-<hash>``."""
    labels = dict(((owner.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {})
    labels[HASH_LABEL] = hash_value
    rev_meta: Obj = {"name": f"{meta(owner)['name']}-{hash_value}", "namespace": meta(owner).get("namespace", ""),
                     "labels": labels, "ownerReferences": [new_controller_ref(owner)]}
    if meta(owner).get("annotations"):
        # kubectl shows kubernetes.io/change-cause from here in "rollout history".
        rev_meta["annotations"] = dict(meta(owner)["annotations"])
    return {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": rev_meta,
            "data": data, "revision": number}


def owned_revisions(cache_items: list[Obj], owner: Obj) -> list[Obj]:
    """The revisions ``owner`` controls, oldest revision first."""
    uid, namespace = meta(owner).get("uid"), meta(owner).get("namespace")
    owned = [rev for rev in cache_items if meta(rev).get("namespace") == namespace
             and any(ref.get("controller") and ref.get("uid") == uid for ref in meta(rev).get("ownerReferences") or [])]
    return sorted(owned, key=lambda rev: (revision_number(rev), meta(rev).get("name", "")))


def create_revision(client: Client, owner: Obj, data: Obj, number: int, hash_fn: Callable[[int], str],
                    collision_count: int = 0) -> tuple[Obj, int]:
    """Create revision ``number`` of ``owner`` holding ``data``, named by ``hash_fn(collisions)``.

    The name may be taken: by this very revision (our cache was behind: it is returned),
    or by other data with the same hash, in which case the collision count goes up and
    the name is hashed again. Returns the stored revision and the collision count that
    named it, which the caller records in the owner's ``status.collisionCount``.
    """
    count = collision_count
    for _ in range(MAX_COLLISIONS):
        rev = new_revision(owner, data, number, hash_fn(count))
        try:
            return client.create(CONTROLLERREVISIONS, rev, meta(rev)["namespace"]), count
        except errors.ApiError as e:
            if not errors.is_already_exists(e):
                raise
        existing = client.get(CONTROLLERREVISIONS, meta(rev)["name"], meta(rev)["namespace"])
        if existing.get("data") == data:
            return existing, count
        log.info("revision name %s is taken by other data; counting a hash collision", meta(rev)["name"])
        count += 1
    raise RuntimeError(f"too many hash collisions naming a revision of {meta(owner)['name']}")


def set_revision_number(client: Client, rev: Obj, number: int) -> Obj:
    """Renumber a revision (a rollback to an old template makes it the newest again)."""
    body = copy.deepcopy(rev)
    body["revision"] = number
    return client.update(CONTROLLERREVISIONS, body)


def truncate_history(client: Client, old: list[Obj], live: set[str], limit: int) -> list[str]:
    """Delete the oldest revisions beyond ``limit``, never one whose name or hash is in
    ``live`` (still used by a pod). Returns the names deleted."""
    deletable = [rev for rev in sorted(old, key=revision_number)
                 if meta(rev).get("name") not in live and (meta(rev).get("labels") or {}).get(HASH_LABEL) not in live]
    excess = len(old) - max(limit, 0)
    deleted = []
    for rev in deletable[:max(excess, 0)]:
        try:
            client.delete(CONTROLLERREVISIONS, meta(rev)["name"], meta(rev)["namespace"],
                          preconditions={"uid": meta(rev)["uid"]})
        except errors.ApiError as e:
            if not (errors.is_not_found(e) or errors.is_conflict(e)):
                raise
        deleted.append(meta(rev)["name"])
    return deleted
