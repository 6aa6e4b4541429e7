"""Server-side apply and managedFields, through the public API, on the scenarios students meet."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from controlplane.api.managedfields import (
    ApplyConflictError, Conflict, InvalidObjectError, apply, update,
)
from controlplane.api.schema import builtin_schema

DEPLOYMENT = builtin_schema("apps", "v1", "Deployment")
T0, T1, T2, T3 = (f"2025-01-01T00:0{i}:00Z" for i in range(4))


def deployment(replicas: int | None = 3, labels: dict[str, str] | None = None,
               containers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": containers or [{"name": "nginx", "image": "nginx:1.25"}]},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": labels or {"app": "web"}},
        "spec": spec,
    }


def partial(spec: dict[str, Any] | None = None, **metadata: Any) -> dict[str, Any]:
    """An applied configuration that names only some fields of the Deployment."""
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", **metadata}}
    if spec is not None:
        obj["spec"] = spec
    return obj


def pod_template(*images: str) -> dict[str, Any]:
    """``pod_template("nginx:1.25")``: one container per image, named after it."""
    return {"template": {"spec": {"containers": [
        {"name": image.split(":")[0], "image": image} for image in images]}}}


def images(obj: dict[str, Any]) -> list[str]:
    return [c["image"] for c in obj["spec"]["template"]["spec"]["containers"]]


def ssa(live: dict[str, Any] | None, applied: dict[str, Any], manager: str = "kubectl",
        force: bool = False, now: str = T1, **kw: Any) -> dict[str, Any]:
    kw.setdefault("schema", DEPLOYMENT)
    kw.setdefault("api_version", "apps/v1")
    obj = apply(live, applied, manager=manager, force=force, now=now, **kw)
    obj["metadata"].setdefault("uid", "0000-1111")  # what the registry adds on create
    return obj


def write(old: dict[str, Any] | None, new: dict[str, Any], manager: str, now: str = T2,
          **kw: Any) -> dict[str, Any]:
    kw.setdefault("schema", DEPLOYMENT)
    kw.setdefault("api_version", "apps/v1")
    update(old, new, manager=manager, now=now, **kw)
    return new


def entry(obj: dict[str, Any], manager: str, operation: str = "Apply") -> dict[str, Any]:
    found = [e for e in obj["metadata"].get("managedFields", [])
             if e["manager"] == manager and e["operation"] == operation]
    assert len(found) == 1, obj["metadata"].get("managedFields")
    return found[0]


def owners(obj: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["manager"], e["operation"]) for e in obj["metadata"].get("managedFields", [])]


# -- create, and the exact wire format ---------------------------------------------------


def test_create_through_apply_records_exactly_the_applied_fields() -> None:
    nginx = {"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}
    applied = deployment(containers=[nginx])
    obj = ssa(None, applied, now=T0)

    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert obj["metadata"]["managedFields"] == [{
        "manager": "kubectl",
        "operation": "Apply",
        "apiVersion": "apps/v1",
        "time": T0,
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},  # atomic: owned as a whole
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {'k:{"name":"nginx"}': {
                        ".": {}, "f:image": {}, "f:name": {},
                        # protocol defaults to TCP, so the item key names it
                        "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {
                            ".": {}, "f:containerPort": {}}},
                    }}},
                },
            },
        },
    }]
    # Identity fields are nobody's, and the encoding is plain JSON.
    assert "f:name" not in json.dumps(obj["metadata"]["managedFields"][0]["fieldsV1"]["f:metadata"])
    assert "managedFields" not in applied["metadata"], "apply must not change its input"


def test_applied_status_is_neither_owned_nor_written() -> None:
    live = ssa(None, deployment())
    live["status"] = {"replicas": 3}
    applied = deployment()
    applied["status"] = {"replicas": 99}

    obj = ssa(live, applied)

    assert obj["status"] == {"replicas": 3}
    assert "f:status" not in entry(obj, "kubectl")["fieldsV1"]


def test_applied_configuration_may_not_carry_managed_fields() -> None:
    applied = deployment()
    applied["metadata"]["managedFields"] = []
    with pytest.raises(InvalidObjectError, match="metadata.managedFields must be nil"):
        ssa(None, applied)


def test_duplicate_list_keys_in_an_applied_configuration_are_rejected() -> None:
    applied = deployment(containers=[{"name": "a", "image": "x"}, {"name": "a", "image": "y"}])
    with pytest.raises(InvalidObjectError) as err:
        ssa(None, applied)
    assert str(err.value) == '.spec.template.spec.containers: duplicate entries for key [name="a"]'


# -- several managers ----------------------------------------------------------------------


def test_two_appliers_own_different_fields() -> None:
    obj = ssa(None, deployment(labels={"app": "web"}), manager="team-a")
    obj = ssa(obj, partial(labels={"tier": "frontend"}), manager="team-b", now=T2)

    assert obj["metadata"]["labels"] == {"app": "web", "tier": "frontend"}
    assert owners(obj) == [("team-a", "Apply"), ("team-b", "Apply")]
    assert entry(obj, "team-b")["fieldsV1"] == {"f:metadata": {"f:labels": {"f:tier": {}}}}

    # team-a re-applies without team-b's label: it stays, team-b owns it.
    obj = ssa(obj, deployment(labels={"app": "web"}), manager="team-a", now=T3)
    assert obj["metadata"]["labels"] == {"app": "web", "tier": "frontend"}


def test_changing_another_appliers_field_conflicts_and_force_takes_it() -> None:
    obj = ssa(None, deployment(replicas=3), manager="team-a")
    change = partial({"replicas": 5})

    with pytest.raises(ApplyConflictError) as err:
        ssa(obj, change, manager="team-b")
    # An Apply owner is named without an apiVersion.
    assert err.value.message("apps/v1") == (
        'Apply failed with 1 conflict: conflict with "team-a": .spec.replicas')
    assert err.value.conflicts == [Conflict("team-a", ".spec.replicas", "Apply", "apps/v1")]

    forced = ssa(obj, change, manager="team-b", force=True)
    assert forced["spec"]["replicas"] == 5
    assert "f:replicas" not in entry(forced, "team-a")["fieldsV1"]["f:spec"]
    assert entry(forced, "team-b")["fieldsV1"]["f:spec"] == {"f:replicas": {}}


def test_applying_the_same_value_shares_ownership() -> None:
    obj = ssa(None, deployment(replicas=3), manager="team-a")
    obj = ssa(obj, partial({"replicas": 3}), manager="team-b")

    # team-a stops applying replicas; team-b still owns it, so it stays.
    obj = ssa(obj, deployment(replicas=None), manager="team-a", now=T2)
    assert obj["spec"]["replicas"] == 3
    assert "f:replicas" not in entry(obj, "team-a")["fieldsV1"]["f:spec"]


def test_apply_scale_reapply_conflicts_with_the_updater() -> None:
    obj = ssa(None, deployment(replicas=3), now=T0)
    scaled = copy.deepcopy(obj)
    scaled["spec"]["replicas"] = 5
    scaled = write(obj, scaled, manager="kubectl", now=T1)

    assert owners(scaled) == [("kubectl", "Apply"), ("kubectl", "Update")]
    assert entry(scaled, "kubectl", "Update") == {
        "manager": "kubectl", "operation": "Update", "apiVersion": "apps/v1", "time": T1,
        "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}},
    }
    assert "f:replicas" not in entry(scaled, "kubectl")["fieldsV1"]["f:spec"]

    with pytest.raises(ApplyConflictError) as err:
        ssa(scaled, deployment(replicas=4), now=T2)
    assert err.value.message("apps/v1") == (
        'Apply failed with 1 conflict: conflict with "kubectl" using apps/v1: .spec.replicas')
    assert err.value.causes() == [{"reason": "FieldManagerConflict",
                                   "message": 'conflict with "kubectl" using apps/v1',
                                   "field": ".spec.replicas"}]

    forced = ssa(scaled, deployment(replicas=4), force=True, now=T2)
    assert forced["spec"]["replicas"] == 4
    assert owners(forced) == [("kubectl", "Apply")]  # the emptied Update entry is dropped
    assert entry(forced, "kubectl")["time"] == T2


def test_several_conflicts_are_grouped_by_manager() -> None:
    obj = ssa(None, deployment(replicas=3, labels={"app": "web"}), manager="team-a")
    changed = copy.deepcopy(obj)
    changed["metadata"]["labels"]["app"] = "api"
    changed = write(obj, changed, manager="editor")
    applied = deployment(replicas=7, labels={"app": "shop"},
                         containers=[{"name": "nginx", "image": "nginx:1.27"}])

    with pytest.raises(ApplyConflictError) as err:
        ssa(changed, applied, manager="team-b")
    assert err.value.message() == (
        "Apply failed with 3 conflicts: "
        'conflicts with "editor" using apps/v1:\n- .metadata.labels.app\n'
        'conflicts with "team-a":\n- .spec.replicas\n'
        '- .spec.template.spec.containers[name="nginx"].image')
    assert [c["field"] for c in err.value.causes()] == [
        ".metadata.labels.app",
        ".spec.replicas",
        '.spec.template.spec.containers[name="nginx"].image',
    ]


# -- what an applier stops applying ---------------------------------------------------------


def test_a_field_dropped_from_the_manifest_is_removed() -> None:
    obj = ssa(None, deployment(labels={"app": "web", "tier": "frontend"}))
    obj = ssa(obj, deployment(labels={"app": "web"}))
    assert obj["metadata"]["labels"] == {"app": "web"}
    assert entry(obj, "kubectl")["fieldsV1"]["f:metadata"] == {"f:labels": {"f:app": {}}}


def test_a_dropped_field_another_manager_wrote_stays() -> None:
    obj = ssa(None, deployment(labels={"app": "web", "tier": "frontend"}))
    edited = copy.deepcopy(obj)
    edited["metadata"]["labels"]["tier"] = "backend"
    edited = write(obj, edited, manager="kubectl-edit")

    obj = ssa(edited, deployment(labels={"app": "web"}), now=T3)
    assert obj["metadata"]["labels"] == {"app": "web", "tier": "backend"}


def test_server_defaults_next_to_a_dropped_field_survive() -> None:
    obj = ssa(None, deployment(replicas=3))
    # The registry defaults what nobody applied; those fields have no owner.
    obj["spec"]["progressDeadlineSeconds"] = 600
    obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"

    obj = ssa(obj, deployment(replicas=None), now=T2)
    assert "replicas" not in obj["spec"]
    assert obj["spec"]["progressDeadlineSeconds"] == 600
    assert obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"


def test_container_list_is_merged_by_name() -> None:
    obj = ssa(None, deployment(), manager="app-team")  # nginx:1.25
    obj = ssa(obj, partial(pod_template("envoy:1.30")), manager="mesh")
    assert images(obj) == ["nginx:1.25", "envoy:1.30"]
    assert entry(obj, "mesh")["fieldsV1"]["f:spec"]["f:template"]["f:spec"] == {
        "f:containers": {'k:{"name":"envoy"}': {".": {}, "f:image": {}, "f:name": {}}}}

    # app-team moves to a new image: only its own container changes.
    obj = ssa(obj, deployment(containers=[{"name": "nginx", "image": "nginx:1.27"}]),
              manager="app-team")
    assert images(obj) == ["nginx:1.27", "envoy:1.30"]

    # mesh stops applying its container: it is removed, nginx stays.
    obj = ssa(obj, partial(), manager="mesh")
    assert images(obj) == ["nginx:1.27"]
    assert owners(obj) == [("app-team", "Apply")]


def test_finalizers_are_a_set() -> None:
    def with_finalizers(*names: str) -> dict[str, Any]:
        return partial(finalizers=list(names))

    obj = ssa(None, with_finalizers("example.com/a"), manager="one")
    obj = ssa(obj, with_finalizers("example.com/b"), manager="two")
    assert obj["metadata"]["finalizers"] == ["example.com/a", "example.com/b"]
    assert entry(obj, "two")["fieldsV1"] == {
        "f:metadata": {"f:finalizers": {'v:"example.com/b"': {}}}}

    obj = ssa(obj, with_finalizers(), manager="one")
    assert obj["metadata"]["finalizers"] == ["example.com/b"]


def test_a_noop_apply_keeps_the_time() -> None:
    obj = ssa(None, deployment(), now=T0)
    again = ssa(obj, deployment(), now=T3)
    assert entry(again, "kubectl")["time"] == T0
    assert again["spec"] == obj["spec"]


# -- custom resources without a schema ------------------------------------------------------


def test_custom_resource_without_schema_is_granular_maps_and_atomic_lists() -> None:
    def widget(spec: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
                "spec": spec}

    kw = {"schema": None, "api_version": "example.com/v1"}
    obj = ssa(None, widget({"size": 1, "ports": [80, 443]}), manager="a", **kw)
    assert entry(obj, "a")["fieldsV1"] == {"f:spec": {".": {}, "f:ports": {}, "f:size": {}}}

    obj = ssa(obj, widget({"color": "red"}), manager="b", **kw)
    assert obj["spec"] == {"size": 1, "ports": [80, 443], "color": "red"}

    with pytest.raises(ApplyConflictError) as err:
        ssa(obj, widget({"ports": [8080]}), manager="b", **kw)
    assert err.value.conflicts[0].path == ".spec.ports"  # the whole list is one field


# -- updates ----------------------------------------------------------------------------------


def test_create_records_every_field_and_later_writes_move_ownership() -> None:
    created = write(None, deployment(replicas=2), manager="kubectl-create", now=T0)
    fields = entry(created, "kubectl-create", "Update")["fieldsV1"]
    assert fields["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}
    assert fields["f:spec"]["f:replicas"] == {}

    # A write that changes nothing adds no entry and keeps times.
    same = write(created, copy.deepcopy(created), manager="someone", now=T1)
    assert same["metadata"]["managedFields"] == created["metadata"]["managedFields"]

    # Removing a label takes it away from its owner.
    edited = copy.deepcopy(created)
    del edited["metadata"]["labels"]
    edited = write(created, edited, manager="kubectl-edit", now=T2)
    assert "f:metadata" not in entry(edited, "kubectl-create", "Update")["fieldsV1"]
    assert owners(edited) == [("kubectl-create", "Update")]  # removing gives ownership to nobody


def test_status_subresource_writes_get_their_own_entry() -> None:
    live = ssa(None, deployment())
    new = copy.deepcopy(live)
    new["status"] = {"replicas": 3, "readyReplicas": 3}
    new = write(live, new, manager="kube-controller-manager", subresource="status")

    status = entry(new, "kube-controller-manager", "Update")
    assert status["subresource"] == "status"
    assert status["fieldsV1"] == {"f:status": {".": {}, "f:readyReplicas": {}, "f:replicas": {}}}
    assert list(status) == [
        "manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1", "subresource"]


def test_explicit_empty_entry_clears_managed_fields() -> None:
    obj = ssa(None, deployment())
    cleared = copy.deepcopy(obj)
    cleared["metadata"]["managedFields"] = [{}]
    cleared = write(obj, cleared, manager="kubectl-edit")
    assert "managedFields" not in cleared["metadata"]

    # The next apply finds the fields already there and credits them to "before-first-apply".
    reapplied = ssa(cleared, deployment(replicas=3, labels={"app": "web", "new": "x"}), now=T3)
    assert owners(reapplied) == [("kubectl", "Apply"), ("before-first-apply", "Update")]
    assert entry(reapplied, "before-first-apply", "Update")["time"] == T3


def test_update_manager_entries_are_capped_at_ten() -> None:
    obj = write(None, deployment(), manager="creator", now="2025-01-01T00:00:00Z")
    for i in range(11):
        new = copy.deepcopy(obj)
        new["metadata"]["labels"][f"l{i}"] = "x"
        obj = write(obj, new, manager=f"bot-{i}", now=f"2025-01-01T00:{i + 1:02d}:00Z")

    assert len(obj["metadata"]["managedFields"]) == 10
    ancient = entry(obj, "ancient-changes", "Update")
    assert "f:l0" in ancient["fieldsV1"]["f:metadata"]["f:labels"]
    assert ("creator", "Update") not in owners(obj) and ("bot-0", "Update") not in owners(obj)


def test_an_unwalkable_object_keeps_the_old_managed_fields() -> None:
    obj = ssa(None, deployment())
    broken = copy.deepcopy(obj)
    broken["spec"]["template"]["spec"]["containers"].append({"image": "no-name"})
    broken = write(obj, broken, manager="kubectl-edit")
    assert broken["metadata"]["managedFields"] == obj["metadata"]["managedFields"]


# -- kubectl: client-side apply to server-side apply ------------------------------------------

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def csa_upgrade(managed_fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What kubectl's csaupgrade sends: client-side apply's fields folded into kubectl's Apply."""
    def union(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        return {**a, **{k: union(a.get(k, {}), v) for k, v in b.items()}}

    entries = copy.deepcopy(managed_fields)
    csa = [e for e in entries
           if e["manager"] == "kubectl-client-side-apply" and e["operation"] == "Update"]
    ssa_entry = next(e for e in entries if e["manager"] == "kubectl" and e["operation"] == "Apply")
    for e in csa:
        ssa_entry["fieldsV1"] = union(ssa_entry["fieldsV1"], e["fieldsV1"])
    return [e for e in entries if e not in csa]


def test_client_side_apply_migrates_to_server_side_apply() -> None:
    manifest = deployment(replicas=3, labels={"app": "web", "tier": "frontend"})
    created = copy.deepcopy(manifest)
    created["metadata"]["annotations"] = {LAST_APPLIED: json.dumps(manifest)}
    created = write(None, created, manager="kubectl-client-side-apply", now=T0)
    created["metadata"]["uid"] = "u-1"

    # Someone else's apply of a different value conflicts with client-side apply ...
    changed = deployment(replicas=5, labels={"app": "web", "tier": "frontend"})
    with pytest.raises(ApplyConflictError):
        ssa(created, changed, manager="argo")
    # ... but kubectl's own server-side apply may take over what the annotation vouches for.
    obj = ssa(created, changed, now=T1)
    assert obj["spec"]["replicas"] == 5
    annotation = json.loads(obj["metadata"]["annotations"][LAST_APPLIED])
    assert annotation["spec"]["replicas"] == 5
    assert obj["metadata"]["annotations"][LAST_APPLIED].endswith("}\n")

    # kubectl keeps the annotation alive under a manager of its own ...
    keep = partial(annotations={LAST_APPLIED: obj["metadata"]["annotations"][LAST_APPLIED]})
    obj = ssa(obj, keep, manager="kubectl-last-applied", now=T1)
    # ... then rewrites managedFields itself (a JSON patch); the server keeps what it sent.
    migrated = copy.deepcopy(obj)
    migrated["metadata"]["managedFields"] = csa_upgrade(obj["metadata"]["managedFields"])
    migrated = write(obj, migrated, manager="kubectl-client-side-apply", now=T2)
    # An apply that changed nothing records no time, so that entry sorts first.
    assert owners(migrated) == [("kubectl-last-applied", "Apply"), ("kubectl", "Apply")]
    assert "time" not in entry(migrated, "kubectl-last-applied")
    assert "f:tier" in entry(migrated, "kubectl")["fieldsV1"]["f:metadata"]["f:labels"]

    # From now on, dropping a label from the manifest removes it, and the annotation follows.
    final = ssa(migrated, deployment(replicas=5, labels={"app": "web"}), now=T3)
    assert final["metadata"]["labels"] == {"app": "web"}
    last_applied = json.loads(final["metadata"]["annotations"][LAST_APPLIED])
    assert last_applied["metadata"]["labels"] == {"app": "web"}


def test_last_applied_does_not_cover_fields_changed_since() -> None:
    manifest = deployment(replicas=3)
    created = copy.deepcopy(manifest)
    created["metadata"]["annotations"] = {LAST_APPLIED: json.dumps(manifest)}
    created = write(None, created, manager="kubectl-client-side-apply", now=T0)
    scaled = copy.deepcopy(created)
    scaled["spec"]["replicas"] = 4
    scaled = write(created, scaled, manager="autoscaler", now=T1)

    with pytest.raises(ApplyConflictError) as err:
        ssa(scaled, deployment(replicas=5), now=T2)
    assert err.value.message() == (
        'Apply failed with 1 conflict: conflict with "autoscaler" using apps/v1: .spec.replicas')
