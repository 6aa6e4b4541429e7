"""Subresources that are views or actions rather than parts of the object.

Where it sits: the resource handlers call these for ``/scale``, ``pods/binding``
(and ``bindings``), ``pods/eviction`` and ``pods/log``. ``/status`` and
``namespaces/finalize`` are ordinary updates of the object (see ``store.py``).

* scale: an ``autoscaling/v1 Scale`` read from and written to the parent's
  ``spec.replicas`` (or the paths a CRD declares); ``kubectl scale`` patches it;
* binding: the scheduler's only write, setting a pod's ``spec.nodeName`` once;
* eviction: a polite delete that refuses (429) while a PodDisruptionBudget would be
  violated; this is what ``kubectl drain`` calls;
* log: served by the node agent that runs the pod.
"""

from __future__ import annotations

import copy
from typing import Any, NoReturn

from ... import disruptionbudget as db
from ... import storage as st
from .. import errors
from .. import meta as objmeta
from ..fielderrors import invalid, required
from ..patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from ..resources import BUILTIN
from ..schema import builtin_schema
from ..validation import meta as metavalidation
from .options import DeleteOptions, ListOptions, WriteOptions, checked
from .store import JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, RESTStore

# -- scale -------------------------------------------------------------------------


def _get_path(obj: dict[str, Any], path: str) -> Any:
    value: Any = obj
    for part in path.strip(".").split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _set_path(obj: dict[str, Any], path: str, value: Any) -> None:
    parts = path.strip(".").split(".")
    for part in parts[:-1]:
        obj = obj.setdefault(part, {})
    obj[parts[-1]] = value


def _scale_paths(store: RESTStore) -> tuple[str, str, str]:
    custom = getattr(store.strategy, "scale_paths", None)
    if custom:
        return custom["specReplicasPath"], custom["statusReplicasPath"], custom.get("labelSelectorPath", "")
    return ".spec.replicas", ".status.replicas", ""


def to_scale(store: RESTStore, obj: dict[str, Any]) -> dict[str, Any]:
    spec_path, status_path, selector_path = _scale_paths(store)
    meta = obj["metadata"]
    if selector_path:
        selector = _get_path(obj, selector_path) or ""
    else:
        selector = metavalidation.selector_to_string((obj.get("spec") or {}).get("selector") or {})
    status: dict[str, Any] = {"replicas": _get_path(obj, status_path) or 0}
    if selector:
        status["selector"] = selector
    scale_meta = {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta}
    return {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": scale_meta,
            "spec": {"replicas": _get_path(obj, spec_path) or 0}, "status": status}


def get_scale(store: RESTStore, namespace: str, name: str) -> dict[str, Any]:
    return to_scale(store, store.get(namespace, name))


def write_scale(store: RESTStore, namespace: str, name: str, opts: WriteOptions, *,
                body: Any = None, patch_type: str = "", patch: Any = None) -> dict[str, Any]:
    """PUT (``body``) or PATCH (``patch_type`` + ``patch``) of the scale subresource."""
    spec_path = _scale_paths(store)[0]

    def try_update(stored: dict[str, Any]) -> dict[str, Any]:
        current = store.out(stored)
        scale = to_scale(store, current)
        new_scale = checked(_patched_scale(scale, patch_type, patch) if patch_type else body,
                             "autoscaling", "v1", "Scale")
        rv = (new_scale.get("metadata") or {}).get("resourceVersion")
        if rv and rv != current["metadata"]["resourceVersion"]:
            raise store.conflict(name)
        replicas = (new_scale.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or isinstance(replicas, bool):
            raise errors.invalid("Scale", "autoscaling", name, [invalid("spec.replicas", replicas, "must be an integer")])
        if replicas < 0:
            raise errors.invalid("Scale", "autoscaling", name,
                                 [invalid("spec.replicas", replicas, "must be greater than or equal to 0")])
        parent = copy.deepcopy(current)
        _set_path(parent, spec_path, replicas)
        return store.prepare_update(parent, stored, opts, "", track_as="scale")

    try:
        updated = store._guaranteed_update(namespace, name, try_update, opts)
    except st.KeyNotFoundError:
        raise store.not_found(name) from None
    return to_scale(store, updated)


def _patched_scale(scale: dict[str, Any], patch_type: str, patch: Any) -> Any:
    try:
        if patch_type == JSON_PATCH:
            return json_patch(scale, patch)
        if patch_type == MERGE_PATCH:
            return merge_patch(scale, patch)
        if patch_type == STRATEGIC_PATCH:
            return strategic_merge_patch(scale, patch, builtin_schema("autoscaling", "v1", "Scale"))
    except PatchError as e:
        if e.code == 400:
            raise errors.bad_request(e.message) from None
        raise errors.APIError(422, "Invalid", e.message) from None
    raise errors.unsupported_media_type(patch_type, [JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH])


# -- binding -----------------------------------------------------------------------


def checked_binding(body: Any) -> dict[str, Any]:
    binding = checked(body, "", "v1", "Binding")
    binding.setdefault("metadata", {})
    return binding


def bind(pods: RESTStore, namespace: str, name: str, binding: Any) -> dict[str, Any]:
    """Assign a pod to a node, once. Returns the 201 Status."""
    binding = checked_binding(binding)
    target = binding.get("target") or {}
    problems = []
    if not target.get("name"):
        problems.append(required("target.name"))
    if target.get("kind") not in (None, "", "Node"):
        problems.append(invalid("target.kind", target.get("kind"), 'must be empty or "Node"'))
    if problems:
        raise errors.invalid("Binding", "", name, problems)
    node = target["name"]

    def assign(pod: dict[str, Any]) -> dict[str, Any]:
        meta, spec = pod["metadata"], pod.setdefault("spec", {})
        if meta.get("deletionTimestamp"):
            raise errors.conflict("pods/binding", "", name, f"pod {name} is being deleted, cannot be assigned to a host")
        if spec.get("nodeName"):
            raise errors.conflict("pods/binding", "", name,
                                  f'pod {name} is already assigned to node "{spec["nodeName"]}"')
        spec["nodeName"] = node
        conditions = [c for c in (pod.setdefault("status", {}).get("conditions") or []) if c.get("type") != "PodScheduled"]
        conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                           "lastTransitionTime": objmeta.timestamp()})
        pod["status"]["conditions"] = conditions
        return pod

    try:
        pods.storage.guaranteed_update(pods.key(namespace, name), assign)
    except st.KeyNotFoundError:
        raise pods.not_found(name) from None
    return {**objmeta.success_status(), "code": 201}


# -- eviction ----------------------------------------------------------------------


def _workload_lookup(storage: st.Storage) -> db.Lookup:
    """Workloads (by kind) read from storage, for the disruption budget arithmetic."""
    infos = {info.kind: info for info in BUILTIN if info.kind in db.WORKLOAD_GROUPS}

    def lookup(kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        info = infos.get(kind)
        if info is None:
            return None  # ReplicationControllers are not served here
        try:
            return storage.get(info.key(namespace, name))
        except st.KeyNotFoundError:
            return None

    return lookup


def evict(pods: RESTStore, pdbs: RESTStore, namespace: str, name: str, eviction: Any) -> dict[str, Any]:
    """Delete a pod unless a PodDisruptionBudget forbids it (429, and drain retries)."""
    eviction = checked(eviction, "policy", "v1", "Eviction")
    pod = pods.get(namespace, name)
    if pod["metadata"].get("deletionTimestamp"):
        return {**objmeta.success_status(), "code": 201}  # already going: nothing to refuse
    labels = pod["metadata"].get("labels") or {}
    budgets = [b for b in pdbs.list(namespace, ListOptions()).items
               if metavalidation.label_selector_matches((b.get("spec") or {}).get("selector"), labels)]
    if len(budgets) > 1:
        # Upstream answers this with a 500; it is a configuration the user can fix, so a 409.
        raise errors.conflict("pods", "", name, "This pod has more than one PodDisruptionBudget, "
                                                "which the eviction subresource does not support.")
    options = DeleteOptions.from_request({}, eviction.get("deleteOptions") or {})
    # A pod that is not healthy (not Ready, or already being disrupted) may always go, as
    # with upstream's unhealthyPodEvictionPolicy AlwaysAllow.
    if budgets and _healthy(pod, budgets[0]):
        _check_budget(pods, pdbs, namespace, budgets[0]["metadata"]["name"], name, dry_run=options.dry_run)
    pods.delete(namespace, name, options)
    return {**objmeta.success_status(), "code": 201}


def _healthy(pod: dict[str, Any], budget: dict[str, Any]) -> bool:
    recorded = (budget.get("status") or {}).get("disruptedPods")
    return db.is_healthy(pod, db.pending_disruptions(recorded, [pod], objmeta.now())[0])


def _check_budget(pods: RESTStore, pdbs: RESTStore, namespace: str, budget_name: str, pod_name: str, *,
                  dry_run: bool) -> None:
    """Spend one of the budget's disruptions on ``pod_name``, or refuse with 429.

    The numbers are the disruption controller's (``controlplane.disruptionbudget``), but
    computed here, from storage, at eviction time: the answer never waits for the
    controller. Deciding and recording are one compare-and-swap write of the budget's
    ``status.disruptedPods`` (and ``disruptionsAllowed``), as upstream's eviction does: a
    concurrent eviction (kubectl drain evicts in parallel; three API servers share the
    store) loses the swap, reads again and finds this pod no longer healthy, although
    its deletionTimestamp is not written yet. Terminating pods never count as healthy.
    """
    lookup = _workload_lookup(pods.storage)

    def decide(budget: dict[str, Any]) -> dict[str, Any] | None:
        selector = (budget.get("spec") or {}).get("selector")
        selected = [p for p in pods.list(namespace, ListOptions()).items  # read after the budget, on every try
                    if metavalidation.label_selector_matches(selector, p["metadata"].get("labels") or {})]
        now = objmeta.now()
        try:
            numbers = db.evaluate(budget, selected, lookup, now)
        except (db.NoController, ValueError) as e:
            _refuse(f"The disruption budget {budget_name} cannot be computed: {e}")
        if numbers.allowed < 1:
            _refuse(f"The disruption budget {budget_name} needs {numbers.desired} healthy pods "
                    f"and has {numbers.healthy} currently")
        if dry_run:
            return None
        status = dict(budget.get("status") or {})
        status["disruptedPods"] = {**numbers.disrupted, pod_name: db.format_time(now)}
        status["disruptionsAllowed"] = numbers.allowed - 1
        if status["disruptionsAllowed"] == 0:
            status["conditions"] = db.allowed_condition(status.get("conditions"), 0,
                                                        status.get("observedGeneration"), now)
        budget["status"] = status
        return budget

    try:
        pdbs.storage.guaranteed_update(pdbs.key(namespace, budget_name), decide)
    except st.KeyNotFoundError:
        return  # the budget was deleted meanwhile: nothing left to respect


def _refuse(message: str) -> NoReturn:
    raise errors.too_many_requests(
        "Cannot evict pod as it would violate the pod's disruption budget.",
        [{"reason": "DisruptionBudget", "message": message}])


# -- log ---------------------------------------------------------------------------


def pod_log(pods: RESTStore, namespace: str, name: str, container: str) -> tuple[str, str]:
    """The container whose log is asked for and the node that runs it: (container, node name).

    The node agent of that node serves the log (handlers/podproxy.py relays it); exec and
    attach make the same checks, as upstream's LogLocation and streamLocation do."""
    pod = pods.get(namespace, name)
    spec = pod.get("spec") or {}
    names = [c.get("name") for c in spec.get("containers") or []]
    init = [c.get("name") for c in spec.get("initContainers") or []]
    if not container:
        if len(names) != 1:
            raise errors.bad_request(
                f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]"
                + (f" or one of the init containers: [{' '.join(init)}]" if init else ""))
        container = names[0]
    elif container not in names + init + [c.get("name") for c in spec.get("ephemeralContainers") or []]:
        raise errors.bad_request(f"container {container} is not valid for pod {name}")
    if not spec.get("nodeName"):
        raise errors.bad_request(f"pod {name} does not have a host assigned")
    return container, spec["nodeName"]
